"""``/api/oauth/connected-apps``: the applications a user consented to, and withdrawing one."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from .conftest import FakeClock, asgi_client, bearer, login, register
from .test_authorize import TOKEN, Browser, Client, authorization, get_code, make_client, redeem
from .test_oauth_token import assert_oauth_error

CONNECTED = "/api/oauth/connected-apps"


@pytest.fixture
async def ada(client: httpx.AsyncClient) -> dict[str, Any]:
    """ada@example.com's first-party token pair (registered and logged in)."""
    await register(client)
    return await login(client)


@pytest.fixture
def oauth_client(app: FastAPI) -> Client:
    """A confidential application."""
    return make_client(app)


async def connect(
    app: FastAPI, client: httpx.AsyncClient, oauth_client: Client, scope: str = "openid profile"
) -> dict[str, Any]:
    """Consent through the pages and redeem the code; returns the token answer."""
    async with asgi_client(app) as http:
        code, request = await get_code(
            Browser(http), oauth_client, authorization(oauth_client, scope=scope)
        )
    response = await redeem(client, oauth_client, code, request)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def connected(client: httpx.AsyncClient, token: str) -> list[dict[str, Any]]:
    """The entries of ``GET /api/oauth/connected-apps``: ``{success: true, data: [...]}``."""
    response = await client.get(CONNECTED, headers=bearer(token))
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"success", "data"}
    assert body["success"] is True
    entries: list[dict[str, Any]] = body["data"]
    return entries


async def test_nothing_connected_is_an_empty_list(
    client: httpx.AsyncClient, ada: dict[str, Any]
) -> None:
    response = await client.get(CONNECTED, headers=bearer(ada["accessToken"]))
    assert response.status_code == 200
    assert response.json() == {"success": True, "data": []}


async def test_a_consented_application_is_listed(
    app: FastAPI, client: httpx.AsyncClient, ada: dict[str, Any], oauth_client: Client,
    clock: FakeClock,
) -> None:
    connected_at = clock()
    await connect(app, client, oauth_client)
    response = await client.get(CONNECTED, headers=bearer(ada["accessToken"]))
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    stamp = connected_at.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    [entry] = response.json()["data"]
    assert isinstance(entry.pop("id"), str)
    assert [entry] == [
        {
            "clientId": oauth_client.client_id, "name": "Photo Printer",
            "description": "Prints your photos", "logoUrl": None,
            "scopes": ["openid", "profile"], "connectedAt": stamp, "updatedAt": stamp,
        }
    ]
    # Consenting to more scopes later updates the entry, not its connection time.
    clock.advance(120)
    await connect(app, client, oauth_client, scope="email")
    [entry] = await connected(client, ada["accessToken"])
    assert entry["scopes"] == ["email", "openid", "profile"]
    assert entry["connectedAt"] == stamp
    assert entry["updatedAt"] == clock().strftime("%Y-%m-%dT%H:%M:%S.000Z")


async def test_only_the_callers_consents_are_listed(
    app: FastAPI, client: httpx.AsyncClient, ada: dict[str, Any], oauth_client: Client
) -> None:
    await connect(app, client, oauth_client)
    await register(client, "grace@example.com")
    grace = await login(client, "grace@example.com")
    assert await connected(client, grace["accessToken"]) == []
    withdraw = await client.delete(
        f"{CONNECTED}/{oauth_client.client_id}", headers=bearer(grace["accessToken"])
    )
    assert withdraw.status_code == 404
    # ada's connection is untouched.
    assert len(await connected(client, ada["accessToken"])) == 1


async def test_withdrawing_revokes_the_tokens_and_asks_consent_again(
    app: FastAPI, client: httpx.AsyncClient, ada: dict[str, Any], oauth_client: Client
) -> None:
    # offline_access: a refresh token, to show that it dies too.
    tokens = await connect(app, client, oauth_client, "openid profile offline_access")
    other = make_client(app, name="Other app")
    kept = await connect(app, client, other)
    response = await client.delete(
        f"{CONNECTED}/{oauth_client.client_id}", headers=bearer(ada["accessToken"])
    )
    assert response.status_code == 200
    assert response.json() == {
        "success": True,
        "message": "Access withdrawn; the application's tokens have been revoked",
    }
    listed = await connected(client, ada["accessToken"])
    assert [entry["clientId"] for entry in listed] == [other.client_id]
    refreshed = await client.post(
        TOKEN, data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        headers=oauth_client.basic(),
    )
    assert_oauth_error(refreshed, "invalid_grant")
    me = await client.get("/api/oauth/userinfo", headers=bearer(tokens["access_token"]))
    assert me.status_code == 401
    # The other application and the user's own session are untouched.
    still = await client.get("/api/oauth/userinfo", headers=bearer(kept["access_token"]))
    assert still.status_code == 200
    assert (await client.get(CONNECTED, headers=bearer(ada["accessToken"]))).status_code == 200
    # Next time, the consent page is shown again.
    async with asgi_client(app) as http:
        browser = Browser(http)
        page = await browser.get(authorization(oauth_client).url)
        page = await browser.follow(await browser.sign_in(page))
        assert ">Allow</button>" in page.text


async def test_withdrawing_kills_an_unspent_code(
    app: FastAPI, client: httpx.AsyncClient, ada: dict[str, Any], oauth_client: Client
) -> None:
    await connect(app, client, oauth_client)
    async with asgi_client(app) as http:
        code, request = await get_code(Browser(http), oauth_client)
    await client.delete(f"{CONNECTED}/{oauth_client.client_id}", headers=bearer(ada["accessToken"]))
    assert_oauth_error(await redeem(client, oauth_client, code, request), "invalid_grant")


async def test_withdrawing_an_unknown_application_is_404(
    client: httpx.AsyncClient, ada: dict[str, Any]
) -> None:
    response = await client.delete(f"{CONNECTED}/nope", headers=bearer(ada["accessToken"]))
    assert response.status_code == 404
    assert response.json()["message"] == "Connected application not found"


async def test_an_applications_token_cannot_manage_connected_apps(
    app: FastAPI, client: httpx.AsyncClient, ada: dict[str, Any], oauth_client: Client
) -> None:
    tokens = await connect(app, client, oauth_client)
    listed = await client.get(CONNECTED, headers=bearer(tokens["access_token"]))
    assert listed.status_code == 403
    withdraw = await client.delete(
        f"{CONNECTED}/{oauth_client.client_id}", headers=bearer(tokens["access_token"])
    )
    assert withdraw.status_code == 403


async def test_connected_apps_need_a_token(client: httpx.AsyncClient) -> None:
    assert (await client.get(CONNECTED)).status_code == 401
    assert (await client.delete(f"{CONNECTED}/x")).status_code == 401


async def test_deleting_the_application_removes_the_connection(
    app: FastAPI, client: httpx.AsyncClient, ada: dict[str, Any], oauth_client: Client
) -> None:
    await connect(app, client, oauth_client)
    owner = await login(client, "owner@example.com")
    deleted = await client.delete(
        f"/api/applications/{oauth_client.client_id}", headers=bearer(owner["accessToken"])
    )
    assert deleted.status_code == 200
    assert await connected(client, ada["accessToken"]) == []
