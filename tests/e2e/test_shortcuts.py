"""The module-level shortcuts' default clients against the real server: from
``AUTH_SERVER_URL`` (read on first use, not at import), replaced with
``set_default_client``, and refused clearly when the URL has no scheme."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

import tekcify_auth
from tekcify_auth import AsyncAuthClient, AuthClient, ConfigurationError, RetryPolicy, aio

from .support import Account

pytestmark = pytest.mark.slow


@pytest.fixture
def fresh_defaults(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """No default client before or after the test; ``AUTH_SERVER_URL`` restored."""
    monkeypatch.delenv("AUTH_SERVER_URL", raising=False)
    tekcify_auth.close_default_client()
    yield monkeypatch
    tekcify_auth.close_default_client()


@pytest.fixture
async def fresh_aio_defaults(
    fresh_defaults: pytest.MonkeyPatch,
) -> AsyncIterator[pytest.MonkeyPatch]:
    await aio.close_default_client()
    yield fresh_defaults
    await aio.close_default_client()


def test_the_default_client_reads_auth_server_url_on_first_use(
    fresh_defaults: pytest.MonkeyPatch, server_url: str, account: Account
) -> None:
    fresh_defaults.setenv("AUTH_SERVER_URL", server_url + "/")
    assert tekcify_auth.get_user_profile(account.access_token).email == account.email
    default = tekcify_auth.get_default_client()
    assert default.base_url == server_url
    assert tekcify_auth.list_sessions(account.access_token)[0].current
    assert tekcify_auth.get_default_client() is default  # one client, reused


def test_set_default_client(
    fresh_defaults: pytest.MonkeyPatch, server_url: str, account: Account
) -> None:
    fresh_defaults.setenv("AUTH_SERVER_URL", "http://127.0.0.1:9")  # not used below
    mine = AuthClient(server_url, retries=RetryPolicy(retries=5))
    try:
        tekcify_auth.set_default_client(mine)
        assert tekcify_auth.get_default_client() is mine
        assert tekcify_auth.fetch_user_info(account.access_token).sub == account.user_id
        tekcify_auth.set_default_client(None)
        # A client passed in is its owner's to close: it still works.
        assert mine.get_user_profile(account.access_token).user_id == account.user_id
    finally:
        mine.close()


async def test_aio_default_client_and_set_default_client(
    fresh_aio_defaults: pytest.MonkeyPatch, server_url: str, account: Account
) -> None:
    fresh_aio_defaults.setenv("AUTH_SERVER_URL", server_url)
    assert (await aio.get_user_profile(account.access_token)).user_id == account.user_id
    assert aio.get_default_client().base_url == server_url
    async with AsyncAuthClient(server_url) as mine:
        await aio.set_default_client(mine)
        assert aio.get_default_client() is mine
        assert (await aio.introspect_token(account.access_token)).active
        await aio.set_default_client(None)


def test_a_url_without_a_scheme_is_a_clear_error_at_construction(
    fresh_defaults: pytest.MonkeyPatch, server_url: str
) -> None:
    hostport = server_url.removeprefix("http://")
    fresh_defaults.setenv("AUTH_SERVER_URL", hostport)
    with pytest.raises(ConfigurationError, match="needs http:// or https://"):
        tekcify_auth.get_application_by_client_id("anything")
    with pytest.raises(ConfigurationError, match=r"e\.g\. https://auth\.example\.com"):
        AuthClient(hostport)
