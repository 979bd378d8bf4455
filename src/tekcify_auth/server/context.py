"""What a running server holds: settings, database, clock, signer and Bearer guard.

One :class:`ServerContext` per app, stored at ``app.state.ctx`` and handed to routes by
the ``Ctx`` dependency (``routers/deps.py``). :meth:`ServerContext.start` runs in the
app's lifespan: it prepares the database, applies migrations and loads the signing
key; :meth:`ServerContext.stop` closes the pool.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import inspect

from tekcify_auth._guard import GuardCore

from .db.engine import Database
from .db.migrate import upgrade
from .services.keys import build_id_token_signer, build_signer, key_cipher
from .services.keystore import KeyCipher
from .services.passwords import Passwords
from .services.ratelimit import (
    ClientAuthLimiter,
    EventLimiter,
    LimitStore,
    LoginLimiter,
    MemoryLimitStore,
    RedisLimitStore,
    SqliteLimitStore,
)
from .services.signing import KeyRingSigner, Signer
from .settings import Settings, SettingsError

__all__ = ["LIMITS_FILE", "Clock", "ServerContext", "utcnow"]

#: The login limits shared by the workers of one server without Redis (in the data folder).
LIMITS_FILE = "login-limits.sqlite3"

#: The server's notion of now: an aware UTC datetime. Tests inject their own.
Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """The current time, UTC, aware."""
    return datetime.now(UTC)


class ServerContext:
    """The state of one server; build with :func:`~tekcify_auth.server.create_app`."""

    def __init__(self, settings: Settings, *, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock: Clock = clock or utcnow
        if settings.database_url is None:
            # The data folder will hold the database (password hashes) and the secret.
            settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.db = Database(settings.effective_database_url, timeout=settings.db_timeout)
        self._signer: Signer | None = None
        self._id_signer: KeyRingSigner | None = None
        self._guard: GuardCore | None = None
        self._passwords: Passwords | None = None
        self._limiter: LoginLimiter | None = None
        self._events: EventLimiter | None = None
        self._client_auth: ClientAuthLimiter | None = None
        self._redis: Any = None
        self._cipher: KeyCipher | None = None
        #: A sentence saying where the signing key comes from (printed at start-up).
        self.key_source = ""
        #: The algorithm tokens are signed with: ``TEKCIFY_SIGNING_ALG``, or once started
        #: the one recorded in the database (``services/keystore.py``).
        self.signing_alg: str = settings.signing_alg or "HS256"

    def timestamp(self) -> float:
        """Now as seconds since the epoch (the verifier's clock)."""
        return self.clock().timestamp()

    def start(self) -> None:
        """Prepare storage, migrate (unless turned off) and load the signing key.

        Raises :class:`~tekcify_auth.server.settings.SettingsError` when
        ``TEKCIFY_SIGNING_ALG`` differs from the algorithm recorded in the database, or
        a stored key does not decrypt.
        """
        self.db.prepare()
        if self.settings.migrate_on_start:
            upgrade(self.db)
        elif not inspect(self.db.engine).has_table("server_state"):
            # The signing algorithm is recorded there (0008); say so rather than fail in SQL.
            raise SettingsError([
                f"the database {self.db.describe()} has not been migrated to this version "
                "(TEKCIFY_MIGRATE_ON_START=false): run `tekcify-auth db upgrade` first"
            ])
        self._signer, self.key_source = build_signer(self.settings, self.db, self.clock)
        self.signing_alg = self._signer.algorithm
        self._id_signer = build_id_token_signer(self.settings, self.db, self.clock, self._signer)
        verifier = self._signer.verifier(
            issuer=self.settings.issuer, audience=self.settings.audience, clock=self.timestamp
        )
        # Client tokens (no user) get through the Bearer check here: each account route's
        # AccessRule refuses them with 403 insufficient_scope (routers/deps.py), and the
        # OAuth endpoints have rules of their own.
        self._guard = GuardCore(verifier, allow_client_tokens=True)
        self._passwords = Passwords(
            time_cost=self.settings.argon2_time_cost,
            memory_cost=self.settings.argon2_memory_cost,
            parallelism=self.settings.argon2_parallelism,
        )
        store = self._limit_store()
        # Registrations and failed client authentications count in the login limits'
        # store: in memory, the workers' file or Redis, shared as the login limits are.
        self._events = EventLimiter(
            store, window=self.settings.registration_window, clock=self.timestamp
        )
        self._client_auth = ClientAuthLimiter(
            store, window=self.settings.login_window,
            per_address=self.settings.client_auth_max_failures,
            per_client=self.settings.client_auth_max_failures_per_client,
            ipv6_prefix=self.settings.login_ipv6_prefix, clock=self.timestamp,
        )
        self._limiter = LoginLimiter(
            store,
            window=self.settings.login_window,
            per_account_address=self.settings.login_max_failures,
            per_address=self.settings.login_max_failures_per_address,
            per_account=self.settings.login_max_failures_per_account,
            per_account_successes=self.settings.login_max_successes_per_account,
            ipv6_prefix=self.settings.login_ipv6_prefix,
            clock=self.timestamp,
        )

    def _limit_store(self) -> LimitStore:
        if self.settings.redis_url is None:
            if self.settings.workers > 1:
                # The workers of `serve --workers N` count in one file, exactly.
                return SqliteLimitStore(
                    self.settings.data_dir / LIMITS_FILE, timeout=self.settings.db_timeout,
                    keep_for=max(self.settings.login_window, self.settings.registration_window),
                )
            return MemoryLimitStore()
        import redis

        self._redis = redis.Redis.from_url(
            self.settings.redis_url,
            socket_timeout=self.settings.db_timeout,
            socket_connect_timeout=self.settings.db_timeout,
        )
        return RedisLimitStore(self._redis)

    def stop(self) -> None:
        """Release the database connections (and those of the limits' file or Redis)."""
        self.db.dispose()
        if self._limiter is not None and isinstance(self._limiter.store, SqliteLimitStore):
            self._limiter.store.close()
        if self._redis is not None:
            self._redis.close()
            self._redis = None

    @property
    def signer(self) -> Signer:
        """The signing service (available once started)."""
        if self._signer is None:
            raise RuntimeError("the server is not started (run the app's lifespan)")
        return self._signer

    @property
    def id_token_signer(self) -> KeyRingSigner:
        """The RS256 signer of id tokens (available once started; ``services/keys.py``)."""
        if self._id_signer is None:
            raise RuntimeError("the server is not started (run the app's lifespan)")
        return self._id_signer

    def jwks(self) -> dict[str, Any]:
        """The published keys: the access tokens' (none for HS256), then the id tokens'."""
        keys = self.signer.jwks()["keys"]
        seen = {entry.get("kid") for entry in keys}
        extra = [e for e in self.id_token_signer.jwks()["keys"] if e.get("kid") not in seen]
        return {"keys": [*keys, *extra]}

    @property
    def passwords(self) -> Passwords:
        """The password hasher (available once started)."""
        if self._passwords is None:
            raise RuntimeError("the server is not started (run the app's lifespan)")
        return self._passwords

    @property
    def limiter(self) -> LoginLimiter:
        """The login rate limiter (available once started)."""
        if self._limiter is None:
            raise RuntimeError("the server is not started (run the app's lifespan)")
        return self._limiter

    @property
    def key_cipher(self) -> KeyCipher:
        """The cipher of the key-encryption secret (``services/keys.py``): it seals the
        private signing keys and the users' TOTP secrets."""
        if self._cipher is None:
            self._cipher = key_cipher(self.settings)[0]
        return self._cipher

    @property
    def registrations(self) -> EventLimiter:
        """The registration limits, in the login limits' store (once started)."""
        if self._events is None:
            raise RuntimeError("the server is not started (run the app's lifespan)")
        return self._events

    @property
    def client_auth_limits(self) -> ClientAuthLimiter:
        """The failed client authentication limits, in the same store (once started)."""
        if self._client_auth is None:
            raise RuntimeError("the server is not started (run the app's lifespan)")
        return self._client_auth

    @property
    def guard(self) -> GuardCore:
        """The library's guard core, verifying with :attr:`signer`'s keys."""
        if self._guard is None:
            raise RuntimeError("the server is not started (run the app's lifespan)")
        return self._guard
