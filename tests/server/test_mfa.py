"""TOTP two-factor sign-in: set-up, the second step of a login, codes on the sensitive
actions, and the hostile cases (replay, another account's secret, temp tokens as
bearer tokens, reused tokens and backup codes, brute force)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest
import redis
from fastapi import FastAPI
from sqlalchemy import select

from tekcify_auth import decode_token
from tekcify_auth.server.db.mfa import BackupCode, TotpFactor
from tekcify_auth.server.db.security import SecurityActivity
from tekcify_auth.server.services import mfa
from tekcify_auth.server.services.accounts import Client

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
from .mfa_helpers import MFA, code_at, enable_mfa, finish_login, next_step, start_login
from .test_access_rules import _url, declared
from .test_ratelimit import redis_url  # noqa: F401  (the session's Redis fixture)


def events(app: FastAPI, kind: str) -> list[SecurityActivity]:
    with app.state.ctx.db.read() as db:
        return list(
            db.execute(
                select(SecurityActivity).where(SecurityActivity.activity_type == kind)
            ).scalars()
        )


async def test_setup_answers_a_secret_qr_code_and_ten_backup_codes_stored_sealed_and_hashed(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    pair = await signed_up(client)
    response = await client.post(
        f"{MFA}/setup", json={"password": PASSWORD}, headers=bearer(pair["accessToken"])
    )
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == {"secret", "qrCodeUrl", "backupCodes"}
    assert body["qrCodeUrl"].startswith("data:image/png;base64,")
    assert len(body["backupCodes"]) == 10 == len(set(body["backupCodes"]))
    uri = pyotp.TOTP(body["secret"]).provisioning_uri(name="ada@example.com", issuer_name="Tekcify")
    assert uri.startswith("otpauth://totp/Tekcify:ada%40example.com?secret=")
    with app.state.ctx.db.read() as db:
        factor = db.execute(select(TotpFactor)).scalar_one()
        hashes = db.execute(select(BackupCode.code_hash)).scalars().all()
    assert factor.enabled_at is None  # pending until verify-setup
    assert body["secret"].encode() not in factor.secret_sealed
    assert len(hashes) == 10
    assert not set(body["backupCodes"]) & set(hashes)
    # Pending is not on: the login still answers tokens.
    assert "accessToken" in await login(client)


async def test_setup_needs_the_password(client: httpx.AsyncClient) -> None:
    pair = await signed_up(client)
    response = await client.post(
        f"{MFA}/setup", json={"password": "not the password"},
        headers=bearer(pair["accessToken"]),
    )
    assert response.status_code == 403
    response = await client.post(f"{MFA}/setup", json={}, headers=bearer(pair["accessToken"]))
    assert response.status_code == 400


async def test_verify_setup_turns_mfa_on_and_the_export_says_so(
    app: FastAPI, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    pair = await signed_up(client)
    token = pair["accessToken"]
    export = (await client.get("/api/user/export-data", headers=bearer(token))).json()
    assert export["profile"]["mfaEnabled"] is False
    await enable_mfa(client, token, clock)
    export = (await client.get("/api/user/export-data", headers=bearer(token))).json()
    assert export["profile"]["mfaEnabled"] is True
    assert len(events(app, "mfa_enabled")) == 1
    again = await client.post(f"{MFA}/setup", json={"password": PASSWORD}, headers=bearer(token))
    assert again.status_code == 409


async def test_a_wrong_setup_code_leaves_mfa_off(
    app: FastAPI, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    pair = await signed_up(client)
    token = pair["accessToken"]
    setup = (
        await client.post(f"{MFA}/setup", json={"password": PASSWORD}, headers=bearer(token))
    ).json()
    wrong = code_at(setup["secret"], clock, steps=5)
    response = await client.post(f"{MFA}/verify-setup", json={"code": wrong}, headers=bearer(token))
    assert response.status_code == 400
    assert "accessToken" in await login(client)
    assert len(events(app, "mfa_failed")) == 1


async def test_login_with_mfa_answers_a_challenge_then_tokens_with_amr_pwd_otp(
    app: FastAPI, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    pair = await signed_up(client)
    first = decode_token(pair["accessToken"])
    assert first is not None
    assert first["amr"] == ["pwd"]
    setup = await enable_mfa(client, pair["accessToken"], clock)

    challenge = await start_login(client)
    assert set(challenge) == {"mfaRequired", "mfaToken", "methods"}
    assert challenge["methods"] == ["totp", "backup_code"]
    claims = decode_token(challenge["mfaToken"])
    assert claims is not None
    assert claims["type"] == "temp"
    assert claims["exp"] - claims["iat"] == 300

    response = await finish_login(
        client, challenge["mfaToken"], code=code_at(setup["secret"], clock)
    )
    assert response.status_code == 200, response.text
    tokens = response.json()
    claims = decode_token(tokens["accessToken"])
    assert claims is not None
    assert claims["amr"] == ["pwd", "otp"]
    # A refreshed access token keeps how the session signed in.
    refreshed = await client.post(
        "/api/auth/refresh", json={"refreshToken": tokens["refreshToken"]}
    )
    again = decode_token(refreshed.json()["accessToken"])
    assert again is not None
    assert again["amr"] == ["pwd", "otp"]
    profile = await client.get("/api/user/profile", headers=bearer(tokens["accessToken"]))
    assert profile.status_code == 200


async def test_a_code_of_the_previous_step_is_accepted_not_one_two_steps_old(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    pair = await signed_up(client)
    setup = await enable_mfa(client, pair["accessToken"], clock)
    next_step(clock)  # the step before now is fresh (set-up spent the one before it)
    clock.advance(5)
    stale = code_at(setup["secret"], clock, steps=-2)
    challenge = await start_login(client)
    refused = await finish_login(client, challenge["mfaToken"], code=stale)
    assert refused.status_code == 401
    drifted = code_at(setup["secret"], clock, steps=-1)
    accepted = await finish_login(client, challenge["mfaToken"], code=drifted)
    assert accepted.status_code == 200, accepted.text


async def test_a_replayed_totp_code_is_refused(client: httpx.AsyncClient, clock: FakeClock) -> None:
    pair = await signed_up(client)
    setup = await enable_mfa(client, pair["accessToken"], clock)
    code = code_at(setup["secret"], clock)
    first = await start_login(client)
    assert (await finish_login(client, first["mfaToken"], code=code)).status_code == 200
    # The same code, still inside its step, seen by someone looking over the shoulder.
    second = await start_login(client)
    replayed = await finish_login(client, second["mfaToken"], code=code)
    assert replayed.status_code == 401
    assert replayed.json()["message"] == mfa.WRONG_CODE
    # And a code of an earlier step than the one accepted is refused too.
    clock.advance(30)
    older = code_at(setup["secret"], clock, steps=-2)
    assert (await finish_login(client, second["mfaToken"], code=older)).status_code == 401
    fresh = await finish_login(client, second["mfaToken"], code=code_at(setup["secret"], clock))
    assert fresh.status_code == 200


async def test_a_code_from_another_accounts_secret_is_refused(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    ada = await signed_up(client)
    bob = await signed_up(client, "bob@example.com")
    await enable_mfa(client, ada["accessToken"], clock)
    bobs = await enable_mfa(client, bob["accessToken"], clock)
    challenge = await start_login(client)
    bobs_code = code_at(bobs["secret"], clock)
    response = await finish_login(client, challenge["mfaToken"], code=bobs_code)
    assert response.status_code == 401
    # Bob's backup codes are not Ada's either.
    response = await finish_login(
        client, challenge["mfaToken"], backupCode=bobs["backupCodes"][0]
    )
    assert response.status_code == 401


async def test_two_concurrent_uses_of_one_code_pass_once(
    app: FastAPI, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    pair = await signed_up(client)
    setup = await enable_mfa(client, pair["accessToken"], clock)
    ctx = app.state.ctx
    code = code_at(setup["secret"], clock)
    user_id = decode_token(pair["accessToken"])["sub"]  # type: ignore[index]
    results: list[str | None] = []
    barrier = threading.Barrier(2)

    def use() -> None:
        barrier.wait()
        try:
            with ctx.db.write() as db:
                results.append(mfa.accept_code(db, ctx, user_id, clock.now, Client(), code=code))
        except Exception as exc:  # a serialisation failure is a refusal too
            results.append(f"error: {type(exc).__name__}")

    threads = [threading.Thread(target=use) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(map(str, results)).count("totp") == 1, results


async def test_a_temp_token_used_twice_is_refused(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    pair = await signed_up(client)
    setup = await enable_mfa(client, pair["accessToken"], clock)
    challenge = await start_login(client)
    done = await finish_login(client, challenge["mfaToken"], code=code_at(setup["secret"], clock))
    assert done.status_code == 200
    next_step(clock)
    again = await finish_login(client, challenge["mfaToken"], code=code_at(setup["secret"], clock))
    assert again.status_code == 401
    assert "sign in again" in again.json()["message"]


async def test_an_expired_temp_token_is_refused(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    pair = await signed_up(client)
    setup = await enable_mfa(client, pair["accessToken"], clock)
    challenge = await start_login(client)
    clock.advance(301)
    late = await finish_login(client, challenge["mfaToken"], code=code_at(setup["secret"], clock))
    assert late.status_code == 401
    assert "expired" in late.json()["message"]


async def test_a_backup_code_used_twice_is_refused(
    app: FastAPI, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    pair = await signed_up(client)
    setup = await enable_mfa(client, pair["accessToken"], clock)
    code = setup["backupCodes"][3]
    first = await start_login(client)
    done = await finish_login(client, first["mfaToken"], backupCode=code.upper())
    assert done.status_code == 200, done.text
    claims = decode_token(done.json()["accessToken"])
    assert claims is not None
    assert claims["amr"] == ["pwd", "otp"]
    used = events(app, "mfa_backup_code_used")
    assert len(used) == 1
    assert used[0].details == {"remaining": 9}
    second = await start_login(client)
    assert (await finish_login(client, second["mfaToken"], backupCode=code)).status_code == 401


async def test_twenty_wrong_codes_in_a_row_hit_the_limit(
    app: FastAPI, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    pair = await signed_up(client)
    setup = await enable_mfa(client, pair["accessToken"], clock)
    challenge = await start_login(client)
    statuses = []
    for guess in range(20):
        response = await finish_login(client, challenge["mfaToken"], code=f"{guess:06d}")
        statuses.append(response.status_code)
    assert 429 in statuses
    assert statuses.index(429) <= app.state.ctx.settings.mfa_max_failures
    # Even the right code waits now: the limit holds before any code is checked.
    right = await finish_login(client, challenge["mfaToken"], code=code_at(setup["secret"], clock))
    assert right.status_code == 429
    assert int(right.headers["retry-after"]) >= 1
    assert len(events(app, "mfa_failed")) >= 5


@pytest.mark.needs("redis")
async def test_the_wrong_code_limit_is_shared_by_two_instances_on_redis(
    redis_url: str, clean_db: str, tmp_path: Path, clock: FakeClock  # noqa: F811
) -> None:
    redis.Redis.from_url(redis_url).flushdb()
    settings = make_settings(
        database_url=clean_db, data_dir=tmp_path, redis_url=redis_url,
        login_max_failures=1000, login_max_failures_per_address=1000,
    )
    async with running(settings, clock) as (_one, first), running(settings, clock) as (_, second):
        pair = await signed_up(first)
        setup = await enable_mfa(first, pair["accessToken"], clock)
        challenge = await start_login(first)
        limit = settings.mfa_max_failures
        for number in range(limit):
            target = first if number % 2 else second
            response = await finish_login(target, challenge["mfaToken"], code=f"{number:06d}")
            assert response.status_code == 401, response.text
        for target in (first, second):
            right = code_at(setup["secret"], clock)
            response = await finish_login(target, challenge["mfaToken"], code=right)
            assert response.status_code == 429


async def test_a_temp_token_is_refused_as_a_bearer_token_by_every_guarded_route(
    app: FastAPI, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    pair = await signed_up(client)
    await enable_mfa(client, pair["accessToken"], clock)
    temp = (await start_login(client))["mfaToken"]
    routes = declared(app)
    assert ("POST", "/api/auth/mfa/setup") in routes
    for method, path in sorted(routes):
        response = await client.request(method, _url(path), headers=bearer(temp))
        where = f"{method} {path}: {response.status_code} {response.text}"
        assert response.status_code == 401, where
        assert 'error="invalid_token"' in response.headers["www-authenticate"], where
    introspected = await client.post("/api/oauth/token/introspect", json={"token": temp})
    assert introspected.json().get("active") is not True


async def test_sensitive_actions_need_the_code_while_mfa_is_on(
    app: FastAPI, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    pair = await signed_up(client)
    token = pair["accessToken"]
    setup = await enable_mfa(client, token, clock)
    new = "a brand new passphrase"
    change = {"currentPassword": PASSWORD, "newPassword": new}
    missing = await client.post("/api/auth/password/change", json=change, headers=bearer(token))
    assert missing.status_code == 400
    assert missing.json()["message"] == mfa.CODE_REQUIRED
    wrong = await client.post(
        "/api/auth/password/change", json={**change, "mfaCode": "000000"}, headers=bearer(token)
    )
    assert wrong.status_code == 403
    setor = await client.post(
        "/api/auth/account/password/set-or-change", json=change, headers=bearer(token)
    )
    assert setor.status_code == 400
    done = await client.post(
        "/api/auth/password/change",
        json={**change, "mfaCode": code_at(setup["secret"], clock)}, headers=bearer(token),
    )
    assert done.status_code == 200, done.text

    delete: dict[str, Any] = {"password": new}
    refused = await client.request(
        "DELETE", "/api/user/account", json=delete, headers=bearer(token)
    )
    assert refused.status_code == 400
    gone = await client.request(
        "DELETE", "/api/user/account",
        json={**delete, "mfaCode": setup["backupCodes"][0]}, headers=bearer(token),
    )
    assert gone.status_code == 200, gone.text
    with app.state.ctx.db.read() as db:
        assert db.execute(select(TotpFactor)).first() is None
        assert db.execute(select(BackupCode)).first() is None


async def test_disable_and_regenerate_need_password_and_code(
    app: FastAPI, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    pair = await signed_up(client)
    token = pair["accessToken"]
    setup = await enable_mfa(client, token, clock)
    wrong = await client.post(
        f"{MFA}/regenerate-backup-codes", json={"password": PASSWORD, "mfaCode": "123456"},
        headers=bearer(token),
    )
    assert wrong.status_code == 403
    fresh = await client.post(
        f"{MFA}/regenerate-backup-codes",
        json={"password": PASSWORD, "mfaCode": code_at(setup["secret"], clock)},
        headers=bearer(token),
    )
    assert fresh.status_code == 200, fresh.text
    new_codes = fresh.json()["backupCodes"]
    assert len(new_codes) == 10
    assert not set(new_codes) & set(setup["backupCodes"])
    assert len(events(app, "mfa_backup_codes_regenerated")) == 1
    old = await client.post(
        f"{MFA}/disable", json={"password": PASSWORD, "mfaCode": setup["backupCodes"][0]},
        headers=bearer(token),
    )
    assert old.status_code == 403
    off = await client.post(
        f"{MFA}/disable", json={"password": PASSWORD, "mfaCode": new_codes[0]},
        headers=bearer(token),
    )
    assert off.status_code == 200, off.text
    assert len(events(app, "mfa_disabled")) == 1
    assert "accessToken" in await login(client)
    activity = await client.get(
        "/api/security/activity?activityType=mfa_failed", headers=bearer(token)
    )
    assert activity.json()["total"] == 2


async def test_a_password_change_ends_a_waiting_challenge(
    app: FastAPI, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    await register(client)
    pair = await login(client)
    setup = await enable_mfa(client, pair["accessToken"], clock)
    challenge = await start_login(client)
    new = "a brand new passphrase"
    changed = await client.post(
        "/api/auth/password/change",
        json={"currentPassword": PASSWORD, "newPassword": new,
              "mfaCode": code_at(setup["secret"], clock)},
        headers=bearer(pair["accessToken"]),
    )
    assert changed.status_code == 200
    next_step(clock)
    late = await finish_login(client, challenge["mfaToken"], code=code_at(setup["secret"], clock))
    assert late.status_code == 401


async def test_concurrent_second_steps_open_one_session(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    pair = await signed_up(client)
    setup = await enable_mfa(client, pair["accessToken"], clock)
    challenge = await start_login(client)
    answers = await asyncio.gather(
        finish_login(client, challenge["mfaToken"], backupCode=setup["backupCodes"][0]),
        finish_login(client, challenge["mfaToken"], backupCode=setup["backupCodes"][1]),
    )
    assert sorted(a.status_code for a in answers) == [200, 401]


async def test_a_sensitive_action_token_stands_in_for_the_password_for_its_action_only(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    from .test_sensitive_actions import action_token

    pair = await signed_up(client)
    token = pair["accessToken"]
    other = await action_token(app, client, token, "delete_account")
    refused = await client.post(
        f"{MFA}/setup", json={"sensitiveActionToken": other}, headers=bearer(token)
    )
    assert refused.status_code == 403
    proof = await action_token(app, client, token, "mfa_setup")
    made = await client.post(
        f"{MFA}/setup", json={"sensitiveActionToken": proof}, headers=bearer(token)
    )
    assert made.status_code == 200, made.text
    again = await client.post(
        f"{MFA}/setup", json={"sensitiveActionToken": proof}, headers=bearer(token)
    )
    assert again.status_code == 403  # single use
