"""Lone UTF-16 surrogates in request bodies: 400 in the endpoint's shape, never a 500.

JSON can spell a surrogate on its own (``"\\ud800"``); Python decodes it into a string
that UTF-8 cannot encode, so it used to fail in ``hash_token`` or the SQLite bind (issue
10, item 9). Every field of every JSON body in the OpenAPI document is tried, so a new
endpoint is covered the day it is documented; the protocol endpoints are tried
form-encoded as well (``%ED%A0%80`` is a surrogate written as UTF-8 bytes).
"""

from __future__ import annotations

import json
import tempfile
from typing import Any, Final

import httpx
import pytest
from fastapi import APIRouter, FastAPI

from tekcify_auth.server import create_app
from tekcify_auth.server.app import add_routes
from tekcify_auth.server.routers.text import server_router
from tekcify_auth.server.services.applications import hash_client_secret
from tekcify_auth.server.services.tokens import hash_token
from tekcify_auth.server.settings import load_settings

from .conftest import bearer, client_session, create_oauth_app, signed_up

SURROGATES: Final = ["\ud800", "\udfff", "ok\udc00ok", "\ude00\ud83d"]  # the last: pair reversed
PROTOCOL: Final = ("/api/oauth/token", "/api/oauth/token/introspect", "/api/oauth/revoke")
_METHODS: Final = ("post", "put", "patch", "delete")


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        resolved: dict[str, Any] = document["components"]["schemas"][name]
        return resolved
    return schema


def _json_fields() -> list[tuple[str, str, str]]:
    """``(method, path, field)`` of every documented JSON body."""
    with tempfile.TemporaryDirectory() as folder:
        app = create_app(load_settings({}, database_url=f"sqlite:///{folder}/unused.sqlite3"))
        document = app.openapi()
        app.state.ctx.db.dispose()
    found = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method not in _METHODS:
                continue
            content = (operation.get("requestBody") or {}).get("content", {})
            if "application/json" not in content:
                continue
            schema = _resolve(document, content["application/json"]["schema"])
            found += [(method, path, field) for field in schema.get("properties", {})]
    # Sorted: some bodies' field order follows the hash seed, and every pytest-xdist
    # worker must collect the same tests in the same order.
    return sorted(found)


JSON_FIELDS: Final = _json_fields()


def _assert_refused(response: httpx.Response, path: str, field: str | None = None) -> None:
    assert response.status_code == 400, (path, field, response.status_code, response.text)
    body = response.json()
    if path in PROTOCOL:
        assert body["error"] == "invalid_request", body
        assert body["message"] == body["error_description"]
    else:
        assert (body["statusCode"], body["error"]) == (400, "Bad Request"), body
    if field is not None:
        assert field in body["message"], body


def test_every_endpoint_with_a_json_body_is_tried() -> None:
    paths = {path for _method, path, _field in JSON_FIELDS}
    assert set(PROTOCOL) <= paths
    assert {"/api/auth/login", "/api/auth/refresh", "/api/applications"} <= paths
    assert ("post", "/api/oauth/token", "refresh_token") in JSON_FIELDS
    assert ("post", "/api/oauth/token/introspect", "clientSecret") in JSON_FIELDS


@pytest.mark.parametrize(("method", "path", "field"), JSON_FIELDS)
async def test_a_lone_surrogate_in_any_json_field_is_400(
    app: FastAPI, client: httpx.AsyncClient, method: str, path: str, field: str
) -> None:
    token = (await signed_up(client))["accessToken"]
    url = path.replace("{client_id}", "0" * 32).replace("{session_id}", "0" * 36)
    for value in SURROGATES:
        body = json.dumps({field: value})  # ensure_ascii: "\ud800" as the escape
        response = await client.request(
            method.upper(), url, content=body, headers={
                **bearer(token), "Content-Type": "application/json",
            },
        )
        _assert_refused(response, path, field)


