"""The engine and its transactions, for SQLite and PostgreSQL alike.

:class:`Database` hands out sessions through two context managers: :meth:`Database.read`
and :meth:`Database.write`. On SQLite a write transaction starts with ``BEGIN
IMMEDIATE``: it takes the write lock at once (waiting up to the busy timeout) rather
than upgrading a read lock later, which in WAL mode fails at once with
``SQLITE_BUSY`` whenever another writer committed in between. On PostgreSQL
transactions are READ COMMITTED; the services use conditional UPDATEs for the races
that matter (refresh-token rotation).

**Liveness.** A pooled connection is not pinged on every checkout (``pool_pre_ping``
cost a ``SELECT 1`` per request, 29% of the introspection endpoint's own time in the
issue 12 profile). On SQLite there is nothing to ping: the file does not go away. On
PostgreSQL a connection that sat idle in the pool for more than :data:`IDLE_PING`
seconds is pinged before use (the server may have restarted meanwhile); under load
connections are reused long before that, and a connection lost mid-use is dropped from
the pool with every older one (SQLAlchemy's disconnect handling).

**Where reads run.** :meth:`Database.run_read` runs a read-only function for an async
route: inline on SQLite, where a read in WAL mode never waits for a writer and takes
microseconds (a hop to a worker thread cost more than the work, and 32 threads handing
the GIL around cost more again); on PostgreSQL in a worker thread, at most
:data:`READ_THREADS` at a time, since a query there waits on the network.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final, ParamSpec, TypeVar

import anyio
import anyio.to_thread
from sqlalchemy import Engine, create_engine, event, exc, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import Session

from .lookups import Lookups

__all__ = ["IDLE_PING", "READ_THREADS", "UNAVAILABLE_ERRORS", "Database", "DatabaseUnavailable"]

_WRITE: Final = "tekcify_write"
_P = ParamSpec("_P")
_T = TypeVar("_T")
#: Seconds a PostgreSQL connection may sit in the pool before it is pinged on checkout.
IDLE_PING: Final = 10.0
#: Worker threads running PostgreSQL reads for async routes, per process.
READ_THREADS: Final = 8
_CHECKED_IN: Final = "tekcify_checked_in"

#: Errors that mean "the database cannot answer now" (locked, gone, pool exhausted).
UNAVAILABLE_ERRORS: Final = (OperationalError, InterfaceError, PoolTimeoutError)


class DatabaseUnavailable(Exception):
    """Raised by :meth:`Database.ping` when the database does not answer."""


class Database:
    """An engine for ``url`` with the connection settings the server needs.

    ``timeout`` (seconds) bounds how long a statement waits for a lock (SQLite busy
    timeout, PostgreSQL ``lock_timeout``) and for a PostgreSQL connection; past it the
    request fails with an error the app turns into 503.
    """

    def __init__(self, url: str | URL, *, timeout: float = 5.0, pool_size: int = 10) -> None:
        self.url = make_url(url)
        self.dialect = self.url.get_backend_name()
        self.timeout = timeout
        # hide_parameters: an unexpected database error is logged with its statement, and
        # its parameters (emails, token hashes) must not go with it.
        kwargs: dict[str, Any] = {"hide_parameters": True}
        if self.dialect == "sqlite":
            self._prepare_sqlite_path()
            kwargs["connect_args"] = {"timeout": timeout, "check_same_thread": False}
            kwargs.update(pool_size=pool_size, max_overflow=2 * pool_size)
        elif self.dialect == "postgresql":
            lock_ms = max(1, int(timeout * 1000))
            options = self.url.query.get("options", "")
            if isinstance(options, tuple):
                options = " ".join(options)
            kwargs["connect_args"] = {
                "connect_timeout": max(1, round(timeout)),
                "options": f"{options} -c lock_timeout={lock_ms}".strip(),
                "application_name": "tekcify-auth",
            }
            self.url = self.url.difference_update_query(["options"])
            kwargs.update(pool_size=pool_size, max_overflow=2 * pool_size, pool_timeout=timeout)
        else:
            raise ValueError(f"unsupported database {self.dialect!r}: use SQLite or PostgreSQL")
        self.engine: Engine = create_engine(self.url, **kwargs)
        #: The engine of the lookups (``db/lookups.py``): on PostgreSQL a small pool of its
        #: own in autocommit, so a lookup is one round trip (no BEGIN, no ROLLBACK).
        self.lookup_engine: Engine = self.engine
        if self.dialect == "sqlite":
            self._install_sqlite_hooks()
        else:
            kwargs.update(
                pool_size=READ_THREADS, max_overflow=READ_THREADS, isolation_level="AUTOCOMMIT"
            )
            self.lookup_engine = create_engine(self.url, **kwargs)
            self._install_idle_ping(self.engine)
            self._install_idle_ping(self.lookup_engine)
        self._write_engine = self.engine.execution_options(**{_WRITE: True})
        #: The hot paths' one-statement reads (``db/lookups.py``).
        self.lookups = Lookups(self)
        self._read_limiter: anyio.CapacityLimiter | None = None

    @property
    def is_sqlite(self) -> bool:
        """Whether this is SQLite (single writer) rather than PostgreSQL."""
        return self.dialect == "sqlite"

    def _prepare_sqlite_path(self) -> None:
        database = self.url.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)

    def _install_sqlite_hooks(self) -> None:
        busy_ms = max(1, int(self.timeout * 1000))

        @event.listens_for(self.engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Take transaction control from pysqlite so BEGIN is ours (see do_begin).
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute(f"PRAGMA busy_timeout = {busy_ms}")
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.close()

        @event.listens_for(self.engine, "begin")
        def _on_begin(connection: Any) -> None:
            immediate = connection.get_execution_options().get(_WRITE, False)
            statement = "BEGIN IMMEDIATE" if immediate else "BEGIN"
            # On the driver's connection: through exec_driver_sql this statement cost as
            # much as the query of a read session. Its errors (locked) as SQLAlchemy's.
            try:
                connection.connection.driver_connection.execute(statement)
            except sqlite3.Error as error:
                raise exc.DBAPIError.instance(
                    statement, (), error, sqlite3.Error, dialect=self.engine.dialect
                ) from error

    def _install_idle_ping(self, engine: Engine) -> None:
        @event.listens_for(engine, "checkin")
        def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
            if record is not None:
                record.info[_CHECKED_IN] = time.monotonic()

        @event.listens_for(engine, "checkout")
        def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
            since = record.info.get(_CHECKED_IN)
            if since is None or time.monotonic() - since < IDLE_PING:
                return
            try:
                cursor = dbapi_connection.cursor()
                try:
                    cursor.execute("SELECT 1")
                finally:
                    cursor.close()
                dbapi_connection.rollback()
            except Exception as error:
                # The pool discards this connection and checks out another (a new one).
                raise exc.DisconnectionError(str(error).splitlines()[0]) from error

    async def run_read(
        self, function: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs
    ) -> _T:
        """``function(*args, **kwargs)``, which only reads, for an async route.

        Inline on SQLite, in a worker thread (at most :data:`READ_THREADS`) on PostgreSQL;
        see the module docstring.
        """
        if self.is_sqlite:
            return function(*args, **kwargs)
        if self._read_limiter is None:
            self._read_limiter = anyio.CapacityLimiter(READ_THREADS)
        return await anyio.to_thread.run_sync(
            lambda: function(*args, **kwargs), limiter=self._read_limiter
        )

    def prepare(self) -> None:
        """One-time set-up before first use: WAL mode on SQLite (kept in the file)."""
        if self.is_sqlite and self.url.database not in (None, "", ":memory:"):
            # Outside any transaction: SQLite refuses to change the journal mode in one.
            raw = self.engine.raw_connection()
            try:
                cursor = raw.cursor()
                cursor.execute("PRAGMA journal_mode = WAL")
                cursor.close()
            finally:
                raw.close()

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reading; whatever it did is rolled back at the end."""
        with Session(self.engine, expire_on_commit=False, autoflush=False) as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A session in a write transaction: committed on success, rolled back on error.

        A service may call ``session.commit()`` itself to keep work that must survive
        the error it raises next (for example revoking a session on token reuse).
        """
        session = Session(self._write_engine, expire_on_commit=False, autoflush=False)
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @contextmanager
    def write_connection(self) -> Iterator[Any]:
        """A Core connection in a write transaction (for migrations and maintenance)."""
        with self._write_engine.connect() as conn, conn.begin():
            yield conn

    def ping(self) -> None:
        """Run ``SELECT 1``; raises :class:`DatabaseUnavailable` when it cannot."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except UNAVAILABLE_ERRORS as exc:
            raise DatabaseUnavailable(str(exc).splitlines()[0]) from exc

    def dispose(self) -> None:
        """Close every pooled connection (and the lookups' own)."""
        self.lookups.close()
        self.engine.dispose()
        if self.lookup_engine is not self.engine:
            self.lookup_engine.dispose()

    def describe(self) -> str:
        """The URL without its password, for start-up messages and logs."""
        return self.url.render_as_string(hide_password=True)
