"""A disabled owner's applications are suspended until it is enabled again (issue 10, 11).

While suspended: their ``client_credentials`` tokens are inactive, they get no new token
of any grant (refresh included), and nobody can authorize them. Enabling the owner
restores them; nothing was deleted.
"""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI

from tekcify_auth.server.services import accounts

from .conftest import allow_client_credentials, asgi_client, bearer, register
from .test_authorize import (
    TOKEN,
    Browser,
    Client,
    assert_error_page,
    authorization,
    get_code,
    make_client,
    redeem,
    redirect_query,
)
from .test_client_credentials import client_token
from .test_introspection import INACTIVE, introspect_form, introspect_json
from .test_oauth_token import assert_oauth_error

OWNER = "owner@example.com"


def set_owner_disabled(app: FastAPI, disabled: bool) -> None:
    """Disable or enable the applications' owner, as the ``users`` commands do."""
    ctx = app.state.ctx
    with ctx.db.write() as db:
        if disabled:
            accounts.disable_user(db, ctx, OWNER)
        else:
            accounts.enable_user(db, ctx, OWNER)


async def refresh(http: httpx.AsyncClient, client: Client, token: str) -> httpx.Response:
    return await http.post(
        TOKEN, data={"grant_type": "refresh_token", "refresh_token": token},
        headers=client.basic(),
    )


async def test_a_disabled_owners_client_tokens_are_inactive_until_enabled_again(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    suspended = make_client(app)
    allow_client_credentials(app, suspended.client_id)
    other = make_client(app, owner_email="other-owner@example.com", name="Other")
    token = (await client_token(client, suspended))["access_token"]
    assert (await introspect_json(client, token))["active"] is True

    set_owner_disabled(app, True)
    assert await introspect_json(client, token) == INACTIVE
    assert await introspect_form(client, token, headers=other.basic()) == INACTIVE
    assert (await client.get("/api/auth/sessions", headers=bearer(token))).status_code == 401

    set_owner_disabled(app, False)
    assert (await introspect_form(client, token, headers=other.basic()))["active"] is True


async def test_a_disabled_owners_application_gets_no_new_tokens(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client)
    suspended = make_client(app)
    allow_client_credentials(app, suspended.client_id)
    async with asgi_client(app) as http:
        code, request = await get_code(Browser(http), suspended)
        second_code, second_request = await get_code(Browser(http), suspended)
    first = await redeem(client, suspended, code, request)
    assert first.status_code == 200, first.text
    refresh_token = first.json()["refresh_token"]

    set_owner_disabled(app, True)
    for refused in (
        await client.post(
            TOKEN, data={"grant_type": "client_credentials"}, headers=suspended.basic()
        ),
        await redeem(client, suspended, second_code, second_request),
        await refresh(client, suspended, refresh_token),
    ):
        assert_oauth_error(refused, "invalid_client", 401)

    set_owner_disabled(app, False)
    assert (await refresh(client, suspended, refresh_token)).status_code == 200
    await client_token(client, suspended)


async def test_nobody_can_authorize_a_disabled_owners_application(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client)
    suspended = make_client(app)
    allow_client_credentials(app, suspended.client_id)
    async with asgi_client(app) as http:
        browser = Browser(http)
        await get_code(browser, suspended)  # signed in, consent remembered

        set_owner_disabled(app, True)
        page = await browser.get(authorization(suspended).url)
        assert_error_page(page, "Unknown application")
        public = await client.get(f"/api/applications/public/{suspended.client_id}")
        assert public.status_code == 404

        set_owner_disabled(app, False)
        request = authorization(suspended)
        answer: dict[str, Any] = redirect_query(
            await browser.get(request.url), request.redirect_uri
        )
        assert "code" in answer
