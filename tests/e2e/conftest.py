"""Fixtures of the end-to-end suite: the real Tekcify Auth server for the session,
clients, accounts, and ``api``, which runs one test body four times: through
:class:`~tekcify_auth.AuthClient`, :class:`~tekcify_auth.AsyncAuthClient`, the
``tekcify_auth.*`` shortcuts (default client from ``AUTH_SERVER_URL``) and the
``tekcify_auth.aio.*`` coroutines. Every test makes its own accounts (unique emails), so
tests never see each other's data.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

import tekcify_auth
from tekcify_auth import AsyncAuthClient, AuthClient, aio

from .support import (
    API_KINDS,
    PASSWORD,
    Account,
    Api,
    MakeAccount,
    ServerProcess,
    new_email,
)


@pytest.fixture(scope="session")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The real server for the whole session."""
    server = ServerProcess(tmp_path_factory.mktemp("auth-server"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def server_url(auth_server: ServerProcess) -> str:
    """The running server's base URL, ``http://localhost:<port>`` (the one it names)."""
    return auth_server.url


@pytest.fixture
def client(server_url: str) -> Iterator[AuthClient]:
    """A sync client of the server."""
    with AuthClient(server_url, timeout=10) as auth_client:
        yield auth_client


@pytest.fixture
async def aclient(server_url: str) -> AsyncIterator[AsyncAuthClient]:
    """An async client of the server, on the test's event loop."""
    async with AsyncAuthClient(server_url, timeout=10) as auth_client:
        yield auth_client


@pytest.fixture
def http(server_url: str) -> Iterator[httpx.Client]:
    """Plain httpx against the server, for what the library does not do itself."""
    with httpx.Client(base_url=server_url, timeout=10) as plain:
        yield plain


@pytest.fixture
async def ahttp(server_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """Plain async httpx against the server, for async tests."""
    async with httpx.AsyncClient(base_url=server_url, timeout=10) as plain:
        yield plain


@pytest.fixture
def make_account(client: AuthClient) -> MakeAccount:
    """A function that registers a new user and logs them in."""

    def make(prefix: str = "user", password: str = PASSWORD, **names: str) -> Account:
        email = new_email(prefix)
        profile = client.register(email, password, names.get("first_name"),
                                  names.get("last_name"))
        return Account(email, password, profile, client.login(email, password))

    return make


@pytest.fixture
def account(make_account: MakeAccount) -> Account:
    """A fresh user with one live session."""
    return make_account()


@pytest.fixture(params=API_KINDS)
async def api(
    request: pytest.FixtureRequest, server_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Api]:
    """Each of the four ways of calling the server, in turn."""
    kind: str = request.param
    if kind == "client":
        with AuthClient(server_url) as sync_client:
            yield Api(kind, sync_client, is_async=False)
    elif kind == "async_client":
        async with AsyncAuthClient(server_url) as async_client:
            yield Api(kind, async_client, is_async=True)
    else:
        # The default clients are built on first use from $AUTH_SERVER_URL.
        monkeypatch.setenv("AUTH_SERVER_URL", server_url)
        tekcify_auth.close_default_client()
        await aio.close_default_client()
        try:
            if kind == "shortcuts":
                yield Api(kind, tekcify_auth, is_async=False)
            else:
                yield Api(kind, aio, is_async=True)
        finally:
            tekcify_auth.close_default_client()
            await aio.close_default_client()
