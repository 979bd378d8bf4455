"""Hypothesis on the text of JSON bodies: any code point, lone surrogates included.

Schemathesis (``test_openapi.py``) draws strings UTF-8 can encode, and Hypothesis's own
``st.characters()`` leaves surrogates out, so neither ever sent ``"\\ud800"``, which
JSON can spell and Python decodes into a string that is not text (issue 10, item 9).
Here every JSON body of the OpenAPI document gets its own field names, and names of no field, with
values drawn from :data:`TEXT` (every code point, surrogates often), sent to the real
server over HTTP. The answer is never a 5xx; a body holding a lone surrogate anywhere is
a 400 in the endpoint's shape (``invalid_request`` on the protocol endpoints).
"""

from __future__ import annotations

import json
import tempfile
from typing import Any, Final

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tekcify_auth.server import create_app
from tekcify_auth.server.services.text import lone_surrogate_path
from tekcify_auth.server.settings import load_settings

from .conftest import FuzzServer

#: Any code point, with lone surrogates (U+D800-DFFF) drawn often.
CHARACTERS: Final = st.characters(exclude_categories=()) | st.integers(0xD800, 0xDFFF).map(chr)
TEXT: Final = st.lists(CHARACTERS, max_size=24).map("".join)

_METHODS: Final = ("post", "put", "patch", "delete")


def _documented_bodies() -> dict[tuple[str, str], list[str]]:
    """``(method, path)`` -> the field names of every documented JSON request body."""
    with tempfile.TemporaryDirectory() as folder:
        # Building the app opens nothing: the database file is never created.
        app = create_app(load_settings({}, database_url=f"sqlite:///{folder}/unused.sqlite3"))
        document = app.openapi()
        app.state.ctx.db.dispose()
    found: dict[tuple[str, str], list[str]] = {}
    for path, item in document["paths"].items():
        for method, operation in item.items():
            content = (operation.get("requestBody") or {}).get("content", {})
            if method not in _METHODS or "application/json" not in content:
                continue
            schema = content["application/json"]["schema"]
            if "$ref" in schema:
                schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
            found[(method, path)] = sorted(schema.get("properties", {}))
    return found


BODIES: Final = _documented_bodies()
PROTOCOL: Final = ("/api/oauth/token", "/api/oauth/token/introspect", "/api/oauth/revoke")
FUZZ: Final = settings(
    max_examples=60, derandomize=True, database=None, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@st.composite
def bodies(draw: st.DrawFn, fields: list[str]) -> dict[str, Any]:
    names = draw(st.lists(st.sampled_from(fields) | TEXT, min_size=1, max_size=4, unique=True))
    return {name: draw(TEXT | st.lists(TEXT, max_size=3)) for name in names}


@pytest.mark.parametrize(("method", "path"), sorted(BODIES))
def test_any_text_in_a_json_body_is_answered_never_a_5xx(
    fuzz_server: FuzzServer, method: str, path: str
) -> None:
    fields = BODIES[(method, path)] or ["body"]
    url = path.replace("{client_id}", fuzz_server.new_application().client_id)
    url = url.replace("{session_id}", fuzz_server.session().session_id)
    with httpx.Client(base_url=fuzz_server.url, timeout=30) as http:

        @FUZZ
        @given(body=bodies(fields))
        def fuzz(body: dict[str, Any]) -> None:
            # A fresh session each time: a fuzzed logout or deletion cannot end the next.
            headers = {**fuzz_server.bearer(), "Content-Type": "application/json"}
            wire = json.dumps(body)
            response = http.request(method.upper(), url, content=wire, headers=headers)
            assert response.status_code < 500, (body, response.text)
            # What the server reads: "\ud800\udc00" on the wire is one character (U+10000).
            if lone_surrogate_path(json.loads(wire)) is None:
                return
            assert response.status_code == 400, (body, response.text)
            answer = response.json()
            if path in PROTOCOL:
                assert answer["error"] == "invalid_request", answer
            else:
                assert answer["statusCode"] == 400, answer

        fuzz()
