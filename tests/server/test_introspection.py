"""``POST /api/oauth/token/introspect``: the Tekcify JSON form and the RFC 7662 form."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tekcify_auth.server.context import ServerContext
from tekcify_auth.server.services import accounts
from tekcify_auth.testing import mint_access_token

from .conftest import (
    FakeClock,
    OAuthApp,
    bearer,
    client_session,
    create_oauth_app,
    register,
    signed_up,
)
from .test_oauth_token import assert_oauth_error

INTROSPECT = "/api/oauth/token/introspect"
INACTIVE = {"active": False}


async def introspect_json(
    client: httpx.AsyncClient, token: str, **extra: str
) -> dict[str, Any]:
    """The Tekcify form, ``{token, clientId?, clientSecret?}``; asserts 200, no-store."""
    response = await client.post(INTROSPECT, json={"token": token, **extra})
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body: dict[str, Any] = response.json()
    return body


async def introspect_form(
    client: httpx.AsyncClient, token: str, headers: dict[str, str] | None = None, **extra: str
) -> dict[str, Any]:
    """The RFC 7662 form, form-encoded; asserts 200."""
    response = await client.post(INTROSPECT, data={"token": token, **extra}, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_an_access_token_in_the_tekcify_json_form(
    client: httpx.AsyncClient, app: FastAPI, clock: FakeClock
) -> None:
    profile = await register(client)
    pair = await signed_up(client, "grace@example.com")
    body = await introspect_json(client, pair["accessToken"])
    now = int(clock().timestamp())
    assert body["active"] is True
    assert body["sub"] != profile["userId"]
    assert body["username"] == "grace@example.com"
    assert body["scope"] == "openid profile email offline_access read:profile write:profile"
    assert body["iss"] == "tekcify-auth"
    assert body["aud"] == "tekcify-api"
    assert body["iat"] == now
    assert body["exp"] == now + 900
    assert body["tokenType"] == body["token_type"] == "access_token"
    # A first-party token belongs to no client: the client fields are left out.
    assert "clientId" not in body
    assert "client_id" not in body


async def test_a_clients_access_token_carries_both_client_id_spellings(
    client: httpx.AsyncClient, app: FastAPI, oauth_app: OAuthApp
) -> None:
    await register(client)
    issued = client_session(app, oauth_app.client_id)
    body = await introspect_json(
        client, issued.access_token, clientId=oauth_app.client_id,
        clientSecret=oauth_app.client_secret or "",
    )
    assert body["active"] is True
    assert body["clientId"] == body["client_id"] == oauth_app.client_id
    assert body["scope"] == "openid profile email"


@pytest.mark.parametrize("how", ["basic", "post"])
async def test_the_rfc_form_with_client_authentication(
    client: httpx.AsyncClient, oauth_app: OAuthApp, how: str
) -> None:
    pair = await signed_up(client)
    if how == "basic":
        body = await introspect_form(
            client, pair["accessToken"], headers=oauth_app.basic(),
            token_type_hint="access_token",
        )
    else:
        body = await introspect_form(
            client, pair["accessToken"], client_id=oauth_app.client_id,
            client_secret=oauth_app.client_secret or "",
        )
    assert body["active"] is True
    assert body["username"] == "ada@example.com"


@pytest.mark.parametrize("form", ["json", "basic", "post"])
async def test_a_wrong_client_secret_is_401_invalid_client(
    client: httpx.AsyncClient, oauth_app: OAuthApp, form: str
) -> None:
    pair = await signed_up(client)
    token = pair["accessToken"]
    if form == "json":
        response = await client.post(
            INTROSPECT,
            json={"token": token, "clientId": oauth_app.client_id, "clientSecret": "wrong"},
        )
    elif form == "basic":
        wrong = OAuthApp(oauth_app.client_id, "wrong", oauth_app.owner_id)
        response = await client.post(INTROSPECT, data={"token": token}, headers=wrong.basic())
    else:
        response = await client.post(
            INTROSPECT,
            data={"token": token, "client_id": oauth_app.client_id, "client_secret": "wrong"},
        )
    body = assert_oauth_error(response, "invalid_client", status=401)
    assert "active" not in body
    assert response.headers["www-authenticate"].startswith("Basic ")


async def test_both_client_authentication_methods_at_once_is_invalid_request(
    client: httpx.AsyncClient, oauth_app: OAuthApp
) -> None:
    pair = await signed_up(client)
    response = await client.post(
        INTROSPECT,
        data={"token": pair["accessToken"], "client_secret": oauth_app.client_secret or ""},
        headers=oauth_app.basic(),
    )
    assert_oauth_error(response, "invalid_request")


async def test_a_token_for_another_audience_is_inactive(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    pair = await signed_up(client)
    ctx: ServerContext = app.state.ctx
    good = await introspect_json(client, pair["accessToken"])
    claims = {**{k: good[k] for k in ("sub", "iss", "exp", "iat")}, "type": "access",
              "aud": "another-api", "scopes": ["openid"], "email": good["username"]}
    # Signed with the server's own key: only the audience is wrong.
    assert await introspect_json(client, ctx.signer.sign(claims)) == INACTIVE
    own = await introspect_json(client, ctx.signer.sign({**claims, "aud": "tekcify-api"}))
    assert own["active"] is True


async def test_an_expired_access_token_is_inactive(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    pair = await signed_up(client)
    clock.advance(899)
    assert (await introspect_json(client, pair["accessToken"]))["active"] is True
    clock.advance(1)
    assert await introspect_json(client, pair["accessToken"]) == INACTIVE


async def test_forged_tokens_are_inactive(client: httpx.AsyncClient, app: FastAPI) -> None:
    pair = await signed_up(client)
    real = pair["accessToken"]
    head, payload, signature = real.split(".")
    tampered = f"{head}.{payload}.{signature[:-4]}AAAA"
    other_secret = mint_access_token(
        "someone", secret="not-the-server-secret", scopes=["openid"],
        exp=int(time.time()) + 600,
    )
    for token in (tampered, other_secret, "not-a-token", head + "." + payload + "."):
        assert await introspect_json(client, token) == INACTIVE


async def test_a_revoked_session_is_inactive_at_once(client: httpx.AsyncClient) -> None:
    pair = await signed_up(client)
    assert (await introspect_json(client, pair["accessToken"]))["active"] is True
    response = await client.post("/api/auth/sessions/logout", headers=bearer(pair["accessToken"]))
    assert response.status_code == 200
    assert await introspect_json(client, pair["accessToken"]) == INACTIVE
    assert await introspect_json(client, pair["refreshToken"]) == INACTIVE


async def test_a_disabled_accounts_tokens_are_inactive(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    pair = await signed_up(client)
    ctx: ServerContext = app.state.ctx
    with ctx.db.write() as db:
        accounts.disable_user(db, ctx, "ada@example.com")
    assert await introspect_json(client, pair["accessToken"]) == INACTIVE
    assert await introspect_json(client, pair["refreshToken"]) == INACTIVE


async def test_a_first_party_refresh_token_introspects_without_a_client(
    client: httpx.AsyncClient, clock: FakeClock, oauth_app: OAuthApp
) -> None:
    pair = await signed_up(client)
    body = await introspect_json(client, pair["refreshToken"])
    now = int(clock().timestamp())
    assert body["active"] is True
    assert body["tokenType"] == body["token_type"] == "refresh_token"
    assert body["username"] == "ada@example.com"
    assert body["iat"] == now
    assert body["exp"] == now + 30 * 86_400
    assert body["iss"] == "tekcify-auth"
    assert "aud" not in body
    # It belongs to no client: a client asking is told nothing.
    asked_by_client = await introspect_form(
        client, pair["refreshToken"], headers=oauth_app.basic(), token_type_hint="refresh_token"
    )
    assert asked_by_client == INACTIVE


async def test_a_clients_refresh_token_is_active_only_to_that_client(
    client: httpx.AsyncClient, app: FastAPI, oauth_app: OAuthApp
) -> None:
    await register(client)
    issued = client_session(app, oauth_app.client_id)
    other = create_oauth_app(app, owner_email="other@example.com")
    mine = await introspect_form(client, issued.refresh_token, headers=oauth_app.basic())
    assert mine["active"] is True
    assert mine["client_id"] == oauth_app.client_id
    assert await introspect_form(client, issued.refresh_token, headers=other.basic()) == INACTIVE
    assert await introspect_json(client, issued.refresh_token) == INACTIVE


async def test_a_rotated_or_expired_refresh_token_is_inactive(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    pair = await signed_up(client)
    rotated = await client.post("/api/auth/refresh", json={"refreshToken": pair["refreshToken"]})
    assert rotated.status_code == 200
    assert await introspect_json(client, pair["refreshToken"]) == INACTIVE
    fresh = rotated.json()["refreshToken"]
    assert (await introspect_json(client, fresh))["active"] is True
    clock.advance(30 * 86_400)
    assert await introspect_json(client, fresh) == INACTIVE


async def test_introspection_does_not_count_as_use(client: httpx.AsyncClient) -> None:
    pair = await signed_up(client)
    for _ in range(2):
        assert (await introspect_json(client, pair["refreshToken"]))["active"] is True
    response = await client.post("/api/auth/refresh", json={"refreshToken": pair["refreshToken"]})
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("request_kwargs", "message"),
    [
        ({"json": {}}, "Missing parameter: token"),
        ({"data": {"token_type_hint": "access_token"}}, "Missing parameter: token"),
        ({"json": {"token": "t", "client_id": "x"}}, "Unknown field: client_id"),
        ({"json": {"token": 1}}, "Invalid field token: expected a string"),
    ],
)
async def test_bad_requests_are_invalid_request(
    client: httpx.AsyncClient, request_kwargs: dict[str, Any], message: str
) -> None:
    response = await client.post(INTROSPECT, **request_kwargs)
    assert_oauth_error(response, "invalid_request", message=message)
