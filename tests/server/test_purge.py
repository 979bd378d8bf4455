"""The purge deletes what can no longer be used, and nothing live; on both databases."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import delete, event, func, insert, select

from tekcify_auth import decode_token
from tekcify_auth.server.db.engine import Database
from tekcify_auth.server.db.models import RefreshToken, User, UserSession
from tekcify_auth.server.db.oauth import AuthorizationCode, LoginSession, RevokedClientToken
from tekcify_auth.server.db.security import AccountCode
from tekcify_auth.server.services import codes
from tekcify_auth.server.services.purge import (
    BATCH,
    LEASE,
    LockLost,
    PurgeReport,
    purge,
    purge_lock,
    purge_periodically,
)

from .conftest import FakeClock, allow_client_credentials, login, register
from .test_authorize import Browser, asgi_client, get_code, make_client, redeem
from .test_client_credentials import REVOKE, client_token
from .test_introspection import introspect_json

HOUR = timedelta(hours=1)


def _count(app: FastAPI, model: type) -> int:
    return _count_in(app.state.ctx.db, model)


def _count_in(database: Database, model: type) -> int:
    with database.read() as db:
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
    # The logged-out session's refresh token (revoked, not expired) went with it, and the
    # pages' sign-in with its session: no row is left of a session that went.
    with ctx.db.read() as db:
        token_sessions = set(db.execute(select(RefreshToken.session_id)).scalars())
        sign_in_sessions = set(db.execute(select(LoginSession.session_id)).scalars())
    assert _sid(ended) not in token_sessions
    assert token_sessions <= left
    assert sign_in_sessions <= left
    # ...so presenting the rotated token is still detected as reuse: the session ends.
    reuse = await _refresh(client, live["refreshToken"])
    assert reuse.status_code == 401
    assert (await _refresh(client, rotated["refreshToken"])).status_code == 401


async def test_revoked_client_tokens_go_once_expired(
    app: FastAPI, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    ctx = app.state.ctx
    oauth = make_client(app)
    allow_client_credentials(app, oauth.client_id)
    token = (await client_token(client, oauth))["access_token"]
    revoked = await client.post(REVOKE, data={"token": token}, headers=oauth.basic())
    assert revoked.status_code == 200
    assert _count(app, RevokedClientToken) == 1
    # Until the token expires its row is what refuses it: kept, whatever the retention.
    assert purge(ctx.db, ctx.clock(), timedelta(0)).revoked_client_tokens == 0
    assert (await introspect_json(client, token)) == {"active": False}
    clock.advance(ctx.settings.access_token_ttl + 1)
    assert purge(ctx.db, ctx.clock(), HOUR).revoked_client_tokens == 1
    assert _count(app, RevokedClientToken) == 0
    assert (await introspect_json(client, token)) == {"active": False}  # expired anyway


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
    assert (
        "purged 0 authorization codes, 0 sessions (with their refresh tokens), 0 more expired "
        "refresh tokens and 0 revoked client tokens"
    ) in run.stdout
    assert "last 7 days" in run.stdout
    assert "0 security events older than 365 days" in run.stdout


# -- one purge at a time -----------------------------------------------------------------

#: A process that takes the purge lock of the database named on its command line, says
#: whether it got it, and holds it until its stdin closes.
_HOLDER = """
import sys
from datetime import UTC, datetime
from tekcify_auth.server.db.engine import Database
from tekcify_auth.server.services.purge import purge_lock
with purge_lock(Database(sys.argv[1]), datetime.now(UTC)) as lock:
    print("held" if lock.held else "refused", flush=True)
    sys.stdin.read()
"""


@contextmanager
def _holder(url: str) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the purge lock of ``url``; it lets go at the end."""
    with subprocess.Popen(
        [sys.executable, "-c", _HOLDER, url],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    ) as proc:
        assert proc.stdin is not None
        assert proc.stdout is not None
        try:
            assert proc.stdout.readline().strip() == "held"
            yield proc
            proc.stdin.close()
            assert proc.wait(timeout=30) in (0, -9)  # let go, or killed by the test
        finally:
            proc.kill()


