"""The OpenAPI document says what the server answers: 400 (not 422) and the other errors.

The fuzz suite (``tests/fuzz/test_openapi.py``) holds every answer to this document;
these tests pin the document's own promises.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tekcify_auth.server import create_app
from tekcify_auth.server.openapi import ANSWERS, ERROR_SCHEMA, OAUTH_ERROR_SCHEMA

from .conftest import make_settings

_METHODS = ("get", "put", "post", "delete", "patch")


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The document of an app that was never started (building it opens no database)."""
    folder: Path = tmp_path_factory.mktemp("openapi")
    app = create_app(make_settings(database_url=f"sqlite:///{folder}/unused.sqlite3"))
    try:
        return app.openapi()
    finally:
        app.state.ctx.db.dispose()


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in _METHODS
    ]


def _schema_name(answer: dict[str, Any]) -> str:
    ref: str = answer["content"]["application/json"]["schema"]["$ref"]
    return ref.rsplit("/", 1)[-1]


def test_no_operation_documents_fastapis_422(document: dict[str, Any]) -> None:
    for method, path, operation in _operations(document):
        assert "422" not in operation["responses"], (method, path)
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_validation_errors_are_documented_as_400_in_the_tekcify_shape(
    document: dict[str, Any],
) -> None:
    register = document["paths"]["/api/auth/register"]["post"]["responses"]
    assert _schema_name(register["400"]) == ERROR_SCHEMA
    error = document["components"]["schemas"][ERROR_SCHEMA]
    assert set(error["required"]) == {"statusCode", "error", "message"}
    assert "details" in error["properties"]


def test_every_body_may_be_refused_as_invalid_or_too_large(document: dict[str, Any]) -> None:
    for method, path, operation in _operations(document):
        if "requestBody" in operation:
            assert {"400", "413"} <= set(operation["responses"]), (method, path)


def test_every_id_in_a_path_may_be_not_found(document: dict[str, Any]) -> None:
    for method, path, operation in _operations(document):
        if "{" in path:
            assert "404" in operation["responses"], (method, path)


def test_bearer_routes_document_401_with_its_challenge(document: dict[str, Any]) -> None:
    secured = [op for _m, _p, op in _operations(document) if op.get("security")]
    assert secured
    for operation in secured:
        answer = operation["responses"]["401"]
        assert _schema_name(answer) == ERROR_SCHEMA
        assert answer["headers"]["WWW-Authenticate"]["required"] is True


def test_rate_limits_and_outages_document_retry_after(document: dict[str, Any]) -> None:
    login = document["paths"]["/api/auth/login"]["post"]["responses"]
    assert "Retry-After" in login["429"]["headers"]
    for method, path, operation in _operations(document):
        assert "Retry-After" in operation["responses"]["503"]["headers"], (method, path)


def test_protocol_endpoints_document_rfc_6749_errors_and_their_parameters(
    document: dict[str, Any],
) -> None:
    token = document["paths"]["/api/oauth/token"]["post"]
    assert _schema_name(token["responses"]["400"]) == OAUTH_ERROR_SCHEMA
    assert _schema_name(token["responses"]["401"]) == OAUTH_ERROR_SCHEMA
    content = token["requestBody"]["content"]
    assert set(content) == {"application/x-www-form-urlencoded", "application/json"}
    assert "refresh_token" in content["application/json"]["schema"]["properties"]["grant_type"][
        "enum"
    ]
    introspect = document["paths"]["/api/oauth/token/introspect"]["post"]
    json_body = introspect["requestBody"]["content"]["application/json"]["schema"]
    assert json_body["required"] == ["token"]
    assert json_body["additionalProperties"] is False
    # UserInfo's 401 is the Bearer guard's, not an OAuth error body.
    userinfo = document["paths"]["/api/oauth/userinfo"]["get"]["responses"]
    assert _schema_name(userinfo["401"]) == ERROR_SCHEMA
    assert userinfo["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/UserInfo"
    }


def test_the_extension_marking_oauth_routes_is_not_published(document: dict[str, Any]) -> None:
    for method, path, operation in _operations(document):
        assert not [key for key in operation if key.startswith("x-")], (method, path)


def test_every_listed_answer_names_a_documented_operation(document: dict[str, Any]) -> None:
    documented = {(method, path) for method, path, _op in _operations(document)}
    assert set(ANSWERS) <= documented, set(ANSWERS) - documented


def test_health_keeps_the_answers_it_documents_itself(document: dict[str, Any]) -> None:
    health = document["paths"]["/health"]["get"]["responses"]
    schema = health["503"]["content"]["application/json"]["schema"]
    assert schema["required"] == ["status", "database", "message"]


async def test_the_served_document_is_the_rewritten_one(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    served = (await client.get("/openapi.json")).json()
    assert served == app.openapi()
    assert "422" not in served["paths"]["/api/auth/login"]["post"]["responses"]
