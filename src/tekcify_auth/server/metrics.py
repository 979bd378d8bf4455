"""Prometheus metrics (``TEKCIFY_METRICS=true``, the ``[metrics]`` extra).

Off by default; with the setting off nothing here imports ``prometheus_client`` and every
recording function below is one ``None`` check.

**What is recorded.** The front layer (``middleware.py``) records each request by route
*template* (``/api/applications/{client_id}``, never the raw path), method and status,
with its latency, the fast lane's requests included (each latency noted in a plain list,
counted and written out every :data:`FLUSH_INTERVAL` seconds, and before this worker
answers a scrape). Other code calls the small functions below: :func:`sign_in`,
:func:`refresh_reuse`, :func:`rate_limited`, :func:`lockout`, :func:`token_issued` and
:func:`mail_failed`. Every label value is one
of a fixed set (anything else is recorded as ``other``), so no request can add a series.
At scrape time, cheaply (three counts and one small table read): the mail queue's depth
and failures, and the signing keys' ages; each worker samples its database pools every
:data:`POOL_SAMPLE_INTERVAL` seconds.

**Where it is served.** ``/metrics`` on the main port behind ``TEKCIFY_METRICS_TOKEN``
(a bearer token, compared in constant time), or on ``TEKCIFY_METRICS_PORT`` (its own
listener, on the host ``serve`` listens on, started by ``serve``; the token is checked
there too when set).

**Several workers.** ``tekcify-auth serve --workers N`` (N > 1) creates an empty folder,
names it in ``PROMETHEUS_MULTIPROC_DIR`` for its workers (prometheus-client's
multiprocess mode: each worker writes its values to files there) and deletes it when it
stops; a scrape of any worker, or of the metrics port, sums every worker's counters.
Under another process manager, set ``PROMETHEUS_MULTIPROC_DIR`` to an empty folder
yourself before the workers start.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import threading
from bisect import bisect_right
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import suppress
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from .settings import Settings, SettingsError

if TYPE_CHECKING:
    from starlette.types import Receive, Scope, Send

    from .context import ServerContext
    from .db.engine import Database

__all__ = [
    "FACTORS",
    "FLUSH_INTERVAL",
    "GRANTS",
    "INSTALL_HINT",
    "LIMITS",
    "LOCKOUTS",
    "MULTIPROC_ENV",
    "PENDING_LIMIT",
    "POOL_SAMPLE_INTERVAL",
    "SIGN_IN_RESULTS",
    "MetricsEndpoint",
    "MetricsUnavailable",
    "active",
    "flush",
    "lockout",
    "mail_failed",
    "rate_limited",
    "refresh_reuse",
    "sign_in",
    "token_issued",
]

logger = logging.getLogger("tekcify_auth.server")

#: What to install when ``TEKCIFY_METRICS=true`` finds no prometheus-client.
INSTALL_HINT: Final = 'pip install "tekcify-auth-backend[metrics]"'
#: The folder of prometheus-client's multiprocess mode.
MULTIPROC_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"
#: Seconds between two samples of a worker's database pools.
POOL_SAMPLE_INTERVAL: Final = 5.0
#: Seconds a worker's request counts may wait before they are written (a scrape of the
#: worker itself writes its own first).
FLUSH_INTERVAL: Final = 1.0
#: Latencies a route may hold before its request writes them out itself (the memory of
#: the noted latencies stays bounded if the once-a-second flush is late).
PENDING_LIMIT: Final = 50_000

#: The label values; anything else is recorded as ``other``.
SIGN_IN_RESULTS: Final = frozenset({"success", "failure", "challenge", "refused"})
FACTORS: Final = frozenset({"password", "otp", "passkey", "recovery_code"})
GRANTS: Final = frozenset({
    "password", "refresh_token", "authorization_code", "client_credentials",
})
LIMITS: Final = frozenset({"login", "login_successes", "mail", "registration", "client_auth"})
LOCKOUTS: Final = frozenset({"account_address", "address", "account", "code"})
_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_OTHER: Final = "other"
#: The route label of a request no route matched (a 404 for a random path).
UNMATCHED: Final = "unmatched"
_BUCKETS: Final = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)


class MetricsUnavailable(SettingsError):
    """``TEKCIFY_METRICS=true`` without prometheus-client, or with several workers and no
    multiprocess folder; the message says what to do."""

    def __init__(self, problem: str) -> None:
        super().__init__([problem])


def _bounded(value: str, allowed: frozenset[str]) -> str:
    return value if value in allowed else _OTHER


class _Metrics:
    """The process's metric objects (created once per process)."""

    def __init__(self, multiprocess: bool) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.multiprocess = multiprocess
        # In multiprocess mode the values live in files and a scrape reads them all.
        self.registry = None if multiprocess else CollectorRegistry()
        registry = self.registry
        self.requests = Counter(
            "tekcify_http_requests", "HTTP requests by route template, method and status.",
            ["route", "method", "status"], registry=registry,
        )
        self.duration = Histogram(
            "tekcify_http_request_duration_seconds",
            "HTTP request latency by route template and method.",
            ["route", "method"], registry=registry, buckets=_BUCKETS,
        )
        self.sign_ins = Counter(
            "tekcify_sign_ins", "Sign-in attempts by result and factor.",
            ["result", "factor"], registry=registry,
        )
        self.reuse = Counter(
            "tekcify_refresh_token_reuse",
            "Refresh tokens presented again after rotation (the session is revoked).",
            registry=registry,
        )
        self.refusals = Counter(
            "tekcify_rate_limit_refusals", "Requests refused by a rate limit (429).",
            ["limit"], registry=registry,
        )
        self.lockouts = Counter(
            "tekcify_lockouts",
            "Failed attempts that filled a limit: the account, address or code is locked "
            "for a window.",
            ["scope"], registry=registry,
        )
        self.tokens = Counter(
            "tekcify_tokens_issued", "Access tokens issued by grant.", ["grant"],
            registry=registry,
        )
        self.mail_failures = Counter(
            "tekcify_mail_delivery_failures",
            "Failed mail delivery attempts (final: the message was given up).",
            ["final"], registry=registry,
        )
        self.pool = Gauge(
            "tekcify_db_pool_connections",
            f"Database connections by engine and state (sampled every "
            f"{POOL_SAMPLE_INTERVAL:g} s per worker, summed).",
            ["engine", "state"], registry=registry, multiprocess_mode="livesum",
        )
        self.workers = Gauge(
            "tekcify_worker_processes", "Worker processes recording metrics.",
            registry=registry, multiprocess_mode="livesum",
        )
        for result in SIGN_IN_RESULTS:
            for factor in FACTORS:
                self.sign_ins.labels(result, factor)
        for limit in LIMITS:
            self.refusals.labels(limit)
        for scope in LOCKOUTS:
            self.lockouts.labels(scope)
        for grant in GRANTS:
            self.tokens.labels(grant)
        for final in ("true", "false"):
            self.mail_failures.labels(final)
        # (route, method, status) -> the request counter's and histogram's children.
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        # The latencies of the requests since the last flush, by the same key.
        self._pending: dict[tuple[str, str, int], list[float]] = {}
        # Tokens issued since the last flush (appended from any thread; drained by flush),
        # and each grant's counter child (labels() is a locked lookup: bound once).
        self._issued: deque[str] = deque()
        self._grants = {grant: self.tokens.labels(grant) for grant in (*GRANTS, _OTHER)}

    def request(self, scope: Scope, status: int, seconds: float) -> None:
        """Note a request's latency (on the event loop; :meth:`flush` counts them).

        prometheus-client's own ``inc`` and ``observe`` take a lock and, in multiprocess
        mode, write a memory-mapped file, three times per request. The profile in
        ``benchmarks/profiles/`` found even counting here (three additions and the
        bucket's bisection per request) the most of what remained: the hot paths append
        one number to a list, and a flush sorts each list once to fill the buckets.
        """
        template = scope.get("tekcify.route") or route_template(scope)
        method = scope.get("method", "")
        if method not in _METHODS:
            method = _OTHER
        key = (template, method, status)
        latencies = self._pending.get(key)
        if latencies is None:
            latencies = self._pending[key] = []
        latencies.append(seconds)
        if len(latencies) >= PENDING_LIMIT:  # the sampler is late (a blocked event loop)
            self.flush()

    def flush(self) -> None:
        """Write the requests and tokens noted since the last flush (event loop)."""
        pending, self._pending = self._pending, {}
        for key, latencies in pending.items():
            children = self._children.get(key)
            if children is None:
                # Bounded: templates are the app's routes, methods and statuses fixed sets.
                template, method, status = key
                children = (
                    self.requests.labels(template, method, str(status)),
                    self.duration.labels(template, method),
                )
                self._children[key] = children
            counter, histogram = children
            counter.inc(len(latencies))
            # Histogram.observe() takes one value; its sum and buckets take the batch.
            histogram._sum.inc(sum(latencies))
            latencies.sort()
            below = 0  # latencies in the buckets so far (each bucket: up to its bound)
            for index, bound in enumerate(_BUCKETS):
                upto = bisect_right(latencies, bound, below)
                if upto > below:
                    histogram._buckets[index].inc(upto - below)
                below = upto
            if below < len(latencies):
                histogram._buckets[len(_BUCKETS)].inc(len(latencies) - below)  # +Inf
        issued = self._issued
        if issued:
            grants: dict[str, int] = {}
            for _ in range(len(issued)):  # not past what is there now: threads append
                grant = issued.popleft()
                grants[grant] = grants.get(grant, 0) + 1
            for grant, count in grants.items():
                self._grants[grant].inc(count)


