"""Sensitive-action codes and tokens (``/api/auth/account/sensitive-action/*``), the auth
methods and set-or-change, and the 2.2.12 body of ``DELETE /api/user/account``.

The codes are read from the ``mail_queue`` rows, as a user reads their mail.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from tekcify_auth.server.db.models import User
from tekcify_auth.server.db.security import AccountCode, MailMessage, SecurityActivity
from tekcify_auth.server.services import reauth

from .conftest import PASSWORD, FakeClock, bearer, login, register, signed_up

BASE = "/api/auth/account/sensitive-action"
ACCOUNT = "/api/user/account"
SET_OR_CHANGE = "/api/auth/account/password/set-or-change"
AUTH_METHODS = "/api/auth/account/password/auth-methods"
NEW_PASSWORD = "a brand new passphrase"


def mailed_codes(app: FastAPI, to: str = "ada@example.com") -> list[str]:
    """The sensitive-action codes mailed to ``to``, oldest first."""
    with app.state.ctx.db.read() as db:
        rows = db.execute(
            select(MailMessage)
            .where(MailMessage.kind == "sensitive_action_code", MailMessage.to_address == to)
            .order_by(MailMessage.created_at)
        ).scalars().all()
        found = []
        for row in rows:
            match = re.search(r"verification code is (\d{6})\.", row.text_body)
            assert match is not None, row.text_body
            assert match.group(1) in row.subject
            assert match.group(1) in row.html_body
            found.append(match.group(1))
    return found


async def send_code(
    app: FastAPI, client: httpx.AsyncClient, token: str, action: str = "delete_account",
    to: str = "ada@example.com",
) -> str:
    """Ask for a code for ``action``; the code mailed."""
    response = await client.post(
        f"{BASE}/send-code", json={"action": action}, headers=bearer(token)
    )
    assert response.status_code == 200, response.text
    assert set(response.json()) == {"message"}
    return mailed_codes(app, to)[-1]


async def verify(
    client: httpx.AsyncClient, token: str, code: str, action: str = "delete_account"
) -> httpx.Response:
    return await client.post(
        f"{BASE}/verify-code", json={"action": action, "code": code}, headers=bearer(token)
    )


async def action_token(
    app: FastAPI, client: httpx.AsyncClient, token: str, action: str = "delete_account",
    to: str = "ada@example.com",
) -> str:
    """A sensitive-action token for ``action`` through the mailed code."""
    code = await send_code(app, client, token, action, to)
    response = await verify(client, token, code, action)
    assert response.status_code == 200, response.text
    value: str = response.json()["token"]
    return value


async def delete(client: httpx.AsyncClient, token: str, body: dict[str, Any]) -> httpx.Response:
    return await client.request("DELETE", ACCOUNT, json=body, headers=bearer(token))


def user_exists(app: FastAPI, email: str = "ada@example.com") -> bool:
    with app.state.ctx.db.read() as db:
        return db.execute(select(User.id).where(User.email == email)).first() is not None


def other_code(code: str, n: int = 1) -> str:
    """A 6-digit code that is not ``code``."""
    return f"{(int(code) + n) % 1_000_000:06d}"


@pytest.fixture
async def ada(client: httpx.AsyncClient) -> str:
    """ada@example.com's first-party access token."""
    return str((await signed_up(client))["accessToken"])


@pytest.fixture
async def bob(client: httpx.AsyncClient) -> str:
    """bob@example.com's first-party access token."""
    return str((await signed_up(client, "bob@example.com"))["accessToken"])


def drop_password(app: FastAPI, email: str = "ada@example.com") -> None:
    """Make the account one without a password (as one signed up elsewhere would be)."""
    with app.state.ctx.db.write() as db:
        db.execute(update(User).where(User.email == email).values(password_hash=""))


# -- initiate, send, verify -------------------------------------------------------------


