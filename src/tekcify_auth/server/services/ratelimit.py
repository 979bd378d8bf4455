"""Login rate limiting: failed attempts in sliding windows, in memory, in a file shared
by one server's workers, or in Redis.

Three counters of *failed* attempts, each over ``TEKCIFY_LOGIN_WINDOW`` seconds:

* account + client address (``TEKCIFY_LOGIN_MAX_FAILURES``, default 5): guessing at one
  account from one place;
* client address (``..._PER_ADDRESS``, default 50): one place guessing at many accounts;
* account (``..._PER_ACCOUNT``, default 100): many places guessing at one account.

The account-wide counter is what could let an attacker lock a real user out, so it
does not apply from an address that has logged in to that account before (remembered
for 30 days): the user's usual devices keep working while a botnet is throttled
(OWASP Authentication Cheat Sheet, "account lockout"). Every block is bounded: the
``Retry-After`` is at most one window, and blocked attempts are not counted, so a
block ends one window after the failures that caused it. A success clears the
account + address counter.

**Successful logins** are counted too, per account (``..._SUCCESSES_PER_ACCOUNT``,
default 60 per window): each costs a password hash and opens a session, so one user
with the password cannot make the server spend without bound. Past the limit a login
is refused before the password is checked, 429 with ``Retry-After`` as above.

**Client addresses** are counted through :func:`client_key`, the one key function of
both stores: an IPv4 address as itself (an IPv4-mapped IPv6 address too), an IPv6
address by its network of ``TEKCIFY_LOGIN_IPV6_PREFIX`` bits (default /64: a single
client usually holds a whole /64, so counting each address apart would let it guess
without limit).

Accounts are keyed by a hash of the normalised email, so Redis holds no email address.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import threading
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, Protocol

from .. import metrics
from ..db.sqlite_threads import ThreadConnections
from ..errors import ApiError, OAuthError

__all__ = [
    "ClientAuthLimiter", "EventLimiter", "LimitStore", "LoginLimiter", "MemoryLimitStore",
    "RedisLimitStore", "SqliteLimitStore", "client_key", "network_key",
]

TRUSTED_FOR: Final = 30 * 86_400.0
TOO_MANY: Final = "Too many failed login attempts; try again later"
TOO_MANY_LOGINS: Final = "Too many logins to this account; try again later"
TOO_MANY_CLIENT_FAILURES: Final = (
    "Too many failed client authentications from this address or for this client"
)


class LimitStore(Protocol):
    """Where the failure timestamps live (one process, or shared through Redis)."""

    def recent(self, key: str, window: float, now: float) -> tuple[int, float | None]:
        """How many events ``key`` had in the last ``window`` seconds, and the oldest."""
        ...

    def add(self, key: str, window: float, now: float, keep: int) -> None:
        """Record an event at ``now``; at most ``keep`` need to be remembered."""
        ...

    def clear(self, key: str) -> None:
        """Forget every event of ``key``."""
        ...

    def mark(self, key: str, ttl: float, now: float) -> None:
        """Remember ``key`` for ``ttl`` seconds."""
        ...

    def marked(self, key: str, now: float) -> bool:
        """Whether ``key`` is remembered."""
        ...


class MemoryLimitStore:
    """Per-process store, bounded: the least recently used keys are dropped first."""

    def __init__(self, max_keys: int = 100_000) -> None:
        self._events: OrderedDict[str, deque[float]] = OrderedDict()
        self._marks: OrderedDict[str, float] = OrderedDict()
        self._max_keys = max_keys
        self._lock = threading.Lock()

    def recent(self, key: str, window: float, now: float) -> tuple[int, float | None]:
        with self._lock:
            events = self._events.get(key)
            if not events:
                return 0, None
            while events and events[0] <= now - window:
                events.popleft()
            return len(events), (events[0] if events else None)

    def add(self, key: str, window: float, now: float, keep: int) -> None:
        with self._lock:
            events = self._events.get(key)
            if events is None or events.maxlen != keep:
                events = deque(events or (), maxlen=keep)
                self._events[key] = events
            events.append(now)
            self._events.move_to_end(key)
            while len(self._events) > self._max_keys:
                self._events.popitem(last=False)

    def clear(self, key: str) -> None:
        with self._lock:
            self._events.pop(key, None)

    def mark(self, key: str, ttl: float, now: float) -> None:
        with self._lock:
            self._marks[key] = now + ttl
            self._marks.move_to_end(key)
            while len(self._marks) > self._max_keys:
                self._marks.popitem(last=False)

    def marked(self, key: str, now: float) -> bool:
        with self._lock:
            until = self._marks.get(key)
            return until is not None and until > now


class RedisLimitStore:
    """Shared store: one sorted set of timestamps per key, expiring with its window."""

    def __init__(self, client: Any, prefix: str = "tekcify:login:") -> None:
        self._redis = client
        self._prefix = prefix

    def recent(self, key: str, window: float, now: float) -> tuple[int, float | None]:
        name = self._prefix + key
        pipe = self._redis.pipeline()
        pipe.zremrangebyscore(name, "-inf", now - window)
        pipe.zcard(name)
        pipe.zrange(name, 0, 0, withscores=True)
        _, count, oldest = pipe.execute()
        return int(count), (float(oldest[0][1]) if oldest else None)

    def add(self, key: str, window: float, now: float, keep: int) -> None:
        name = self._prefix + key
        pipe = self._redis.pipeline()
        pipe.zadd(name, {uuid.uuid4().hex: now})
        pipe.zremrangebyrank(name, 0, -keep - 1)
        pipe.expire(name, math.ceil(window))
        pipe.execute()

    def clear(self, key: str) -> None:
        self._redis.delete(self._prefix + key)

    def snapshot(
        self, keys: list[str], mark: str, window: float, now: float
    ) -> tuple[list[tuple[int, float | None]], bool]:
        """:meth:`recent` of every key and :meth:`marked` of ``mark``, in one round trip."""
        pipe = self._redis.pipeline()
        for key in keys:
            name = self._prefix + key
            pipe.zremrangebyscore(name, "-inf", now - window)
            pipe.zcard(name)
            pipe.zrange(name, 0, 0, withscores=True)
        pipe.exists(self._prefix + "mark:" + mark)
        answers = pipe.execute()
        counts = [
            (int(answers[3 * i + 1]),
             float(answers[3 * i + 2][0][1]) if answers[3 * i + 2] else None)
            for i in range(len(keys))
        ]
        return counts, bool(answers[-1])

    def mark(self, key: str, ttl: float, now: float) -> None:
        self._redis.set(self._prefix + "mark:" + key, "1", ex=math.ceil(ttl))

    def marked(self, key: str, now: float) -> bool:
        return bool(self._redis.exists(self._prefix + "mark:" + key))


class SqliteLimitStore:
    """Shared by the worker processes of one server: a small SQLite file of its own.

    ``tekcify-auth serve --workers N`` without Redis: every worker counts in the same
    file (WAL mode, so readers never wait), and the limits hold exactly as in one
    process. It lives beside the data (``TEKCIFY_DATA_DIR/login-limits.sqlite3``), apart
    from the server's database, so counting never waits on the server's writes. Only
    one host's workers can share it: several instances share their limits through
    Redis. Nothing in it outlives its window (or a mark its time to live) by long: each
    write drops what has expired.
    """

    def __init__(self, path: Path, timeout: float = 5.0, keep_for: float = 0.0) -> None:
        #: The longest window any limiter counts in: events younger stay for every key.
        self._keep_for = keep_for
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._connections = ThreadConnections(
            path, timeout=timeout, pragmas=["PRAGMA synchronous = NORMAL"]
        )
        connection = self._connections.get()
        connection.execute("PRAGMA journal_mode = WAL")
        connection.executescript(
            "CREATE TABLE IF NOT EXISTS events (key TEXT NOT NULL, at REAL NOT NULL);"
            "CREATE INDEX IF NOT EXISTS events_by_key ON events (key, at);"
            "CREATE INDEX IF NOT EXISTS events_by_time ON events (at);"
            "CREATE TABLE IF NOT EXISTS marks (key TEXT PRIMARY KEY, until REAL NOT NULL);"
        )

    def close(self) -> None:
        """Close this process's connections to the file."""
        self._connections.close()

    def recent(self, key: str, window: float, now: float) -> tuple[int, float | None]:
        count, oldest = self._connections.get().execute(
            "SELECT count(*), min(at) FROM events WHERE key = ? AND at > ?", (key, now - window)
        ).fetchone()
        return int(count), oldest

    def add(self, key: str, window: float, now: float, keep: int) -> None:
        connection = self._connections.get()
        connection.execute("BEGIN IMMEDIATE")
        try:
            connection.execute("INSERT INTO events (key, at) VALUES (?, ?)", (key, now))
            connection.execute(
                "DELETE FROM events WHERE key = ? AND rowid NOT IN (SELECT rowid FROM events "
                "WHERE key = ? ORDER BY at DESC LIMIT ?)", (key, key, keep),
            )
            # Whatever left the longest window (``keep_for``), of any key, goes: the
            # registration window is longer than the login one.
            connection.execute(
                "DELETE FROM events WHERE at <= ?", (now - max(window, self._keep_for),)
            )
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise

    def clear(self, key: str) -> None:
        self._connections.get().execute("DELETE FROM events WHERE key = ?", (key,))

    def mark(self, key: str, ttl: float, now: float) -> None:
        connection = self._connections.get()
        connection.execute("DELETE FROM marks WHERE until <= ?", (now,))
        connection.execute(
            "INSERT OR REPLACE INTO marks (key, until) VALUES (?, ?)", (key, now + ttl)
        )

    def marked(self, key: str, now: float) -> bool:
        row = self._connections.get().execute(
            "SELECT 1 FROM marks WHERE key = ? AND until > ?", (key, now)
        ).fetchone()
        return row is not None


