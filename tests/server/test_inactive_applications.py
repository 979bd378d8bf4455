"""An application its owner set inactive cannot be used until it is set active again.

Inactive (``PUT /api/applications/{clientId} {"isActive": false}``), it is refused as a
suspended application is (``test_suspended_applications.py``), on the same lookups: the
authorization endpoint shows its error page, the token endpoint answers
``invalid_client`` for every grant (an old refresh token included), client
authentication at introspection fails, its tokens introspect inactive and its public
view is a 404. Nothing is revoked: set active again, it works as before.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
from alembic import command
from fastapi import FastAPI
from sqlalchemy import inspect, select, text

from tekcify_auth.server.db.applications import Application
from tekcify_auth.server.db.engine import Database
from tekcify_auth.server.db.migrate import alembic_config, upgrade

from .conftest import PASSWORD, allow_client_credentials, asgi_client, bearer, login, register
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
from .test_introspection import INACTIVE, INTROSPECT, introspect_form, introspect_json
from .test_oauth_token import assert_oauth_error
from .test_suspended_applications import OWNER, refresh


async def set_active(client: httpx.AsyncClient, application: Client, active: bool) -> None:
    """The owner switches ``application`` through the applications API."""
    owner = await login(client, OWNER, PASSWORD)
    response = await client.put(
        f"/api/applications/{application.client_id}", json={"isActive": active},
        headers=bearer(owner["accessToken"]),
    )
    assert response.status_code == 200, response.text


async def test_an_inactive_application_gets_no_token_of_any_grant_not_even_by_an_old_refresh_token(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client)
    inactive = make_client(app)
    allow_client_credentials(app, inactive.client_id)
    async with asgi_client(app) as http:
        code, request = await get_code(Browser(http), inactive)
        second_code, second_request = await get_code(Browser(http), inactive)
    first = await redeem(client, inactive, code, request)
    assert first.status_code == 200, first.text
    refresh_token = first.json()["refresh_token"]

    await set_active(client, inactive, False)
    for refused in (
        await client.post(
            TOKEN, data={"grant_type": "client_credentials"}, headers=inactive.basic()
        ),
        await redeem(client, inactive, second_code, second_request),
        await refresh(client, inactive, refresh_token),
    ):
        assert_oauth_error(refused, "invalid_client", 401)

    await set_active(client, inactive, True)
    assert (await refresh(client, inactive, refresh_token)).status_code == 200
    await client_token(client, inactive)


async def test_an_inactive_applications_tokens_introspect_inactive_and_it_cannot_introspect(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client)
    inactive = make_client(app)
    allow_client_credentials(app, inactive.client_id)
    other = make_client(app, owner_email="other-owner@example.com", name="Other")
    client_access = (await client_token(client, inactive))["access_token"]
    async with asgi_client(app) as http:
        code, request = await get_code(Browser(http), inactive)
    issued = (await redeem(client, inactive, code, request)).json()
    user_access, refresh_token = issued["access_token"], issued["refresh_token"]
    assert (await introspect_json(client, user_access))["active"] is True

    await set_active(client, inactive, False)
    assert await introspect_json(client, client_access) == INACTIVE
    assert await introspect_form(client, client_access, headers=other.basic()) == INACTIVE
    # The user's access token issued to it is refused too, here and at the Bearer routes.
    assert await introspect_json(client, user_access) == INACTIVE
    assert (await client.get("/api/oauth/userinfo", headers=bearer(user_access))).status_code == 401
    # The application cannot authenticate to ask about its own refresh token.
    asked = await client.post(
        INTROSPECT, data={"token": refresh_token, "token_type_hint": "refresh_token"},
        headers=inactive.basic(),
    )
    assert_oauth_error(asked, "invalid_client", 401)

    await set_active(client, inactive, True)
    assert (await introspect_json(client, user_access))["active"] is True
    assert (await introspect_form(client, client_access, headers=other.basic()))["active"] is True
    again = await introspect_form(
        client, refresh_token, headers=inactive.basic(), token_type_hint="refresh_token"
    )
    assert again["active"] is True


async def test_nobody_can_authorize_an_inactive_application(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client)
    inactive = make_client(app)
    async with asgi_client(app) as http:
        browser = Browser(http)
        await get_code(browser, inactive)  # signed in, consent remembered

        await set_active(client, inactive, False)
        page = await browser.get(authorization(inactive).url)
        assert_error_page(page, "Unknown application")
        public = await client.get(f"/api/applications/public/{inactive.client_id}")
        assert public.status_code == 404

        await set_active(client, inactive, True)
        request = authorization(inactive)
        answer: dict[str, Any] = redirect_query(
            await browser.get(request.url), request.redirect_uri
        )
        assert "code" in answer


def test_the_migration_keeps_every_existing_application_active(empty_database: Database) -> None:
    db = empty_database
    upgrade(db, "0009_account")
    now = datetime(2026, 1, 1, tzinfo=UTC)
    with db.write_connection() as conn:
        # Only the columns of 0009: rows written by the code before this revision.
        conn.execute(
            text(
                "INSERT INTO users (id, email, password_hash, role, email_verified, "
                "created_at, updated_at) VALUES ('u1', 'a@example.com', 'h', 'user', "
                ":no, :now, :now)"
            ),
            {"now": now, "no": False},
        )
        conn.execute(
            text(
                "INSERT INTO applications (client_id, owner_id, name, redirect_uris, "
                "authorized_origins, scopes, created_at, updated_at) VALUES ('c1', 'u1', "
                "'Old', '[]', '[]', '[]', :now, :now)"
            ),
            {"now": now},
        )
    upgrade(db)
    with db.engine.connect() as conn:
        row = conn.execute(
            select(Application.is_active, Application.primary_color)
        ).one()
    assert (row.is_active, row.primary_color) == (True, None)
    config = alembic_config()
    with db.write_connection() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0009_account")
    with db.engine.connect() as conn:
        columns = {column["name"] for column in inspect(conn).get_columns("applications")}
    assert not {"is_active", "primary_color"} & columns