def route_template(scope: Scope) -> str:
    """The matched route's template (FastAPI's, or the fast lane's), else ``unmatched``."""
    template = scope.get("tekcify.route")
    if template is None:
        template = getattr(scope.get("route"), "path", None)
    return template if isinstance(template, str) and template else UNMATCHED


_lock = threading.Lock()
_metrics: _Metrics | None = None
_users = 0
#: The metrics of this process while a server with metrics on runs in it, else ``None``.
_active: _Metrics | None = None


def check_available(settings: Settings) -> None:
    """Raise :class:`MetricsUnavailable` when metrics are on and cannot be recorded."""
    if not settings.metrics:
        return
    try:
        import prometheus_client  # noqa: F401
    except ImportError:
        raise MetricsUnavailable(
            f"TEKCIFY_METRICS=true needs the prometheus-client package: {INSTALL_HINT}"
        ) from None
    if settings.workers > 1 and not os.environ.get(MULTIPROC_ENV):
        raise MetricsUnavailable(
            f"TEKCIFY_METRICS=true with {settings.workers} workers needs {MULTIPROC_ENV} "
            "(an empty folder the workers share): `tekcify-auth serve` sets it; under "
            "another process manager set it yourself"
        )


def acquire() -> _Metrics:
    """Turn recording on in this process (a server with metrics on starts)."""
    global _metrics, _users, _active
    with _lock:
        if _metrics is None:
            _metrics = _Metrics(multiprocess=bool(os.environ.get(MULTIPROC_ENV)))
        _users += 1
        _active = _metrics
        _metrics.workers.set(1)
        return _metrics


