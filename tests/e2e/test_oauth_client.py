"""OAuthClient and AsyncOAuthClient against the real server: the authorization-code flow
with PKCE through the login and consent pages (driven over HTTP, CSRF tokens read from
the forms), refresh, client credentials and revocation, the OAuth error codes, and the
connected apps the consent creates."""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tekcify_auth import (
    AuthClient,
    AuthServerError,
    ConnectedApp,
    CreateApplicationResponse,
    IdTokenError,
    TokenSet,
)
from tekcify_auth.oauth import (
    AsyncOAuthClient,
    OAuthClient,
    generate_code_challenge,
    generate_code_verifier,
)

from .support import Account, Api, Browser, ServerProcess, app_data

pytestmark = pytest.mark.slow

REDIRECT_URI = "http://127.0.0.1:8765/callback"
SCOPES = ["openid", "profile", "email", "offline_access", "read:profile"]


@dataclass
class Registered:
    """A user and the OAuth application they registered (its secret included)."""

    owner: Account
    app: CreateApplicationResponse


@pytest.fixture
def registered(account: Account, client: AuthClient) -> Registered:
    app = client.create_application(
        account.access_token, app_data("OAuth App", scopes=SCOPES, redirect_uris=[REDIRECT_URI])
    )
    return Registered(account, app)


@pytest.fixture
def allowed(registered: Registered, auth_server: ServerProcess) -> Registered:
    """:func:`registered`, which an administrator allowed ``client_credentials``."""
    auth_server.allow_client_credentials(registered.app.client_id, SCOPES)
    return registered


@pytest.fixture
def browser(server_url: str) -> Iterator[Browser]:
    pages = Browser(server_url)
    try:
        yield pages
    finally:
        pages.close()


@pytest.fixture(params=["OAuthClient", "AsyncOAuthClient"])
async def oauth(
    request: pytest.FixtureRequest, server_url: str, registered: Registered
) -> AsyncIterator[Api]:
    """The registered application as an OAuth client, sync and async in turn."""
    options: dict[str, Any] = {
        "client_secret": registered.app.client_secret, "redirect_uri": REDIRECT_URI,
        "scopes": SCOPES, "auth_server_url": server_url,
    }
    if request.param == "OAuthClient":
        with OAuthClient(registered.app.client_id, **options) as sync_client:
            yield Api(request.param, sync_client, is_async=False)
    else:
        async with AsyncOAuthClient(registered.app.client_id, **options) as async_client:
            yield Api(request.param, async_client, is_async=True)


def sign_in(
    oauth: Api, browser: Browser, owner: Account, decision: str = "allow", **url_options: Any
) -> tuple[dict[str, str], str, str]:
    """The callback's query for a new authorization request; its state and verifier."""
    verifier = generate_code_verifier()
    state = secrets.token_urlsafe(16)
    url = oauth.raw.build_authorize_url(state, generate_code_challenge(verifier), **url_options)
    return browser.authorize(url, owner.email, owner.password, decision), state, verifier


async def test_openid_connect_mode_validates_the_id_token(
    oauth: Api, browser: Browser, registered: Registered
) -> None:
    # Issue 15, item 6: the id token is checked against the JWKS, nonce, at_hash and azp,
    # and its claims exposed; a refresh validates the new one.
    nonce = secrets.token_urlsafe(16)
    callback, _state, verifier = sign_in(oauth, browser, registered.owner, nonce=nonce)
    tokens = await oauth.exchange_code(callback["code"], verifier, nonce=nonce)
    claims = tokens.id_token_claims
    assert claims is not None
    assert claims["nonce"] == nonce
    assert claims["aud"] == claims["azp"] == registered.app.client_id
    assert claims["email"] == registered.owner.email
    refreshed = await oauth.refresh(tokens.refresh_token)
    assert refreshed.id_token_claims is not None
    assert refreshed.id_token_claims["sub"] == claims["sub"]
    assert "nonce" not in refreshed.id_token_claims
    # The nonce this application kept is not the one that came back: refused.
    callback, _state, verifier = sign_in(oauth, browser, registered.owner, nonce="sent")
    with pytest.raises(IdTokenError) as refused:
        await oauth.exchange_code(callback["code"], verifier, nonce="expected")
    assert refused.value.reason == "nonce"


