"""SQLite: ``kill -9`` during a write burst leaves a sound database holding every
acknowledged write, and the server starts again on it."""

from __future__ import annotations

import secrets
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from .conftest import StartServer
from .load import PASSWORD, REQUEST_TIMEOUT, WriteLoad

#: Acknowledged registrations before the kill: enough that the burst is well under way.
BEFORE_KILL = 60


def _rows(path: Path, query: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(query).fetchall()
    finally:
        conn.close()


def test_kill_9_during_a_write_burst_keeps_every_acknowledged_registration(
    start_server: StartServer, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    env = {
        "TEKCIFY_DATA_DIR": str(data_dir), "JWT_ACCESS_SECRET": secrets.token_urlsafe(32),
        # Six writers queue for SQLite's one write lock: on a busy CI machine the 5 s
        # default could turn a wait into a 503, and this test is about durability.
        "TEKCIFY_DB_TIMEOUT": "30",
    }
    server = start_server("sqlite", env)

    with WriteLoad({"sqlite": server.url}, threads=6, profiles=False) as load:
        load.wait(lambda: load.count()[0] >= BEFORE_KILL, 30, "registrations before the kill")
        load.wait(lambda: load.inflight["sqlite"] > 0, 10, "a request in flight")
        load.mark_killed("sqlite")
        server.kill()
    assert not load.failures, "\n".join(load.failures[:20])
    acknowledged = list(load.registered)
    assert len(acknowledged) >= BEFORE_KILL

    # The files as the killed process left them, WAL included, read without the server.
    database = data_dir / "tekcify.sqlite3"
    assert _rows(database, "PRAGMA integrity_check") == [("ok",)]
    assert _rows(database, "PRAGMA foreign_key_check") == []
    stored = {email for (email,) in _rows(database, "SELECT email FROM users")}
    missing = [email for email in acknowledged if email not in stored]
    assert not missing, f"{len(missing)} acknowledged registrations lost: {missing[:10]}"

    again = start_server("sqlite-again", env)

    def logs_in(email: str) -> int:
        with httpx.Client(base_url=again.url, timeout=REQUEST_TIMEOUT) as http:
            answer = http.post("/api/auth/login", json={"email": email, "password": PASSWORD})
            return answer.status_code

    with ThreadPoolExecutor(4) as pool:
        statuses = dict(zip(acknowledged, pool.map(logs_in, acknowledged), strict=True))
    refused = {email: status for email, status in statuses.items() if status != 200}
    assert not refused, f"{len(refused)} acknowledged accounts cannot log in: {refused}"
    assert not again.tracebacks()
