"""Client load for the fault tests: threads that write and a ledger of what was acknowledged.

A write is *acknowledged* when its 2xx answer reached the client; only those are
promised to survive a fault. A request cut by a server the test killed (a transport
error seen after :meth:`WriteLoad.mark_killed`) was never acknowledged and is fine; any
other failure is recorded in :attr:`WriteLoad.failures` for the test to show.
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any, Final

import httpx

PASSWORD: Final = "correct horse battery staple"
#: A request taking longer than this counts as a hang.
REQUEST_TIMEOUT: Final = 10.0
_POLL: Final = 0.01


def wait_until(
    condition: Callable[[], bool], timeout: float, what: str,
    failures: Callable[[], list[str]] = list,
) -> None:
    """Return once ``condition()`` holds; fail with ``what`` if ``timeout`` passes first,
    or at once with the failures as soon as ``failures()`` has any."""
    deadline = time.monotonic() + timeout
    while not condition():
        if found := failures():
            raise AssertionError(f"while waiting for {what}:\n" + "\n".join(found[:20]))
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout:.0f} s waiting for {what}")
        time.sleep(_POLL)


class WriteLoad:
    """Threads that register accounts (and, with ``profiles``, log in and update a name).

    Each thread walks the ``targets`` (name -> base URL) round robin, one request per
    step, so the steps of one account land on different instances. Each account gets at
    most one profile update, with a value no other request sends: whatever the final
    state, an acknowledged update must be what is read back.
    """

    def __init__(self, targets: Mapping[str, str], *, threads: int, profiles: bool) -> None:
        self.targets = dict(targets)
        self.profiles = profiles
        self.run = uuid.uuid4().hex[:8]
        self.registered: list[str] = []
        self.updated: dict[str, str] = {}
        self.ok: Counter[str] = Counter()
        self.cut: Counter[str] = Counter()
        self.inflight: Counter[str] = Counter()
        self.failures: list[str] = []
        self._killed: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._work, args=(n,), name=f"load-{n}", daemon=True)
            for n in range(threads)
        ]

    def __enter__(self) -> WriteLoad:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop every thread and wait for it (a request ends within its timeout)."""
        self._stop.set()
        for thread in self._threads:
            thread.join(REQUEST_TIMEOUT + 5)
            if thread.is_alive():
                self.failures.append(f"{thread.name} did not stop")

    def mark_killed(self, name: str) -> None:
        """Say that ``name`` is about to be killed: its transport errors are expected now."""
        with self._lock:
            self._killed.add(name)

    def wait(self, condition: Callable[[], bool], timeout: float, what: str) -> None:
        """:func:`wait_until` that stops at the first failure of the load."""
        wait_until(condition, timeout, what, lambda: list(self.failures))

    def count(self) -> tuple[int, int]:
        """Acknowledged registrations and profile updates so far."""
        with self._lock:
            return len(self.registered), len(self.updated)

    def _send(
        self, clients: Mapping[str, httpx.Client], name: str, method: str, path: str,
        **kwargs: Any,
    ) -> httpx.Response | None:
        """One request; the response when it was 2xx, else ``None`` (and a note)."""
        with self._lock:
            self.inflight[name] += 1
        try:
            response = clients[name].request(method, path, **kwargs)
        except httpx.TransportError as exc:
            with self._lock:
                if name in self._killed:
                    self.cut[name] += 1
                else:
                    self.failures.append(f"{method} {path} on {name}: {exc!r}")
            return None
        finally:
            with self._lock:
                self.inflight[name] -= 1
        if response.is_success:
            with self._lock:
                self.ok[name] += 1
            return response
        with self._lock:
            self.failures.append(
                f"{method} {path} on {name}: {response.status_code} {response.text[:300]}"
            )
        return None

    def _work(self, number: int) -> None:
        names = list(self.targets)
        step = number
        clients = {
            name: httpx.Client(base_url=url, timeout=REQUEST_TIMEOUT)
            for name, url in self.targets.items()
        }

        def next_target() -> str:
            nonlocal step
            step += 1
            return names[step % len(names)]

        try:
            for index in itertools.count():
                if self._stop.is_set():
                    return
                email = f"f{self.run}-{number}-{index}@faults.example.com"
                if self._send(clients, next_target(), "POST", "/api/auth/register",
                              json={"email": email, "password": PASSWORD}) is None:
                    continue
                with self._lock:
                    self.registered.append(email)
                if not self.profiles:
                    continue
                login = self._send(clients, next_target(), "POST", "/api/auth/login",
                                   json={"email": email, "password": PASSWORD})
                if login is None:
                    continue
                name = f"Name {number} {index}"
                token = login.json()["accessToken"]
                if self._send(clients, next_target(), "PUT", "/api/user/profile",
                              json={"firstName": name},
                              headers={"Authorization": f"Bearer {token}"}) is not None:
                    with self._lock:
                        self.updated[email] = name
        finally:
            for client in clients.values():
                client.close()