def _account(email: str) -> str:
    return hashlib.sha256(email.encode()).hexdigest()[:32]


def client_key(address: str | None, ipv6_prefix: int = 64) -> str:
    """How the limiter counts the client ``address``: the part of every address key.

    IPv4 as itself; an IPv4-mapped IPv6 address (``::ffff:192.0.2.1``) as its IPv4; any
    other IPv6 address as its network of ``ipv6_prefix`` bits (``2001:db8:1:2::/64``),
    a zone (``%eth0``) dropped. ``-`` when there is no address; anything else that is
    not an address is kept as it is.
    """
    if not address:
        return "-"
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        network = ipaddress.IPv6Network((int(ip), ipv6_prefix), strict=False)
        return str(network)
    return str(ip)


def network_key(address: str | None, ipv4_prefix: int = 24, ipv6_prefix: int = 56) -> str:
    """The network ``address`` belongs to: ``/24`` for IPv4, ``/56`` for IPv6 by default.

    A /24 is the smallest network routed on the Internet, and a /56 what an ISP commonly
    gives one customer (RIPE-690): one network of either size is usually one operator.
    An IPv4-mapped IPv6 address counts as its IPv4; ``-`` without an address; anything
    that is not an address is kept as it is.
    """
    if not address:
        return "-"
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    prefix = ipv4_prefix if isinstance(ip, ipaddress.IPv4Address) else ipv6_prefix
    return str(ipaddress.ip_network((int(ip), prefix), strict=False))