async def test_the_authorization_code_flow(
    oauth: Api, browser: Browser, registered: Registered, client: AuthClient, server_url: str
) -> None:
    owner = registered.owner
    callback, state, verifier = sign_in(oauth, browser, owner)
    assert browser.pages == ["login", "consent"]
    assert callback["state"] == state
    # RFC 9207: the OpenID Connect issuer, discovery's (the server's canonical URL).
    async with httpx.AsyncClient(timeout=10) as http:
        discovered = await http.get(f"{server_url}/.well-known/openid-configuration")
    assert callback["iss"] == discovered.json()["issuer"]

    before = int(time.time())
    tokens = await oauth.exchange_code(callback["code"], verifier)
    assert isinstance(tokens, TokenSet)
    assert tokens.token_type == "Bearer"
    assert tokens.refresh_token
    assert set(tokens.scopes) == set(SCOPES)
    assert tokens.expires_in is not None
    assert tokens.expires_at is not None
    assert before + tokens.expires_in <= tokens.expires_at <= int(time.time()) + tokens.expires_in

    # A token for the user, issued to the application.
    info = client.fetch_user_info(tokens.access_token)
    assert (info.sub, info.email) == (owner.user_id, owner.email)
    assert client.get_user_profile(tokens.access_token).user_id == owner.user_id
    seen = client.introspect_token(tokens.access_token)
    assert (seen.active, seen.client_id) == (True, registered.app.client_id)

    # The consent is remembered: the next request skips the page.
    again, _state, _verifier = sign_in(oauth, browser, owner)
    assert browser.pages == []
    assert again["code"] != callback["code"]


async def test_a_code_is_used_once_and_bound_to_its_verifier(
    oauth: Api, browser: Browser, registered: Registered, client: AuthClient
) -> None:
    callback, _state, verifier = sign_in(oauth, browser, registered.owner)
    with pytest.raises(AuthServerError) as wrong:
        await oauth.exchange_code(callback["code"], generate_code_verifier())
    assert (wrong.value.status_code, wrong.value.error) == (400, "invalid_grant")
    assert wrong.value.message  # the server's error_description

    callback, _state, verifier = sign_in(oauth, browser, registered.owner)
    tokens = await oauth.exchange_code(callback["code"], verifier)
    with pytest.raises(AuthServerError) as reused:
        await oauth.exchange_code(callback["code"], verifier)
    assert (reused.value.status_code, reused.value.error) == (400, "invalid_grant")
    # A second use revokes what the first one issued.
    assert client.introspect_token(tokens.access_token).active is False


async def test_denying_sends_access_denied_back(
    oauth: Api, browser: Browser, registered: Registered
) -> None:
    callback, state, _verifier = sign_in(oauth, browser, registered.owner, decision="deny")
    assert callback["error"] == "access_denied"
    assert callback["state"] == state
    assert "code" not in callback


async def test_refresh_rotates_and_a_reused_refresh_token_is_invalid_grant(
    oauth: Api, browser: Browser, registered: Registered, client: AuthClient
) -> None:
    callback, _state, verifier = sign_in(oauth, browser, registered.owner)
    first = await oauth.exchange_code(callback["code"], verifier)
    assert first.refresh_token is not None
    second = await oauth.refresh(first.refresh_token)
    assert second.refresh_token not in (None, first.refresh_token)
    assert second.access_token != first.access_token
    assert client.introspect_token(second.access_token).active

    with pytest.raises(AuthServerError) as reused:
        await oauth.refresh(first.refresh_token)
    assert (reused.value.status_code, reused.value.error) == (400, "invalid_grant")
    assert reused.value.message == "Refresh token already used; the session has been revoked"
    assert client.introspect_token(second.access_token).active is False


async def test_revoke_ends_the_session_of_a_refresh_or_access_token(
    oauth: Api, browser: Browser, registered: Registered, client: AuthClient
) -> None:
    callback, _state, verifier = sign_in(oauth, browser, registered.owner)
    tokens = await oauth.exchange_code(callback["code"], verifier)
    assert tokens.refresh_token is not None
    assert await oauth.revoke(tokens.refresh_token, "refresh_token") is None
    assert client.introspect_token(tokens.access_token).active is False
    with pytest.raises(AuthServerError) as caught:
        await oauth.refresh(tokens.refresh_token)
    assert caught.value.error == "invalid_grant"

    callback, _state, verifier = sign_in(oauth, browser, registered.owner)
    other = await oauth.exchange_code(callback["code"], verifier)
    await oauth.revoke(other.access_token)
    assert client.introspect_token(other.access_token).active is False
    # RFC 7009 §2.2: an unknown token is no error.
    assert await oauth.revoke("no-such-token") is None


