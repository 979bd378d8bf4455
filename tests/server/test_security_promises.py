"""Promises of ``docs/security.md`` that no other suite shows on its own.

Secrets are compared with :func:`hmac.compare_digest` (seen by wrapping the standard
library's function, which still does the comparing: nothing of ours is replaced);
refresh tokens, client secrets and authorization codes are 256 random bits; and no
password, token, code or client secret reaches the server's logs, at any level, through a
flow that succeeds and fails on purpose.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tekcify_auth import TokenVerifier
from tekcify_auth.server.logs import JsonFormatter
from tekcify_auth.testing import mint_access_token

from .conftest import (
    PASSWORD,
    FakeClock,
    allow_client_credentials,
    asgi_client,
    bearer,
    login,
    make_settings,
    register,
    running,
)
from .mfa_helpers import code_at, enable_mfa, finish_login, next_step, start_login
from .recovery_helpers import last_mail
from .test_authorize import Browser, authorization, get_code, hidden_fields, make_client, redeem
from .test_passkeys import BASE as PASSKEYS
from .test_passkeys import ORIGIN
from .test_registration_policy import _invite
from .webauthn_soft import SoftAuthenticator

TOKEN = "/api/oauth/token"
APPLICATION = {
    "name": "Photo Printer",
    "redirectUris": ["https://app.example.com/callback"],
    "scopes": ["openid", "profile"],
}

Compared = list[tuple[Any, Any]]


@pytest.fixture
def compared(monkeypatch: pytest.MonkeyPatch) -> Compared:
    """Every pair of values given to ``hmac.compare_digest`` during the test."""
    calls: Compared = []
    real = hmac.compare_digest

    def recording(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", recording)
    return calls


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _basic(client_id: str, secret: str) -> dict[str, str]:
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


async def _new_application(client: httpx.AsyncClient, token: str) -> dict[str, Any]:
    response = await client.post("/api/applications", json=APPLICATION, headers=bearer(token))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _assert_256_random_bits(values: list[str]) -> None:
    """Each value is 32 bytes in unpadded base64url, and no two are alike."""
    for value in values:
        assert len(value) == 43, value
        raw = base64.urlsafe_b64decode(value + "=")
        assert len(raw) == 32
        assert base64.urlsafe_b64encode(raw).rstrip(b"=").decode() == value
    assert len(set(values)) == len(values)


async def test_secrets_handed_out_are_256_random_bits(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client)
    pairs = [await login(client) for _ in range(3)]
    _assert_256_random_bits([pair["refreshToken"] for pair in pairs])
    token = pairs[0]["accessToken"]
    _assert_256_random_bits(
        [(await _new_application(client, token))["clientSecret"] for _ in range(3)]
    )
    oauth_client = make_client(app)
    async with asgi_client(app) as http:
        browser = Browser(http)
        codes = [(await get_code(browser, oauth_client))[0] for _ in range(3)]
    _assert_256_random_bits(codes)


async def test_client_secrets_are_compared_in_constant_time(
    app: FastAPI, client: httpx.AsyncClient, compared: Compared
) -> None:
    await register(client)
    application = await _new_application(client, (await login(client))["accessToken"])
    client_id, secret = application["clientId"], application["clientSecret"]
    allow_client_credentials(app, client_id)
    form = {"grant_type": "client_credentials"}

    wrong = "w" * len(secret)
    refused = await client.post(TOKEN, data=form, headers=_basic(client_id, wrong))
    assert refused.status_code == 401
    assert (_sha256(secret), _sha256(wrong)) in compared

    compared.clear()
    granted = await client.post(TOKEN, data=form, headers=_basic(client_id, secret))
    assert granted.status_code == 200, granted.text
    assert (_sha256(secret), _sha256(secret)) in compared

    # An unknown client does the same comparison (against a stand-in), so timing does not
    # tell a registered client id from an unregistered one.
    compared.clear()
    unknown = await client.post(TOKEN, data=form, headers=_basic("f" * 32, wrong))
    assert unknown.status_code == 401
    assert [b for _a, b in compared] == [_sha256(wrong)]


async def test_pkce_verifiers_and_csrf_tokens_are_compared_in_constant_time(
    app: FastAPI, client: httpx.AsyncClient, compared: Compared
) -> None:
    await register(client)
    oauth_client = make_client(app)
    async with asgi_client(app) as http:
        browser = Browser(http)
        request = authorization(oauth_client)
        login_page = await browser.get(request.url)
        csrf = hidden_fields(login_page)["csrf_token"]
        code, request = await get_code(browser, oauth_client, request)
    assert any(csrf in pair for pair in compared), "the login form's CSRF token"

    compared.clear()
    tokens = await redeem(client, oauth_client, code, request)
    assert tokens.status_code == 200, tokens.text
    challenge = request.params["code_challenge"]
    assert any(challenge in pair for pair in compared), "the PKCE challenge"


def test_hs256_signatures_are_compared_in_constant_time(compared: Compared) -> None:
    secret = "a shared secret of the resource server"
    verifier = TokenVerifier(secret=secret, cache=False)
    assert verifier.verify(mint_access_token("user-1", secret=secret)).valid
    assert len(compared) == 1
    forged = mint_access_token("user-1", secret="another secret")
    assert verifier.verify(forged).error == "bad_signature"
    assert len(compared) == 2
    assert all(isinstance(a, bytes) and isinstance(b, bytes) for a, b in compared)


async def test_no_password_token_code_or_secret_reaches_the_logs(
    app: FastAPI, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="tekcify_auth")
    wrong_password = "not-the-password-" + "x" * 8
    await register(client)
    bad = await client.post(
        "/api/auth/login", json={"email": "ada@example.com", "password": wrong_password}
    )
    assert bad.status_code == 401
    pair = await login(client)
    renewed = await client.post("/api/auth/refresh", json={"refreshToken": pair["refreshToken"]})
    assert renewed.status_code == 200
    reused = await client.post("/api/auth/refresh", json={"refreshToken": pair["refreshToken"]})
    assert reused.status_code == 401
    forged = mint_access_token("someone", secret="not the server's secret")
    assert (await client.get("/api/auth/sessions", headers=bearer(forged))).status_code == 401

    relogged = await login(client)
    application = await _new_application(client, relogged["accessToken"])
    client_id, secret = application["clientId"], application["clientSecret"]
    allow_client_credentials(app, client_id)
    form = {"grant_type": "client_credentials"}
    wrong_secret = "w" * len(secret)
    assert (await client.post(TOKEN, data=form, headers=_basic(client_id, wrong_secret))
            ).status_code == 401
    service = await client.post(TOKEN, data=form, headers=_basic(client_id, secret))
    assert service.status_code == 200

    oauth_client = make_client(app)
    async with asgi_client(app) as http:
        code, request = await get_code(Browser(http), oauth_client)
    issued = (await redeem(client, oauth_client, code, request)).json()
    again = await redeem(client, oauth_client, code, request)
    assert again.status_code == 400

    secrets_used = {
        "password": PASSWORD,
        "wrong password": wrong_password,
        "access token": pair["accessToken"],
        "refresh token": pair["refreshToken"],
        "rotated access token": renewed.json()["accessToken"],
        "rotated refresh token": renewed.json()["refreshToken"],
        "forged token": forged,
        "client secret": secret,
        "wrong client secret": wrong_secret,
        "service token": service.json()["access_token"],
        "authorization code": code,
        "PKCE verifier": request.verifier,
        "code's access token": issued["access_token"],
        "code's refresh token": issued["refresh_token"],
    }
    assert any(r.name == "tekcify_auth.server.access" for r in caplog.records)
    assert any(r.levelno >= logging.WARNING for r in caplog.records)  # the refusals
    logged = caplog.text
    leaked = [name for name, value in secrets_used.items() if value in logged]
    assert leaked == []
    # A token's signature alone would do as much harm as the token.
    for token in (pair["accessToken"], forged, issued["access_token"]):
        assert token.rsplit(".", 1)[1] not in logged



async def test_wrong_current_passwords_count_as_failed_logins(
    client: httpx.AsyncClient,
) -> None:
    await register(client)
    token = (await login(client))["accessToken"]

    async def change(current: str) -> httpx.Response:
        return await client.post(
            "/api/auth/password/change",
            json={"currentPassword": current, "newPassword": "a new long password"},
            headers=bearer(token),
        )

    for _ in range(5):  # TEKCIFY_LOGIN_MAX_FAILURES
        assert (await change("not it at all")).status_code == 400
    blocked = await change(PASSWORD)
    assert blocked.status_code == 429
    assert 0 < int(blocked.headers["retry-after"]) <= 900
    # The block is the login's too: the same account and address cannot log in.
    refused = await client.post(
        "/api/auth/login", json={"email": "ada@example.com", "password": PASSWORD}
    )
    assert refused.status_code == 429


def test_database_errors_never_carry_their_parameters(tmp_path: Path) -> None:
    # An unexpected database error is logged with its statement: the values bound to it
    # (emails, token hashes) must not be in the message.
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    from tekcify_auth.server.db.engine import Database

    db = Database(f"sqlite:///{tmp_path / 'hidden.sqlite3'}")
    try:
        with db.engine.connect() as conn, pytest.raises(SQLAlchemyError) as caught:
            conn.execute(text("SELECT * FROM no_such_table WHERE email = :e"),
                         {"e": "ada@example.com"})
    finally:
        db.engine.dispose()
    assert "ada@example.com" not in str(caught.value)
    assert "hidden" in str(caught.value)


#: The attributes every LogRecord has; anything else on a record came as ``extra``.
_STANDARD = frozenset(vars(logging.LogRecord("n", 0, "p", 0, "m", (), None))) | {
    "message", "asctime",
}


def _record_texts(records: list[logging.LogRecord]) -> list[str]:
    """Everything a handler could write of ``records``: the message, the arguments, the
    extra fields, the traceback, and the JSON line of ``TEKCIFY_LOG_FORMAT=json``."""
    texts: list[str] = []
    formatter = JsonFormatter()
    for record in records:
        texts += [record.getMessage(), repr(record.args), formatter.format(record)]
        texts += [repr(value) for key, value in vars(record).items() if key not in _STANDARD]
    return texts


def _leaked(texts: list[str], secrets_used: dict[str, str]) -> list[str]:
    """The names of the secrets found in ``texts``; a 6-digit code only as a word of its
    own (digits run through timestamps and durations)."""
    found = []
    for name, value in secrets_used.items():
        pattern = re.compile(rf"(?<![0-9A-Za-z]){re.escape(value)}(?![0-9A-Za-z])")
        if any((pattern.search(text) if value.isdigit() else value in text) for text in texts):
            found.append(name)
    return found


def test_the_log_check_finds_a_secret_in_a_message_its_args_or_extra_fields() -> None:
    def record(msg: str, args: tuple[Any, ...] = (), **extra: Any) -> logging.LogRecord:
        made = logging.LogRecord("tekcify_auth.x", logging.DEBUG, "p", 1, msg, args, None)
        made.__dict__.update(extra)
        return made

    secret = {"code": "123456", "token": "tok-abc"}
    assert _leaked(_record_texts([record("code %s", ("123456",))]), secret) == ["code"]
    assert _leaked(_record_texts([record("x", body={"t": "tok-abc"})]), secret) == ["token"]
    assert _leaked(_record_texts([record("took 0.1234567 s at 21:12:34")]), secret) == []


async def test_no_secret_of_mfa_passkeys_invites_resets_or_clients_reaches_the_logs(
    clean_db: str, tmp_path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="tekcify_auth")
    settings = make_settings(
        database_url=clean_db, data_dir=tmp_path / "data", registration="invite",
        client_auth_max_failures=2,
    )
    used: dict[str, str] = {"password": PASSWORD}
    async with running(settings, clock) as (app, client):
        # Registration with an invite code.
        _id, invite = _invite(app)
        used["invite code"] = invite
        wrong_invite = "not-an-invite-code-0123456789"
        used["wrong invite code"] = wrong_invite
        refused = await client.post("/api/auth/register", json={
            "email": "eve@example.com", "password": PASSWORD, "inviteCode": wrong_invite,
        })
        assert refused.status_code in (400, 403)
        created = await client.post("/api/auth/register", json={
            "email": "ada@example.com", "password": PASSWORD, "inviteCode": invite,
        })
        assert created.status_code == 201, created.text
        pair = await login(client)
        used |= {"access token": pair["accessToken"], "refresh token": pair["refreshToken"]}

        # MFA: setup and verify, then sign-ins with a code, a backup code and a wrong code.
        setup = await enable_mfa(client, pair["accessToken"], clock)
        used["TOTP secret"] = setup["secret"]
        used["setup code"] = code_at(setup["secret"], clock, -1)
        used |= {f"backup code {n}": code for n, code in enumerate(setup["backupCodes"])}
        used["QR code URL"] = setup["qrCodeUrl"]
        for second in ("code", "backupCode", "wrong"):
            challenge = await start_login(client)
            used[f"mfaToken ({second})"] = challenge["mfaToken"]
            if second == "code":
                factor = {"code": code_at(setup["secret"], clock)}
                used["sign-in code"] = factor["code"]
            elif second == "backupCode":
                factor = {"backupCode": setup["backupCodes"][0]}
            else:
                factor = {"code": code_at(setup["secret"], clock, 5)}
                used["wrong code"] = factor["code"]
            answer = await finish_login(client, challenge["mfaToken"], **factor)
            if second == "wrong":
                assert answer.status_code in (400, 401), answer.text
            else:
                assert answer.status_code == 200, answer.text
                used[f"access token ({second})"] = answer.json()["accessToken"]
                used[f"refresh token ({second})"] = answer.json()["refreshToken"]
            next_step(clock)
        token = used["access token (code)"]

        # Passkeys: registration and a sign-in; both challenges.
        key = SoftAuthenticator()
        options = (await client.post(f"{PASSKEYS}/register/options", headers=bearer(token))
                   ).json()
        used["registration challenge"] = options["challenge"]
        used["registration options challenge"] = options["options"]["challenge"]
        registered = await client.post(f"{PASSKEYS}/register", headers=bearer(token), json={
            "credential": key.register(options["options"], origin=ORIGIN),
            "challenge": options["challenge"],
        })
        assert registered.status_code == 200, registered.text
        options = (await client.post(f"{PASSKEYS}/login/options")).json()
        used["sign-in challenge"] = options["challenge"]
        used["sign-in options challenge"] = options["options"]["challenge"]
        signed_in = await client.post(f"{PASSKEYS}/login", json={
            "credential": key.get(options["options"], origin=ORIGIN),
            "challenge": options["challenge"],
        })
        assert signed_in.status_code == 200, signed_in.text
        used["passkey access token"] = signed_in.json()["accessToken"]
        used["passkey refresh token"] = signed_in.json()["refreshToken"]

        # A password reset.
        forgot = await client.post("/api/auth/password/forgot", json={"email": "ada@example.com"})
        assert forgot.status_code == 202
        reset_token = last_mail(app, "password_reset").token
        used["reset token"] = reset_token
        used["new password"] = "a brand new passphrase"
        reset = await client.post("/api/auth/password/reset", json={
            "token": reset_token, "newPassword": used["new password"],
        })
        assert reset.status_code == 200, reset.text

        # Failed client authentication, up to the limit, then the right secret refused too.
        challenge = await start_login(client, password=used["new password"])
        next_step(clock)
        used["last mfaToken"] = challenge["mfaToken"]
        used["last code"] = code_at(setup["secret"], clock)
        fresh = await finish_login(client, challenge["mfaToken"], code=used["last code"])
        assert fresh.status_code == 200, fresh.text
        used["last access token"] = fresh.json()["accessToken"]
        application = await _new_application(client, used["last access token"])
        client_id, secret = application["clientId"], application["clientSecret"]
        used |= {"client secret": secret, "wrong client secret": "w" * len(secret)}
        allow_client_credentials(app, client_id)
        form = {"grant_type": "client_credentials"}
        statuses = [
            (await client.post(TOKEN, data=form, headers=_basic(client_id, attempt))).status_code
            for attempt in (used["wrong client secret"],) * 2 + (secret,)
        ]
        assert statuses == [401, 401, 429]

    records = caplog.records
    assert any(r.name == "tekcify_auth.server.access" for r in records)
    texts = _record_texts(records)
    assert _leaked(texts, used) == []
    for name, value in used.items():  # a token's signature alone is as bad as the token
        if "token" in name and value.count(".") == 2:
            assert _leaked(texts, {name: value.rsplit(".", 1)[1]}) == []
