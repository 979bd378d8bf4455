"""``POST /api/oauth/revoke`` (RFC 7009): revoking ends the token's session."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from tekcify_auth.server.context import ServerContext
from tekcify_auth.server.db.models import UserSession

from .conftest import OAuthApp, bearer, client_session, create_oauth_app, register, signed_up
from .test_introspection import INACTIVE, introspect_form, introspect_json
from .test_oauth_token import assert_oauth_error

REVOKE = "/api/oauth/revoke"


def assert_revoke_answer(response: httpx.Response) -> None:
    """The one answer of the endpoint, whatever happened to the token."""
    assert response.status_code == 200, response.text
    assert response.json() == {"message": "Token revoked"}
    assert response.headers["cache-control"] == "no-store"


def session_reasons(app: FastAPI) -> list[str | None]:
    ctx: ServerContext = app.state.ctx
    with ctx.db.read() as db:
        return list(db.execute(select(UserSession.revoked_reason)).scalars())


@pytest.mark.parametrize(
    "request_kwargs",
    [
        {"data": {"token": "never-issued"}},
        {"data": {"token": "never-issued", "token_type_hint": "refresh_token"}},
        {"json": {"token": "never.issued.jwt", "tokenTypeHint": "access_token"}},
    ],
)
async def test_an_unknown_token_is_200(
    client: httpx.AsyncClient, request_kwargs: dict[str, Any]
) -> None:
    assert_revoke_answer(await client.post(REVOKE, **request_kwargs))


async def test_revoking_a_refresh_token_ends_its_session(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    pair = await signed_up(client)
    other = await signed_up(client, "grace@example.com")
    assert_revoke_answer(
        await client.post(REVOKE, data={"token": pair["refreshToken"],
                                        "token_type_hint": "refresh_token"})
    )
    refreshed = await client.post("/api/auth/refresh", json={"refreshToken": pair["refreshToken"]})
    assert refreshed.status_code == 401
    assert await introspect_json(client, pair["accessToken"]) == INACTIVE
    listed = await client.get("/api/auth/sessions", headers=bearer(pair["accessToken"]))
    assert listed.status_code == 401
    # Only that session.
    assert (await introspect_json(client, other["accessToken"]))["active"] is True
    assert sorted(session_reasons(app), key=str) == [None, "token_revoked"]


async def test_revoking_an_access_token_ends_its_session_too(client: httpx.AsyncClient) -> None:
    pair = await signed_up(client)
    assert_revoke_answer(await client.post(REVOKE, json={"token": pair["accessToken"]}))
    assert await introspect_json(client, pair["accessToken"]) == INACTIVE
    refreshed = await client.post("/api/auth/refresh", json={"refreshToken": pair["refreshToken"]})
    assert refreshed.status_code == 401


async def test_revoking_an_already_rotated_refresh_token_ends_the_session(
    client: httpx.AsyncClient,
) -> None:
    pair = await signed_up(client)
    rotated = await client.post("/api/auth/refresh", json={"refreshToken": pair["refreshToken"]})
    new = rotated.json()
    assert_revoke_answer(await client.post(REVOKE, data={"token": pair["refreshToken"]}))
    assert await introspect_json(client, new["refreshToken"]) == INACTIVE


async def test_revoking_twice_is_200_both_times(client: httpx.AsyncClient) -> None:
    pair = await signed_up(client)
    for _ in range(2):
        assert_revoke_answer(await client.post(REVOKE, data={"token": pair["refreshToken"]}))


async def test_a_client_revokes_its_own_tokens(
    client: httpx.AsyncClient, app: FastAPI, oauth_app: OAuthApp
) -> None:
    await register(client)
    issued = client_session(app, oauth_app.client_id)
    assert_revoke_answer(
        await client.post(REVOKE, data={"token": issued.refresh_token}, headers=oauth_app.basic())
    )
    assert await introspect_form(
        client, issued.refresh_token, headers=oauth_app.basic()
    ) == INACTIVE


async def test_another_clients_token_is_left_alone_with_the_same_answer(
    client: httpx.AsyncClient, app: FastAPI, oauth_app: OAuthApp
) -> None:
    pair = await signed_up(client)
    other = create_oauth_app(app, owner_email="other@example.com")
    issued = client_session(app, other.client_id)
    for token in (issued.refresh_token, issued.access_token, pair["refreshToken"]):
        assert_revoke_answer(
            await client.post(REVOKE, data={"token": token}, headers=oauth_app.basic())
        )
    # Without client authentication, a client's tokens are not the caller's either.
    assert_revoke_answer(await client.post(REVOKE, json={"token": issued.access_token}))
    assert (await introspect_form(
        client, issued.refresh_token, headers=other.basic()
    ))["active"] is True
    assert (await introspect_json(client, pair["accessToken"]))["active"] is True
    assert session_reasons(app) == [None, None]


async def test_a_wrong_client_secret_is_401_and_revokes_nothing(
    client: httpx.AsyncClient, app: FastAPI, oauth_app: OAuthApp
) -> None:
    await register(client)
    issued = client_session(app, oauth_app.client_id)
    response = await client.post(
        REVOKE,
        json={"token": issued.refresh_token, "clientId": oauth_app.client_id,
              "clientSecret": "wrong"},
    )
    assert_oauth_error(response, "invalid_client", status=401)
    assert response.headers["www-authenticate"].startswith("Basic ")
    assert session_reasons(app) == [None]


async def test_a_missing_token_is_invalid_request(client: httpx.AsyncClient) -> None:
    response = await client.post(REVOKE, data={"token_type_hint": "refresh_token"})
    assert_oauth_error(response, "invalid_request", message="Missing parameter: token")
