"""Fixtures of the fuzz suites: the real server on 127.0.0.1, with an account and an app.

The server is ``create_app(settings)`` served by uvicorn in a thread of this process:
requests go through a real HTTP parser (what a hostile client meets), while the tests
can still open sessions through the server's own services, past the login rate limiter
that the fuzzer is free to trip. It runs once on SQLite (a temporary data folder) and
once on PostgreSQL (a private schema of ``TEKCIFY_TEST_POSTGRES_URL``), as the server
suite does: the two refuse different input (PostgreSQL has no NUL in text). Without
that variable the PostgreSQL run is left out, loudly (``tests/needs.py``).
"""

from __future__ import annotations

import base64
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.engine import make_url

from tekcify_auth.server import create_app
from tekcify_auth.server.db.engine import Database
from tekcify_auth.server.services import accounts, tokens
from tekcify_auth.server.settings import load_settings

POSTGRES_URL_VAR = "TEKCIFY_TEST_POSTGRES_URL"
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.needs("postgres"))]

PASSWORD = "correct horse battery"
OWNER_EMAIL = "fuzz-owner@example.com"

# Cheap argon2: the fuzzer registers and logs in hundreds of times.
FAST_HASHING: dict[str, Any] = {
    "argon2_time_cost": 1, "argon2_memory_cost": 8, "argon2_parallelism": 1,
    # ...from one address, with wrong client secrets too: issue 17's registration and
    # client authentication limits would otherwise answer most of its cases with 429.
    "registration_max_per_address": 100_000, "registration_max_per_network": 100_000,
    "client_auth_max_failures": 100_000, "client_auth_max_failures_per_client": 100_000,
}
_START_TIMEOUT = 30.0


@dataclass(frozen=True)
class OAuthApp:
    """A confidential application of the fuzz account."""

    client_id: str
    client_secret: str

    def basic(self) -> dict[str, str]:
        """``Authorization: Basic`` with its credentials (RFC 6749 §2.3.1)."""
        raw = f"{quote_plus(self.client_id)}:{quote_plus(self.client_secret)}"
        return {"Authorization": "Basic " + base64.b64encode(raw.encode()).decode()}


@dataclass
class FuzzServer:
    """The running server and the account the fuzzer acts as."""

    app: FastAPI
    url: str
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def session(self, *, client_id: str | None = None) -> tokens.TokenPair:
        """A new session of the fuzz account (for ``client_id`` when given): its pair.

        The account is made again if the fuzzer managed to delete it.
        """
        ctx = self.app.state.ctx
        with self._lock, ctx.db.write() as db:
            user = accounts.find_by_email(db, OWNER_EMAIL) or accounts.create_user(
                db, ctx, email=OWNER_EMAIL, password_hash=ctx.passwords.hash(PASSWORD)
            )
            return tokens.start_session(
                db, ctx, user, scopes=list(accounts.DEFAULT_FIRST_PARTY_SCOPES),
                client_id=client_id,
            )

    def bearer(self, *, client_id: str | None = None) -> dict[str, str]:
        """``Authorization`` of a fresh session (so a fuzzed logout cannot end the next)."""
        return {"Authorization": f"Bearer {self.session(client_id=client_id).access_token}"}

    def new_application(self) -> OAuthApp:
        """Register an application of the fuzz account through the API."""
        with httpx.Client(base_url=self.url, timeout=30) as http:
            created = http.post(
                "/api/applications",
                json={
                    "name": "Fuzz app",
                    "redirectUris": ["https://fuzz.example.com/callback"],
                    "scopes": ["openid", "profile", "email", "read:profile"],
                },
                headers=self.bearer(),
            )
        assert created.status_code == 201, created.text
        body = created.json()
        return OAuthApp(body["clientId"], body["clientSecret"])


def _serve(app: FastAPI) -> tuple[uvicorn.Server, threading.Thread, str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + _START_TIMEOUT
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            pytest.fail("the fuzz server did not start", pytrace=False)
        time.sleep(0.01)  # waiting for start-up, not timing anything
    return server, thread, f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module", params=BACKENDS)
def fuzz_database(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """``None`` for SQLite in the data folder, else a private PostgreSQL schema's URL."""
    if request.param == "sqlite":
        yield None
        return
    root_url = os.environ.get(POSTGRES_URL_VAR)
    if not root_url:
        pytest.fail(
            f"{POSTGRES_URL_VAR} is not set: start PostgreSQL with `export "
            f"{POSTGRES_URL_VAR}=$(scripts/postgres.sh start)`",
            pytrace=False,
        )
    root = Database(root_url)
    schema = f"fuzz_{uuid.uuid4().hex[:12]}"
    with root.write_connection() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield make_url(root_url).update_query_dict(
            {"options": f"-csearch_path={schema}"}
        ).render_as_string(hide_password=False)
    finally:
        with root.write_connection() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        root.dispose()


@pytest.fixture(scope="module")
def fuzz_server(
    fuzz_database: str | None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FuzzServer]:
    """The server for one module and database (migrated on start)."""
    app = create_app(
        load_settings(
            {}, data_dir=tmp_path_factory.mktemp("fuzz-server"), database_url=fuzz_database,
            **FAST_HASHING,
        )
    )
    server, thread, url = _serve(app)
    try:
        yield FuzzServer(app, url)
    finally:
        server.should_exit = True
        thread.join(timeout=_START_TIMEOUT)


@pytest.fixture(scope="module")
def oauth_app(fuzz_server: FuzzServer) -> OAuthApp:
    """The application whose credentials authenticate protocol requests (never fuzzed)."""
    return fuzz_server.new_application()
