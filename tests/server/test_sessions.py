"""Sessions: list, revoke one, revoke the others, log out, change the password."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from pydantic import TypeAdapter

from tekcify_auth import decode_token
from tekcify_auth.server.schemas.base import IsoDateTime

from .conftest import (
    PASSWORD,
    FakeClock,
    asgi_client,
    bearer,
    client_session,
    create_oauth_app,
    login,
    signed_up,
)

SESSION_KEYS = {
    "id", "applicationName", "applicationLogo", "ipAddress", "userAgent", "scopes",
    "createdAt", "lastUsedAt", "expiresAt", "current", "kind",
}


async def listed(client: httpx.AsyncClient, token: str) -> list[dict[str, Any]]:
    """``GET /api/auth/sessions``: asserts the 2.2.12 ``{sessions: [...]}`` and returns them."""
    response = await client.get("/api/auth/sessions", headers=bearer(token))
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"sessions"}
    entries: list[dict[str, Any]] = body["sessions"]
    assert all(set(entry) == SESSION_KEYS for entry in entries)
    return entries


def iso(value: datetime) -> str:
    return str(TypeAdapter(IsoDateTime).dump_python(value, mode="json"))


def sid(access_token: str) -> str:
    claims = decode_token(access_token)
    assert claims is not None
    return str(claims["sid"])


async def test_protected_routes_need_a_bearer_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/auth/sessions")
    assert response.status_code == 401
    assert response.json() == {
        "statusCode": 401, "error": "Unauthorized",
        "message": "Missing or invalid authorization header",
    }
    assert response.headers["www-authenticate"] == "Bearer"
    garbage = await client.get("/api/auth/sessions", headers=bearer("not.a.token"))
    assert garbage.status_code == 401
    assert garbage.json()["message"] == "Invalid or expired token"
    assert 'error="invalid_token"' in garbage.headers["www-authenticate"]


async def test_the_scheme_name_is_case_insensitive(client: httpx.AsyncClient) -> None:
    pair = await signed_up(client)
    response = await client.get(
        "/api/auth/sessions", headers={"Authorization": f"bEaReR {pair['accessToken']}"}
    )
    assert response.status_code == 200


async def test_an_expired_access_token_is_refused(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    pair = await signed_up(client)
    clock.advance(900)
    response = await client.get("/api/auth/sessions", headers=bearer(pair["accessToken"]))
    assert response.status_code == 401


async def test_sessions_are_listed_with_the_current_one_marked(
    app: FastAPI, clock: FakeClock
) -> None:
    laptop, phone = asgi_client(app, "198.51.100.1"), asgi_client(app, "198.51.100.2")
    async with laptop, phone:
        first = await signed_up(laptop)
        clock.advance(60)
        second = await login(phone)
        response = await laptop.get("/api/auth/sessions", headers=bearer(first["accessToken"]))
    assert response.status_code == 200
    sessions = response.json()["sessions"]
    assert [s["id"] for s in sessions] == [sid(second["accessToken"]), sid(first["accessToken"])]
    assert [s["current"] for s in sessions] == [False, True]
    assert [s["ipAddress"] for s in sessions] == ["198.51.100.2", "198.51.100.1"]
    assert sessions[0]["userAgent"].startswith("python-httpx/")
    assert all(set(s) == SESSION_KEYS for s in sessions)
    assert sessions[1]["createdAt"].endswith("Z")


async def test_sessions_name_their_application_scopes_and_end(
    app: FastAPI, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    ttl = app.state.ctx.settings.refresh_token_ttl
    pair = await signed_up(client)
    started = clock.now
    oauth = create_oauth_app(app)
    clock.advance(60)
    client_session(app, oauth.client_id, scopes=("openid", "email"))

    newest, own = await listed(client, pair["accessToken"])
    assert newest["applicationName"] == "Test app"
    assert newest["applicationLogo"] is None
    assert newest["scopes"] == ["openid", "email"]
    assert newest["current"] is False
    assert newest["expiresAt"] == iso(clock.now + timedelta(seconds=ttl))
    # A first-party login names the server itself; it ends with its refresh token.
    assert own["applicationName"] == "Tekcify"
    assert own["applicationLogo"] is None
    assert own["current"] is True
    assert own["expiresAt"] == iso(started + timedelta(seconds=ttl))

    # Rotating the refresh token moves the end to the new token's expiry.
    clock.advance(600)
    rotated = await client.post("/api/auth/refresh", json={"refreshToken": pair["refreshToken"]})
    assert rotated.status_code == 200
    entries = await listed(client, rotated.json()["accessToken"])
    mine = next(e for e in entries if e["current"])
    assert mine["expiresAt"] == iso(clock.now + timedelta(seconds=ttl))


async def test_revoking_one_session(client: httpx.AsyncClient) -> None:
    first = await signed_up(client)
    second = await login(client)
    response = await client.delete(
        f"/api/auth/sessions/{sid(second['accessToken'])}", headers=bearer(first["accessToken"])
    )
    assert response.status_code == 200
    assert response.json() == {"message": "Session revoked"}
    assert (await client.get("/api/auth/sessions", headers=bearer(second["accessToken"]))
            ).status_code == 401
    again = await client.delete(
        f"/api/auth/sessions/{sid(second['accessToken'])}", headers=bearer(first["accessToken"])
    )
    assert again.status_code == 404


async def test_another_users_session_is_404(client: httpx.AsyncClient) -> None:
    ada = await signed_up(client, "ada@example.com")
    bob = await signed_up(client, "bob@example.com")
    response = await client.delete(
        f"/api/auth/sessions/{sid(bob['accessToken'])}", headers=bearer(ada["accessToken"])
    )
    assert response.status_code == 404
    assert response.json()["message"] == "Session not found"
    assert (await client.get("/api/auth/sessions", headers=bearer(bob["accessToken"]))
            ).status_code == 200
    unknown = await client.delete("/api/auth/sessions/nope", headers=bearer(ada["accessToken"]))
    assert unknown.status_code == 404


async def test_revoking_every_other_session(client: httpx.AsyncClient) -> None:
    current = await signed_up(client)
    others = [await login(client) for _ in range(2)]
    response = await client.delete("/api/auth/sessions", headers=bearer(current["accessToken"]))
    assert response.status_code == 200
    assert response.json() == {"message": "Revoked 2 other sessions"}
    remaining = await listed(client, current["accessToken"])
    assert [s["current"] for s in remaining] == [True]
    for other in others:
        refreshed = await client.post(
            "/api/auth/refresh", json={"refreshToken": other["refreshToken"]}
        )
        assert refreshed.status_code == 401


async def test_logout_revokes_the_session_and_its_refresh_token(
    client: httpx.AsyncClient,
) -> None:
    pair = await signed_up(client)
    response = await client.post("/api/auth/sessions/logout", headers=bearer(pair["accessToken"]))
    assert response.status_code == 200
    assert response.json() == {"message": "Logged out"}
    assert (await client.get("/api/auth/sessions", headers=bearer(pair["accessToken"]))
            ).status_code == 401
    assert (await client.post("/api/auth/refresh", json={"refreshToken": pair["refreshToken"]})
            ).status_code == 401


async def test_changing_the_password_keeps_this_session_and_ends_the_others(
    client: httpx.AsyncClient,
) -> None:
    current = await signed_up(client)
    other = await login(client)
    response = await client.post(
        "/api/auth/password/change",
        json={"currentPassword": PASSWORD, "newPassword": "a new long password"},
        headers=bearer(current["accessToken"]),
    )
    assert response.status_code == 200
    assert "message" in response.json()
    assert (await client.get("/api/auth/sessions", headers=bearer(current["accessToken"]))
            ).status_code == 200
    assert (await client.get("/api/auth/sessions", headers=bearer(other["accessToken"]))
            ).status_code == 401
    old = await client.post(
        "/api/auth/login", json={"email": "ada@example.com", "password": PASSWORD}
    )
    assert old.status_code == 401
    await login(client, password="a new long password")


async def test_changing_the_password_needs_the_current_one(client: httpx.AsyncClient) -> None:
    pair = await signed_up(client)
    response = await client.post(
        "/api/auth/password/change",
        json={"currentPassword": "not it at all", "newPassword": "a new long password"},
        headers=bearer(pair["accessToken"]),
    )
    assert response.status_code == 400
    assert response.json()["message"] == "The current password is incorrect"
    short = await client.post(
        "/api/auth/password/change",
        json={"currentPassword": PASSWORD, "newPassword": "short"},
        headers=bearer(pair["accessToken"]),
    )
    assert short.status_code == 400
    assert short.json()["message"].startswith("Invalid field newPassword")
    await login(client)  # unchanged
