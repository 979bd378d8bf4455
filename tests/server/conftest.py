"""Fixtures of the server suite: the app over SQLite and PostgreSQL, a client, a clock.

Every test that takes ``app`` or ``client`` runs once per database backend. PostgreSQL
comes from ``TEKCIFY_TEST_POSTGRES_URL`` (``scripts/postgres.sh start`` prints one);
without it the PostgreSQL runs are left out, loudly (``pytest.mark.needs``, see
``tests/needs.py``). Each test session migrates a private schema (PostgreSQL)
or file (SQLite) once; every test starts from empty tables.
"""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from sqlalchemy import text
from sqlalchemy.engine import make_url

from tekcify_auth.server import create_app
from tekcify_auth.server.db.engine import Database
from tekcify_auth.server.db.migrate import upgrade
from tekcify_auth.server.db.models import Base
from tekcify_auth.server.services import accounts, applications, client_credentials, tokens
from tekcify_auth.server.settings import Settings, load_settings

POSTGRES_URL_VAR = "TEKCIFY_TEST_POSTGRES_URL"
#: The PostgreSQL runs are left out (not failed) where no PostgreSQL is set up.
POSTGRESQL = pytest.param("postgresql", marks=pytest.mark.needs("postgres"))
BACKENDS = ["sqlite", POSTGRESQL]

#: The address the ASGI transport reports as the client's.
CLIENT_ADDRESS = "203.0.113.7"

# Cheap argon2 so the suite stays fast; production defaults are tested separately.
FAST_HASHING: dict[str, Any] = {
    "argon2_time_cost": 1, "argon2_memory_cost": 8, "argon2_parallelism": 1,
}


class FakeClock:
    """A clock that stands still until told to move; starts at the real now."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


#: The mail sender stays off unless a test turns it on (``mail_poll_interval``): tests
#: read queued messages from ``mail_queue``, whose bodies a delivery wipes.
NO_MAIL_SENDER: dict[str, Any] = {"mail_poll_interval": 0}
#: Every test registers from one address: the registration limits (issue 17) stay out of
#: the way unless a test sets them (``tests/server/test_registration_policy.py``).
LENIENT_REGISTRATION: dict[str, Any] = {
    "registration_max_per_address": 100_000, "registration_max_per_network": 100_000,
}


def make_settings(**overrides: Any) -> Settings:
    """Settings from ``overrides`` only (the process environment is not read)."""
    return load_settings(
        {}, **{**FAST_HASHING, **NO_MAIL_SENDER, **LENIENT_REGISTRATION, **overrides}
    )


def postgres_root_url() -> str:
    url = os.environ.get(POSTGRES_URL_VAR)
    if not url:
        pytest.fail(
            f"{POSTGRES_URL_VAR} is not set: start PostgreSQL with "
            f"`export {POSTGRES_URL_VAR}=$(scripts/postgres.sh start)`",
            pytrace=False,
        )
    return url


def _with_search_path(url: str, schema: str) -> str:
    return make_url(url).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
        hide_password=False
    )


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The database backend of this run: ``sqlite`` or ``postgresql``."""
    name: str = request.param
    return name


