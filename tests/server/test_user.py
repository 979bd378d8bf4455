"""``/api/user``: profile, data export and account deletion (pictures: test_image_serving)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from PIL import Image
from sqlalchemy import func, select, text

from tekcify_auth.server.db.applications import Application
from tekcify_auth.server.db.images import StoredImage
from tekcify_auth.server.db.models import RefreshToken, User, UserSession
from tekcify_auth.server.db.oauth import Consent
from tekcify_auth.server.services import accounts, activity
from tekcify_auth.server.services.consent import remember_consent

from .conftest import (
    PASSWORD,
    FakeClock,
    asgi_client,
    bearer,
    client_session,
    create_oauth_app,
    login,
    register,
    signed_up,
)

PROFILE = "/api/user/profile"
PICTURE = "/api/user/profile/picture"
EXPORT = "/api/user/export-data"
ACCOUNT = "/api/user/account"
ADA, BOB = "ada@example.com", "bob@example.com"


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 32), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


async def _upload_avatar(client: httpx.AsyncClient, token: str) -> str:
    response = await client.post(
        PICTURE, headers=bearer(token), files={"file": ("me.png", _png(), "image/png")}
    )
    assert response.status_code == 200, response.text
    url: str = response.json()["avatarUrl"]
    return url


def _delete(client: httpx.AsyncClient, token: str, body: Any) -> Any:
    return client.request("DELETE", ACCOUNT, headers=bearer(token), json=body)


def _user_id(app: FastAPI, email: str) -> str:
    with app.state.ctx.db.read() as db:
        user = accounts.find_by_email(db, email)
        assert user is not None
        return str(user.id)


# ----------------------------------------------------------------------------- profile


async def test_the_profile_is_the_callers(client: httpx.AsyncClient) -> None:
    registered = await client.post(
        "/api/auth/register",
        json={"email": ADA, "password": PASSWORD, "firstName": "Ada", "lastName": "Lovelace"},
    )
    pair = await login(client)
    response = await client.get(PROFILE, headers=bearer(pair["accessToken"]))
    assert response.status_code == 200
    assert response.json() == {
        "userId": registered.json()["userId"], "email": ADA, "firstName": "Ada",
        "lastName": "Lovelace", "avatarUrl": None, "emailVerifiedAt": None,
    }


async def test_the_profile_needs_a_token(client: httpx.AsyncClient) -> None:
    for method, path in [("GET", PROFILE), ("PUT", PROFILE), ("POST", PICTURE),
                         ("GET", EXPORT), ("DELETE", ACCOUNT)]:
        response = await client.request(method, path)
        assert response.status_code == 401, (method, path)
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.json()["message"]


async def test_an_update_changes_only_the_fields_sent(client: httpx.AsyncClient) -> None:
    token = (await signed_up(client))["accessToken"]
    first = await client.put(PROFILE, headers=bearer(token), json={"firstName": "  Ada "})
    assert first.status_code == 200
    assert (first.json()["firstName"], first.json()["lastName"]) == ("Ada", None)
    second = await client.put(PROFILE, headers=bearer(token), json={"lastName": "Lovelace"})
    assert (second.json()["firstName"], second.json()["lastName"]) == ("Ada", "Lovelace")
    unchanged = await client.put(PROFILE, headers=bearer(token), json={})
    assert unchanged.json() == second.json()
    cleared = await client.put(PROFILE, headers=bearer(token), json={"firstName": None,
                                                                      "lastName": "   "})
    assert (cleared.json()["firstName"], cleared.json()["lastName"]) == (None, None)
    fetched = await client.get(PROFILE, headers=bearer(token))
    assert fetched.json() == cleared.json()


async def test_a_name_keeps_its_unicode(client: httpx.AsyncClient) -> None:
    token = (await signed_up(client))["accessToken"]
    name = "Zoë \u0645\u062d\u0645\u062f\u200c\u0631\u0636\u0627 \U0001f469\u200d\U0001f4bb"
    response = await client.put(PROFILE, headers=bearer(token), json={"firstName": name})
    assert response.status_code == 200
    assert response.json()["firstName"] == name


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"nickname": "Ada"}, "Unknown field: nickname"),
        ({"firstName": "A" * 101}, "Invalid field firstName: String should have at most 100"),
        ({"lastName": 42}, "Invalid field lastName: Input should be a valid string"),
        ({"firstName": "Ada\nLovelace"}, "must not contain control characters"),
        ({"firstName": "Ada\x00"}, "must not contain control characters"),
        ({"firstName": "\u202eecalevol"}, "must not contain control characters"),
        (["firstName"], "The request body must be a JSON object"),
        ({"email": "mallory@example.com"}, "Unknown field: email"),
    ],
)
async def test_a_bad_update_is_400_and_changes_nothing(
    client: httpx.AsyncClient, body: Any, message: str
) -> None:
    token = (await signed_up(client))["accessToken"]
    response = await client.put(PROFILE, headers=bearer(token), json=body)
    assert response.status_code == 400
    assert message in response.json()["message"]
    profile = (await client.get(PROFILE, headers=bearer(token))).json()
    assert (profile["email"], profile["firstName"], profile["lastName"]) == (ADA, None, None)


async def test_an_update_that_is_not_json_is_400(client: httpx.AsyncClient) -> None:
    token = (await signed_up(client))["accessToken"]
    response = await client.put(
        PROFILE, headers={**bearer(token), "content-type": "application/json"}, content=b"{"
    )
    assert response.status_code == 400
    assert response.json()["message"] == "Malformed JSON body"


async def test_one_user_never_sees_or_changes_another(client: httpx.AsyncClient) -> None:
    ada = (await signed_up(client, ADA))["accessToken"]
    bob = (await signed_up(client, BOB))["accessToken"]
    await client.put(PROFILE, headers=bearer(ada), json={"firstName": "Ada"})
    bob_profile = (await client.get(PROFILE, headers=bearer(bob))).json()
    assert (bob_profile["email"], bob_profile["firstName"]) == (BOB, None)
    assert ADA not in (await client.get(EXPORT, headers=bearer(bob))).text
    ada_profile = (await client.get(PROFILE, headers=bearer(ada))).json()
    assert (ada_profile["email"], ada_profile["firstName"]) == (ADA, "Ada")


async def test_the_profile_scopes_are_checked(app: FastAPI, client: httpx.AsyncClient) -> None:
    await register(client)
    reader = client_session(app, None, scopes=("read:profile",)).access_token
    nobody = client_session(app, None, scopes=("openid",)).access_token
    assert (await client.get(PROFILE, headers=bearer(reader))).status_code == 200
    refused = await client.put(PROFILE, headers=bearer(reader), json={"firstName": "X"})
    assert refused.status_code == 403
    assert 'error="insufficient_scope"' in refused.headers["www-authenticate"]
    assert 'scope="write:profile"' in refused.headers["www-authenticate"]
    picture = await client.post(
        PICTURE, headers=bearer(reader), files={"file": ("a.png", _png(), "image/png")}
    )
    assert picture.status_code == 403
    assert (await client.get(PROFILE, headers=bearer(nobody))).status_code == 403


# ------------------------------------------------------------------------------ export


def _keys(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _keys(item)
    elif isinstance(value, list):
        for item in value:
            yield from _keys(item)


async def test_the_export_holds_every_record_and_no_secret(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    pair = await signed_up(client)
    token = pair["accessToken"]
    await client.put(PROFILE, headers=bearer(token), json={"firstName": "Ada"})
    avatar = await _upload_avatar(client, token)
    owned = create_oauth_app(app, owner_email=ADA)
    await signed_up(client, BOB)
    create_oauth_app(app, owner_email=BOB)
    client_session(app, owned.client_id, email=BOB)
    bobs = create_oauth_app(app, owner_email=BOB)
    with app.state.ctx.db.write() as db:
        remember_consent(db, _user_id(app, ADA), bobs.client_id, ["profile", "openid"],
                         app.state.ctx.clock())
        activity.record(
            db, app.state.ctx.clock(), user_id=_user_id(app, ADA), activity_type="login_success",
            address="203.0.113.7", user_agent="Mozilla/5.0 (iPhone; Mobile)",
            metadata={"note": "kept out of the export"},
        )
        activity.record(
            db, app.state.ctx.clock(), user_id=_user_id(app, BOB), activity_type="login_failed",
            success=False,
        )
    with app.state.ctx.db.read() as db:
        secrets = [
            *db.execute(select(User.password_hash)).scalars(),
            *db.execute(select(RefreshToken.token_hash)).scalars(),
            *[h for h in db.execute(select(Application.client_secret_hash)).scalars() if h],
        ]
    secrets += [pair["refreshToken"], token, PASSWORD, owned.client_secret or "-"]

    response = await client.get(EXPORT, headers=bearer(token))
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-disposition"].startswith("attachment")
    data = response.json()
    # 2.2.12 ExportedUserData, then what this server holds besides.
    assert list(data) == [
        "profile", "connectedApps", "socialProviders", "passkeys", "securityActivity",
        "sessions", "applications", "images", "exportedAt",
    ]
    assert set(data["profile"]) == {
        "email", "firstName", "lastName", "avatarUrl", "mfaEnabled", "role",
        "emailVerifiedAt", "lastLoginAt", "createdAt", "userId", "emailVerified", "updatedAt",
    }
    assert data["profile"]["email"] == ADA
    assert data["profile"]["firstName"] == "Ada"
    assert data["profile"]["avatarUrl"] == avatar
    assert data["profile"]["createdAt"].endswith("Z")
    assert data["profile"]["mfaEnabled"] is False
    assert data["profile"]["emailVerifiedAt"] is None
    assert data["profile"]["lastLoginAt"] == data["sessions"][0]["createdAt"]
    assert data["socialProviders"] == []
    assert data["passkeys"] == []
    # Ada's own events (her sign-up's login among them), never Bob's failed one.
    assert "login_failed" not in {event["activityType"] for event in data["securityActivity"]}
    assert {
        "activityType": "login_success", "ipAddress": "203.0.113.7",
        "userAgent": "Mozilla/5.0 (iPhone; Mobile)", "location": None, "deviceType": "mobile",
        "success": True, "createdAt": data["sessions"][0]["createdAt"],
    } in data["securityActivity"]
    assert len(data["sessions"]) == 1
    assert data["sessions"][0]["clientId"] is None
    assert data["sessions"][0]["ipAddress"] == "203.0.113.7"
    assert [a["clientId"] for a in data["applications"]] == [owned.client_id]
    assert data["applications"][0]["confidential"] is True
    assert [(c["applicationName"], c["clientId"], c["scopes"]) for c in data["connectedApps"]] == [
        ("Test app", bobs.client_id, ["openid", "profile"])
    ]
    assert set(data["connectedApps"][0]) == {
        "applicationName", "clientId", "scopes", "consentedAt", "updatedAt",
    }
    assert [(i["kind"], i["mediaType"]) for i in data["images"]] == [("avatar", "image/png")]
    assert data["images"][0]["id"] in avatar
    words = " ".join(_keys(data)).lower()
    for word in ("hash", "secret", "password", "token", "data"):
        assert word not in words
    for secret in secrets:
        assert secret not in response.text
    assert BOB not in response.text
    assert "kept out of the export" not in response.text  # activity metadata


async def test_the_export_says_when_the_email_was_verified_and_the_last_sign_in(
    app: FastAPI, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    first = await signed_up(client)
    clock.advance(3600)
    latest = await login(client)
    with app.state.ctx.db.write() as db:
        user = db.get(User, _user_id(app, ADA))
        assert user is not None
        user.email_verified, user.email_verified_at = True, clock.now
    assert first["accessToken"] != latest["accessToken"]
    profile = (await client.get(EXPORT, headers=bearer(latest["accessToken"]))).json()["profile"]
    stamp = clock.now.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert (profile["emailVerifiedAt"], profile["lastLoginAt"]) == (stamp, stamp)
    assert profile["emailVerified"] is True


async def test_the_export_is_only_for_the_users_own_session(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client)
    oauth = create_oauth_app(app)
    every_scope = ("openid", "profile", "email", "read:profile", "write:profile")
    token = client_session(app, oauth.client_id, scopes=every_scope).access_token
    assert (await client.get(PROFILE, headers=bearer(token))).status_code == 200
    refused = await client.get(EXPORT, headers=bearer(token))
    assert refused.status_code == 403
    assert refused.json()["message"] == "Insufficient scope"
    assert 'error="insufficient_scope"' in refused.headers["www-authenticate"]
    deleting = await _delete(client, token, {"password": PASSWORD})
    assert deleting.status_code == 403
    with app.state.ctx.db.read() as db:
        assert accounts.find_by_email(db, ADA) is not None


# ---------------------------------------------------------------------------- deletion


def _counts(app: FastAPI) -> dict[str, int]:
    tables = {"users": User, "sessions": UserSession, "refresh_tokens": RefreshToken,
              "applications": Application, "images": StoredImage, "consents": Consent}
    with app.state.ctx.db.read() as db:
        counts = {
            name: int(db.execute(select(func.count()).select_from(model)).scalar_one())
            for name, model in tables.items()
        }
        revoked = select(func.count()).where(UserSession.revoked_at.is_not(None))
        counts["revoked_sessions"] = int(db.execute(revoked).scalar_one())
    return counts


async def _ada_with_everything(app: FastAPI, client: httpx.AsyncClient) -> dict[str, Any]:
    """Ada with two sessions, an avatar and an application with a logo row; Bob with a
    session of his own and one with Ada's application."""
    pair = await signed_up(client)
    await login(client)
    await _upload_avatar(client, pair["accessToken"])
    owned = create_oauth_app(app, owner_email=ADA)
    with app.state.ctx.db.write() as db:
        logo = StoredImage(
            owner_id=_user_id(app, ADA), kind="logo", media_type="image/png", data=_png(),
            width=32, height=32, etag='"x"', created_at=app.state.ctx.clock(),
        )
        db.add(logo)
    bob = await signed_up(client, BOB)
    bob_with_app = client_session(app, owned.client_id, email=BOB)
    bobs = create_oauth_app(app, owner_email=BOB)
    with app.state.ctx.db.write() as db:
        now = app.state.ctx.clock()
        remember_consent(db, _user_id(app, BOB), owned.client_id, ["openid"], now)
        remember_consent(db, _user_id(app, ADA), bobs.client_id, ["openid"], now)
    return {"pair": pair, "app": owned, "bob": bob, "bob_with_app": bob_with_app}


