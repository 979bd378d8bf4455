"""The purge deletes what can no longer be used, and nothing live; on both databases."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from tekcify_auth import decode_token
from tekcify_auth.server.db.models import RefreshToken, UserSession
from tekcify_auth.server.db.oauth import AuthorizationCode
from tekcify_auth.server.services.purge import BATCH, purge, purge_periodically

from .conftest import FakeClock, login, register
from .test_authorize import Browser, asgi_client, get_code, make_client, redeem

HOUR = timedelta(hours=1)


def _count(app: FastAPI, model: type) -> int:
    with app.state.ctx.db.read() as db:
        return int(db.execute(select(func.count()).select_from(model)).scalar_one())


async def _refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/api/auth/refresh", json={"refreshToken": token})


async def _logout(client: httpx.AsyncClient, pair: dict[str, str]) -> None:
    response = await client.post(
        "/api/auth/sessions/logout", headers={"Authorization": f"Bearer {pair['accessToken']}"}
    )
    assert response.status_code == 200, response.text


def _sid(pair: dict[str, str]) -> str:
    claims = decode_token(pair["accessToken"])
    assert claims is not None
    sid: str = claims["sid"]
    return sid


async def test_the_dead_go_and_the_live_stay(
    app: FastAPI, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    ctx = app.state.ctx
    await register(client)
    live = await login(client)
    rotated = (await _refresh(client, live["refreshToken"])).json()
    ended = await login(client)
    await _logout(client, ended)
    oauth = make_client(app)
    async with asgi_client(app) as http:
        redeemed, request = await get_code(Browser(http), oauth)
        await get_code(Browser(http), oauth)  # never redeemed
    assert (await redeem(client, oauth, redeemed, request)).status_code == 200
    codes_before = _count(app, AuthorizationCode)
    assert codes_before == 2

    # Within the retention nothing that ended is gone yet.
    clock.advance(30)
    first = purge(ctx.db, ctx.clock(), HOUR)
    assert (first.codes, first.sessions, first.refresh_tokens) == (0, 0, 0)

    clock.advance(2 * 3600)
    report = purge(ctx.db, ctx.clock(), HOUR)
    assert report.codes == codes_before  # expired more than an hour ago
    assert report.sessions >= 1  # the logged-out one (and the pages' sign-in, ended)
    with ctx.db.read() as db:
        left = set(db.execute(select(UserSession.id)).scalars())
        kept_tokens = db.execute(
            select(func.count()).select_from(RefreshToken)
            .where(RefreshToken.session_id == _sid(live))
        ).scalar_one()
    # The live session and both its tokens (the rotated one too) are kept...
    assert _sid(live) in left
    assert _sid(ended) not in left
    assert kept_tokens == 2
    # ...so presenting the rotated token is still detected as reuse: the session ends.
    reuse = await _refresh(client, live["refreshToken"])
    assert reuse.status_code == 401
    assert (await _refresh(client, rotated["refreshToken"])).status_code == 401


async def test_a_session_whose_refresh_tokens_expired_goes_after_the_retention(
    app: FastAPI, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    ctx = app.state.ctx
    await register(client)
    pair = await login(client)
    clock.advance(ctx.settings.refresh_token_ttl + 60)
    report = purge(ctx.db, ctx.clock(), HOUR)
    # The tokens expired: gone at once. The session ended under an hour ago: kept.
    assert report.refresh_tokens >= 1
    assert _count(app, RefreshToken) == 0
    sessions = _count(app, UserSession)
    assert sessions >= 1
    clock.advance(2 * 3600)
    assert purge(ctx.db, ctx.clock(), HOUR).sessions == sessions
    assert _count(app, UserSession) == 0
    assert (await _refresh(client, pair["refreshToken"])).status_code == 401


async def test_more_rows_than_a_batch_are_all_purged(
    app: FastAPI, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    ctx = app.state.ctx
    await register(client)
    live = await login(client)  # one live session to keep
    with ctx.db.write() as db:
        user_id = db.execute(select(UserSession.user_id)).scalars().first()
        now = ctx.clock()
        for _ in range(BATCH + 7):
            db.add(UserSession(
                user_id=user_id, scopes="", created_at=now, last_used_at=now,
                revoked_at=now, revoked_reason="test",
            ))
    clock.advance(2 * 3600)
    report = purge(ctx.db, ctx.clock(), HOUR)
    assert report.sessions >= BATCH + 7
    assert _count(app, UserSession) == 1
    assert (await _refresh(client, live["refreshToken"])).status_code == 200


async def test_the_server_purges_by_itself(
    app: FastAPI, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    ctx = app.state.ctx
    await register(client)
    await _logout(client, await login(client))
    clock.advance(ctx.settings.purge_retention + 60)
    before = _count(app, UserSession)
    task = asyncio.create_task(purge_periodically(ctx, 0.05))
    try:
        for _ in range(200):
            await asyncio.sleep(0.05)
            if _count(app, UserSession) < before:
                break
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert _count(app, UserSession) < before


def test_the_purge_setting_is_checked() -> None:
    from tekcify_auth.server.settings import SettingsError, load_settings

    assert load_settings({}).purge_interval == 3600
    assert load_settings({"TEKCIFY_PURGE_INTERVAL": "0"}).purge_interval == 0
    for bad in ("5", "-1", "90000"):
        with pytest.raises(SettingsError) as caught:
            load_settings({"TEKCIFY_PURGE_INTERVAL": bad})
        assert caught.value.problems[0].startswith(f"TEKCIFY_PURGE_INTERVAL={bad}")


@pytest.mark.slow
def test_db_purge_in_a_real_process(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEKCIFY_")}
    env["TEKCIFY_DATA_DIR"] = str(tmp_path / "data")
    env["JWT_ACCESS_SECRET"] = "a-long-enough-shared-secret-for-the-cli-test"
    run = subprocess.run(
        [sys.executable, "-m", "tekcify_auth.cli", "db", "purge", "--retention-days", "7"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert run.returncode == 0, run.stderr
    assert "purged 0 authorization codes, 0 sessions, 0 refresh tokens" in run.stdout
    assert "last 7 days" in run.stdout