async def test_initiate_lists_the_ways_to_prove_it(client: httpx.AsyncClient, ada: str) -> None:
    response = await client.post(
        f"{BASE}/initiate", json={"action": "delete_account"}, headers=bearer(ada)
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "requiresVerification": True,
        "verificationMethods": {
            "password": True, "oauthProviders": [], "email": {"available": True},
        },
    }


@pytest.mark.parametrize(
    "action", ["", "Delete Account", "delete\naccount", "x" * 65, "délete", "a/b"]
)
async def test_a_malformed_action_is_400(
    app: FastAPI, client: httpx.AsyncClient, ada: str, action: str
) -> None:
    for path in ("initiate", "send-code"):
        response = await client.post(f"{BASE}/{path}", json={"action": action}, headers=bearer(ada))
        assert response.status_code == 400, (path, response.text)
    assert mailed_codes(app) == []


async def test_send_code_mails_a_code_bound_to_the_action(
    app: FastAPI, client: httpx.AsyncClient, ada: str
) -> None:
    code = await send_code(app, client, ada, "mfa:disable")
    with app.state.ctx.db.read() as db:
        row = db.execute(
            select(AccountCode).where(AccountCode.purpose == reauth.CODE_PURPOSE)
        ).scalar_one()
        mail = db.execute(
            select(MailMessage).where(MailMessage.kind == "sensitive_action_code")
        ).scalar_one()
    assert (row.purpose, row.target) == (reauth.CODE_PURPOSE, "mfa:disable")
    assert code not in row.secret_hash  # only a hash is kept
    assert "mfa:disable" in mail.text_body
    assert "http://tekcify.test" in mail.text_body
    assert (row.expires_at - row.created_at).total_seconds() == 600


async def test_a_verified_code_gives_a_token(
    app: FastAPI, client: httpx.AsyncClient, ada: str
) -> None:
    code = await send_code(app, client, ada)
    response = await verify(client, ada, code)
    assert response.status_code == 200, response.text
    assert set(response.json()) == {"token"}
    assert len(response.json()["token"]) == 43
    assert response.headers["cache-control"] == "no-store"
    with app.state.ctx.db.read() as db:
        stored = db.execute(
            select(AccountCode).where(AccountCode.purpose == reauth.TOKEN_PURPOSE)
        ).scalar_one()
    assert stored.target == "delete_account"
    assert (stored.expires_at - stored.created_at).total_seconds() == 300
    assert response.json()["token"] not in stored.secret_hash


async def test_a_wrong_code_is_refused_and_logged(
    app: FastAPI, client: httpx.AsyncClient, ada: str
) -> None:
    code = await send_code(app, client, ada)
    response = await verify(client, ada, other_code(code))
    assert response.status_code == 400
    assert response.json()["message"] == "The code is not valid"
    with app.state.ctx.db.read() as db:
        events = db.execute(select(SecurityActivity.activity_type, SecurityActivity.success)).all()
        attempts = db.execute(
            select(AccountCode.attempts).where(AccountCode.purpose == reauth.CODE_PURPOSE)
        ).scalar_one()
    assert ("sensitive_action_failed", False) in events
    assert attempts == 1  # committed although the request failed
    assert (await verify(client, ada, code)).status_code == 200


async def test_a_code_guessed_10_times_is_locked(
    app: FastAPI, client: httpx.AsyncClient, ada: str
) -> None:
    code = await send_code(app, client, ada)
    for n in range(1, 10):
        wrong = await verify(client, ada, other_code(code, n))
        assert wrong.status_code == 400
        assert wrong.json()["message"] == "The code is not valid"
    tenth = await verify(client, ada, other_code(code, 10))
    assert tenth.status_code == 400
    assert tenth.json()["message"] == "Too many wrong codes: ask for a new one"
    right = await verify(client, ada, code)
    assert right.status_code == 400  # the right code no longer works either
    # A new code works again.
    fresh = await send_code(app, client, ada)
    assert (await verify(client, ada, fresh)).status_code == 200