class EventLimiter:
    """Events counted under keys in one sliding window of a :class:`LimitStore`.

    The registration and client-authentication limits: :meth:`wait` says how long until
    every counter of ``keys`` (``(key, limit)`` pairs) has room, :meth:`refuse` is the
    429 :class:`ApiError` with ``Retry-After`` (at most one window), :meth:`add` counts
    one event on each.
    """

    def __init__(self, store: LimitStore, *, window: float, clock: Callable[[], float]) -> None:
        self.store = store
        self.window = window
        self.clock = clock

    def wait(self, keys: list[tuple[str, int]]) -> float:
        """Seconds until every counter of ``keys`` has room; 0 when all do now."""
        now = self.clock()
        wait = 0.0
        for key, limit in keys:
            count, oldest = self.store.recent(key, self.window, now)
            if count >= limit and oldest is not None:
                wait = max(wait, oldest + self.window - now)
        return wait

    def retry_after(self, wait: float) -> int:
        """The ``Retry-After`` seconds of a refusal that must wait ``wait`` seconds."""
        return min(math.ceil(self.window), max(1, math.ceil(wait)))

    def check(self, keys: list[tuple[str, int]], message: str) -> None:
        """Raise the 429 :class:`ApiError` (``message``, ``Retry-After``) when any is full."""
        wait = self.wait(keys)
        if wait > 0:
            raise ApiError(
                429, message, headers={"Retry-After": str(self.retry_after(wait))}
            )

    def add(self, keys: list[tuple[str, int]]) -> None:
        """Count one event on every counter of ``keys``."""
        now = self.clock()
        for key, limit in keys:
            self.store.add(key, self.window, now, keep=limit)


