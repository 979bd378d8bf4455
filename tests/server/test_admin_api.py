"""The HTTP admin API (``/api/admin/*``, issue 17 item 5), on SQLite and PostgreSQL:
what each operation does, that only an administrator's own session reaches it, that an
administrator cannot lock themselves out, and that the affected user's security activity
records every change as by an administrator."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tekcify_auth.server.services import admin

from .conftest import (
    PASSWORD,
    FakeClock,
    bearer,
    client_session,
    create_oauth_app,
    login,
    register,
    signed_up,
)
from .mfa_helpers import enable_mfa, start_login

ADMIN = "/api/admin"
ADMIN_EMAIL = "root@example.com"


def promote(app: FastAPI, email: str) -> None:
    """Give ``email`` the role admin, as ``tekcify-auth users set-role`` does."""
    ctx = app.state.ctx
    with ctx.db.write() as db:
        admin.set_role(db, email, "admin", ctx.clock())


async def admin_token(app: FastAPI, client: httpx.AsyncClient, email: str = ADMIN_EMAIL) -> str:
    """Register ``email``, make it an admin and sign it in; its access token."""
    await register(client, email)
    promote(app, email)
    token: str = (await login(client, email))["accessToken"]
    return token


async def user_id(client: httpx.AsyncClient, token: str) -> str:
    """The id of the account ``token`` signs in."""
    response = await client.get("/api/user/profile", headers=bearer(token))
    assert response.status_code == 200, response.text
    found: str = response.json()["userId"]
    return found


def activities(app: FastAPI, uid: str) -> list[tuple[str, dict[str, Any] | None]]:
    """The account's security events (type, metadata), oldest first."""
    from sqlalchemy import select

    from tekcify_auth.server.db.security import SecurityActivity

    with app.state.ctx.db.read() as db:
        rows = db.execute(
            select(SecurityActivity).where(SecurityActivity.user_id == uid)
            .order_by(SecurityActivity.created_at)
        ).scalars()
        return [(row.activity_type, row.details) for row in rows]


def assert_by(app: FastAPI, uid: str, kind: str, admin_id: str) -> None:
    found = [meta for what, meta in activities(app, uid) if what == kind]
    assert found, (kind, activities(app, uid))
    assert found[-1] is not None
    assert found[-1]["by"] == "admin"
    assert found[-1]["adminId"] == admin_id


# -- the operations ------------------------------------------------------------------


async def test_users_list_pages_and_searches(app: FastAPI, client: httpx.AsyncClient) -> None:
    token = await admin_token(app, client)
    for name in ("ada", "bob", "cy"):
        await register(client, f"{name}@example.com")
    response = await client.get(f"{ADMIN}/users", headers=bearer(token),
                                params={"limit": 2, "offset": 1})
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert (body["total"], body["limit"], body["offset"]) == (4, 2, 1)
    # oldest first, then by email (the test's clock stands still)
    assert [u["email"] for u in body["users"]] == ["bob@example.com", "cy@example.com"]
    assert set(body["users"][0]) == {"id", "email", "role", "state", "emailVerified",
                                     "createdAt"}
    assert body["users"][0]["createdAt"].endswith("Z")
    found = (await client.get(f"{ADMIN}/users", headers=bearer(token),
                              params={"q": "BO"})).json()
    assert [u["email"] for u in found["users"]] == ["bob@example.com"]
    # LIKE wildcards are taken literally
    none = (await client.get(f"{ADMIN}/users", headers=bearer(token), params={"q": "%"})).json()
    assert none["total"] == 0


