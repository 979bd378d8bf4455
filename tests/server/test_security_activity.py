"""The security activity log: what the existing flows record, ``GET /api/security/activity``
(the caller's events only), the deleted account's event, and the retention purge."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from tekcify_auth.server.db.security import AccountCode, SecurityActivity
from tekcify_auth.server.services import activity
from tekcify_auth.server.services.purge import purge

from .conftest import (
    CLIENT_ADDRESS,
    PASSWORD,
    FakeClock,
    asgi_client,
    bearer,
    login,
    register,
    signed_up,
)
from .test_authorize import Browser, authorization, make_client
from .test_connected_apps import connect
from .test_sensitive_actions import action_token

ACTIVITY = "/api/security/activity"
BROWSER = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148"


async def events(
    client: httpx.AsyncClient, token: str, **query: Any
) -> dict[str, Any]:
    response = await client.get(ACTIVITY, params=query, headers=bearer(token))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def types(client: httpx.AsyncClient, token: str) -> list[str]:
    """The caller's activity types, newest first."""
    body = await events(client, token, limit=100)
    return [item["activityType"] for item in body["activities"]]


def all_rows(app: FastAPI) -> list[SecurityActivity]:
    with app.state.ctx.db.read() as db:
        return list(db.execute(select(SecurityActivity)).scalars())


@pytest.fixture
async def ada(client: httpx.AsyncClient) -> str:
    """ada@example.com's first-party access token."""
    return str((await signed_up(client))["accessToken"])