def _expired_history(database: Database, now: datetime, sessions: int) -> int:
    """``sessions`` sessions revoked two hours before ``now``, each with a refresh token
    expired then, of a user of their own; returns ``sessions`` (the purge deletes the
    tokens with their sessions)."""
    long_ago = now - 2 * HOUR
    with database.write() as db:
        user = User(email=f"{uuid.uuid4().hex}@example.com", password_hash="-",
                    created_at=long_ago, updated_at=long_ago)
        db.add(user)
        db.flush()
        ids = [str(uuid.uuid4()) for _ in range(sessions)]
        db.execute(insert(UserSession), [
            {"id": sid, "user_id": user.id, "scopes": "", "created_at": long_ago,
             "last_used_at": long_ago, "revoked_at": long_ago, "revoked_reason": "test"}
            for sid in ids
        ])
        db.execute(insert(RefreshToken), [
            {"id": str(uuid.uuid4()), "session_id": sid, "token_hash": uuid.uuid4().hex * 2,
             "created_at": long_ago, "expires_at": long_ago}
            for sid in ids
        ])
    return sessions


@pytest.mark.slow
def test_a_purge_while_another_process_holds_the_lock_is_skipped(
    clean_db: str, backend: str, clock: FakeClock, tmp_path: Path
) -> None:
    database = Database(clean_db)
    try:
        rows = _expired_history(database, clock(), 10)
        with _holder(clean_db):
            assert purge(database, clock(), HOUR).skipped
            # `tekcify-auth db purge` beside a running server: the same.
            env = {k: v for k, v in os.environ.items() if not k.startswith("TEKCIFY_")}
            env.update(TEKCIFY_DATABASE_URL=clean_db, TEKCIFY_DATA_DIR=str(tmp_path),
                       JWT_ACCESS_SECRET="a-long-enough-shared-secret-for-the-cli-test")
            run = subprocess.run(
                [sys.executable, "-m", "tekcify_auth.cli", "db", "purge"],
                env=env, capture_output=True, text=True, timeout=120, check=False,
            )
            assert run.returncode == 0, run.stderr
            assert "another server is purging this database right now" in run.stdout
            # On SQLite the operator learns how long a killed purge's lease can last.
            assert ("its lease until 120 s" in run.stdout) is (backend == "sqlite")
            assert _count_in(database, UserSession) == 10  # nothing was deleted
        report = purge(database, clock(), HOUR)
        assert not report.skipped
        assert report.sessions == rows
        assert _count_in(database, RefreshToken) == 0
    finally:
        database.dispose()


@pytest.mark.slow
def test_a_lock_left_by_a_killed_process_does_not_block_for_ever(
    clean_db: str, backend: str, clock: FakeClock
) -> None:
    database = Database(clean_db)
    try:
        with _holder(clean_db) as holder:
            holder.kill()  # SIGKILL: no release, no clean-up
            holder.wait()
            if backend == "sqlite":
                # Its lease stays until it has gone LEASE without renewal...
                assert purge(database, clock(), HOUR).skipped
                clock.advance(LEASE.total_seconds() - 5)
                assert purge(database, clock(), HOUR).skipped
                clock.advance(10)
                # ...and is free after.
                assert not purge(database, clock(), HOUR).skipped
            else:
                # PostgreSQL releases the advisory lock with the dead connection.
                deadline = time.monotonic() + 10
                while purge(database, clock(), HOUR).skipped:
                    assert time.monotonic() < deadline, "the dead holder's lock stayed"
                    time.sleep(0.05)
        assert not purge(database, clock(), HOUR).skipped  # and nothing was left behind
    finally:
        database.dispose()