async def test_user_show_enable_disable_role_sessions(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    token = await admin_token(app, client)
    admin_id = await user_id(client, token)
    ada = await signed_up(client)
    uid = await user_id(client, ada["accessToken"])

    shown = (await client.get(f"{ADMIN}/users/{uid}", headers=bearer(token))).json()
    assert shown["email"] == "ada@example.com"
    assert shown["liveSessions"] == 1
    assert shown["mfaEnabled"] is False
    assert shown["lastLoginAt"] is not None

    response = await client.post(f"{ADMIN}/users/{uid}/disable", headers=bearer(token))
    assert response.status_code == 200, response.text
    assert response.json()["state"] == "disabled"
    assert (await client.get("/api/user/profile", headers=bearer(ada["accessToken"]))).status_code \
        == 401
    assert_by(app, uid, "account_disabled", admin_id)
    response = await client.post(f"{ADMIN}/users/{uid}/enable", headers=bearer(token))
    assert response.json()["state"] == "active"
    assert_by(app, uid, "account_enabled", admin_id)

    response = await client.put(f"{ADMIN}/users/{uid}/role", json={"role": "admin"},
                                headers=bearer(token))
    assert response.status_code == 200, response.text
    assert response.json()["role"] == "admin"
    assert_by(app, uid, "role_changed", admin_id)

    await login(client)
    response = await client.post(f"{ADMIN}/users/{uid}/revoke-sessions", headers=bearer(token))
    assert response.status_code == 200, response.text
    assert response.json()["sessionsEnded"] == 1
    assert_by(app, uid, "sessions_revoked", admin_id)


async def test_set_password_ends_sessions_and_follows_registration_rules(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    token = await admin_token(app, client)
    admin_id = await user_id(client, token)
    ada = await signed_up(client)
    uid = await user_id(client, ada["accessToken"])
    short = await client.put(f"{ADMIN}/users/{uid}/password", json={"password": "short"},
                             headers=bearer(token))
    assert short.status_code == 400, short.text
    assert set(short.json()) >= {"statusCode", "message"}
    response = await client.put(f"{ADMIN}/users/{uid}/password",
                                json={"password": "a new long password"},
                                headers=bearer(token))
    assert response.status_code == 200, response.text
    assert response.json()["sessionsEnded"] == 1
    assert (await client.get("/api/user/profile", headers=bearer(ada["accessToken"]))).status_code \
        == 401
    await login(client, password="a new long password")
    assert_by(app, uid, "password_reset", admin_id)


async def test_reset_mfa_turns_it_off(
    app: FastAPI, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    token = await admin_token(app, client)
    admin_id = await user_id(client, token)
    ada = await signed_up(client)
    uid = await user_id(client, ada["accessToken"])
    await enable_mfa(client, ada["accessToken"], clock)
    response = await client.post(f"{ADMIN}/users/{uid}/reset-mfa", headers=bearer(token))
    assert response.status_code == 200, response.text
    assert response.json()["wasEnabled"] is True
    assert "accessToken" in await login(client)  # no second step any more
    assert_by(app, uid, "mfa_disabled", admin_id)


async def test_delete_user_needs_its_email(app: FastAPI, client: httpx.AsyncClient) -> None:
    token = await admin_token(app, client)
    admin_id = await user_id(client, token)
    ada = await signed_up(client)
    uid = await user_id(client, ada["accessToken"])
    wrong = await client.request("DELETE", f"{ADMIN}/users/{uid}",
                                 json={"confirm": "bob@example.com"}, headers=bearer(token))
    assert wrong.status_code == 400, wrong.text
    missing = await client.request("DELETE", f"{ADMIN}/users/{uid}", headers=bearer(token))
    assert missing.status_code in (400, 422), missing.text
    response = await client.request("DELETE", f"{ADMIN}/users/{uid}",
                                    json={"confirm": "Ada@Example.com"}, headers=bearer(token))
    assert response.status_code == 200, response.text
    assert (await client.get(f"{ADMIN}/users/{uid}", headers=bearer(token))).status_code == 404
    assert_by(app, uid, "account_deleted", admin_id)


async def test_applications_lifecycle(app: FastAPI, client: httpx.AsyncClient) -> None:
    token = await admin_token(app, client)
    admin_id = await user_id(client, token)
    ada = await signed_up(client)
    owner = await user_id(client, ada["accessToken"])
    body = {
        "ownerId": owner, "name": "Reports", "redirectUris": ["https://reports.example/cb"],
        "scopes": ["openid", "profile"],
    }
    created = await client.post(f"{ADMIN}/applications", json=body, headers=bearer(token))
    assert created.status_code == 201, created.text
    assert created.headers["cache-control"] == "no-store"
    made = created.json()
    client_id, secret = made["clientId"], made["clientSecret"]
    assert made["ownerEmail"] == "ada@example.com"
    assert (made["type"], made["state"]) == ("confidential", "active")
    assert_by(app, owner, "application_created", admin_id)

    listed = (await client.get(f"{ADMIN}/applications", headers=bearer(token))).json()
    assert listed["total"] == 1
    assert "clientSecret" not in listed["applications"][0]
    shown = (await client.get(f"{ADMIN}/applications/{client_id}", headers=bearer(token)))
    assert shown.json()["clientId"] == client_id
    assert secret not in shown.text

    off = await client.post(f"{ADMIN}/applications/{client_id}/deactivate",
                            headers=bearer(token))
    assert off.json()["state"] == "inactive"
    on = await client.post(f"{ADMIN}/applications/{client_id}/activate", headers=bearer(token))
    assert on.json()["state"] == "active"

    new = await client.post(f"{ADMIN}/applications/{client_id}/regenerate-secret",
                            headers=bearer(token))
    assert new.status_code == 200, new.text
    assert new.json()["clientSecret"] != secret
    assert_by(app, owner, "application_secret_regenerated", admin_id)

    wrong = await client.request("DELETE", f"{ADMIN}/applications/{client_id}",
                                 json={"confirm": "nope"}, headers=bearer(token))
    assert wrong.status_code == 400, wrong.text
    gone = await client.request("DELETE", f"{ADMIN}/applications/{client_id}",
                                json={"confirm": client_id}, headers=bearer(token))
    assert gone.status_code == 200, gone.text
    assert (await client.get(f"{ADMIN}/applications/{client_id}",
                             headers=bearer(token))).status_code == 404
    assert_by(app, owner, "application_deleted", admin_id)


# -- who may call it -----------------------------------------------------------------

ROUTES = (
    ("GET", "/users"), ("GET", "/users/x"), ("POST", "/users/x/disable"),
    ("POST", "/users/x/enable"), ("DELETE", "/users/x"), ("PUT", "/users/x/role"),
    ("PUT", "/users/x/password"), ("POST", "/users/x/revoke-sessions"),
    ("POST", "/users/x/reset-mfa"), ("GET", "/applications"), ("GET", "/applications/x"),
    ("POST", "/applications"), ("POST", "/applications/x/activate"),
    ("POST", "/applications/x/deactivate"), ("POST", "/applications/x/regenerate-secret"),
    ("DELETE", "/applications/x"),
)


async def refusals(client: httpx.AsyncClient, headers: dict[str, str]) -> set[int]:
    found = set()
    for method, path in ROUTES:
        response = await client.request(method, ADMIN + path, headers=headers)
        found.add(response.status_code)
        if response.status_code == 403:
            assert response.json()["statusCode"] == 403
    return found


def test_every_admin_route_is_listed_here(app: FastAPI) -> None:
    from .conftest import api_routes

    served = {
        (method, route.path.removeprefix(ADMIN).replace("{user_id}", "x")
         .replace("{client_id}", "x"))
        for route in api_routes(app) if route.path.startswith(ADMIN + "/")
        for method in route.methods
    }
    assert served == set(ROUTES)


async def test_admin_api_refuses_no_token(app: FastAPI, client: httpx.AsyncClient) -> None:
    assert await refusals(client, {}) == {401}


async def test_admin_api_refuses_a_user_token(app: FastAPI, client: httpx.AsyncClient) -> None:
    ada = await signed_up(client)
    assert await refusals(client, bearer(ada["accessToken"])) == {403}
    response = await client.get(f"{ADMIN}/users", headers=bearer(ada["accessToken"]))
    assert response.json()["message"] == admin.NOT_ADMIN


async def test_admin_api_refuses_an_application_token_of_an_admin(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await admin_token(app, client)
    oauth = create_oauth_app(app)
    pair = client_session(app, oauth.client_id, email=ADMIN_EMAIL,
                          scopes=("openid", "read:profile", "write:profile"))
    assert await refusals(client, bearer(pair.access_token)) == {403}


async def test_admin_api_refuses_an_mfa_temp_token(
    app: FastAPI, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    token = await admin_token(app, client)
    await enable_mfa(client, token, clock)
    started = await start_login(client, ADMIN_EMAIL)
    assert await refusals(client, bearer(started["mfaToken"])) == {401}


async def test_admin_api_refuses_an_expired_admin_token(
    app: FastAPI, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    token = await admin_token(app, client)
    clock.advance(app.state.ctx.settings.access_token_ttl + 120)
    assert await refusals(client, bearer(token)) == {401}


async def test_admin_api_refuses_a_disabled_or_demoted_admin(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    token = await admin_token(app, client)
    other = await admin_token(app, client, "second@example.com")
    other_id = await user_id(client, other)
    # demoted: its unexpired token still says role=admin, the database does not
    response = await client.put(f"{ADMIN}/users/{other_id}/role", json={"role": "user"},
                                headers=bearer(token))
    assert response.status_code == 200, response.text
    assert await refusals(client, bearer(other)) == {403}
    promote(app, "second@example.com")
    assert (await client.get(f"{ADMIN}/users", headers=bearer(other))).status_code == 200
    # disabled: every session is over
    await client.post(f"{ADMIN}/users/{other_id}/disable", headers=bearer(token))
    assert await refusals(client, bearer(other)) == {401}


async def test_admin_cannot_disable_delete_or_demote_themselves(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    token = await admin_token(app, client)
    me = await user_id(client, token)
    for method, path, body in (
        ("POST", f"/users/{me}/disable", None),
        ("DELETE", f"/users/{me}", {"confirm": ADMIN_EMAIL}),
        ("PUT", f"/users/{me}/role", {"role": "user"}),
    ):
        response = await client.request(method, ADMIN + path, json=body, headers=bearer(token))
        assert response.status_code == 409, response.text
        assert "own account" in response.json()["message"]
    shown = (await client.get(f"{ADMIN}/users/{me}", headers=bearer(token))).json()
    assert (shown["role"], shown["state"]) == ("admin", "active")
    # another admin may: the acting one always remains
    other = await admin_token(app, client, "second@example.com")
    response = await client.put(f"{ADMIN}/users/{me}/role", json={"role": "user"},
                                headers=bearer(other))
    assert response.status_code == 200, response.text


async def test_unknown_ids_are_404(app: FastAPI, client: httpx.AsyncClient) -> None:
    token = await admin_token(app, client)
    unknown = "00000000-0000-0000-0000-000000000000"
    for method, path, body in (
        ("GET", f"/users/{unknown}", None), ("POST", f"/users/{unknown}/disable", None),
        ("POST", f"/users/{unknown}/enable", None),
        ("DELETE", f"/users/{unknown}", {"confirm": "x@example.com"}),
        ("PUT", f"/users/{unknown}/role", {"role": "admin"}),
        ("PUT", f"/users/{unknown}/password", {"password": PASSWORD}),
        ("POST", f"/users/{unknown}/revoke-sessions", None),
        ("POST", f"/users/{unknown}/reset-mfa", None),
        ("GET", "/applications/nope", None), ("POST", "/applications/nope/activate", None),
        ("POST", "/applications/nope/deactivate", None),
        ("POST", "/applications/nope/regenerate-secret", None),
        ("DELETE", "/applications/nope", {"confirm": "nope"}),
        ("POST", "/applications", {"ownerId": unknown, "name": "X",
                                   "redirectUris": ["https://x.example/cb"],
                                   "scopes": ["openid"]}),
        ("GET", "/users/a%00b", None),
    ):
        response = await client.request(method, ADMIN + path, json=body, headers=bearer(token))
        assert response.status_code == 404, (path, response.text)
        assert response.json()["statusCode"] == 404


async def test_invalid_and_oversized_bodies(app: FastAPI, client: httpx.AsyncClient) -> None:
    token = await admin_token(app, client)
    me = await user_id(client, token)
    for method, path, body in (
        ("PUT", f"/users/{me}/role", {"role": "root"}),
        ("PUT", f"/users/{me}/role", {"role": "admin", "extra": 1}),
        ("PUT", f"/users/{me}/role", ["admin"]),
        ("PUT", f"/users/{me}/password", {"password": "x" * 2000}),
        ("PUT", f"/users/{me}/password", {"password": 12345678}),
        ("DELETE", f"/users/{me}", {"confirm": "x" * 1000}),
        ("POST", "/applications", {"ownerId": me, "name": "X", "redirectUris": ["nope"],
                                   "scopes": ["openid"]}),
        ("POST", "/applications", {"ownerId": "x" * 500, "name": "X",
                                   "redirectUris": ["https://x.example/cb"],
                                   "scopes": ["openid"]}),
    ):
        response = await client.request(method, ADMIN + path, json=body, headers=bearer(token))
        assert response.status_code in (400, 422), (path, body, response.text)
        assert set(response.json()) >= {"statusCode", "message"}
    for params in ({"limit": 0}, {"limit": 101}, {"offset": -1}, {"q": "x" * 400}):
        response = await client.get(f"{ADMIN}/users", params=params, headers=bearer(token))
        assert response.status_code in (400, 422), (params, response.text)
    long_id = "x" * 500
    response = await client.get(f"{ADMIN}/users/{long_id}", headers=bearer(token))
    assert response.status_code in (400, 404, 422)
    huge = await client.put(f"{ADMIN}/users/{me}/password", headers=bearer(token),
                            content=b'{"password": "' + b"a" * 3_000_000 + b'"}',
                            )
    assert huge.status_code in (400, 413, 422), huge.text
    # the admin's own account is untouched by all that
    shown = (await client.get(f"{ADMIN}/users/{me}", headers=bearer(token))).json()
    assert shown["role"] == "admin"


@pytest.mark.parametrize("kind", ["user", "admin"])
def test_roles_are_the_services(kind: str) -> None:
    assert kind in admin.ROLES