@pytest.fixture(scope="session")
def database_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database private to this test session."""
    if backend == "sqlite":
        path = tmp_path_factory.mktemp("sqlite") / "tekcify.sqlite3"
        url = f"sqlite:///{path}"
        db = Database(url)
        db.prepare()
        upgrade(db)
        db.dispose()
        yield url
        _forget_cleaner(url)
        return
    root = Database(postgres_root_url())
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with root.write_connection() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    url = _with_search_path(postgres_root_url(), schema)
    db = Database(url)
    upgrade(db)
    db.dispose()
    try:
        yield url
    finally:
        _forget_cleaner(url)
        with root.write_connection() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        root.dispose()


@pytest.fixture
def empty_database(backend: str, tmp_path: Path) -> Iterator[Database]:
    """A database of ``backend`` with no schema yet, private to this test."""
    if backend == "sqlite":
        db = Database(f"sqlite:///{tmp_path / 'migrate.sqlite3'}")
        db.prepare()
        yield db
        db.dispose()
        return
    root = Database(postgres_root_url())
    schema = f"m_{uuid.uuid4().hex[:12]}"
    with root.write_connection() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    db = Database(_with_search_path(postgres_root_url(), schema))
    try:
        yield db
    finally:
        db.dispose()
        with root.write_connection() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        root.dispose()


#: One engine per test database for :func:`empty_tables`: a new engine (and, on
#: PostgreSQL, a new connection) and a statement per table cost 25 ms after every test;
#: a pooled connection and one batch of statements, about 1 ms.
_CLEANERS: dict[str, Database] = {}


def empty_tables(url: str) -> None:
    """Delete every row of every table (children first)."""
    db = _CLEANERS.get(url)
    if db is None:
        db = _CLEANERS[url] = Database(url)
    tables = list(reversed(Base.metadata.sorted_tables))
    with db.write_connection() as conn:
        if db.is_sqlite:  # sqlite3 runs one statement per call
            for table in tables:
                conn.execute(table.delete())
        else:
            conn.exec_driver_sql("; ".join(f'DELETE FROM "{t.name}"' for t in tables))


def _forget_cleaner(url: str) -> None:
    cleaner = _CLEANERS.pop(url, None)
    if cleaner is not None:
        cleaner.dispose()


@pytest.fixture
def clock() -> FakeClock:
    """The app's clock; move it with ``clock.advance(seconds)``."""
    return FakeClock()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Settings for one test: the session's database, a fresh data folder, fast hashing."""
    return make_settings(database_url=database_url, data_dir=tmp_path / "data")


@pytest.fixture
def clean_db(database_url: str) -> Iterator[str]:
    """The session's database URL; every table is emptied after the test."""
    try:
        yield database_url
    finally:
        empty_tables(database_url)