#: The lockout metric's scope of each counter's key prefix.
_LOCKOUT_SCOPES: Final = {"aa": "account_address", "ad": "address", "ac": "account"}


class LoginLimiter:
    """Decides whether a login may be tried, and records how it went.

    ``clock`` returns seconds since the epoch. Raises the 429 :class:`ApiError` (with
    ``Retry-After``) from :meth:`check`.
    """

    def __init__(
        self,
        store: LimitStore,
        *,
        window: float,
        per_account_address: int,
        per_address: int,
        per_account: int,
        clock: Callable[[], float],
        per_account_successes: int | None = None,
        ipv6_prefix: int = 64,
    ) -> None:
        self.store = store
        self.window = window
        self.per_account_address = per_account_address
        self.per_address = per_address
        self.per_account = per_account
        self.per_account_successes = per_account_successes
        self.ipv6_prefix = ipv6_prefix
        self.clock = clock

    def _keys(self, email: str, address: str | None) -> list[tuple[str, int]]:
        account = _account(email)
        where = client_key(address, self.ipv6_prefix)
        keys = [
            (f"aa:{account}:{where}", self.per_account_address),
            (f"ad:{where}", self.per_address),
        ]
        if not self.store.marked(f"trusted:{account}:{where}", self.clock()):
            keys.append((f"ac:{account}", self.per_account))
        return keys

    def _wait(self, keys: list[tuple[str, int]], now: float) -> float:
        wait = 0.0
        for key, limit in keys:
            count, oldest = self.store.recent(key, self.window, now)
            if count >= limit and oldest is not None:
                wait = max(wait, oldest + self.window - now)
        return wait

    def _refuse(self, wait: float, message: str) -> ApiError:
        seconds = min(math.ceil(self.window), max(1, math.ceil(wait)))
        return ApiError(429, message, headers={"Retry-After": str(seconds)})

    def check(self, email: str, address: str | None, *, login: bool = False) -> None:
        """Raise 429 when any counter for this account or address is full.

        ``login``: this is a login (API or page), so the account's successful logins
        count as well.
        """
        now = self.clock()
        wait = self._wait(self._keys(email, address), now)
        if wait > 0:
            metrics.rate_limited("login")
            raise self._refuse(wait, TOO_MANY)
        if login and self.per_account_successes is not None:
            wait = self._wait([(f"ok:{_account(email)}", self.per_account_successes)], now)
            if wait > 0:
                metrics.rate_limited("login_successes")
                raise self._refuse(wait, TOO_MANY_LOGINS)

    def failed(self, email: str, address: str | None) -> None:
        """Count a failed attempt on every counter that applies."""
        now = self.clock()
        keys = self._keys(email, address)
        for key, limit in keys:
            self.store.add(key, self.window, now, keep=limit)
        if metrics.active():  # a read per counter: only when someone is counting
            for key, limit in keys:
                if self.store.recent(key, self.window, now)[0] == limit:  # this one filled it
                    metrics.lockout(_LOCKOUT_SCOPES[key.split(":", 1)[0]])

    def succeeded(self, email: str, address: str | None) -> None:
        """Count a successful login; clear its account + address counter, trust the address."""
        account = _account(email)
        where = client_key(address, self.ipv6_prefix)
        now = self.clock()
        if self.per_account_successes is not None:
            self.store.add(f"ok:{account}", self.window, now, keep=self.per_account_successes)
        self.store.clear(f"aa:{account}:{where}")
        self.store.mark(f"trusted:{account}:{where}", TRUSTED_FOR, now)