def test_two_instances_never_hold_the_purge_lock_at_once(
    clean_db: str, clock: FakeClock
) -> None:
    # Four "instances" (each its own engine and connections) take the lock as fast as
    # they can until each outcome was seen a few times; inside, each checks it is alone.
    databases = [Database(clean_db) for _ in range(4)]
    inside, most, got, refused = 0, 0, [0] * 4, [0] * 4
    guard = threading.Lock()

    def instance(i: int) -> None:
        nonlocal inside, most
        # Until they have contended enough (a loaded machine takes longer), at most 20 s.
        until = time.monotonic() + 20.0
        while time.monotonic() < until and (sum(got) <= 4 or sum(refused) <= 4):
            with purge_lock(databases[i], clock()) as lock:
                if not lock.held:
                    refused[i] += 1
                    continue
                got[i] += 1
                with guard:
                    inside += 1
                    most = max(most, inside)
                time.sleep(0.002)
                with guard:
                    inside -= 1

    try:
        threads = [threading.Thread(target=instance, args=(i,)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        for database in databases:
            database.dispose()
    assert most == 1
    assert sum(got) > 4  # they did contend
    assert sum(refused) > 4


def test_two_purges_started_together_never_overlap(
    clean_db: str, clock: FakeClock
) -> None:
    # Two instances purge at the same moment, over many batches; every DELETE each one
    # sends is timed. One of them is skipped, or their DELETEs never interleave.
    databases = [Database(clean_db), Database(clean_db)]
    times: list[list[float]] = [[], []]
    for i, database in enumerate(databases):
        def timed(*args: Any, i: int = i) -> None:
            if str(args[2]).lstrip().upper().startswith("DELETE"):
                times[i].append(time.monotonic())
        event.listen(database.engine, "before_cursor_execute", timed)
    contended = 0
    try:
        for _ in range(3):
            rows = _expired_history(databases[0], clock(), 4 * BATCH)
            for kept in times:
                kept.clear()
            start = threading.Barrier(2)
            reports: list[PurgeReport] = [PurgeReport(), PurgeReport()]

            def instance(i: int, reports: list[PurgeReport] = reports,
                         start: threading.Barrier = start) -> None:
                start.wait()
                reports[i] = purge(databases[i], clock(), HOUR)

            threads = [threading.Thread(target=instance, args=(i,)) for i in range(2)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert reports[0].sessions + reports[1].sessions == rows
            if any(report.skipped for report in reports):
                contended += 1
                assert not all(report.skipped for report in reports)
            else:  # the second began after the first had finished
                first, second = sorted(times, key=lambda kept: kept[0])
                assert first[-1] < second[0]
    finally:
        for database in databases:
            database.dispose()
    assert contended >= 1


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_purge_that_lost_its_lease_commits_nothing_more(
    clean_db: str, clock: FakeClock
) -> None:
    # A purge paused past its lease (SIGSTOP, a suspended VM) is overtaken; when it wakes
    # its next batch finds the lease gone, and rolls back.
    slow, other = Database(clean_db), Database(clean_db)
    later = clock() + LEASE + timedelta(seconds=1)
    overtaking = purge_lock(other, later)
    try:
        _expired_history(slow, clock(), 10)
        with purge_lock(slow, clock()) as paused:
            assert paused.held
            assert overtaking.__enter__().held
            with slow.write() as db:
                db.execute(delete(UserSession))
                with pytest.raises(LockLost):
                    paused.renew(db)
                db.rollback()  # as the LockLost raised out of a batch does
            assert _count_in(slow, UserSession) == 10
        # The overtaken purge's way out freed nothing: the new holder still has it...
        with purge_lock(slow, later) as third:
            assert not third.held
        overtaking.__exit__(None, None, None)
        # ...until it lets go.
        with purge_lock(slow, later) as fourth:
            assert fourth.held
    finally:
        slow.dispose()
        other.dispose()


async def test_expired_mailed_links_and_codes_go_and_live_ones_stay(
    app: FastAPI, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    ctx = app.state.ctx
    user_id = (await register(client))["userId"]
    now = ctx.clock()
    with ctx.db.write() as db:
        short = codes.issue_code(db, user_id, "purge_short", ttl=timedelta(minutes=15), now=now)
        long = codes.issue_link(db, user_id, "purge_long", ttl=timedelta(hours=24), now=now)
    clock.advance(3600)
    report = purge(ctx.db, ctx.clock(), HOUR)
    assert report.account_codes >= 1
    with ctx.db.read() as db:
        purposes = set(db.execute(select(AccountCode.purpose)).scalars())
    assert "purge_short" not in purposes
    assert "purge_long" in purposes
    # The live link still works after the purge.
    with ctx.db.write() as db:
        assert codes.redeem_link(db, "purge_long", long, ctx.clock()).user_id == user_id
    assert short.isdigit()
