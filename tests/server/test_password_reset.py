"""Password reset: no enumeration, single-use hashed expiring links, every session ended."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest
import redis
from fastapi import FastAPI
from sqlalchemy import select

from tekcify_auth.server.db.models import User
from tekcify_auth.server.db.security import AccountCode, SecurityActivity
from tekcify_auth.server.services import accounts

from .conftest import (
    PASSWORD,
    FakeClock,
    bearer,
    login,
    make_settings,
    register,
    running,
    signed_up,
)
from .recovery_helpers import last_mail, mails
from .test_ratelimit import redis_url  # noqa: F401  (the fixture)

NEW_PASSWORD = "a brand new passphrase"
SENT = {
    "message": "If an account has this email address, a link to reset its password is on "
    "its way"
}


async def _forgot(client: httpx.AsyncClient, email: str = "ada@example.com") -> httpx.Response:
    return await client.post("/api/auth/password/forgot", json={"email": email})


async def _reset(
    client: httpx.AsyncClient, token: str, password: str = NEW_PASSWORD
) -> httpx.Response:
    return await client.post(
        "/api/auth/password/reset", json={"token": token, "newPassword": password}
    )


def _disable(app: FastAPI, email: str = "ada@example.com") -> None:
    ctx = app.state.ctx
    with ctx.db.write() as db:
        accounts.disable_user(db, ctx, email)


async def test_forgot_answers_the_same_for_known_unknown_and_disabled_emails(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client, "ada@example.com")
    await register(client, "off@example.com")
    _disable(app, "off@example.com")
    answers = [
        await _forgot(client, email)
        for email in ("ada@example.com", "nobody@example.com", "off@example.com")
    ]
    assert {(r.status_code, r.text) for r in answers} == {(202, answers[0].text)}
    assert answers[0].json() == SENT
    assert {tuple(sorted(r.headers.keys())) for r in answers} == {
        tuple(sorted(answers[0].headers.keys()))
    }
    # Only the enabled, known account gets a message.
    assert [m.to for m in mails(app, "password_reset")] == ["ada@example.com"]


async def test_forgot_is_rate_limited_per_email_known_or_not(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client)
    for email in ("ada@example.com", "nobody@example.com"):
        statuses = [(await _forgot(client, email)).status_code for _ in range(6)]
        assert statuses == [202] * 5 + [429], email
    assert len(mails(app, "password_reset")) == 5


async def test_forgot_is_rate_limited_per_client(client: httpx.AsyncClient) -> None:
    statuses = [
        (await _forgot(client, f"user{i}@example.com")).status_code for i in range(21)
    ]
    assert statuses == [202] * 20 + [429]


async def test_reset_sets_the_password_and_ends_every_session(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    first = await signed_up(client)
    second = await login(client)
    await _forgot(client)
    mail = last_mail(app, "password_reset")
    assert mail.link.startswith("http://tekcify.test/account/reset-password?token=")
    response = await _reset(client, mail.token)
    assert response.status_code == 200, response.text
    assert set(response.json()) == {"message"}
    for pair in (first, second):
        profile = await client.get("/api/user/profile", headers=bearer(pair["accessToken"]))
        assert profile.status_code == 401
        refreshed = await client.post(
            "/api/auth/refresh", json={"refreshToken": pair["refreshToken"]}
        )
        assert refreshed.status_code == 401
    old = await client.post(
        "/api/auth/login", json={"email": "ada@example.com", "password": PASSWORD}
    )
    assert old.status_code == 401
    await login(client, password=NEW_PASSWORD)
    notice = last_mail(app, "password_changed")
    assert notice.to == "ada@example.com"
    assert "http://tekcify.test/account/forgot-password" in notice.text
    ctx = app.state.ctx
    with ctx.db.read() as db:
        kinds = [
            e.activity_type for e in db.execute(select(SecurityActivity)).scalars()
        ]
        user = db.execute(select(User)).scalar_one()
    assert "password_reset_requested" in kinds
    assert "password_reset" in kinds
    assert user.email_verified is True  # the link proved the address


async def test_a_reset_link_is_stored_hashed_and_lasts_30_minutes(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client)
    await _forgot(client)
    token = last_mail(app, "password_reset").token
    ctx = app.state.ctx
    with ctx.db.read() as db:
        row = db.execute(
            select(AccountCode).where(AccountCode.purpose == "password_reset")
        ).scalar_one()
    assert row.secret_hash == hashlib.sha256(token.encode()).hexdigest()
    assert (row.expires_at - row.created_at).total_seconds() == 30 * 60


async def test_reset_applies_the_registration_password_rules(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client)
    await _forgot(client)
    token = last_mail(app, "password_reset").token
    for bad in ("short", "x" * 1025):
        response = await _reset(client, token, bad)
        assert response.status_code == 400
        assert "newPassword" in response.json()["message"]
    assert (await _reset(client, token)).status_code == 200  # the link was not used up


async def test_a_used_reset_link_is_refused(app: FastAPI, client: httpx.AsyncClient) -> None:
    await register(client)
    await _forgot(client)
    token = last_mail(app, "password_reset").token
    assert (await _reset(client, token)).status_code == 200
    again = await _reset(client, token, "yet another passphrase")
    assert again.status_code == 400
    assert again.json()["message"] == "This link has already been used"
    await login(client, password=NEW_PASSWORD)


async def test_an_expired_reset_link_is_refused(
    app: FastAPI, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    await register(client)
    await _forgot(client)
    token = last_mail(app, "password_reset").token
    clock.advance(30 * 60 + 1)
    response = await _reset(client, token)
    assert response.status_code == 400
    assert response.json()["message"] == "This link has expired"
    await login(client)


async def test_an_altered_reset_link_is_refused(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client)
    await _forgot(client)
    token = last_mail(app, "password_reset").token
    for altered in (token[:-2], token + "A", token[::-1], "A" * 43):
        response = await _reset(client, altered)
        assert response.status_code == 400
    await login(client)


async def test_a_verification_link_is_not_a_reset_link(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client)
    token = last_mail(app, "verify_email").token
    response = await _reset(client, token)
    assert response.status_code == 400
    assert response.json()["message"] == "This link is not valid"
    await login(client)


async def test_an_older_reset_link_stops_working_once_a_new_one_is_sent(
    app: FastAPI, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    await register(client)
    await _forgot(client)
    old = last_mail(app, "password_reset").token
    clock.advance(1)
    await _forgot(client)
    new = last_mail(app, "password_reset").token
    assert (await _reset(client, old)).status_code == 400
    assert (await _reset(client, new)).status_code == 200


async def test_a_reset_for_a_disabled_account_is_refused(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client)
    await _forgot(client)
    token = last_mail(app, "password_reset").token
    _disable(app)
    response = await _reset(client, token)
    assert response.status_code == 403
    assert response.json()["message"] == "This account is disabled"
    ctx = app.state.ctx
    with ctx.db.read() as db:
        user = db.execute(select(User)).scalar_one()
    assert ctx.passwords.verify(user.password_hash, PASSWORD)


async def test_a_reset_link_sent_to_a_former_address_is_refused(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client)
    await _forgot(client)
    token = last_mail(app, "password_reset").token
    ctx = app.state.ctx
    with ctx.db.write() as db:
        user = db.execute(select(User)).scalar_one()
        user.email = "ada.new@example.com"
    assert (await _reset(client, token)).status_code == 400


async def test_reset_ends_page_sign_ins(app: FastAPI, client: httpx.AsyncClient) -> None:
    from tekcify_auth.server.services import login_sessions

    await register(client)
    ctx = app.state.ctx
    with ctx.db.write() as db:
        user = db.execute(select(User)).scalar_one()
        cookie, _row = login_sessions.start_login_session(
            db, ctx, user.id, password_hash=user.password_hash, replacing=None,
            user_agent=None, ip_address=None,
        )
    with ctx.db.read() as db:
        assert login_sessions.find_login_session(db, ctx, cookie) is not None
    await _forgot(client)
    assert (await _reset(client, last_mail(app, "password_reset").token)).status_code == 200
    with ctx.db.read() as db:
        assert login_sessions.find_login_session(db, ctx, cookie) is None


@pytest.mark.needs("redis")
async def test_the_mail_limits_are_shared_through_redis_and_hold_no_address(
    redis_url: str,  # noqa: F811
    clean_db: str, tmp_path: Path, clock: FakeClock,
) -> None:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    settings = make_settings(database_url=clean_db, data_dir=tmp_path, redis_url=redis_url)
    async with running(settings, clock) as (_one, first), running(settings, clock) as (_, second):
        for _ in range(5):
            assert (await _forgot(first)).status_code == 202
        refused = await _forgot(second)
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) >= 1
    keys = [key.decode() for key in client.keys("*")]
    assert any(":mail:reset:" in key for key in keys), keys
    assert not any("ada" in key or "example.com" in key for key in keys), keys
    client.close()