class ClientAuthLimiter:
    """Failed client authentications (token, introspection and revocation endpoints).

    Two counters of failures over one window, in the login limits' store:

    * per client address (``TEKCIFY_CLIENT_AUTH_MAX_FAILURES``): one place guessing
      secrets, of one client or many;
    * per ``client_id`` (``..._PER_CLIENT``), from every address: many places guessing
      one client's secret.

    While a counter is full every authentication it covers is refused, the right secret
    too, until the failures that filled it leave the window: nobody can keep guessing by
    slipping the right secret in. A client_id is public (it travels in authorization
    URLs), so anyone could fill its counter: as the login limiter does for accounts, an
    address this client authenticated from before (remembered 30 days) is not held by the
    per-client counter, so a client's own servers keep working through such an attack.
    Client ids are kept hashed.
    """

    def __init__(
        self,
        store: LimitStore,
        *,
        window: float,
        per_address: int,
        per_client: int,
        clock: Callable[[], float],
        ipv6_prefix: int = 64,
    ) -> None:
        self.store = store
        self.window = window
        self.per_address = per_address
        self.per_client = per_client
        self.clock = clock
        self.ipv6_prefix = ipv6_prefix

    def _where(self, address: str | None) -> str:
        return client_key(address, self.ipv6_prefix)

    @staticmethod
    def _client(client_id: str) -> str:
        return f"ca:id:{_account(client_id)}"

    def _snapshot(
        self, keys: list[str], mark: str, now: float
    ) -> tuple[list[tuple[int, float | None]], bool]:
        snapshot = getattr(self.store, "snapshot", None)
        if snapshot is not None:  # Redis: one round trip, on every authenticated request
            counts, marked = snapshot(keys, mark, self.window, now)
            return list(counts), bool(marked)
        counts = [self.store.recent(key, self.window, now) for key in keys]
        return counts, self.store.marked(mark, now)

    def check(self, client_id: str, address: str | None) -> bool:
        """Raise the 429 ``invalid_client`` :class:`OAuthError` when a counter is full;
        else whether the address is one the client authenticated from before (for
        :meth:`succeeded`)."""
        now = self.clock()
        where, by_client = self._where(address), self._client(client_id)
        (
            (at_address, oldest_at_address), (of_client, oldest_of_client)
        ), trusted = self._snapshot(
            [f"ca:ad:{where}", by_client], f"ca:trusted:{by_client}:{where}", now
        )
        wait = 0.0
        if at_address >= self.per_address and oldest_at_address is not None:
            wait = oldest_at_address + self.window - now
        if of_client >= self.per_client and oldest_of_client is not None and not trusted:
            wait = max(wait, oldest_of_client + self.window - now)
        if wait > 0:
            metrics.rate_limited("client_auth")
            seconds = min(math.ceil(self.window), max(1, math.ceil(wait)))
            raise OAuthError(
                "invalid_client", f"{TOO_MANY_CLIENT_FAILURES}; try again in {seconds} seconds",
                status_code=429, headers={"Retry-After": str(seconds)},
            )
        return trusted

    def failed(self, client_id: str | None, address: str | None) -> None:
        """Count a failure on the address's counter, and the client's when it named one."""
        now = self.clock()
        self.store.add(f"ca:ad:{self._where(address)}", self.window, now, keep=self.per_address)
        if client_id is not None:
            self.store.add(self._client(client_id), self.window, now, keep=self.per_client)

    def succeeded(self, client_id: str, address: str | None, *, trusted: bool) -> None:
        """Remember the address as the client's own, unless :meth:`check` found it was
        (``trusted``): a write once a month per client and address, no read."""
        if not trusted:
            mark = f"ca:trusted:{self._client(client_id)}:{self._where(address)}"
            self.store.mark(mark, TRUSTED_FOR, self.clock())
