"""The engine and its transactions, for SQLite and PostgreSQL alike.

:class:`Database` hands out sessions through two context managers: :meth:`Database.read`
and :meth:`Database.write`. On SQLite a write transaction starts with ``BEGIN
IMMEDIATE``: it takes the write lock at once (waiting up to the busy timeout) rather
than upgrading a read lock later, which in WAL mode fails at once with
``SQLITE_BUSY`` whenever another writer committed in between. On PostgreSQL
transactions are READ COMMITTED; the services use conditional UPDATEs for the races
that matter (refresh-token rotation).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import Session

__all__ = ["UNAVAILABLE_ERRORS", "Database", "DatabaseUnavailable"]

_WRITE: Final = "tekcify_write"

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
        kwargs: dict[str, Any] = {"pool_pre_ping": True, "hide_parameters": True}
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
        if self.dialect == "sqlite":
            self._install_sqlite_hooks()
        self._write_engine = self.engine.execution_options(**{_WRITE: True})

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
            connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

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
        """Close every pooled connection."""
        self.engine.dispose()

    def describe(self) -> str:
        """The URL without its password, for start-up messages and logs."""
        return self.url.render_as_string(hide_password=True)
