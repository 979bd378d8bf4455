"""``GET /api/oauth/userinfo``: OIDC claims as far as the token's scopes allow."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from tekcify_auth.server.context import ServerContext
from tekcify_auth.server.services import accounts

from .conftest import PASSWORD, FakeClock, OAuthApp, bearer, client_session, login, signed_up

USERINFO = "/api/oauth/userinfo"


async def test_a_first_party_token_gets_every_claim(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    registered = await client.post(
        "/api/auth/register",
        json={"email": "ada@example.com", "password": PASSWORD, "firstName": "Ada",
              "lastName": "Lovelace"},
    )
    profile = registered.json()
    pair = await login(client)
    response = await client.get(USERINFO, headers=bearer(pair["accessToken"]))
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert response.json() == {
        "sub": profile["userId"],
        "email": "ada@example.com",
        "email_verified": False,
        "name": "Ada Lovelace",
        "given_name": "Ada",
        "family_name": "Lovelace",
        "updated_at": int(clock().timestamp()),
    }


async def test_claims_without_a_value_are_left_out(client: httpx.AsyncClient) -> None:
    pair = await signed_up(client)
    body = (await client.get(USERINFO, headers=bearer(pair["accessToken"]))).json()
    assert set(body) == {"sub", "email", "email_verified", "updated_at"}
    assert None not in body.values()


async def test_post_answers_the_same(client: httpx.AsyncClient) -> None:
    pair = await signed_up(client)
    got = await client.get(USERINFO, headers=bearer(pair["accessToken"]))
    posted = await client.post(USERINFO, headers=bearer(pair["accessToken"]))
    assert posted.status_code == 200
    assert posted.json() == got.json()


async def test_the_scopes_decide_the_claims(
    client: httpx.AsyncClient, app: FastAPI, oauth_app: OAuthApp
) -> None:
    pair = await signed_up(client)
    sub = (await client.get(USERINFO, headers=bearer(pair["accessToken"]))).json()["sub"]
    expected = {
        ("openid",): {"sub"},
        ("openid", "email"): {"sub", "email", "email_verified"},
        ("openid", "profile"): {"sub", "updated_at"},
        ("read:profile",): {"sub", "email", "email_verified", "updated_at"},
    }
    for scopes, claims in expected.items():
        issued = client_session(app, oauth_app.client_id, scopes=scopes)
        response = await client.get(USERINFO, headers=bearer(issued.access_token))
        assert response.status_code == 200
        assert set(response.json()) == claims, scopes
        assert response.json()["sub"] == sub


async def test_no_or_a_bad_token_is_401_with_a_challenge(client: httpx.AsyncClient) -> None:
    missing = await client.get(USERINFO)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer")
    bad = await client.get(USERINFO, headers=bearer("not.a.token"))
    assert bad.status_code == 401
    assert 'error="invalid_token"' in bad.headers["www-authenticate"]
    assert bad.json()["message"] == "Invalid or expired token"


async def test_a_revoked_session_or_disabled_account_is_401(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    first = await signed_up(client)
    second = await login(client)
    await client.post("/api/auth/sessions/logout", headers=bearer(first["accessToken"]))
    assert (await client.get(USERINFO, headers=bearer(first["accessToken"]))).status_code == 401
    assert (await client.get(USERINFO, headers=bearer(second["accessToken"]))).status_code == 200
    ctx: ServerContext = app.state.ctx
    with ctx.db.write() as db:
        accounts.disable_user(db, ctx, "ada@example.com")
    response = await client.get(USERINFO, headers=bearer(second["accessToken"]))
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
