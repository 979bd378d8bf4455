"""PostgreSQL stopped and started under load: 503s with a message while it is down (never
a 500, never a hang), then the same server process answers again without a restart."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from .conftest import StartServer
from .load import PASSWORD, REQUEST_TIMEOUT, wait_until
from .processes import PostgresCluster

#: How long the server may take to answer 2xx again once PostgreSQL accepts connections.
pytestmark = pytest.mark.needs("pg_ctl")

RECOVERY_BOUND = 20.0
#: Answers of each kind wanted in each phase.
ENOUGH = 3

UP, STOPPING, DOWN, STARTING, BACK = "up", "stopping", "down", "starting", "back"


@dataclass(frozen=True)
class Answer:
    """One request's fate; ``phase`` is set only when it began and ended in one phase."""

    kind: str
    phase: str | None
    status: int | None
    problem: str | None


class SteadyLoad:
    """One thread per kind of request, each sending it again and again until stopped."""

    def __init__(self, url: str, token: str, email: str) -> None:
        self.phase = UP
        self.answers: list[Answer] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        bearer = {"Authorization": f"Bearer {token}"}
        login = {"email": email, "password": PASSWORD}
        self.kinds: dict[str, Callable[[httpx.Client], httpx.Response]] = {
            "health": lambda http: http.get("/health"),
            "login": lambda http: http.post("/api/auth/login", json=login),
            "profile": lambda http: http.get("/api/user/profile", headers=bearer),
        }
        self._threads = [
            threading.Thread(target=self._work, args=(url, kind), daemon=True, name=kind)
            for kind in self.kinds
        ]

    def __enter__(self) -> SteadyLoad:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(REQUEST_TIMEOUT + 5)
            assert not thread.is_alive(), f"the {thread.name} load did not stop"

    def problems(self) -> list[str]:
        """Every answer that was neither a 2xx nor a proper 503, so far."""
        with self._lock:
            return [a.problem for a in self.answers if a.problem]

    def wait(self, condition: Callable[[], bool], timeout: float, what: str) -> None:
        """:func:`wait_until` that stops at the first wrong answer."""
        wait_until(condition, timeout, what, self.problems)

    def seen(self, phase: str, kind: str, status: int | None = None) -> int:
        """How many answers of ``kind`` fell in ``phase`` (with ``status``, if given)."""
        with self._lock:
            return sum(
                1 for a in self.answers
                if a.phase == phase and a.kind == kind and (status is None or a.status == status)
            )

    def every_kind(self, phase: str, status: int, count: int = ENOUGH) -> Callable[[], bool]:
        """A condition: each kind has ``count`` answers of ``status`` in ``phase``."""
        return lambda: all(self.seen(phase, kind, status) >= count for kind in self.kinds)

    def _work(self, url: str, kind: str) -> None:
        send = self.kinds[kind]
        with httpx.Client(base_url=url, timeout=REQUEST_TIMEOUT) as http:
            while not self._stop.is_set():
                began = self.phase
                status, problem = None, None
                try:
                    response = send(http)
                except httpx.TimeoutException as exc:
                    problem = f"{kind}: no answer within {REQUEST_TIMEOUT} s ({exc!r})"
                except httpx.TransportError as exc:
                    problem = f"{kind}: {exc!r}"
                else:
                    status, problem = response.status_code, _check(kind, response)
                phase = began if self.phase == began else None
                with self._lock:
                    self.answers.append(Answer(kind, phase, status, problem))


def _check(kind: str, response: httpx.Response) -> str | None:
    """What is wrong with ``response``: a 2xx, or a 503 with a JSON message, is right."""
    if response.is_success:
        return None
    where = f"{kind}: {response.status_code} {response.text[:300]!r}"
    if response.status_code != 503:
        return where
    try:
        body = response.json()
    except ValueError:
        return f"{where}: not JSON"
    if not isinstance(body, dict) or not isinstance(body.get("message"), str) \
            or not body["message"]:
        return f"{where}: no message"
    expected = {"database": "unavailable"} if kind == "health" else {"statusCode": 503}
    if any(body.get(key) != value for key, value in expected.items()):
        return f"{where}: expected {expected}"
    if not response.headers.get("retry-after"):
        return f"{where}: no Retry-After"
    return None


def _account(url: str) -> tuple[str, str]:
    email = f"steady-{secrets.token_hex(4)}@faults.example.com"
    with httpx.Client(base_url=url, timeout=REQUEST_TIMEOUT) as http:
        registered = http.post("/api/auth/register", json={"email": email, "password": PASSWORD})
        assert registered.status_code == 201, registered.text
        login = http.post("/api/auth/login", json={"email": email, "password": PASSWORD})
        assert login.status_code == 200, login.text
        return email, login.json()["accessToken"]


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_postgres_stopped_and_started_under_load(
    start_server: StartServer, postgres_cluster: PostgresCluster, cluster_database: str,
    tmp_path: Path, mode: str,
) -> None:
    server = start_server("server", {
        "TEKCIFY_DATABASE_URL": cluster_database, "TEKCIFY_DATA_DIR": str(tmp_path / "data"),
        "JWT_ACCESS_SECRET": secrets.token_urlsafe(32), "TEKCIFY_DB_TIMEOUT": "2",
    })
    email, token = _account(server.url)
    # The cluster runs with synchronous_commit=off: make the account survive `immediate`.
    postgres_cluster.checkpoint()

    with SteadyLoad(server.url, token, email) as load:
        load.wait(load.every_kind(UP, 200), 30, "2xx answers before the stop")
        load.phase = STOPPING
        postgres_cluster.halt(mode)
        load.phase = DOWN
        load.wait(load.every_kind(DOWN, 503), 30, "503 answers while PostgreSQL is down")
        load.phase = STARTING
        postgres_cluster.resume()
        load.phase = BACK
        load.wait(load.every_kind(BACK, 200, 1), RECOVERY_BOUND, "the server to recover")
        # Once back, it stays back: no pooled connection left over from before the stop.
        settled = {kind: load.seen(BACK, kind) for kind in load.kinds}
        load.wait(
            lambda: all(load.seen(BACK, k) >= settled[k] + ENOUGH for k in load.kinds),
            30, "answers after the recovery",
        )

    assert not load.problems(), "\n".join(load.problems()[:20])
    answers = list(load.answers)
    assert {a.status for a in answers if a.phase == DOWN} == {503}
    assert server.running, "the server process died"
    assert not server.tracebacks()
    # Once PostgreSQL accepts connections again, every answer is a 2xx: no connection
    # left in the pool from before the stop is handed to a request.
    back = [(a.kind, a.status) for a in answers if a.phase == BACK]
    assert {status for _kind, status in back} == {200}, back