async def test_an_expired_code_is_refused(
    app: FastAPI, client: httpx.AsyncClient, ada: str, clock: FakeClock
) -> None:
    code = await send_code(app, client, ada)
    clock.advance(600)
    assert (await verify(client, ada, code)).status_code == 400


async def test_a_reused_code_is_refused(
    app: FastAPI, client: httpx.AsyncClient, ada: str
) -> None:
    code = await send_code(app, client, ada)
    assert (await verify(client, ada, code)).status_code == 200
    again = await verify(client, ada, code)
    assert again.status_code == 400


async def test_a_code_for_another_action_is_refused(
    app: FastAPI, client: httpx.AsyncClient, ada: str
) -> None:
    code = await send_code(app, client, ada, "delete_account")
    assert (await verify(client, ada, code, "set_password")).status_code == 400


async def test_another_users_code_is_refused(
    app: FastAPI, client: httpx.AsyncClient, ada: str, bob: str
) -> None:
    bobs = await send_code(app, client, bob, to="bob@example.com")
    assert (await verify(client, ada, bobs)).status_code == 400  # Ada has no code at all
    adas = await send_code(app, client, ada)
    if adas != bobs:
        assert (await verify(client, ada, bobs)).status_code == 400
    assert (await verify(client, bob, bobs)).status_code == 200


async def test_an_older_code_stops_working_when_a_new_one_is_sent(
    app: FastAPI, client: httpx.AsyncClient, ada: str, clock: FakeClock
) -> None:
    first = await send_code(app, client, ada)
    clock.advance(1)
    second = await send_code(app, client, ada)
    if first != second:
        assert (await verify(client, ada, first)).status_code == 400
    assert (await verify(client, ada, second)).status_code == 200


async def test_sending_codes_is_rate_limited_per_account(
    app: FastAPI, client: httpx.AsyncClient, ada: str, bob: str, clock: FakeClock
) -> None:
    for _ in range(reauth.SENDS_PER_WINDOW):
        await send_code(app, client, ada)
        clock.advance(1)
    refused = await client.post(
        f"{BASE}/send-code", json={"action": "delete_account"}, headers=bearer(ada)
    )
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 900
    assert len(mailed_codes(app)) == reauth.SENDS_PER_WINDOW
    await send_code(app, client, bob, to="bob@example.com")  # another account is not held up
    clock.advance(900)
    await send_code(app, client, (await login(client))["accessToken"])


async def test_an_applications_token_cannot_ask_for_codes(
    app: FastAPI, client: httpx.AsyncClient, ada: str
) -> None:
    from .conftest import client_session, create_oauth_app

    oauth = create_oauth_app(app)
    pair = client_session(app, oauth.client_id)
    response = await client.post(
        f"{BASE}/send-code", json={"action": "delete_account"},
        headers=bearer(pair.access_token),
    )
    assert response.status_code == 403
    assert mailed_codes(app) == []


# -- DELETE /api/user/account -----------------------------------------------------------


async def test_the_account_is_deleted_with_a_token(
    app: FastAPI, client: httpx.AsyncClient, ada: str
) -> None:
    token = await action_token(app, client, ada)
    response = await delete(client, ada, {"sensitiveActionToken": token, "confirmDelete": True})
    assert response.status_code == 200, response.text
    assert not user_exists(app)


async def test_the_account_is_deleted_with_the_password_mfa_code_and_confirmation(
    app: FastAPI, client: httpx.AsyncClient, ada: str
) -> None:
    # The 2.2.12 DeleteAccountDto; mfaCode is ignored until MFA exists.
    response = await delete(
        client, ada, {"password": PASSWORD, "mfaCode": "123456", "confirmDelete": True}
    )
    assert response.status_code == 200, response.text
    assert not user_exists(app)


