"""OpenTelemetry traces (issue 17, item 3): the account and protocol flows through the
app with the SDK's in-memory exporter; no token, code, secret, password or email in any
span's name, attribute or event, and the request id on every request's span."""

from __future__ import annotations

import base64
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from tekcify_auth.server import create_app, tracing

from .conftest import (
    PASSWORD,
    allow_client_credentials,
    asgi_client,
    bearer,
    create_oauth_app,
    make_settings,
    register,
)
from .recovery_helpers import last_mail

EMAIL = "grace.hopper@example.com"
NEW_PASSWORD = "a brand new passphrase 42"


@pytest.fixture(scope="module", autouse=True)
def _untraced_afterwards() -> Iterator[None]:
    yield
    tracing.reset()  # the rest of the suite runs without instrumented libraries


@pytest.fixture
async def traced(
    database_url: str, tmp_path: Path, clean_db: str
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    settings = make_settings(
        database_url=database_url, data_dir=tmp_path / "data",
        otel_exporter_otlp_endpoint="http://127.0.0.1:9",  # never reached: exporter given
    )
    app = create_app(settings, span_exporter=exporter)
    async with app.router.lifespan_context(app), asgi_client(app) as client:
        yield app, client, exporter


def _texts(span: ReadableSpan) -> Iterator[str]:
    yield span.name
    for key, value in (span.attributes or {}).items():
        yield f"{key}={value}"
    for event in span.events:
        yield event.name
        for key, value in (event.attributes or {}).items():
            yield f"{key}={value}"


async def test_spans_carry_the_request_id_and_no_secret(
    traced: tuple[FastAPI, httpx.AsyncClient, InMemorySpanExporter],
) -> None:
    app, client, exporter = traced
    secrets: dict[str, str] = {"email": EMAIL, "password": PASSWORD,
                               "new password": NEW_PASSWORD}
    await register(client, EMAIL)
    login = await client.post(
        "/api/auth/login", json={"email": EMAIL, "password": PASSWORD},
    )
    assert login.status_code == 200
    pair = login.json()
    secrets |= {"access token": pair["accessToken"], "refresh token": pair["refreshToken"]}
    wrong = await client.post("/api/auth/login", json={"email": EMAIL, "password": "wrong!x"})
    assert wrong.status_code == 401
    secrets["wrong password"] = "wrong!x"
    assert (await client.get("/api/oauth/userinfo", headers=bearer(pair["accessToken"]))
            ).status_code == 200

    oauth = create_oauth_app(app)
    allow_client_credentials(app, oauth.client_id)
    assert oauth.client_secret is not None
    secrets["client secret"] = oauth.client_secret
    secrets["basic credentials"] = base64.b64encode(
        f"{oauth.client_id}:{oauth.client_secret}".encode()).decode()
    issued = await client.post(
        "/api/oauth/token", data={"grant_type": "client_credentials"}, headers=oauth.basic()
    )
    assert issued.status_code == 200
    secrets["client token"] = issued.json()["access_token"]
    introspected = await client.post(
        "/api/oauth/token/introspect", data={"token": pair["accessToken"]},
        headers=oauth.basic(),
    )
    assert introspected.json()["active"] is True
    refreshed = await client.post(
        f"/api/oauth/token?refresh_token={pair['refreshToken']}",  # a token in the query too
        data={"grant_type": "refresh_token", "refresh_token": pair["refreshToken"]},
    )
    assert refreshed.status_code in (200, 400, 401), refreshed.text

    assert (await client.post("/api/auth/password/forgot", json={"email": EMAIL})
            ).status_code == 202
    reset_token = last_mail(app, "password_reset", EMAIL).token
    secrets["reset token"] = reset_token
    page = await client.get(f"/account/reset-password?token={reset_token}")
    assert page.status_code == 200
    reset = await client.post(
        "/api/auth/password/reset", json={"token": reset_token, "newPassword": NEW_PASSWORD}
    )
    assert reset.status_code == 200, reset.text

    spans = exporter.get_finished_spans()
    servers = [span for span in spans if span.kind == SpanKind.SERVER]
    assert len(servers) >= 10
    assert any(span.kind == SpanKind.CLIENT and "db.system" in str(span.attributes)
               for span in spans), "no database span"
    for span in servers:
        assert span.attributes is not None
        assert span.attributes.get("tekcify.request_id"), span.name
    login_id = login.headers["x-request-id"]
    assert any(span.attributes and span.attributes.get("tekcify.request_id") == login_id
               for span in servers)
    names = {span.name for span in servers}
    assert {"POST /api/auth/login", "GET /api/oauth/userinfo", "POST /api/oauth/token",
            "POST /api/oauth/token/introspect", "GET /account/reset-password",
            "POST /api/auth/password/reset"} <= names
    leaks: list[tuple[str, str, str]] = [
        (what, span.name, text)
        for span in spans for text in _texts(span)
        for what, secret in secrets.items() if secret in text
    ]
    assert not leaks, leaks[:5]


def test_the_scrubber_cuts_queries_paths_headers_emails_and_jwts() -> None:
    dirty: dict[str, Any] = {
        "http.url": "http://h/account/reset-password?token=s3cret#x",
        "url.full": "https://h/a?b=c",
        "http.target": "/account/reset-password?token=s3cret",
        "url.query": "token=s3cret",
        "http.request.header.authorization": ("Bearer s3cret",),
        "exception.message": "no user ada@example.com with eyJhbGciOi.eyJzdWIi.c2ln",
        "db.statement": "SELECT * FROM users WHERE email = ?",
    }
    clean = tracing.scrub_attributes(dirty, route="/account/reset-password")
    assert clean == {
        "http.url": "http://h/account/reset-password",
        "url.full": "https://h/account/reset-password",
        "http.target": "/account/reset-password",
        "exception.message": "no user [redacted] with [redacted]",
        "db.statement": "SELECT * FROM users WHERE email = ?",
    }
    assert "http.target" not in tracing.scrub_attributes(dirty)


_WITHOUT_OTEL = """
import sys
sys.modules["opentelemetry.instrumentation.asgi"] = None  # the [otel] extra is missing
from tekcify_auth.server import create_app
from tekcify_auth.server.settings import load_settings
create_app(load_settings({"TEKCIFY_DATA_DIR": sys.argv[1],
                          "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317"}))
print("started")
"""


def test_without_the_extra_the_server_starts_with_a_warning_naming_it(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _WITHOUT_OTEL, str(tmp_path)],
        capture_output=True, text=True, timeout=60, check=True,
    )
    assert "started" in done.stdout
    assert 'pip install "tekcify-auth-backend[otel]"' in done.stderr, done.stderr
