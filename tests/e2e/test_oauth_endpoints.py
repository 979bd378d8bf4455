"""UserInfo and introspection (``/api/oauth``) through every way of calling the server,
with the OAuth error codes the server answers."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tekcify_auth import (
    AsyncAuthClient,
    AuthClient,
    AuthServerError,
    IntrospectResult,
    UserInfo,
)
from tekcify_auth.testing import mint_access_token

from .support import Account, Api, MakeAccount, ServerProcess, app_data

pytestmark = pytest.mark.slow


async def test_fetch_user_info(api: Api, make_account: MakeAccount) -> None:
    account = make_account(first_name="Ada", last_name="Lovelace")
    info = await api.fetch_user_info(account.access_token)
    assert isinstance(info, UserInfo)
    assert info.sub == account.user_id
    assert info.email == account.email
    assert info.email_verified is False
    assert (info.given_name, info.family_name, info.name) == ("Ada", "Lovelace", "Ada Lovelace")
    assert info.updated_at is not None
    assert info.updated_at <= time.time() + 1


async def test_fetch_user_info_with_a_dead_token_is_401_invalid_token(
    api: Api, account: Account
) -> None:
    await api.logout(account.access_token)
    with pytest.raises(AuthServerError) as caught:
        await api.fetch_user_info(account.access_token)
    assert caught.value.status_code == 401
    assert caught.value.message == "Invalid or expired token"
    assert caught.value.error == "invalid_token"


async def test_introspect_an_active_access_token(api: Api, account: Account) -> None:
    result = await api.introspect_token(account.access_token)
    assert isinstance(result, IntrospectResult)
    assert result.active is True
    assert result.sub == account.user_id
    assert result.username == account.email
    assert set(result.scopes) >= {"openid", "read:profile", "write:profile"}
    assert result.token_type == "access_token"
    assert (result.iss, result.aud) == ("tekcify-auth", "tekcify-api")
    assert account.tokens.expires_at is not None
    assert result.exp is not None
    assert abs(result.exp - account.tokens.expires_at) <= 2


async def test_introspect_a_refresh_token_as_first_party(api: Api, account: Account) -> None:
    assert account.tokens.refresh_token is not None
    result = await api.introspect_token(account.tokens.refresh_token)
    assert (result.active, result.token_type, result.sub) == (
        True, "refresh_token", account.user_id
    )


async def test_introspect_inactive_tokens(
    api: Api, account: Account, auth_server: ServerProcess
) -> None:
    garbage = await api.introspect_token("not-a-token-at-all")
    assert garbage.active is False
    assert (garbage.sub, garbage.scope, garbage.exp) == (None, None, None)

    # Signed with the server's own secret but expired: inactive, not an error.
    expired = mint_access_token(account.user_id, secret=auth_server.secret, expires_in=-60)
    assert (await api.introspect_token(expired)).active is False

    await api.logout(account.access_token)
    assert (await api.introspect_token(account.access_token)).active is False


async def test_introspect_as_a_registered_client(api: Api, account: Account) -> None:
    app = await api.create_application(account.access_token, app_data("Resource server"))
    result = await api.introspect_token(account.access_token, app.client_id, app.client_secret)
    assert (result.active, result.sub) == (True, account.user_id)

    with pytest.raises(AuthServerError) as caught:
        await api.introspect_token(account.access_token, app.client_id, "wrong-secret")
    assert caught.value.status_code == 401
    assert caught.value.error == "invalid_client"
    assert caught.value.message == "Client authentication failed"

    with pytest.raises(AuthServerError) as unknown:
        await api.introspect_token(account.access_token, "no-such-client", "secret")
    assert (unknown.value.status_code, unknown.value.error) == (401, "invalid_client")


@pytest.mark.parametrize("is_async", [False, True], ids=["AuthClient", "AsyncAuthClient"])
async def test_the_introspection_cache(server_url: str, account: Account, is_async: bool) -> None:
    now = [time.time()]
    options: dict[str, Any] = {"introspection_cache_ttl": 30, "clock": lambda: now[0]}
    if is_async:
        async_client = AsyncAuthClient(server_url, **options)
        ask: Callable[[str], Awaitable[IntrospectResult]] = async_client.introspect_token
    else:
        sync_client = AuthClient(server_url, **options)

        async def ask(token: str) -> IntrospectResult:
            return sync_client.introspect_token(token)

    try:
        assert (await ask(account.access_token)).active
        with AuthClient(server_url) as other:
            other.logout(account.access_token)
        assert (await ask(account.access_token)).active  # remembered
        now[0] += 31
        assert not (await ask(account.access_token)).active  # asked again
        assert not (await ask("junk")).active
    finally:
        if is_async:
            await async_client.aclose()
        else:
            sync_client.close()


def test_clear_introspection_cache(
    client: AuthClient, server_url: str, account: Account
) -> None:
    with AuthClient(server_url, introspection_cache_ttl=300) as cached:
        assert cached.introspect_token(account.access_token).active
        client.logout(account.access_token)
        assert cached.introspect_token(account.access_token).active
        cached.clear_introspection_cache()
        assert not cached.introspect_token(account.access_token).active