async def test_mail_not_yet_sent_to_a_deleted_account_goes_with_it(
    app: FastAPI, client: httpx.AsyncClient, ada: str, bob: str
) -> None:
    # Queued codes hold the address (personal data) and a code: neither outlives the account.
    await send_code(app, client, ada)
    await send_code(app, client, bob, to="bob@example.com")
    response = await delete(client, ada, {"password": PASSWORD, "confirmDelete": True})
    assert response.status_code == 200, response.text
    assert mailed_codes(app) == []
    assert len(mailed_codes(app, "bob@example.com")) == 1  # another user's mail stays


@pytest.mark.parametrize("confirm", [False, None, "true", 1])
async def test_confirm_delete_false_is_refused(
    app: FastAPI, client: httpx.AsyncClient, ada: str, confirm: Any
) -> None:
    response = await delete(client, ada, {"password": PASSWORD, "confirmDelete": confirm})
    assert response.status_code == 400
    assert user_exists(app)


async def test_password_and_token_together_are_refused(
    app: FastAPI, client: httpx.AsyncClient, ada: str
) -> None:
    token = await action_token(app, client, ada)
    response = await delete(client, ada, {"password": PASSWORD, "sensitiveActionToken": token})
    assert response.status_code == 400
    assert response.json()["message"] == reauth.ONE_PROOF
    assert user_exists(app)
    # The token was not spent by the refusal.
    ok = await delete(client, ada, {"sensitiveActionToken": token})
    assert ok.status_code == 200


async def test_an_expired_token_is_refused(
    app: FastAPI, client: httpx.AsyncClient, ada: str, clock: FakeClock
) -> None:
    token = await action_token(app, client, ada)
    clock.advance(300)
    response = await delete(client, ada, {"sensitiveActionToken": token})
    assert response.status_code == 403
    assert response.json()["message"] == reauth.BAD_TOKEN
    assert user_exists(app)


async def test_an_altered_token_is_refused(
    app: FastAPI, client: httpx.AsyncClient, ada: str
) -> None:
    token = await action_token(app, client, ada)
    altered = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert (await delete(client, ada, {"sensitiveActionToken": altered})).status_code == 403
    assert (await delete(client, ada, {"sensitiveActionToken": "x" * 129})).status_code == 400
    assert user_exists(app)


async def test_another_users_token_is_refused_and_stays_theirs(
    app: FastAPI, client: httpx.AsyncClient, ada: str, bob: str
) -> None:
    bobs = await action_token(app, client, bob, to="bob@example.com")
    response = await delete(client, ada, {"sensitiveActionToken": bobs})
    assert response.status_code == 403
    assert user_exists(app)
    assert user_exists(app, "bob@example.com")
    # Ada's attempt did not spend Bob's token.
    assert (await delete(client, bob, {"sensitiveActionToken": bobs})).status_code == 200
    assert user_exists(app)
    assert not user_exists(app, "bob@example.com")


async def test_another_actions_token_is_refused(
    app: FastAPI, client: httpx.AsyncClient, ada: str
) -> None:
    token = await action_token(app, client, ada, "mfa:disable")
    response = await delete(client, ada, {"sensitiveActionToken": token})
    assert response.status_code == 403
    assert user_exists(app)


async def test_a_wrong_password_still_refuses_the_deletion(
    app: FastAPI, client: httpx.AsyncClient, ada: str
) -> None:
    response = await delete(client, ada, {"password": "not the password", "confirmDelete": True})
    assert response.status_code == 403
    assert user_exists(app)


# -- auth methods, set-or-change, password change ----------------------------------------


async def test_auth_methods_say_whether_there_is_a_password(
    app: FastAPI, client: httpx.AsyncClient, ada: str
) -> None:
    response = await client.get(AUTH_METHODS, headers=bearer(ada))
    assert response.status_code == 200
    assert response.json() == {"hasPassword": True, "oauthProviders": []}
    drop_password(app)
    assert (await client.get(AUTH_METHODS, headers=bearer(ada))).json() == {
        "hasPassword": False, "oauthProviders": [],
    }
    initiated = await client.post(
        f"{BASE}/initiate", json={"action": "set_password"}, headers=bearer(ada)
    )
    assert initiated.json()["verificationMethods"]["password"] is False