def release() -> None:
    """A server with metrics on stops; recording ends with the last one."""
    global _users, _active
    with _lock:
        _users = max(0, _users - 1)
        if _users == 0 and _metrics is not None:
            _metrics.flush()
            _active = None
            _metrics.workers.set(0)
            if _metrics.multiprocess:
                from prometheus_client import multiprocess

                # Its live gauges (pools, workers) leave the sums; counters stay.
                multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


def active() -> bool:
    """Whether this process records metrics now."""
    return _active is not None


# -- what other code records ---------------------------------------------------------


def sign_in(result: str, factor: str = "password") -> None:
    """A sign-in attempt: ``result`` in :data:`SIGN_IN_RESULTS` (``success``; ``failure``:
    wrong credentials or code; ``challenge``: a second factor is asked for; ``refused``:
    rate limited, disabled or unverified), ``factor`` in :data:`FACTORS`."""
    metrics = _active
    if metrics is not None:
        metrics.sign_ins.labels(
            _bounded(result, SIGN_IN_RESULTS), _bounded(factor, FACTORS)
        ).inc()


def refresh_reuse() -> None:
    """A rotated refresh token was presented again (its session is revoked)."""
    metrics = _active
    if metrics is not None:
        metrics.reuse.inc()


def rate_limited(limit: str) -> None:
    """A request refused with 429 by the limit ``limit`` (in :data:`LIMITS`)."""
    metrics = _active
    if metrics is not None:
        metrics.refusals.labels(_bounded(limit, LIMITS)).inc()


def lockout(scope: str) -> None:
    """A failed attempt filled the limit ``scope`` (in :data:`LOCKOUTS`)."""
    metrics = _active
    if metrics is not None:
        metrics.lockouts.labels(_bounded(scope, LOCKOUTS)).inc()


def token_issued(grant: str) -> None:
    """An access token issued by ``grant`` (in :data:`GRANTS`)."""
    metrics = _active
    if metrics is not None:
        # A hot path: counted at flush.
        metrics._issued.append(grant if grant in GRANTS else _OTHER)


def mail_failed(*, final: bool) -> None:
    """A mail delivery attempt failed; ``final`` when the message is given up."""
    metrics = _active
    if metrics is not None:
        metrics.mail_failures.labels("true" if final else "false").inc()


