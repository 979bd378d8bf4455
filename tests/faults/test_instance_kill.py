"""Two instances on one PostgreSQL database: ``kill -9`` of one under load loses no
acknowledged write, and the other keeps answering."""

from __future__ import annotations

import secrets
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from .conftest import StartServer
from .load import PASSWORD, REQUEST_TIMEOUT, WriteLoad

pytestmark = pytest.mark.needs("postgres")

#: Acknowledged registrations and profile updates before the kill.
BEFORE_KILL = (40, 15)
#: 2xx answers B must give after A is gone, and registrations among them.
AFTER_KILL = (60, 15)


def _check_account(url: str, email: str, name: str | None) -> str | None:
    """What is wrong with ``email``'s account as seen through ``url``, or ``None``."""
    with httpx.Client(base_url=url, timeout=REQUEST_TIMEOUT) as http:
        login = http.post("/api/auth/login", json={"email": email, "password": PASSWORD})
        if login.status_code != 200:
            return f"{email}: login {login.status_code} {login.text[:200]}"
        if name is None:
            return None
        token = login.json()["accessToken"]
        profile = http.get("/api/user/profile", headers={"Authorization": f"Bearer {token}"})
        if profile.status_code != 200 or profile.json().get("firstName") != name:
            return f"{email}: expected firstName {name!r}, got {profile.status_code} {profile.text}"
    return None


def test_kill_9_of_one_instance_loses_no_acknowledged_write(
    start_server: StartServer, fresh_database: str, tmp_path: Path
) -> None:
    shared = {
        "TEKCIFY_DATABASE_URL": fresh_database,
        "JWT_ACCESS_SECRET": secrets.token_urlsafe(32),
        "TEKCIFY_KEY_ENCRYPTION_SECRET": secrets.token_urlsafe(32),
        # Durability is under test, not latency: a slow CI machine must not make a 503.
        "TEKCIFY_DB_TIMEOUT": "30",
    }
    # Started together: both migrate the empty database at once (migrations take a lock).
    with ThreadPoolExecutor(2) as pool:
        a, b = pool.map(
            lambda name: start_server(name, {**shared, "TEKCIFY_DATA_DIR": str(tmp_path / name)}),
            ["A", "B"],
        )

    with WriteLoad({"A": a.url, "B": b.url}, threads=6, profiles=True) as load:
        load.wait(
            lambda: load.count() >= BEFORE_KILL and load.ok["A"] >= 20, 30, "load on both"
        )
        load.wait(lambda: load.inflight["A"] > 0, 10, "a request in flight to A")
        load.mark_killed("A")
        a.kill()
        served_by_b, registered = load.ok["B"], load.count()[0]
        load.wait(
            lambda: load.ok["B"] >= served_by_b + AFTER_KILL[0]
            and load.count()[0] >= registered + AFTER_KILL[1],
            30, "B to keep serving after the kill",
        )
    # Every request to B got a 2xx, and so did every request A answered before its end.
    assert not load.failures, "\n".join(load.failures[:20])
    assert load.cut["A"] > 0, "the load never reached A after the kill"
    assert b.running

    updated = dict(load.updated)
    with ThreadPoolExecutor(4) as pool:
        problems = [
            problem for problem in pool.map(
                lambda email: _check_account(b.url, email, updated.get(email)), load.registered
            ) if problem
        ]
    assert not problems, (
        f"{len(problems)} of {len(load.registered)} acknowledged accounts "
        f"({len(updated)} with a profile update) wrong after the kill:\n" + "\n".join(problems[:20])
    )
    assert not b.tracebacks()
