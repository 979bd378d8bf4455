"""Sessions: list, revoke one, revoke the others, log out, change the password."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from tekcify_auth import decode_token

from .conftest import PASSWORD, FakeClock, asgi_client, bearer, login, signed_up


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
    sessions = response.json()
    assert [s["id"] for s in sessions] == [sid(second["accessToken"]), sid(first["accessToken"])]
    assert [s["current"] for s in sessions] == [False, True]
    assert [s["ipAddress"] for s in sessions] == ["198.51.100.2", "198.51.100.1"]
    assert sessions[0]["userAgent"].startswith("python-httpx/")
    assert set(sessions[0]) == {
        "id", "createdAt", "lastUsedAt", "userAgent", "ipAddress", "current",
    }
    assert sessions[1]["createdAt"].endswith("Z")


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
    listed = await client.get("/api/auth/sessions", headers=bearer(current["accessToken"]))
    assert [s["current"] for s in listed.json()] == [True]
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