# -- sampled and scraped -------------------------------------------------------------


def sample_pools(db: Database) -> None:
    """Record this process's database pool usage (checked out and idle connections)."""
    metrics = _active
    if metrics is None:
        return
    engines = [("main", db.engine)]
    if db.lookup_engine is not db.engine:
        engines.append(("lookups", db.lookup_engine))
    for name, engine in engines:
        pool: Any = engine.pool
        with suppress(AttributeError, TypeError):
            metrics.pool.labels(name, "in_use").set(pool.checkedout())
            metrics.pool.labels(name, "idle").set(pool.checkedin())


def flush() -> None:
    """Write out the requests counted since the last flush (on the event loop)."""
    metrics = _active
    if metrics is not None:
        metrics.flush()


async def sample_periodically(db: Database, interval: float = POOL_SAMPLE_INTERVAL) -> None:
    """:func:`flush` every :data:`FLUSH_INTERVAL` and :func:`sample_pools` every
    ``interval`` seconds, until cancelled."""
    every = max(1, round(interval / FLUSH_INTERVAL))
    tick = 0
    while True:
        flush()
        if tick % every == 0:
            sample_pools(db)
        tick += 1
        await asyncio.sleep(FLUSH_INTERVAL)


class _DatabaseCollector:
    """The facts kept in the database, read at scrape time: the mail queue and the keys."""

    def __init__(self, db: Database, clock: Callable[[], datetime]) -> None:
        self.db = db
        self.clock = clock

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily
        from sqlalchemy import and_, func, select
        from sqlalchemy.exc import SQLAlchemyError

        from .db.models import SigningKey
        from .db.security import MailMessage

        up = GaugeMetricFamily(
            "tekcify_scrape_database_up",
            "1 when the scrape could read the mail queue and keys from the database.",
        )
        pending = and_(MailMessage.sent_at.is_(None), MailMessage.failed_at.is_(None))
        try:
            with self.db.read() as session:
                def count(*where: Any) -> int:
                    query = select(func.count()).select_from(MailMessage).where(*where)
                    return int(session.scalar(query) or 0)

                depth = count(pending)
                retrying = count(pending, MailMessage.attempts > 0)
                failed = count(MailMessage.failed_at.is_not(None))
                keys = session.execute(
                    select(
                        SigningKey.created_at, SigningKey.activates_at,
                        SigningKey.retired_at, SigningKey.revoked_at,
                    )
                ).all()
        except SQLAlchemyError:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        queue = GaugeMetricFamily(
            "tekcify_mail_queue_depth",
            "Messages waiting to be sent (retrying: after a failed attempt).",
            labels=["state"],
        )
        queue.add_metric(["due"], depth - retrying)
        queue.add_metric(["retrying"], retrying)
        yield queue
        yield GaugeMetricFamily(
            "tekcify_mail_failed_messages",
            "Messages given up (kept until the purge deletes them).", value=failed,
        )
        now = self.clock()
        states: dict[str, list[datetime]] = {
            "next": [], "active": [], "retired": [], "revoked": [],
        }
        for created, activates, retired_at, revoked_at in keys:
            # As keystore.key_state, from the columns (a retired key past its retention
            # counts as retired until the next rotation deletes it).
            if revoked_at is not None:
                state = "revoked"
            elif retired_at is not None and retired_at <= now:
                state = "retired"
            elif (activates or created) > now:
                state = "next"
            else:
                state = "active"
            states[state].append(created)
        signing = states["active"]
        published = [created for created, *_rest, revoked_at in keys if revoked_at is None]
        ages = GaugeMetricFamily(
            "tekcify_signing_key_age_seconds",
            "Age of the newest signing key and of the oldest key still published "
            "(asymmetric algorithms; none with HS256).",
            labels=["key"],
        )
        if signing:
            ages.add_metric(["signing"], (now - max(signing)).total_seconds())
        if published:
            ages.add_metric(["oldest_published"], (now - min(published)).total_seconds())
        yield ages
        counts = GaugeMetricFamily(
            "tekcify_signing_keys",
            "Signing keys by state (next and active and retired ones are in the JWKS).",
            labels=["state"],
        )
        for state, created_times in states.items():
            counts.add_metric([state], len(created_times))
        yield counts


class _ProcessCollector:
    """This process's metrics, or every worker's in multiprocess mode."""

    def collect(self) -> Iterator[Any]:
        folder = os.environ.get(MULTIPROC_ENV)
        if folder:
            from prometheus_client import multiprocess

            collector = multiprocess.MultiProcessCollector(None, path=folder)  # type: ignore[no-untyped-call]
            yield from collector.collect()  # type: ignore[no-untyped-call]
        elif _metrics is not None and _metrics.registry is not None:
            yield from _metrics.registry.collect()