async def test_a_login_is_recorded_with_where_it_came_from(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    await register(client)
    response = await client.post(
        "/api/auth/login", json={"email": "ada@example.com", "password": PASSWORD},
        headers={"User-Agent": BROWSER},
    )
    token = response.json()["accessToken"]
    body = await events(client, token)
    assert body["total"] == 1
    assert (body["limit"], body["offset"]) == (20, 0)
    [item] = body["activities"]
    assert item == {
        "id": item["id"], "userId": item["userId"], "activityType": "login_success",
        "ipAddress": CLIENT_ADDRESS, "userAgent": BROWSER, "location": None,
        "deviceType": "mobile", "success": True, "metadata": {"via": "api"},
        "createdAt": clock().strftime("%Y-%m-%dT%H:%M:%S.000Z"),
    }


async def test_a_failed_login_is_recorded_without_the_password(
    app: FastAPI, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    await register(client)
    wrong = await client.post(
        "/api/auth/login", json={"email": "ada@example.com", "password": "a wrong secret"}
    )
    assert wrong.status_code == 401
    unknown = await client.post(
        "/api/auth/login", json={"email": "nobody@example.com", "password": "a wrong secret"}
    )
    assert unknown.status_code == 401
    clock.advance(1)
    token = (await login(client))["accessToken"]
    assert await types(client, token) == ["login_success", "login_failed"]
    failed = (await events(client, token, activityType="login_failed"))["activities"][0]
    assert failed["success"] is False
    assert failed["metadata"] == {"via": "api", "reason": "invalid_password"}
    # Nothing for the unknown email, and no password anywhere.
    assert len(all_rows(app)) == 2
    assert "a wrong secret" not in json.dumps([r.details for r in all_rows(app)])


async def test_the_login_page_records_success_and_failure(
    app: FastAPI, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    await register(client)
    oauth = make_client(app)
    async with asgi_client(app) as http:
        browser = Browser(http)
        page = await browser.get(authorization(oauth).url)
        wrong = await browser.sign_in(page, password="a wrong secret")
        assert wrong.status_code == 401
    clock.advance(1)
    await connect(app, client, oauth)  # signs in on the page, consents
    clock.advance(1)
    token = (await login(client))["accessToken"]
    page_events = [
        item for item in (await events(client, token))["activities"]
        if item["metadata"] and item["metadata"].get("via") == "page"
    ]
    assert [item["activityType"] for item in page_events] == ["login_success", "login_failed"]
    assert page_events[1]["metadata"] == {"via": "page", "reason": "invalid_password"}


async def test_logout_and_revocations_are_recorded(
    client: httpx.AsyncClient, ada: str, clock: FakeClock
) -> None:
    clock.advance(1)
    second = (await login(client))["accessToken"]
    await login(client)
    sessions = (await client.get("/api/auth/sessions", headers=bearer(second))).json()["sessions"]
    other_id = next(s["id"] for s in sessions if not s["current"])
    clock.advance(1)
    revoked = await client.delete(f"/api/auth/sessions/{other_id}", headers=bearer(second))
    assert revoked.status_code == 200
    clock.advance(1)
    assert (await client.delete("/api/auth/sessions", headers=bearer(second))).status_code == 200
    clock.advance(1)
    logout = await client.post("/api/auth/sessions/logout", headers=bearer(second))
    assert logout.status_code == 200
    clock.advance(1)
    token = (await login(client))["accessToken"]
    body = await events(client, token, limit=100)
    kinds = [item["activityType"] for item in body["activities"]]
    assert kinds[:4] == ["login_success", "logout", "sessions_revoked", "session_revoked"]
    by_type = {item["activityType"]: item for item in body["activities"]}
    assert by_type["session_revoked"]["metadata"] == {"sessionId": other_id}
    assert by_type["sessions_revoked"]["metadata"] == {"count": 1}  # the first login's


async def test_refresh_token_reuse_is_recorded(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    pair = await signed_up(client)
    first = await client.post("/api/auth/refresh", json={"refreshToken": pair["refreshToken"]})
    assert first.status_code == 200
    clock.advance(1)
    reused = await client.post("/api/auth/refresh", json={"refreshToken": pair["refreshToken"]})
    assert reused.status_code == 401
    clock.advance(1)
    token = (await login(client))["accessToken"]
    item = (await events(client, token, activityType="refresh_token_reuse"))["activities"][0]
    assert item["success"] is False
    assert item["ipAddress"] == CLIENT_ADDRESS
    assert set(item["metadata"]) == {"sessionId"}


async def test_password_change_and_application_events_are_recorded(
    app: FastAPI, client: httpx.AsyncClient, ada: str, clock: FakeClock
) -> None:
    clock.advance(1)
    changed = await client.post(
        "/api/auth/password/change",
        json={"currentPassword": PASSWORD, "newPassword": "another long passphrase"},
        headers=bearer(ada),
    )
    assert changed.status_code == 200
    clock.advance(1)
    created = await client.post(
        "/api/applications",
        json={
            "name": "Mine", "redirectUris": ["https://mine.example.com/cb"],
            "scopes": ["openid"],
        },
        headers=bearer(ada),
    )
    assert created.status_code == 201, created.text
    client_id = created.json()["clientId"]
    clock.advance(1)
    regenerated = await client.post(
        f"/api/applications/{client_id}/regenerate-secret", headers=bearer(ada)
    )
    assert regenerated.status_code == 200
    clock.advance(1)
    deleted = await client.delete(f"/api/applications/{client_id}", headers=bearer(ada))
    assert deleted.status_code == 200
    body = await events(client, ada)
    kinds = [item["activityType"] for item in body["activities"]]
    assert kinds == [
        "application_deleted", "application_secret_regenerated", "application_created",
        "password_changed", "login_success",
    ]
    for item in body["activities"][:3]:
        assert item["metadata"] == {"clientId": client_id, "name": "Mine"}
    assert regenerated.json()["clientSecret"] not in json.dumps(body)


async def test_revoking_a_connected_app_is_recorded(
    app: FastAPI, client: httpx.AsyncClient, ada: str, clock: FakeClock
) -> None:
    oauth = make_client(app)
    await connect(app, client, oauth)
    clock.advance(1)
    response = await client.delete(
        f"/api/oauth/connected-apps/{oauth.client_id}", headers=bearer(ada)
    )
    assert response.status_code == 200
    item = (await events(client, ada))["activities"][0]
    assert item["activityType"] == "connected_app_revoked"
    assert item["metadata"] == {"clientId": oauth.client_id}


async def test_a_verified_sensitive_action_is_recorded(
    app: FastAPI, client: httpx.AsyncClient, ada: str
) -> None:
    token = await action_token(app, client, ada, "mfa:disable")
    body = await events(client, ada, activityType="sensitive_action_verified")
    [item] = body["activities"]
    assert item["metadata"] == {"action": "mfa:disable"}
    assert token not in json.dumps(body)


async def test_another_users_activity_is_never_shown(
    client: httpx.AsyncClient, ada: str
) -> None:
    bob = (await signed_up(client, "bob@example.com"))["accessToken"]
    await client.post("/api/auth/login", json={"email": "bob@example.com", "password": "wrong!!!"})
    mine = await events(client, ada, limit=100)
    assert mine["total"] == 1
    ada_id = mine["activities"][0]["userId"]
    theirs = await events(client, bob, limit=100)
    assert theirs["total"] == 2
    assert all(item["userId"] != ada_id for item in theirs["activities"])
    # No query parameter reaches another user's events.
    for query in ({"userId": ada_id}, {"activityType": "login_failed"}):
        body = await events(client, ada, **query)
        assert all(item["userId"] == ada_id for item in body["activities"])


async def test_pages_and_the_type_filter(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    await register(client)
    for _ in range(5):
        clock.advance(1)
        token = (await login(client))["accessToken"]
    first = await events(client, token, limit=2)
    assert (first["total"], first["limit"], first["offset"]) == (5, 2, 0)
    second = await events(client, token, limit=2, offset=2)
    last = await events(client, token, limit=2, offset=4)
    times = [item["createdAt"] for page in (first, second, last) for item in page["activities"]]
    assert times == sorted(times, reverse=True)
    assert len(set(times)) == 5
    assert (await events(client, token, offset=10))["activities"] == []
    assert (await events(client, token, activityType="logout"))["total"] == 0


@pytest.mark.parametrize(
    "query",
    [
        {"limit": 0}, {"limit": 101}, {"limit": "ten"}, {"offset": -1},
        {"activityType": "not_a_type"}, {"activityType": "x" * 65},
    ],
)
async def test_bad_queries_are_400(
    client: httpx.AsyncClient, ada: str, query: dict[str, Any]
) -> None:
    response = await client.get(ACTIVITY, params=query, headers=bearer(ada))
    assert response.status_code == 400, response.text


async def test_the_activity_needs_a_first_party_token(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    assert (await client.get(ACTIVITY)).status_code == 401


async def test_a_deleted_accounts_event_keeps_no_personal_data(
    app: FastAPI, client: httpx.AsyncClient, ada: str
) -> None:
    bob = (await signed_up(client, "bob@example.com"))["accessToken"]
    ada_id = (await events(client, ada))["activities"][0]["userId"]
    await action_token(app, client, ada, "mfa:disable")  # a used code and a live token
    response = await client.request(
        "DELETE", "/api/user/account", json={"password": PASSWORD, "confirmDelete": True},
        headers={**bearer(ada), "User-Agent": BROWSER},
    )
    assert response.status_code == 200
    [kept] = [row for row in all_rows(app) if row.user_id == ada_id]
    assert kept.activity_type == "account_deleted"
    assert (kept.ip_address, kept.user_agent, kept.device_type, kept.location) == (
        None, None, None, None,
    )
    assert kept.details is None
    with app.state.ctx.db.read() as db:
        codes_left = db.execute(select(AccountCode).where(AccountCode.user_id == ada_id)).all()
    assert codes_left == []
    # Bob's log is untouched.
    assert (await events(client, bob))["total"] == 1


async def test_the_purge_deletes_events_past_the_retention(
    app: FastAPI, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    ctx = app.state.ctx
    assert ctx.settings.activity_retention_days == 365
    await register(client)
    await login(client)  # an old event
    clock.advance(200 * 86_400)
    token = (await login(client))["accessToken"]  # a recent one
    clock.advance(200 * 86_400)
    retention = timedelta(days=ctx.settings.activity_retention_days)
    report = purge(ctx.db, clock(), timedelta(days=30), activity_retention=retention)
    assert report.activities == 1
    assert len(all_rows(app)) == 1
    # Without an activity retention, the purge leaves the log alone.
    clock.advance(400 * 86_400)
    assert purge(ctx.db, clock(), timedelta(days=30)).activities == 0
    assert len(all_rows(app)) == 1
    del token


async def test_the_purge_deletes_old_events_in_batches(
    app: FastAPI, clock: FakeClock
) -> None:
    from tekcify_auth.server.services import purge as purge_module

    ctx = app.state.ctx
    old = clock() - timedelta(days=400)
    with ctx.db.write() as db:
        for _ in range(purge_module.BATCH + 3):
            activity.record(db, old, user_id="someone", activity_type="login_failed")
        activity.record(db, clock(), user_id="someone", activity_type="login_failed")
    report = purge(ctx.db, clock(), timedelta(days=30), activity_retention=timedelta(days=365))
    assert report.activities == purge_module.BATCH + 3
    assert len(all_rows(app)) == 1


def test_every_recorded_type_is_a_known_type() -> None:
    with pytest.raises(ValueError, match="unknown security activity type"):
        activity.record(None, None, user_id=None, activity_type="nope")  # type: ignore[arg-type]