async def test_set_or_change_changes_with_the_current_password(
    app: FastAPI, client: httpx.AsyncClient, ada: str
) -> None:
    other = (await login(client))["accessToken"]
    response = await client.post(
        SET_OR_CHANGE,
        json={"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD, "mfaCode": "123456"},
        headers=bearer(ada),
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"message": "Password changed; other sessions were signed out"}
    # Same rules as /api/auth/password/change: other sessions end, the new one works.
    assert (await client.get(AUTH_METHODS, headers=bearer(other))).status_code == 401
    assert (await client.get(AUTH_METHODS, headers=bearer(ada))).status_code == 200
    await login(client, password=NEW_PASSWORD)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"newPassword": NEW_PASSWORD}, 400),
        ({"currentPassword": "not the password", "newPassword": NEW_PASSWORD}, 400),
        ({"currentPassword": PASSWORD, "newPassword": "short"}, 400),
    ],
)
async def test_set_or_change_refuses_without_the_current_password(
    client: httpx.AsyncClient, ada: str, body: dict[str, str], status: int
) -> None:
    response = await client.post(SET_OR_CHANGE, json=body, headers=bearer(ada))
    assert response.status_code == status
    await login(client)  # unchanged


async def test_set_or_change_sets_a_first_password_with_a_token(
    app: FastAPI, client: httpx.AsyncClient, ada: str
) -> None:
    drop_password(app)
    refused = await client.post(
        SET_OR_CHANGE, json={"newPassword": NEW_PASSWORD}, headers=bearer(ada)
    )
    assert refused.status_code == 400
    token = await action_token(app, client, ada, "set_password")
    response = await client.post(
        SET_OR_CHANGE, json={"newPassword": NEW_PASSWORD, "sensitiveActionToken": token},
        headers=bearer(ada),
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"message": "Password set; other sessions were signed out"}
    await login(client, password=NEW_PASSWORD)
    with app.state.ctx.db.read() as db:
        types = set(db.execute(select(SecurityActivity.activity_type)).scalars())
    assert "password_set" in types


async def test_a_reused_token_cannot_set_the_password_again(
    app: FastAPI, client: httpx.AsyncClient, ada: str
) -> None:
    drop_password(app)
    token = await action_token(app, client, ada, "set_password")
    body = {"newPassword": NEW_PASSWORD, "sensitiveActionToken": token}
    assert (await client.post(SET_OR_CHANGE, json=body, headers=bearer(ada))).status_code == 200
    drop_password(app)
    again = await client.post(SET_OR_CHANGE, json=body, headers=bearer(ada))
    assert again.status_code == 403
    assert again.json()["message"] == reauth.BAD_TOKEN


async def test_a_delete_account_token_cannot_set_a_password(
    app: FastAPI, client: httpx.AsyncClient, ada: str
) -> None:
    drop_password(app)
    token = await action_token(app, client, ada, "delete_account")
    response = await client.post(
        SET_OR_CHANGE, json={"newPassword": NEW_PASSWORD, "sensitiveActionToken": token},
        headers=bearer(ada),
    )
    assert response.status_code == 403
    # ... and a password cannot stand in for the one the account does not have.
    guessed = await client.post(
        SET_OR_CHANGE, json={"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD},
        headers=bearer(ada),
    )
    assert guessed.status_code == 400


async def test_password_change_accepts_an_mfa_code(
    client: httpx.AsyncClient, ada: str
) -> None:
    response = await client.post(
        "/api/auth/password/change",
        json={"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD, "mfaCode": "123456"},
        headers=bearer(ada),
    )
    assert response.status_code == 200, response.text
    await login(client, password=NEW_PASSWORD)


async def test_a_registered_user_without_login_gets_no_codes(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client)
    response = await client.post(f"{BASE}/send-code", json={"action": "delete_account"})
    assert response.status_code == 401
    assert mailed_codes(app) == []