def render(db: Database, clock: Callable[[], datetime]) -> tuple[bytes, str]:
    """The exposition: the body and its content type (blocking: call in a thread)."""
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_ProcessCollector())
    registry.register(_DatabaseCollector(db, clock))
    return generate_latest(registry), CONTENT_TYPE_LATEST


def authorized(header: bytes | None, token: bytes | None) -> bool:
    """Whether ``header`` (``Authorization``) carries ``token``; compared in constant time."""
    if token is None:
        return True
    if header is None:
        return False
    scheme, _, given = header.partition(b" ")
    return scheme.lower() == b"bearer" and hmac.compare_digest(given.strip(), token)


_UNAUTHORIZED: Final = b'{"statusCode":401,"error":"Unauthorized","message":"Unauthorized"}'


class MetricsEndpoint:
    """``/metrics`` on the main port (ASGI), behind ``TEKCIFY_METRICS_TOKEN``."""

    def __init__(self, ctx: ServerContext) -> None:
        self.ctx = ctx
        token = ctx.settings.metrics_token
        self.token = token.get_secret_value().encode() if token is not None else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        import anyio.to_thread

        header = next(
            (value for name, value in scope.get("headers", ()) if name == b"authorization"),
            None,
        )
        if not authorized(header, self.token):
            await send({
                "type": "http.response.start", "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"www-authenticate", b'Bearer realm="metrics"'),
                    (b"content-length", str(len(_UNAUTHORIZED)).encode()),
                ],
            })
            await send({"type": "http.response.body", "body": _UNAUTHORIZED})
            return
        flush()
        sample_pools(self.ctx.db)
        body, content_type = await anyio.to_thread.run_sync(
            render, self.ctx.db, self.ctx.clock
        )
        await send({
            "type": "http.response.start", "status": 200,
            "headers": [
                (b"content-type", content_type.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
            ],
        })
        await send({"type": "http.response.body", "body": body})


# -- the metrics port (serve) --------------------------------------------------------


def serve_port(settings: Settings, host: str) -> Callable[[], None]:
    """Serve ``/metrics`` on ``TEKCIFY_METRICS_PORT`` at ``host`` in a thread of this
    process (``tekcify-auth serve``'s; its workers write where it reads). Returns the
    function that stops it. Raises :class:`OSError` when the port cannot be bound."""
    from socketserver import ThreadingMixIn
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

    from .context import utcnow
    from .db.engine import Database

    assert settings.metrics_port is not None
    db = Database(settings.effective_database_url, timeout=settings.db_timeout, pool_size=1)
    token = settings.metrics_token
    secret = token.get_secret_value().encode() if token is not None else None

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") not in ("/metrics", "/"):
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"Not found: scrape /metrics\n"]
        header = environ.get("HTTP_AUTHORIZATION")
        if not authorized(header.encode("latin-1") if header else None, secret):
            start_response("401 Unauthorized", [
                ("Content-Type", "application/json"),
                ("WWW-Authenticate", 'Bearer realm="metrics"'),
            ])
            return [_UNAUTHORIZED]
        body, content_type = render(db, utcnow)
        start_response("200 OK", [
            ("Content-Type", content_type), ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
        ])
        return [body]

    class _Server(ThreadingMixIn, WSGIServer):
        daemon_threads = True
        allow_reuse_address = True

    class _Quiet(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    if ":" in host:
        import socket

        class _Server6(_Server):
            address_family = socket.AF_INET6

        server_class: type[WSGIServer] = _Server6
    else:
        server_class = _Server
    try:
        httpd = make_server(
            host, settings.metrics_port, app, server_class=server_class, handler_class=_Quiet
        )
    except OSError:
        db.dispose()
        raise
    thread = threading.Thread(target=httpd.serve_forever, name="tekcify-metrics", daemon=True)
    thread.start()

    def stop() -> None:
        httpd.shutdown()
        httpd.server_close()
        db.dispose()

    return stop


StopSampler = Callable[[], Awaitable[None]]


def start(ctx: ServerContext) -> StopSampler:
    """In the app's lifespan: record, and sample the pools; returns the stopping coroutine."""
    acquire()
    sampling = asyncio.create_task(sample_periodically(ctx.db))

    async def stop() -> None:
        sampling.cancel()
        with suppress(asyncio.CancelledError):
            await sampling
        release()

    return stop
