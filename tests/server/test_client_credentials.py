"""``grant_type=client_credentials``: confidential clients only, their scopes, no refresh token.

And the life of the token it issues: introspected active while its application exists,
its secret is the one it was got with, the application keeps its scopes and the client
did not revoke it.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tekcify_auth import decode_token
from tekcify_auth.server.services import client_credentials

from .conftest import FakeClock, allow_client_credentials, bearer, signed_up
from .test_authorize import TOKEN, Client, make_client
from .test_introspection import introspect_form, introspect_json
from .test_oauth_token import assert_oauth_error

REVOKE = "/api/oauth/revoke"


@pytest.fixture
def oauth_client(app: FastAPI) -> Client:
    """A confidential application with the scopes openid profile email read:profile,
    allowed client_credentials for all of them."""
    made = make_client(app)
    allow_client_credentials(app, made.client_id)
    return made


async def client_token(
    client: httpx.AsyncClient, oauth_client: Client, **params: str
) -> dict[str, Any]:
    """A client-credentials token (client_secret_basic); asserts the RFC 6749 §4.4.3 answer."""
    response = await client.post(
        TOKEN, data={"grant_type": "client_credentials", **params}, headers=oauth_client.basic()
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"}  # no refresh
    assert body["token_type"] == "Bearer"
    assert response.headers["cache-control"] == "no-store"
    return body


async def owner_token(client: httpx.AsyncClient) -> str:
    """An access token of the application's owner (owner@example.com)."""
    response = await client.post(
        "/api/auth/login",
        json={"email": "owner@example.com", "password": "correct horse battery"},
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["accessToken"]
    return token


async def test_a_confidential_client_gets_a_token_for_its_scopes(
    client: httpx.AsyncClient, oauth_client: Client, clock: FakeClock
) -> None:
    body = await client_token(client, oauth_client)
    assert body["expires_in"] == 900
    assert body["scope"] == "openid profile email read:profile"
    claims = decode_token(body["access_token"])
    assert claims is not None
    assert claims["sub"] == claims["clientId"] == oauth_client.client_id
    assert claims["aud"] == ["tekcify-api", oauth_client.client_id]
    assert claims["type"] == "access"
    assert claims["scopes"] == ["openid", "profile", "email", "read:profile"]
    assert "sid" not in claims
    assert "email" not in claims
    assert claims["iat"] == int(clock().timestamp())


async def test_offline_access_is_never_granted_to_a_client(
    client: httpx.AsyncClient, oauth_client: Client
) -> None:
    # The application registered it and the allowance covers all its scopes: no matter,
    # this grant issues no refresh tokens (RFC 6749 §4.4.3), so the scope means nothing.
    assert "offline_access" in oauth_client.scopes
    everything = await client_token(client, oauth_client)
    assert "offline_access" not in everything["scope"].split()
    asked = await client_token(client, oauth_client, scope="openid offline_access")
    assert asked["scope"] == "openid"  # narrowed, and the answer says so (RFC 6749 §3.3)


async def test_client_secret_post_works_too(
    client: httpx.AsyncClient, oauth_client: Client
) -> None:
    response = await client.post(
        TOKEN,
        data={"grant_type": "client_credentials", "client_id": oauth_client.client_id,
              "client_secret": oauth_client.client_secret},
    )
    assert response.status_code == 200, response.text
    assert "refresh_token" not in response.json()


async def test_a_subset_of_the_scopes_may_be_asked_for(
    client: httpx.AsyncClient, oauth_client: Client
) -> None:
    body = await client_token(client, oauth_client, scope="read:profile")
    assert body["scope"] == "read:profile"
    claims = decode_token(body["access_token"])
    assert claims is not None
    assert claims["scopes"] == ["read:profile"]


async def test_a_scope_the_application_lacks_is_invalid_scope(
    client: httpx.AsyncClient, oauth_client: Client
) -> None:
    response = await client.post(
        TOKEN, data={"grant_type": "client_credentials", "scope": "read:profile write:profile"},
        headers=oauth_client.basic(),
    )
    body = assert_oauth_error(response, "invalid_scope")
    assert "write:profile" in body["message"]


async def test_a_public_client_asking_client_credentials_is_unauthorized_client(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    public = make_client(app, confidential=False)
    response = await client.post(
        TOKEN, data={"grant_type": "client_credentials", "client_id": public.client_id}
    )
    assert_oauth_error(response, "unauthorized_client")


async def test_client_credentials_is_unauthorized_client_until_an_administrator_allows_it(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    # Anyone may sign up and register an application with any scope: that alone must not
    # mint tokens that act for no user (issue 10, item 6; RFC 6749 §5.2).
    stranger = make_client(app, owner_email="stranger@example.com", scopes=("read:orders",))
    form = {"grant_type": "client_credentials"}
    refused = await client.post(TOKEN, data=form, headers=stranger.basic())
    assert_oauth_error(refused, "unauthorized_client")
    allow_client_credentials(app, stranger.client_id, ["read:orders"])
    granted = await client_token(client, stranger)
    assert granted["scope"] == "read:orders"


async def test_only_the_allowed_scopes_are_granted(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    application = make_client(app)  # registered: openid profile email read:profile
    allow_client_credentials(app, application.client_id, ["read:profile", "write:orders"])
    body = await client_token(client, application)
    # write:orders is allowed but not registered by the application: not granted either.
    assert body["scope"] == "read:profile"
    for scope in ("openid", "write:orders", "read:profile email"):
        response = await client.post(
            TOKEN, data={"grant_type": "client_credentials", "scope": scope},
            headers=application.basic(),
        )
        assert_oauth_error(response, "invalid_scope")


async def test_denying_client_credentials_revokes_the_tokens_and_refuses_new_ones(
    app: FastAPI, client: httpx.AsyncClient, oauth_client: Client
) -> None:
    token = (await client_token(client, oauth_client))["access_token"]
    assert (await introspect_json(client, token))["active"] is True
    ctx = app.state.ctx
    with ctx.db.write() as db:
        assert client_credentials.deny_client_credentials(db, oauth_client.client_id)
    assert (await introspect_json(client, token)) == {"active": False}
    refused = await client.post(
        TOKEN, data={"grant_type": "client_credentials"}, headers=oauth_client.basic()
    )
    assert_oauth_error(refused, "unauthorized_client")


async def test_narrowing_the_allowance_revokes_the_tokens_beyond_it(
    app: FastAPI, client: httpx.AsyncClient, oauth_client: Client
) -> None:
    wide = (await client_token(client, oauth_client))["access_token"]
    narrow = (await client_token(client, oauth_client, scope="openid"))["access_token"]
    allow_client_credentials(app, oauth_client.client_id, ["openid"])
    assert (await introspect_json(client, wide)) == {"active": False}
    assert (await introspect_json(client, narrow))["active"] is True


async def test_no_client_authentication_is_invalid_client(client: httpx.AsyncClient) -> None:
    response = await client.post(TOKEN, data={"grant_type": "client_credentials"})
    assert_oauth_error(response, "invalid_client", 401)


async def test_a_wrong_secret_is_invalid_client(
    client: httpx.AsyncClient, oauth_client: Client
) -> None:
    wrong = Client(oauth_client.client_id, "not-the-secret", (), (), "")
    response = await client.post(
        TOKEN, data={"grant_type": "client_credentials"}, headers=wrong.basic()
    )
    assert_oauth_error(response, "invalid_client", 401)
    assert response.headers["www-authenticate"].startswith("Basic")


async def test_basic_and_post_at_once_are_invalid_request(
    client: httpx.AsyncClient, oauth_client: Client
) -> None:
    response = await client.post(
        TOKEN,
        data={"grant_type": "client_credentials", "client_id": oauth_client.client_id,
              "client_secret": oauth_client.client_secret},
        headers=oauth_client.basic(),
    )
    assert_oauth_error(response, "invalid_request")


async def test_the_token_introspects_active_as_the_clients(
    client: httpx.AsyncClient, oauth_client: Client, clock: FakeClock
) -> None:
    token = (await client_token(client, oauth_client))["access_token"]
    body = await introspect_json(client, token)
    now = int(clock().timestamp())
    assert body == {
        "active": True, "sub": oauth_client.client_id,
        "scope": "openid profile email read:profile",
        "clientId": oauth_client.client_id, "client_id": oauth_client.client_id,
        "exp": now + 900, "iat": now, "iss": "tekcify-auth", "aud": "tekcify-api",
        "tokenType": "access_token", "token_type": "access_token",
    }


async def test_the_token_is_not_a_users_token(
    client: httpx.AsyncClient, oauth_client: Client
) -> None:
    token = (await client_token(client, oauth_client))["access_token"]
    response = await client.get("/api/oauth/userinfo", headers=bearer(token))
    assert response.status_code == 401
    # The account routes refuse it even with read:profile (tests/server/test_access_rules.py).
    for path in ("/api/user/profile", "/api/auth/sessions"):
        response = await client.get(path, headers=bearer(token))
        assert response.status_code == 403, path
        assert 'error="insufficient_scope"' in response.headers["www-authenticate"]


async def test_the_token_expires(
    client: httpx.AsyncClient, oauth_client: Client, clock: FakeClock
) -> None:
    token = (await client_token(client, oauth_client))["access_token"]
    clock.advance(901)
    assert (await introspect_json(client, token)) == {"active": False}


# -- revocation ----------------------------------------------------------------------------


async def test_the_client_revokes_its_token(
    client: httpx.AsyncClient, oauth_client: Client
) -> None:
    token = (await client_token(client, oauth_client))["access_token"]
    other = (await client_token(client, oauth_client))["access_token"]
    response = await client.post(REVOKE, data={"token": token}, headers=oauth_client.basic())
    assert response.status_code == 200
    assert (await introspect_json(client, token)) == {"active": False}
    # Only that token: another one of the same client stays live.
    assert (await introspect_json(client, other))["active"] is True
    # Revoking again is fine (RFC 7009 §2.2).
    again = await client.post(REVOKE, data={"token": token}, headers=oauth_client.basic())
    assert again.status_code == 200


async def test_another_client_cannot_revoke_it(
    app: FastAPI, client: httpx.AsyncClient, oauth_client: Client
) -> None:
    token = (await client_token(client, oauth_client))["access_token"]
    other = make_client(app, name="Other")
    response = await client.post(REVOKE, data={"token": token}, headers=other.basic())
    assert response.status_code == 200
    assert (await introspect_form(client, token))["active"] is True
    anonymous = await client.post(REVOKE, data={"token": token})
    assert anonymous.status_code == 200
    assert (await introspect_form(client, token))["active"] is True


async def test_regenerating_the_secret_revokes_the_tokens(
    client: httpx.AsyncClient, oauth_client: Client
) -> None:
    token = (await client_token(client, oauth_client))["access_token"]
    owner = await owner_token(client)
    regenerated = await client.post(
        f"/api/applications/{oauth_client.client_id}/regenerate-secret", headers=bearer(owner)
    )
    assert regenerated.status_code in (200, 201), regenerated.text
    assert (await introspect_json(client, token)) == {"active": False}
    fresh = Client(
        oauth_client.client_id, regenerated.json()["clientSecret"], (), oauth_client.scopes, ""
    )
    new_token = (await client_token(client, fresh))["access_token"]
    assert (await introspect_json(client, new_token))["active"] is True


async def test_deleting_the_application_revokes_the_tokens(
    client: httpx.AsyncClient, oauth_client: Client
) -> None:
    token = (await client_token(client, oauth_client))["access_token"]
    owner = await owner_token(client)
    deleted = await client.delete(
        f"/api/applications/{oauth_client.client_id}", headers=bearer(owner)
    )
    assert deleted.status_code == 200, deleted.text
    assert (await introspect_json(client, token)) == {"active": False}


async def test_taking_a_scope_away_revokes_the_tokens_that_hold_it(
    client: httpx.AsyncClient, oauth_client: Client
) -> None:
    wide = (await client_token(client, oauth_client))["access_token"]
    narrow = (await client_token(client, oauth_client, scope="openid"))["access_token"]
    owner = await owner_token(client)
    updated = await client.put(
        f"/api/applications/{oauth_client.client_id}", headers=bearer(owner),
        json={"scopes": ["openid", "profile", "email"]},
    )
    assert updated.status_code == 200, updated.text
    assert (await introspect_json(client, wide)) == {"active": False}
    assert (await introspect_json(client, narrow))["active"] is True


async def test_a_users_token_is_still_checked_by_its_session(
    client: httpx.AsyncClient,
) -> None:
    # The client-token path must not open a door for user tokens without a session.
    pair = await signed_up(client)
    assert (await introspect_json(client, pair["accessToken"]))["active"] is True
    await client.post("/api/auth/sessions/logout", headers=bearer(pair["accessToken"]))
    assert (await introspect_json(client, pair["accessToken"])) == {"active": False}