async def test_a_lone_surrogate_in_a_list_or_a_key_is_400(
    client: httpx.AsyncClient,
) -> None:
    token = (await signed_up(client))["accessToken"]
    headers = {**bearer(token), "Content-Type": "application/json"}
    listed = {"name": "App", "redirectUris": ["https://a.example.com/\ud800"], "scopes": ["openid"]}
    response = await client.post("/api/applications", content=json.dumps(listed), headers=headers)
    _assert_refused(response, "/api/applications", "redirectUris.0")
    response = await client.post(
        "/api/oauth/token", content=json.dumps({"grant_type": "x", "\ud800": "y"}),
        headers={"Content-Type": "application/json"},
    )
    _assert_refused(response, "/api/oauth/token", "\\ud800")
    response = await client.post(
        "/api/auth/login", content=json.dumps("\ud800"),
        headers={"Content-Type": "application/json"},
    )
    _assert_refused(response, "/api/auth/login")


async def test_a_surrogate_pair_is_an_ordinary_character(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    token = (await signed_up(client))["accessToken"]
    body = json.dumps({"firstName": "Ada \U0001F600"})  # sent as "\ud83d\ude00"
    assert "\\ud83d\\ude00" in body
    response = await client.put(
        "/api/user/profile", content=body,
        headers={**bearer(token), "Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("path", PROTOCOL)
@pytest.mark.parametrize(
    "parameter", ["token", "refresh_token", "client_id", "client_secret", "grant_type", "code"]
)
async def test_a_surrogate_written_as_utf8_in_a_form_is_invalid_request(
    app: FastAPI, client: httpx.AsyncClient, path: str, parameter: str
) -> None:
    await signed_up(client)
    oauth = create_oauth_app(app)
    pair = client_session(app, oauth.client_id)
    form = {
        "grant_type": "refresh_token", "refresh_token": pair.refresh_token,
        "token": pair.access_token, "client_id": oauth.client_id,
        "client_secret": oauth.client_secret,
    }
    encoded = "&".join(
        f"{name}={'%ED%A0%80' if name == parameter else value}" for name, value in form.items()
    )
    if parameter not in form:
        encoded += f"&{parameter}=%ED%A0%80"
    response = await client.post(
        path, content=encoded, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    _assert_refused(response, path)


async def test_the_protocol_endpoints_refuse_surrogates_with_valid_credentials(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await signed_up(client)
    oauth = create_oauth_app(app)
    pair = client_session(app, oauth.client_id)
    credentials = {"client_id": oauth.client_id, "client_secret": oauth.client_secret}
    cases = [
        ("/api/oauth/token", {"grant_type": "refresh_token", "refresh_token": "\ud800",
                              **credentials}, "refresh_token"),
        ("/api/oauth/token", {"grant_type": "refresh_token",
                              "refresh_token": pair.refresh_token,
                              "client_id": oauth.client_id, "client_secret": "\ud800"},
         "client_secret"),
        ("/api/oauth/token/introspect", {"token": "\ud800", "clientId": oauth.client_id,
                                         "clientSecret": oauth.client_secret}, "token"),
        ("/api/oauth/revoke", {"token": "\ud800", "clientId": oauth.client_id,
                               "clientSecret": oauth.client_secret}, "token"),
        ("/api/oauth/revoke", {"token": pair.access_token, "clientId": "\ud800"}, "clientId"),
    ]
    for path, body, field in cases:
        response = await client.post(
            path, content=json.dumps(body), headers={"Content-Type": "application/json"}
        )
        _assert_refused(response, path, field)
    # The session is untouched: the refused requests did nothing.
    refreshed = await client.post(
        "/api/oauth/token",
        json={"grant_type": "refresh_token", "refresh_token": pair.refresh_token, **credentials},
    )
    assert refreshed.status_code == 200, refreshed.text


def test_hashes_of_text_that_is_not_unicode_match_nothing_and_never_raise() -> None:
    assert len(hash_token("\ud800")) == 64
    assert hash_token("\ud800") != hash_token("\udc00")
    assert len(hash_client_secret("x\udfffy")) == 64


def test_a_router_without_the_check_is_refused_at_start_up() -> None:
    """The server's routes are added as they are (``add_routes``), not included, so the
    app's dependencies do not reach them: each router must bring the check itself."""
    plain = APIRouter()
    plain.add_api_route("/api/unchecked", lambda: None, methods=["POST"])
    with pytest.raises(RuntimeError, match="/api/unchecked: its router does not refuse"):
        add_routes(FastAPI(), plain)
    checked = server_router()
    checked.add_api_route("/api/checked", lambda: None, methods=["POST"])
    app = FastAPI()
    add_routes(app, checked)
    assert "/api/checked" in {getattr(route, "path", None) for route in app.routes}
