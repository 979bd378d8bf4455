"""Email change: confirmed from the new address, noticed at the old, taken addresses refused."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from tekcify_auth.server.db.security import AccountCode, SecurityActivity

from .conftest import PASSWORD, FakeClock, bearer, login, register, signed_up
from .recovery_helpers import last_mail, mails

NEW = "ada.lovelace@example.org"


async def _ask(
    client: httpx.AsyncClient, access: str, new_email: str = NEW, password: str = PASSWORD
) -> httpx.Response:
    return await client.post(
        "/api/user/email/change", json={"newEmail": new_email, "password": password},
        headers=bearer(access),
    )


async def _confirm(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/api/user/email/change/confirm", json={"token": token})


async def test_change_mails_the_new_address_and_notifies_the_old(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tokens = await signed_up(client)
    response = await _ask(client, tokens["accessToken"], " Ada.Lovelace@Example.ORG ")
    assert response.status_code == 202, response.text
    assert set(response.json()) == {"message"}
    confirm = last_mail(app, "email_change_confirm")
    assert confirm.to == NEW
    assert confirm.link.startswith("http://tekcify.test/account/confirm-email?token=")
    notice = last_mail(app, "email_change_notice")
    assert notice.to == "ada@example.com"
    assert NEW in notice.text
    assert "token=" not in notice.text
    # Nothing changed yet.
    profile = await client.get("/api/user/profile", headers=bearer(tokens["accessToken"]))
    assert profile.json()["email"] == "ada@example.com"
    ctx = app.state.ctx
    with ctx.db.read() as db:
        row = db.execute(
            select(AccountCode).where(AccountCode.purpose == "email_change")
        ).scalar_one()
    assert row.target == NEW
    assert (row.expires_at - row.created_at).total_seconds() == 24 * 3600


async def test_confirming_changes_the_address_and_marks_it_verified(
    app: FastAPI, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    tokens = await signed_up(client)
    await _ask(client, tokens["accessToken"])
    response = await _confirm(client, last_mail(app, "email_change_confirm").token)
    assert response.status_code == 200, response.text
    assert response.json() == {"message": "Your email address was changed"}
    profile = (await client.get(
        "/api/user/profile", headers=bearer(tokens["accessToken"]))).json()
    assert profile["email"] == NEW
    assert profile["emailVerifiedAt"] is not None
    await login(client, NEW)
    old = await client.post(
        "/api/auth/login", json={"email": "ada@example.com", "password": PASSWORD}
    )
    assert old.status_code == 401
    ctx = app.state.ctx
    with ctx.db.read() as db:
        kinds = [e.activity_type for e in db.execute(select(SecurityActivity)).scalars()]
    assert "email_change_requested" in kinds
    assert "email_changed" in kinds


async def test_change_needs_the_password(app: FastAPI, client: httpx.AsyncClient) -> None:
    tokens = await signed_up(client)
    response = await _ask(client, tokens["accessToken"], password="not the password")
    assert response.status_code == 400
    assert response.json()["message"] == "The password is incorrect"
    assert mails(app, "email_change_confirm") == []


async def test_change_needs_a_first_party_token(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/user/email/change", json={"newEmail": NEW, "password": PASSWORD}
    )
    assert response.status_code == 401


async def test_change_refuses_a_taken_address(app: FastAPI, client: httpx.AsyncClient) -> None:
    tokens = await signed_up(client)
    await register(client, NEW)
    response = await _ask(client, tokens["accessToken"], NEW.upper())
    assert response.status_code == 409
    assert mails(app, "email_change_confirm") == []


async def test_change_to_the_same_address_is_400(client: httpx.AsyncClient) -> None:
    tokens = await signed_up(client)
    assert (await _ask(client, tokens["accessToken"], "ADA@example.com")).status_code == 400


async def test_confirm_refuses_an_address_taken_meanwhile(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tokens = await signed_up(client)
    await _ask(client, tokens["accessToken"])
    token = last_mail(app, "email_change_confirm").token
    await register(client, NEW)
    response = await _confirm(client, token)
    assert response.status_code == 409
    profile = (await client.get(
        "/api/user/profile", headers=bearer(tokens["accessToken"]))).json()
    assert profile["email"] == "ada@example.com"


async def test_a_used_confirmation_link_is_refused(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tokens = await signed_up(client)
    await _ask(client, tokens["accessToken"])
    token = last_mail(app, "email_change_confirm").token
    assert (await _confirm(client, token)).status_code == 200
    again = await _confirm(client, token)
    assert again.status_code == 400
    assert again.json()["message"] == "This link has already been used"


async def test_an_expired_confirmation_link_is_refused(
    app: FastAPI, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    tokens = await signed_up(client)
    await _ask(client, tokens["accessToken"])
    token = last_mail(app, "email_change_confirm").token
    clock.advance(24 * 3600 + 1)
    response = await _confirm(client, token)
    assert response.status_code == 400
    assert response.json()["message"] == "This link has expired"


async def test_an_altered_confirmation_link_is_refused(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tokens = await signed_up(client)
    await _ask(client, tokens["accessToken"])
    token = last_mail(app, "email_change_confirm").token
    assert (await _confirm(client, token[1:] + token[0])).status_code == 400
    assert (await _confirm(client, last_mail(app, "verify_email").token)).status_code == 400


async def test_another_users_confirmation_changes_only_that_user(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    ada = await signed_up(client)
    bob = await signed_up(client, "bob@example.com")
    await _ask(client, bob["accessToken"], "bobby@example.com")
    bobs = last_mail(app, "email_change_confirm").token
    # Ada holding Bob's link (a forwarded mail) cannot point it at her account.
    response = await client.post(
        "/api/user/email/change/confirm", json={"token": bobs},
        headers=bearer(ada["accessToken"]),
    )
    assert response.status_code == 200
    me = (await client.get("/api/user/profile", headers=bearer(ada["accessToken"]))).json()
    assert me["email"] == "ada@example.com"
    him = (await client.get("/api/user/profile", headers=bearer(bob["accessToken"]))).json()
    assert him["email"] == "bobby@example.com"


async def test_a_verification_link_of_the_old_address_verifies_nothing_after_a_change(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tokens = await signed_up(client)
    old_link = last_mail(app, "verify_email").token
    await _ask(client, tokens["accessToken"])
    await _confirm(client, last_mail(app, "email_change_confirm").token)
    assert (await client.post(
        "/api/auth/email/verify", json={"token": old_link})).status_code == 400


@pytest.mark.parametrize(
    "new_email",
    ["eve@example.com\r\nBcc: x@example.com", "eve\u2028@example.com", "eve@example.com\n"
     "Subject: hi"],
)
async def test_header_injection_in_the_new_address_is_refused(
    app: FastAPI, client: httpx.AsyncClient, new_email: str
) -> None:
    tokens = await signed_up(client)
    response = await _ask(client, tokens["accessToken"], new_email)
    assert response.status_code == 400, response.text
    assert mails(app, "email_change_confirm") == []


async def test_change_requests_are_rate_limited(app: FastAPI, client: httpx.AsyncClient) -> None:
    tokens = await signed_up(client)
    statuses = [
        (await _ask(client, tokens["accessToken"], f"ada{i}@example.org")).status_code
        for i in range(6)
    ]
    assert statuses == [202] * 5 + [429]


async def test_a_password_reset_withdraws_a_pending_email_change(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    # Someone with the stolen password asks to move the account to their address; the
    # owner resets the password: the thief's confirmation link must die with it.
    tokens = await signed_up(client)
    await _ask(client, tokens["accessToken"], "thief@example.net")
    stolen = last_mail(app, "email_change_confirm").token
    await client.post("/api/auth/password/forgot", json={"email": "ada@example.com"})
    reset = await client.post(
        "/api/auth/password/reset",
        json={"token": last_mail(app, "password_reset").token, "newPassword": "n3w passphrase"},
    )
    assert reset.status_code == 200
    response = await _confirm(client, stolen)
    assert response.status_code == 400
    await login(client, "ada@example.com", "n3w passphrase")


async def test_a_password_change_withdraws_a_pending_email_change(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tokens = await signed_up(client)
    await _ask(client, tokens["accessToken"], "thief@example.net")
    stolen = last_mail(app, "email_change_confirm").token
    changed = await client.post(
        "/api/auth/password/change",
        json={"currentPassword": PASSWORD, "newPassword": "n3w passphrase"},
        headers=bearer(tokens["accessToken"]),
    )
    assert changed.status_code == 200
    assert (await _confirm(client, stolen)).status_code == 400