@asynccontextmanager
async def running(
    settings: Settings, clock: FakeClock | None = None
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """A started app for ``settings`` and a client for it (for tests needing their own)."""
    application = create_app(settings, clock=clock)
    async with application.router.lifespan_context(application), asgi_client(application) as c:
        yield application, c

Server = Callable[..., AbstractAsyncContextManager[tuple[FastAPI, httpx.AsyncClient]]]


@pytest.fixture
def server(clean_db: str, tmp_path: Path, clock: FakeClock) -> Server:
    """``server(**settings)``: a running app on the test database, and a client."""

    @asynccontextmanager
    async def start(**overrides: Any) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
        settings = make_settings(database_url=clean_db, data_dir=tmp_path / "data", **overrides)
        async with running(settings, clock) as started:
            yield started

    return start



@pytest.fixture
async def app(settings: Settings, clock: FakeClock, clean_db: str) -> AsyncIterator[FastAPI]:
    """The started server app (its lifespan runs around the test)."""
    application = create_app(settings, clock=clock)
    async with application.router.lifespan_context(application):
        yield application


def asgi_client(
    app: FastAPI, address: str = CLIENT_ADDRESS, base_url: str = "http://tekcify.test"
) -> httpx.AsyncClient:
    """A client talking to ``app`` in-process, as if from ``address``; the transport
    reports ``base_url``'s host and port as the server's own address."""
    transport = httpx.ASGITransport(app=app, client=(address, 50000))
    return httpx.AsyncClient(transport=transport, base_url=base_url)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for ``app``."""
    async with asgi_client(app) as c:
        yield c


PASSWORD = "correct horse battery"


async def register(
    client: httpx.AsyncClient, email: str = "ada@example.com", password: str = PASSWORD
) -> dict[str, Any]:
    """Register an account; returns the profile."""
    response = await client.post("/api/auth/register", json={"email": email, "password": password})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def login(
    client: httpx.AsyncClient, email: str = "ada@example.com", password: str = PASSWORD
) -> dict[str, Any]:
    """Log in; returns ``{accessToken, refreshToken, tokenType, expiresIn}``."""
    response = await client.post("/api/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def signed_up(
    client: httpx.AsyncClient, email: str = "ada@example.com", password: str = PASSWORD
) -> dict[str, Any]:
    """Register and log in; returns the token pair."""
    await register(client, email, password)
    return await login(client, email, password)


def bearer(token: str) -> dict[str, str]:
    """The ``Authorization`` header for ``token``."""
    return {"Authorization": f"Bearer {token}"}


@dataclass(frozen=True)
class OAuthApp:
    """An application made by :func:`create_oauth_app`; ``client_secret`` is ``None`` if public."""

    client_id: str
    client_secret: str | None
    owner_id: str

    def basic(self) -> dict[str, str]:
        """The ``Authorization: Basic`` header of its credentials (client_secret_basic)."""
        raw = f"{quote_plus(self.client_id)}:{quote_plus(self.client_secret or '')}"
        return {"Authorization": "Basic " + base64.b64encode(raw.encode()).decode()}


def create_oauth_app(
    app: FastAPI,
    *,
    owner_email: str = "owner@example.com",
    confidential: bool = True,
    scopes: tuple[str, ...] = ("openid", "profile", "email", "read:profile"),
) -> OAuthApp:
    """Register an OAuth application directly through the applications service."""
    ctx = app.state.ctx
    with ctx.db.write() as db:
        owner = accounts.find_by_email(db, owner_email) or accounts.create_user(
            db, ctx, email=owner_email, password_hash=ctx.passwords.hash(PASSWORD)
        )
        application, secret = applications.create_application(
            db, owner_id=owner.id, name="Test app", description="Made by the test suite",
            redirect_uris=["https://app.example.com/callback"], scopes=list(scopes),
            now=ctx.clock(), confidential=confidential,
        )
    return OAuthApp(application.client_id, secret, owner.id)


def allow_client_credentials(
    app: FastAPI, client_id: str, scopes: Iterable[str] | None = None
) -> None:
    """Let ``client_id`` use ``client_credentials``, as ``tekcify-auth apps
    allow-client-credentials`` does; ``scopes`` default to all the application registered."""
    ctx = app.state.ctx
    with ctx.db.write() as db:
        if scopes is None:
            application = applications.find_application(db, client_id)
            assert application is not None, client_id
            scopes = application.scopes
        client_credentials.allow_client_credentials(db, client_id, list(scopes), ctx.clock())


@pytest.fixture
def oauth_app(app: FastAPI) -> OAuthApp:
    """A confidential OAuth application (it has a client secret)."""
    return create_oauth_app(app)


def client_session(
    app: FastAPI,
    client_id: str | None,
    *,
    email: str = "ada@example.com",
    scopes: tuple[str, ...] = ("openid", "profile", "email"),
) -> tokens.TokenPair:
    """Open a session of the (existing) user ``email`` for ``client_id``; its token pair."""
    ctx = app.state.ctx
    with ctx.db.write() as db:
        user = accounts.find_by_email(db, email)
        assert user is not None, f"register {email} first"
        return tokens.start_session(db, ctx, user, scopes=list(scopes), client_id=client_id)


def api_routes(app: FastAPI) -> Iterator[APIRoute]:
    """Every FastAPI route of ``app``, those of included routers too."""
    try:  # FastAPI >= 0.16x keeps included routers apart; this walks into them
        from fastapi.routing import iter_route_contexts
    except ImportError:  # pragma: no cover - older FastAPI lists every route flat
        candidates: list[Any] = list(app.routes)
    else:
        candidates = [context.original_route for context in iter_route_contexts(app.routes)]
    for route in candidates:
        if isinstance(route, APIRoute):
            yield route


def dependency_calls(route: APIRoute) -> Iterator[Callable[..., Any]]:
    """Every dependency ``route`` resolves, the app's global ones and nested ones too."""
    pending = list(route.dependant.dependencies)
    while pending:
        dependency = pending.pop()
        if dependency.call is not None:
            yield dependency.call
        pending.extend(dependency.dependencies)