async def test_deleting_the_account_removes_everything_it_owned(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    made = await _ada_with_everything(app, client)
    before = _counts(app)
    assert before == {"users": 2, "sessions": 4, "refresh_tokens": 4, "applications": 2,
                      "images": 2, "consents": 2, "revoked_sessions": 0}
    token = made["pair"]["accessToken"]

    response = await _delete(client, token, {"password": PASSWORD})
    assert response.status_code == 200
    assert response.json() == {"message": "Your account and all its data have been deleted"}
    # Bob keeps his application; both consents go: Ada's (to Bob's application) with
    # Ada, Bob's (to Ada's application) with the application.
    assert _counts(app) == {"users": 1, "sessions": 2, "refresh_tokens": 2, "applications": 1,
                            "images": 0, "consents": 0, "revoked_sessions": 1}
    assert (await client.get(PROFILE, headers=bearer(token))).status_code == 401
    gone = await client.post("/api/auth/login", json={"email": ADA, "password": PASSWORD})
    assert gone.status_code == 401
    refresh = await client.post(
        "/api/auth/refresh", json={"refreshToken": made["pair"]["refreshToken"]}
    )
    assert refresh.status_code == 401
    # Bob keeps his own session; the one he opened with Ada's application is revoked.
    bob_token = made["bob"]["accessToken"]
    assert (await client.get(PROFILE, headers=bearer(bob_token))).status_code == 200
    with_app = made["bob_with_app"].access_token
    assert (await client.get(PROFILE, headers=bearer(with_app))).status_code == 401
    # The email is free again.
    await register(client)


async def test_a_wrong_password_deletes_nothing(app: FastAPI, client: httpx.AsyncClient) -> None:
    made = await _ada_with_everything(app, client)
    before = _counts(app)
    token = made["pair"]["accessToken"]
    response = await _delete(client, token, {"password": "not the password"})
    assert response.status_code == 403
    assert response.json()["message"] == "The password is incorrect"
    assert _counts(app) == before
    assert (await client.get(PROFILE, headers=bearer(token))).status_code == 200


async def test_wrong_passwords_are_rate_limited(client: httpx.AsyncClient) -> None:
    token = (await signed_up(client))["accessToken"]
    for _ in range(5):
        assert (await _delete(client, token, {"password": "guess"})).status_code == 403
    limited = await _delete(client, token, {"password": PASSWORD})
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) > 0
    assert (await client.get(PROFILE, headers=bearer(token))).status_code == 200


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (None, "Missing request body"),
        ({}, "Give your password or a sensitiveActionToken"),
        ({"password": ""}, "Invalid field password"),
        ({"password": PASSWORD, "force": True}, "Unknown field: force"),
    ],
)
async def test_a_bad_deletion_body_is_400(
    app: FastAPI, client: httpx.AsyncClient, body: Any, message: str
) -> None:
    token = (await signed_up(client))["accessToken"]
    response = await _delete(client, token, body)
    assert response.status_code == 400
    assert message in response.json()["message"]
    assert _counts(app)["users"] == 1


