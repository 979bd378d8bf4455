"""The skeleton: health, error shapes, body limit, access log, settings, migrations."""

from __future__ import annotations

import json
import logging
import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from fastapi import FastAPI, Request

from tekcify_auth.server import create_app
from tekcify_auth.server.db.engine import Database
from tekcify_auth.server.db.migrate import current_revision, head_revision
from tekcify_auth.server.db.models import Base
from tekcify_auth.server.settings import SettingsError, load_settings

from .conftest import FakeClock, asgi_client, bearer, make_settings, signed_up

MIB = 1024 * 1024


async def test_health_reports_the_database(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


async def test_unknown_path_is_a_404_in_the_api_shape(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/nothing-here")
    assert response.status_code == 404
    assert response.json() == {"statusCode": 404, "error": "Not Found", "message": "Not found"}


async def _echo_length(request: Request) -> dict[str, int]:
    return {"length": len(await request.body())}


@pytest.fixture
def echo_client(app: FastAPI, client: httpx.AsyncClient) -> httpx.AsyncClient:
    """``client``, with a test route that reads the whole body (added before first use)."""
    app.add_api_route("/test/echo", _echo_length, methods=["POST"])
    return client


async def test_body_of_one_mib_is_accepted(echo_client: httpx.AsyncClient) -> None:
    response = await echo_client.post("/test/echo", content=b"x" * MIB)
    assert response.status_code == 200
    assert response.json() == {"length": MIB}


async def test_body_over_one_mib_is_413_by_content_length(
    echo_client: httpx.AsyncClient,
) -> None:
    response = await echo_client.post("/test/echo", content=b"x" * (MIB + 1))
    assert response.status_code == 413
    assert response.json()["statusCode"] == 413
    assert "larger than 1048576 bytes" in response.json()["message"]


async def test_body_over_one_mib_is_413_when_streamed_without_length(
    echo_client: httpx.AsyncClient,
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(17):
            yield b"{" * (64 * 1024)

    response = await echo_client.post(
        "/test/echo", content=chunks(), headers={"content-type": "application/json"}
    )
    assert "content-length" not in response.request.headers
    assert response.status_code == 413


async def test_a_lying_content_length_does_not_get_past_the_limit(
    app: FastAPI, echo_client: httpx.AsyncClient
) -> None:
    sent: list[dict[str, object]] = []
    body = b"x" * (MIB + 10)
    messages = [
        {"type": "http.request", "body": body[:MIB], "more_body": True},
        {"type": "http.request", "body": body[MIB:], "more_body": False},
    ]

    async def receive() -> dict[str, object]:
        return messages.pop(0)

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/test/echo", "raw_path": b"/test/echo",
        "query_string": b"", "root_path": "", "client": ("127.0.0.1", 1), "server": None,
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"10")],
    }
    await app(scope, receive, send)
    assert sent[0]["status"] == 413


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("DELETE", "/api/auth/sessions/%00"),
        ("GET", "/api/applications/public/%00"),
        ("PUT", "/api/applications/app%00"),
        ("DELETE", "/api/applications/%00"),
        ("POST", "/api/applications/%00/regenerate-secret"),
        ("DELETE", "/api/oauth/connected-apps/%00"),
        ("GET", "/api/images/%00.png"),
    ],
)
async def test_a_path_with_a_nul_is_not_found(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    # Found while fuzzing on PostgreSQL: an id with a NUL reached a query there (a 500).
    pair = await signed_up(client)
    response = await client.request(
        method, path, headers=bearer(pair["accessToken"]), json={"name": "x"}
    )
    assert response.status_code == 404
    assert response.json() == {"statusCode": 404, "error": "Not Found", "message": "Not found"}


async def test_every_request_logs_one_line_without_query_or_secrets(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tekcify_auth.server.access")
    response = await client.get(
        "/health?access_token=SECRET-VALUE",
        headers={"Authorization": "Bearer SECRET-VALUE"},
    )
    given = response.headers["x-request-id"]
    lines = [r.getMessage() for r in caplog.records if r.name == "tekcify_auth.server.access"]
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert entry["method"] == "GET"
    assert entry["path"] == "/health"
    assert entry["status"] == 200
    assert entry["request_id"] == given
    assert isinstance(entry["duration_ms"], float | int)
    assert "SECRET-VALUE" not in caplog.text


async def test_an_odd_request_id_is_replaced(client: httpx.AsyncClient) -> None:
    response = await client.get("/health", headers={"X-Request-ID": "a b\"c"})
    assert response.headers["x-request-id"] != "a b\"c"
    assert len(response.headers["x-request-id"]) == 32


def test_migrations_match_the_models(database_url: str) -> None:
    db = Database(database_url)
    try:
        assert current_revision(db) == head_revision()
        with db.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        db.dispose()


async def test_first_start_generates_a_private_secret_kept_across_restarts(
    tmp_path: Path, clock: FakeClock
) -> None:
    settings = make_settings(data_dir=tmp_path / "fresh")
    secrets = []
    for _ in range(2):
        app = create_app(settings, clock=clock)
        async with app.router.lifespan_context(app), asgi_client(app) as client:
            assert (await client.get("/health")).json()["database"] == "ok"
        secret_file = tmp_path / "fresh" / "jwt_access_secret"
        assert stat.S_IMODE(os.stat(secret_file).st_mode) == 0o600
        secrets.append(secret_file.read_text())
    assert stat.S_IMODE(os.stat(tmp_path / "fresh").st_mode) == 0o700
    assert secrets[0] == secrets[1]
    assert len(secrets[0].strip()) >= 64
    assert (tmp_path / "fresh" / "tekcify.sqlite3").exists()


@pytest.mark.parametrize(
    ("variable", "value", "accepts"),
    [
        ("TEKCIFY_ACCESS_TOKEN_TTL", "soon", "whole number of seconds"),
        ("TEKCIFY_SIGNING_ALG", "none", "HS256, RS256, ES256, EdDSA"),
        ("TEKCIFY_DATABASE_URL", "mysql://db/auth", "postgresql://"),
        ("TEKCIFY_REFRESH_RETRY_GRACE", "-1", "from 0 (off) to 60"),
        ("TEKCIFY_PUBLIC_URL", "auth.example.com", "absolute http"),
        ("TEKCIFY_REDIS_URL", "http://cache", "redis://"),
        ("TEKCIFY_REFRESH_TOKEN_TTL", "10", "from 60"),
    ],
)
def test_a_bad_setting_names_the_variable_and_what_it_accepts(
    variable: str, value: str, accepts: str
) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings({variable: value})
    assert variable in str(info.value)
    assert accepts in str(info.value)


def test_a_bad_secret_is_refused_without_being_echoed() -> None:
    pem = "-----BEGIN PUBLIC KEY-----\nabc\n-----END PUBLIC KEY-----"
    with pytest.raises(SettingsError) as info:
        load_settings({"JWT_ACCESS_SECRET": pem})
    assert "JWT_ACCESS_SECRET" in str(info.value)
    assert "abc" not in str(info.value)


def test_a_database_password_is_not_echoed() -> None:
    with pytest.raises(SettingsError) as info:
        load_settings({"TEKCIFY_DATABASE_URL": "oracle://admin:hunter2@db/x"})
    assert "hunter2" not in str(info.value)


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEKCIFY_ACCESS_TOKEN_TTL", "60")
    monkeypatch.setenv("TEKCIFY_DATABASE_URL", "postgres://u@db/auth")
    monkeypatch.setenv("TEKCIFY_REFRESH_RETRY_GRACE", "2.5")
    settings = load_settings()
    assert settings.access_token_ttl == 60
    assert settings.database_url == "postgresql+psycopg://u@db/auth"
    assert settings.refresh_retry_grace == 2.5
    assert settings.signing_alg is None  # the recorded one; HS256 on a new database
    assert settings.issuer == "tekcify-auth"
    assert settings.audience == "tekcify-api"


def test_the_access_token_issuer_has_a_new_name_and_keeps_the_old_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Issue 15: TEKCIFY_ACCESS_TOKEN_ISSUER; TEKCIFY_ISSUER is its deprecated name.
    assert load_settings({"TEKCIFY_ISSUER": "old-name"}).issuer == "old-name"
    assert load_settings({"TEKCIFY_ACCESS_TOKEN_ISSUER": "new-name"}).issuer == "new-name"
    both = {"TEKCIFY_ISSUER": "old-name", "TEKCIFY_ACCESS_TOKEN_ISSUER": "new-name"}
    assert load_settings(both).issuer == "new-name"
    monkeypatch.setenv("TEKCIFY_ISSUER", "from-the-environment")
    assert load_settings().issuer == "from-the-environment"
    with pytest.raises(SettingsError) as info:
        load_settings({"TEKCIFY_ACCESS_TOKEN_ISSUER": ""})
    assert "TEKCIFY_ACCESS_TOKEN_ISSUER" in str(info.value)


async def test_the_openapi_document_shows_the_bearer_scheme(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    schemes = document["components"]["securitySchemes"]
    assert any(s["type"] == "http" and s["scheme"] == "bearer" for s in schemes.values())
    assert "/api/auth/login" in document["paths"]


async def test_the_servers_bearer_check_is_the_librarys_guard_core(app: FastAPI) -> None:
    from tekcify_auth._guard import GuardCore
    from tekcify_auth._verify import BaseVerifier

    guard = app.state.ctx.guard
    assert type(guard) is GuardCore
    assert isinstance(guard.verifier, BaseVerifier)
