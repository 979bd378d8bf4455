"""Passkeys (issue 14) through every way of calling the server: register one with a
software authenticator, list, rename, sign in with it (the token pair, ``amr``), the
refusals the server answers (a reused challenge, a counter gone back, another user's
passkey, the last way to sign in kept), and the export listing it."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from server.webauthn_soft import SoftAuthenticator
from tekcify_auth import (
    AuthServerError,
    MessageResponse,
    Passkey,
    PasskeyLoginOptions,
    PasskeyRegistrationOptions,
    TokenSet,
)

from .support import Account, Api, MakeAccount

pytestmark = pytest.mark.slow


def _claims(token: str) -> dict[str, Any]:
    part = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


async def _add(
    api: Api, account: Account, server_url: str, name: str | None = None
) -> tuple[SoftAuthenticator, Passkey]:
    key = SoftAuthenticator()
    start = await api.passkey_registration_options(account.access_token)
    assert isinstance(start, PasskeyRegistrationOptions)
    credential = key.register(start.options, origin=server_url)
    passkey = await api.register_passkey(account.access_token, credential, start.challenge, name)
    assert isinstance(passkey, Passkey)
    return key, passkey


async def _sign_in(api: Api, key: SoftAuthenticator, server_url: str, **bend: Any) -> TokenSet:
    start = await api.passkey_login_options()
    assert isinstance(start, PasskeyLoginOptions)
    credential = key.get(start.options, origin=server_url, **bend)
    tokens: TokenSet = await api.passkey_login(credential, start.challenge)
    return tokens


async def test_register_list_rename_sign_in_and_delete(
    api: Api, account: Account, server_url: str
) -> None:
    key, passkey = await _add(api, account, server_url, "Laptop")
    assert passkey.credential_id == key.id
    assert passkey.name == "Laptop"
    assert passkey.last_used_at is None
    assert [p.id for p in await api.list_passkeys(account.access_token)] == [passkey.id]

    renamed = await api.rename_passkey(account.access_token, key.id, "Work laptop")
    assert (renamed.id, renamed.name) == (passkey.id, "Work laptop")

    tokens = await _sign_in(api, key, server_url)
    assert tokens.access_token
    assert tokens.refresh_token
    assert _claims(tokens.access_token)["amr"] == ["hwk", "user"]
    profile = await api.get_user_profile(tokens.access_token)
    assert profile.email == account.email
    [used] = await api.list_passkeys(tokens.access_token)
    assert used.last_used_at is not None

    exported = await api.export_user_data(account.access_token)
    assert [p.name for p in exported.passkeys] == ["Work laptop"]

    removed = await api.delete_passkey(account.access_token, key.id)
    assert isinstance(removed, MessageResponse)
    assert await api.list_passkeys(account.access_token) == []


async def test_the_server_refuses_what_it_must(
    api: Api, make_account: MakeAccount, server_url: str
) -> None:
    ada, bob = make_account("ada"), make_account("bob")
    key, _ = await _add(api, ada, server_url)
    # Another user's passkey: unknown to them.
    with pytest.raises(AuthServerError) as renamed:
        await api.rename_passkey(bob.access_token, key.id, "mine")
    assert renamed.value.status_code == 404
    with pytest.raises(AuthServerError) as deleted:
        await api.delete_passkey(bob.access_token, key.id)
    assert deleted.value.status_code == 404
    # A challenge serves once.
    start = await api.passkey_login_options()
    credential = key.get(start.options, origin=server_url)
    await api.passkey_login(credential, start.challenge)
    with pytest.raises(AuthServerError) as replayed:
        await api.passkey_login(credential, start.challenge)
    assert replayed.value.status_code == 400
    # A cloned authenticator: its counter went back.
    with pytest.raises(AuthServerError) as cloned:
        await _sign_in(api, key, server_url, sign_count=0)
    assert cloned.value.status_code == 401
    # Another origin.
    with pytest.raises(AuthServerError) as elsewhere:
        await _sign_in(api, key, "https://evil.example")
    assert elsewhere.value.status_code == 401