async def test_client_credentials(
    oauth: Api, allowed: Registered, client: AuthClient
) -> None:
    registered = allowed
    tokens = await oauth.client_credentials()
    assert tokens.refresh_token is None  # RFC 6749 §4.4.3
    # Asked for every scope it registered: all but offline_access (no refresh tokens here).
    assert set(tokens.scopes) == set(SCOPES) - {"offline_access"}
    seen = client.introspect_token(tokens.access_token)
    assert (seen.active, seen.sub, seen.client_id) == (
        True, registered.app.client_id, registered.app.client_id
    )
    narrow = await oauth.client_credentials(["read:profile"])
    assert narrow.scopes == ("read:profile",)

    await oauth.revoke(tokens.access_token)
    assert client.introspect_token(tokens.access_token).active is False
    assert client.introspect_token(narrow.access_token).active is True

    with pytest.raises(AuthServerError) as caught:
        await oauth.client_credentials(["write:profile"])  # not the application's
    assert (caught.value.status_code, caught.value.error) == (400, "invalid_scope")


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_both_client_authentication_methods_and_a_wrong_secret(
    server_url: str, allowed: Registered, method: Any
) -> None:
    app = allowed.app
    with OAuthClient(
        app.client_id, app.client_secret, REDIRECT_URI, auth_server_url=server_url,
        token_endpoint_auth_method=method,
    ) as good:
        assert good.client_credentials().access_token
    with OAuthClient(
        app.client_id, "not-the-secret", REDIRECT_URI, auth_server_url=server_url,
        token_endpoint_auth_method=method,
    ) as bad, pytest.raises(AuthServerError) as caught:
        bad.client_credentials()
    assert caught.value.status_code == 401
    assert caught.value.error == "invalid_client"
    assert caught.value.message == "Client authentication failed"


async def test_a_regenerated_secret_revokes_client_tokens(
    oauth: Api, allowed: Registered, client: AuthClient
) -> None:
    registered = allowed
    tokens = await oauth.client_credentials()
    client.regenerate_application_secret(registered.owner.access_token, registered.app.client_id)
    assert client.introspect_token(tokens.access_token).active is False
    with pytest.raises(AuthServerError) as caught:
        await oauth.client_credentials()
    assert caught.value.error == "invalid_client"


async def test_connected_apps_list_and_withdraw(
    api: Api, server_url: str, registered: Registered, client: AuthClient
) -> None:
    owner = registered.owner
    assert await api.list_connected_apps(owner.access_token) == []
    with OAuthClient(
        registered.app.client_id, registered.app.client_secret, REDIRECT_URI, SCOPES,
        auth_server_url=server_url,
    ) as oauth_client:
        pages = Browser(server_url)
        try:
            sync_oauth = Api("OAuthClient", oauth_client, is_async=False)
            callback, _state, verifier = sign_in(sync_oauth, pages, owner)
        finally:
            pages.close()
        tokens = oauth_client.exchange_code(callback["code"], verifier)

    connected = await api.list_connected_apps(owner.access_token)
    assert len(connected) == 1
    assert isinstance(connected[0], ConnectedApp)
    assert (connected[0].client_id, connected[0].name) == (registered.app.client_id, "OAuth App")
    assert set(connected[0].scopes) == set(SCOPES)
    assert connected[0].connected_at is not None
    assert connected[0].id  # the consent's id (2.2.12)

    # An application's token may not manage the user's connected apps.
    with pytest.raises(AuthServerError) as refused:
        await api.list_connected_apps(tokens.access_token)
    assert refused.value.status_code == 403

    said = await api.revoke_connected_app(owner.access_token, registered.app.client_id)
    assert said.message == "Access withdrawn; the application's tokens have been revoked"
    assert (said.model_extra or {}).get("success") is True
    assert await api.list_connected_apps(owner.access_token) == []
    assert client.introspect_token(tokens.access_token).active is False
    with pytest.raises(AuthServerError) as again:
        await api.revoke_connected_app(owner.access_token, registered.app.client_id)
    assert again.value.status_code == 404


async def test_deleting_the_application_revokes_its_tokens(
    oauth: Api, browser: Browser, allowed: Registered, client: AuthClient
) -> None:
    registered = allowed
    callback, _state, verifier = sign_in(oauth, browser, registered.owner)
    user_tokens = await oauth.exchange_code(callback["code"], verifier)
    service = await oauth.client_credentials()
    client.delete_application(registered.owner.access_token, registered.app.client_id)
    assert client.introspect_token(user_tokens.access_token).active is False
    assert client.introspect_token(service.access_token).active is False
    assert user_tokens.refresh_token is not None
    with pytest.raises(AuthServerError) as caught:
        await oauth.refresh(user_tokens.refresh_token)
    assert (caught.value.status_code, caught.value.error) == (401, "invalid_client")


async def test_one_application_cannot_revoke_anothers_token(
    oauth: Api, browser: Browser, registered: Registered, client: AuthClient, server_url: str
) -> None:
    callback, _state, verifier = sign_in(oauth, browser, registered.owner)
    tokens = await oauth.exchange_code(callback["code"], verifier)
    other = client.create_application(registered.owner.access_token, app_data("Other App"))
    with OAuthClient(other.client_id, other.client_secret, auth_server_url=server_url) as rival:
        rival.revoke(tokens.access_token)  # 200, as for an unknown token (RFC 7009 §2.2)
        assert tokens.refresh_token is not None
        rival.revoke(tokens.refresh_token)
    assert client.introspect_token(tokens.access_token).active is True
