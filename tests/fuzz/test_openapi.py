"""Schemathesis against the server's own OpenAPI document: no 5xx, nothing undocumented.

Each documented operation gets schema-valid and schema-invalid requests (a fixed number,
derandomized, so CI replays the same ones) sent to the real server over HTTP, and every
answer is checked: never a 5xx, a documented status code, content type, headers and body,
invalid input refused with a 4xx, and Bearer routes refusing requests without a token.

The server runs on SQLite and on PostgreSQL (``conftest.py``). Requests carry a fresh
first-party session, a session of an application, or whatever token schemathesis made
up; protocol endpoints carry the test application's client credentials or none; a
``client_id`` / ``session_id`` in the path is sometimes one that exists, so that requests
reach past the 404, or that id with a NUL in it.

Not checked: ``positive_data_acceptance`` (a schema-valid body may break rules JSON Schema
cannot say, such as "an https redirect URI", which the server answers with 400) and the
stateful checks (use after free, resource availability), which need links.
"""

from __future__ import annotations

import os
import tempfile
from datetime import timedelta
from typing import Any, Final

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tekcify_auth.server import create_app
from tekcify_auth.server.settings import load_settings

from .conftest import ADMIN_EMAIL, OWNER_EMAIL, FuzzServer, OAuthApp

#: Examples per operation and mode: 30 keeps `make test` within its budget now that the API
#: has about 90 operations; CI (.ci/run) hunts with 60, and ``TEKCIFY_FUZZ_EXAMPLES=1000``
#: makes a longer hunt, still derandomized.
MAX_EXAMPLES: Final = int(os.environ.get("TEKCIFY_FUZZ_EXAMPLES", "30"))
#: One request slower than this is a failure (a hang), not a slow machine.
DEADLINE: Final = timedelta(seconds=5)

CHECKS: Final = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    ignored_auth,
]
_METHODS: Final = ("get", "put", "post", "delete", "patch")


def _documented_operations() -> list[str]:
    """``METHOD /path`` of every operation in the document (for collection)."""
    with tempfile.TemporaryDirectory() as folder:
        # Building the app opens nothing: the database file is never created.
        app = create_app(load_settings({}, database_url=f"sqlite:///{folder}/unused.sqlite3"))
        document = app.openapi()
        app.state.ctx.db.dispose()
    return [
        f"{method.upper()} {path}"
        for path, item in document["paths"].items()
        for method in item
        if method in _METHODS
    ]


OPERATIONS: Final = _documented_operations()


@pytest.fixture(scope="module")
def api_schema(fuzz_server: FuzzServer) -> Any:
    """The document as the running server serves it."""
    return schemathesis.openapi.from_url(
        f"{fuzz_server.url}/openapi.json", config=schemathesis.Config()
    )


def _cases(operation: Any, fuzz_server: FuzzServer) -> st.SearchStrategy[Any]:
    fixed: list[dict[str, str]] = [{}]
    ids: dict[str, str] = {}
    if "{client_id}" in operation.path:
        ids["client_id"] = fuzz_server.new_application().client_id
    if "{session_id}" in operation.path:
        ids["session_id"] = fuzz_server.session().session_id
    if "{user_id}" in operation.path:
        ids["user_id"] = fuzz_server.target_id()
    for name, value in ids.items():
        # The id of a resource that exists, and the same with a NUL (PostgreSQL refuses
        # NUL in text, which schemathesis rarely puts into a path).
        fixed += [{name: value}, {name: value[:8] + "\x00" + value[8:]}]
    return st.one_of(
        operation.as_strategy(generation_mode=mode, path_parameters=parameters or None)
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
        for parameters in fixed
    )


#: Who a request is from: a fresh first-party session, a session of an application, or
#: whatever schemathesis generated (random tokens, none).
_CALLERS: Final = st.sampled_from(["session", "session", "application", "generated"])


def _headers(
    case: Any, caller: str, fuzz_server: FuzzServer, oauth_app: OAuthApp
) -> dict[str, str] | None:
    operation = case.operation
    if caller == "generated" or operation.schema.is_security_param_negated(case):
        return None
    if operation.definition.raw.get("security"):
        client_id = oauth_app.client_id if caller == "application" else None
        # The admin API's first-party cases come from an administrator (past the 403).
        admin = caller == "session" and operation.path.startswith("/api/admin/")
        return fuzz_server.bearer(
            client_id=client_id, email=ADMIN_EMAIL if admin else OWNER_EMAIL
        )
    if operation.path.startswith("/api/oauth/") and caller == "application":
        return oauth_app.basic()
    return None


@pytest.mark.parametrize("label", OPERATIONS)
def test_operation_answers_as_documented(
    label: str, api_schema: Any, fuzz_server: FuzzServer, oauth_app: OAuthApp
) -> None:
    operation = api_schema.find_operation_by_label(label)
    assert operation is not None, f"{label} is in the app's document but not the served one"

    @given(case=_cases(operation, fuzz_server), caller=_CALLERS)
    @settings(
        max_examples=MAX_EXAMPLES * 2,
        deadline=DEADLINE,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    def fuzz(case: Any, caller: str) -> None:
        headers = _headers(case, caller, fuzz_server, oauth_app)
        case.call_and_validate(headers=headers, checks=CHECKS, timeout=30)

    fuzz()
