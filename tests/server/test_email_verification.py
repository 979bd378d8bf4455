"""Email verification: the mailed link and code, single use, hashed, expiring, bound."""

from __future__ import annotations

import hashlib
from datetime import datetime

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from tekcify_auth.server.db.models import User
from tekcify_auth.server.db.security import AccountCode, SecurityActivity

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
from .recovery_helpers import last_mail, mails, strict_app  # noqa: F401  (fixture)

VERIFIED = {"message": "Your email address is verified"}


def _user(app: FastAPI, email: str = "ada@example.com") -> User:
    ctx = app.state.ctx
    with ctx.db.read() as db:
        user = db.execute(select(User).where(User.email == email)).scalar_one()
    return user


async def test_registration_queues_a_link_and_a_code(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    profile = await register(client)
    assert profile["emailVerifiedAt"] is None
    mail = last_mail(app, "verify_email")
    assert mail.to == "ada@example.com"
    assert mail.subject == "Verify your Tekcify email address"
    assert mail.link.startswith("http://tekcify.test/account/verify-email?token=")
    assert len(mail.token) == 43
    assert len(mail.code) == 6
    assert mail.link in mail.html.replace("&amp;", "&")
    assert mail.code in mail.html


async def test_verification_secrets_are_stored_only_as_hashes(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client)
    mail = last_mail(app, "verify_email")
    ctx = app.state.ctx
    with ctx.db.read() as db:
        rows = list(db.execute(select(AccountCode)).scalars())
    stored = {row.secret_hash for row in rows}
    assert hashlib.sha256(mail.token.encode()).hexdigest() in stored
    assert all(mail.token not in value and mail.code != value for value in stored)
    expiry = {row.purpose: row.expires_at - row.created_at for row in rows}
    assert expiry["verify_email"].total_seconds() == 24 * 3600
    assert expiry["verify_email_code"].total_seconds() == 15 * 60


async def test_the_link_verifies_without_a_sign_in(
    app: FastAPI, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    tokens = await signed_up(client)
    response = await client.post("/api/auth/email/verify", json={"token": last_mail(
        app, "verify_email").token})
    assert response.status_code == 200, response.text
    assert response.json() == VERIFIED
    user = _user(app)
    assert user.email_verified is True
    assert user.email_verified_at == clock.now
    profile = (await client.get("/api/user/profile", headers=bearer(tokens["accessToken"])))
    assert profile.json()["emailVerifiedAt"] == clock.now.isoformat(
        timespec="milliseconds").replace("+00:00", "Z")
    datetime.fromisoformat(profile.json()["emailVerifiedAt"])


async def test_userinfo_email_verified_follows_verification(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tokens = await signed_up(client)
    info = await client.get("/api/oauth/userinfo", headers=bearer(tokens["accessToken"]))
    assert info.json()["email_verified"] is False
    code = last_mail(app, "verify_email").code
    response = await client.post(
        "/api/auth/email/verify", json={"code": code}, headers=bearer(tokens["accessToken"])
    )
    assert response.status_code == 200, response.text
    info = await client.get("/api/oauth/userinfo", headers=bearer(tokens["accessToken"]))
    assert info.json()["email_verified"] is True
    events = _events(app, "email_verified")
    assert [(e.success, e.details) for e in events] == [(True, {"method": "code"})]


def _events(app: FastAPI, kind: str) -> list[SecurityActivity]:
    ctx = app.state.ctx
    with ctx.db.read() as db:
        return list(db.execute(
            select(SecurityActivity).where(SecurityActivity.activity_type == kind)
        ).scalars())


async def test_a_code_needs_the_account_holders_token(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client)
    code = last_mail(app, "verify_email").code
    response = await client.post("/api/auth/email/verify", json={"code": code})
    assert response.status_code == 401
    assert _user(app).email_verified is False


async def test_token_or_code_exactly_one(client: httpx.AsyncClient) -> None:
    for body in ({}, {"token": "a", "code": "123456"}):
        response = await client.post("/api/auth/email/verify", json=body)
        assert response.status_code == 400, response.text


async def test_a_used_verification_link_is_refused(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client)
    token = last_mail(app, "verify_email").token
    assert (await client.post("/api/auth/email/verify", json={"token": token})).status_code == 200
    again = await client.post("/api/auth/email/verify", json={"token": token})
    assert again.status_code == 400
    assert again.json()["message"] == "This link has already been used"


async def test_an_expired_verification_link_is_refused(
    app: FastAPI, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    await register(client)
    token = last_mail(app, "verify_email").token
    clock.advance(24 * 3600 + 1)
    response = await client.post("/api/auth/email/verify", json={"token": token})
    assert response.status_code == 400
    assert response.json()["message"] == "This link has expired"
    assert _user(app).email_verified is False


async def test_an_altered_verification_link_is_refused(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client)
    token = last_mail(app, "verify_email").token
    altered = token[:-1] + ("A" if token[-1] != "A" else "B")
    response = await client.post("/api/auth/email/verify", json={"token": altered})
    assert response.status_code == 400
    assert response.json()["message"] == "This link is not valid"
    assert _user(app).email_verified is False


async def test_an_expired_code_is_refused(
    app: FastAPI, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    await register(client)
    code = last_mail(app, "verify_email").code
    clock.advance(15 * 60 + 1)
    tokens = await login(client)  # the first access token has expired too
    response = await client.post(
        "/api/auth/email/verify", json={"code": code}, headers=bearer(tokens["accessToken"])
    )
    assert response.status_code == 400
    assert _user(app).email_verified is False


async def test_a_used_code_is_refused(app: FastAPI, client: httpx.AsyncClient) -> None:
    tokens = await signed_up(client)
    code = last_mail(app, "verify_email").code
    headers = bearer(tokens["accessToken"])
    ok = await client.post("/api/auth/email/verify", json={"code": code}, headers=headers)
    assert ok.status_code == 200
    again = await client.post("/api/auth/email/verify", json={"code": code}, headers=headers)
    assert again.status_code == 400


async def test_another_users_code_is_refused(app: FastAPI, client: httpx.AsyncClient) -> None:
    ada = await signed_up(client)
    await register(client, "bob@example.com")
    bobs = last_mail(app, "verify_email", to="bob@example.com").code
    adas = last_mail(app, "verify_email", to="ada@example.com").code
    if bobs == adas:  # one chance in a million: the test would prove nothing
        pytest.skip("both codes are equal")
    response = await client.post(
        "/api/auth/email/verify", json={"code": bobs}, headers=bearer(ada["accessToken"])
    )
    assert response.status_code == 400
    assert _user(app).email_verified is False
    assert _user(app, "bob@example.com").email_verified is False


async def test_a_code_guessed_ten_times_is_locked(
    app: FastAPI, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    tokens = await signed_up(client)
    code = last_mail(app, "verify_email").code
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    headers = bearer(tokens["accessToken"])
    answers = []
    for _ in range(10):
        response = await client.post(
            "/api/auth/email/verify", json={"code": wrong}, headers=headers
        )
        answers.append((response.status_code, response.json()["message"]))
    assert answers[:9] == [(400, "The code is not valid")] * 9
    assert answers[9] == (400, "Too many wrong codes: ask for a new one")
    right = await client.post("/api/auth/email/verify", json={"code": code}, headers=headers)
    assert right.status_code == 400
    assert _user(app).email_verified is False
    # A new code (resend) works again.
    clock.advance(1)
    resent = await client.post("/api/auth/email/verify/resend", headers=headers)
    assert resent.status_code == 202
    fresh = last_mail(app, "verify_email").code
    ok = await client.post("/api/auth/email/verify", json={"code": fresh}, headers=headers)
    assert ok.status_code == 200, ok.text
    assert _user(app).email_verified is True


async def test_resend_mails_a_new_link_and_withdraws_the_old(
    app: FastAPI, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    tokens = await signed_up(client)
    old = last_mail(app, "verify_email").token
    clock.advance(1)
    response = await client.post(
        "/api/auth/email/verify/resend", headers=bearer(tokens["accessToken"])
    )
    assert response.status_code == 202
    assert response.json() == {"message": "A new verification link and code are on their way"}
    assert len(mails(app, "verify_email")) == 2
    new = last_mail(app, "verify_email").token
    refused = await client.post("/api/auth/email/verify", json={"token": old})
    assert refused.status_code == 400
    assert (await client.post("/api/auth/email/verify", json={"token": new})).status_code == 200


async def test_resend_is_rate_limited_per_account(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tokens = await signed_up(client)
    headers = bearer(tokens["accessToken"])
    statuses = [
        (await client.post("/api/auth/email/verify/resend", headers=headers)).status_code
        for _ in range(5)
    ]
    assert statuses == [202] * 5
    refused = await client.post("/api/auth/email/verify/resend", headers=headers)
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 3600
    assert len(mails(app, "verify_email")) == 6  # registration + 5


async def test_resend_for_a_verified_address_is_400(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tokens = await signed_up(client)
    token = last_mail(app, "verify_email").token
    await client.post("/api/auth/email/verify", json={"token": token})
    response = await client.post(
        "/api/auth/email/verify/resend", headers=bearer(tokens["accessToken"])
    )
    assert response.status_code == 400
    assert response.json()["message"] == "Your email address is already verified"
    assert len(mails(app, "verify_email")) == 1


async def test_resend_needs_a_first_party_token(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/auth/email/verify/resend")
    assert response.status_code == 401


@pytest.mark.parametrize(
    "email",
    ["ada@example.com\r\nBcc: eve@example.com", "ada\u2028bcc@example.com",
     "ada@example.com\nX-Injected: 1", "ada\u202e@example.com"],
)
async def test_header_injection_in_the_address_at_registration_is_refused(
    app: FastAPI, client: httpx.AsyncClient, email: str
) -> None:
    response = await client.post(
        "/api/auth/register", json={"email": email, "password": PASSWORD}
    )
    assert response.status_code == 400, response.text
    assert mails(app) == []


@pytest.mark.parametrize(
    "name", ["Ada\r\nBcc: eve@example.com", "Ada\u2028Bcc: x", "Ada\x85Bcc: x"]
)
async def test_header_injection_in_a_name_at_registration_is_refused(
    app: FastAPI, client: httpx.AsyncClient, name: str
) -> None:
    response = await client.post(
        "/api/auth/register",
        json={"email": "ada@example.com", "password": PASSWORD, "firstName": name},
    )
    assert response.status_code == 400, response.text
    assert mails(app) == []


async def test_no_queued_header_holds_a_line_break(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    response = await client.post(
        "/api/auth/register",
        json={"email": "ada@example.com", "password": PASSWORD,
              "firstName": "Ada Subject: x", "lastName": "<b>L</b>"},
    )
    assert response.status_code == 201
    for mail in mails(app):
        for header in (mail.to, mail.subject):
            assert not any(c in header for c in "\r\n\x85\u2028\u2029")
        assert "<b>L</b>" not in mail.html


async def test_required_verified_email_keeps_unverified_users_out_of_login(
    strict_app: FastAPI,  # noqa: F811
) -> None:
    app = strict_app
    from .conftest import asgi_client

    async with asgi_client(app) as client:
        await register(client)
        refused = await client.post(
            "/api/auth/login", json={"email": "ada@example.com", "password": PASSWORD}
        )
        assert refused.status_code == 403
        assert refused.json()["message"].startswith("Verify your email address")
        wrong = await client.post(
            "/api/auth/login", json={"email": "ada@example.com", "password": "wrong password"}
        )
        assert wrong.status_code == 401  # nothing told before the password is right
        token = last_mail(app, "verify_email").token
        assert (await client.post(
            "/api/auth/email/verify", json={"token": token})).status_code == 200
        assert (await login(client))["tokenType"] == "Bearer"


async def test_an_application_token_cannot_verify_with_a_code(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client)
    code = last_mail(app, "verify_email").code
    oauth = create_oauth_app(app)
    token = client_session(app, oauth.client_id, scopes=("openid", "email")).access_token
    response = await client.post(
        "/api/auth/email/verify", json={"code": code}, headers=bearer(token)
    )
    assert response.status_code == 403
    assert _user(app).email_verified is False