def _refuse_application_deletes(app: FastAPI, backend: str) -> tuple[str, ...]:
    """Make the database refuse to delete applications; returns the SQL that undoes it."""
    if backend == "sqlite":
        install = (
            "CREATE TRIGGER refuse_delete BEFORE DELETE ON applications "
            "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
        )
        undo: tuple[str, ...] = ("DROP TRIGGER refuse_delete",)
    else:
        install = (
            "CREATE FUNCTION refuse_delete() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$",
            "CREATE TRIGGER refuse_delete BEFORE DELETE ON applications "
            "FOR EACH ROW EXECUTE FUNCTION refuse_delete()",
        )
        undo = ("DROP TRIGGER refuse_delete ON applications", "DROP FUNCTION refuse_delete()")
    with app.state.ctx.db.write_connection() as conn:
        for statement in install:
            conn.execute(text(statement))
    return undo


async def test_a_failure_midway_leaves_everything(
    app: FastAPI, client: httpx.AsyncClient, backend: str
) -> None:
    made = await _ada_with_everything(app, client)
    before = _counts(app)
    token = made["pair"]["accessToken"]
    # Sessions, tokens and images are deleted before applications (ERASE_STEPS order).
    undo = _refuse_application_deletes(app, backend)
    try:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t.test") as raw:
            response = await _delete(raw, token, {"password": PASSWORD})
    finally:
        with app.state.ctx.db.write_connection() as conn:
            for statement in undo:
                conn.execute(text(statement))
    assert response.status_code == 500
    assert json.loads(response.text)["message"] == "Internal server error"
    assert _counts(app) == before
    assert (await client.get(PROFILE, headers=bearer(token))).status_code == 200


async def test_another_address_gets_its_own_limiter_entry(app: FastAPI) -> None:
    # The deletion check counts per account and address, like logins.
    async with asgi_client(app, "198.51.100.1") as one, asgi_client(app, "198.51.100.2") as two:
        token = (await signed_up(one))["accessToken"]
        for _ in range(5):
            await _delete(one, token, {"password": "guess"})
        assert (await _delete(one, token, {"password": PASSWORD})).status_code == 429
        assert (await _delete(two, token, {"password": PASSWORD})).status_code == 200
