"""Lookups: the protocol endpoints' one-statement reads, run straight on the driver.

Introspection, UserInfo, the ``client_credentials`` grant and every Bearer check read a
row or two per request (the client, the session and its user, a revoked ``jti``).
Through an ORM session each read pays a pool checkout, ``BEGIN``, the statement, a
``ROLLBACK`` and SQLAlchemy's execution events: about 130 µs on SQLite where the query
itself takes 5 µs (profiled in issue 12; ``benchmarks/peers.py`` measures the result).
A :class:`Lookup` is a Core ``select`` compiled once per dialect: its SQL text, the order
of its parameters, and the type processors of its columns (the same conversions the ORM
applies: JSON lists, UTC datetimes). :meth:`Lookups.one` runs it on a DB-API connection:

* **SQLite**: one read-only connection per thread (``PRAGMA query_only``), in autocommit:
  each statement reads the latest committed state, so a revocation committed by any
  process is seen by the next lookup. An in-memory database (one per connection) goes
  through the engine's pool instead.
* **PostgreSQL**: a connection from a small pool of its own in autocommit
  (``Database.lookup_engine``): one round trip per lookup, no ``BEGIN``/``ROLLBACK``;
  a connection whose statement failed is dropped, never handed out again.

A driver error comes out as SQLAlchemy's (``OperationalError``...) with its parameters
hidden, so the app's "database unavailable" answer (503) covers lookups too. Nothing is
cached: each call asks the database.
"""

from __future__ import annotations

import sqlite3
from collections import namedtuple
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import exc
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import Select

from .sqlite_threads import ThreadConnections

if TYPE_CHECKING:
    from .engine import Database

__all__ = ["Lookup", "Lookups"]

_Processor = Callable[[Any], Any] | None
AnySelect = Select[*tuple[Any, ...]]


class _Compiled:
    """A :class:`Lookup` compiled for one dialect."""

    __slots__ = ("binds", "defaults", "names", "processed", "row", "sql")

    def __init__(self, statement: AnySelect, dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        self.sql: str = compiled.string
        # qmark (SQLite) takes a tuple in this order; pyformat (psycopg) a mapping.
        self.names: tuple[str, ...] | None = (
            tuple(compiled.positiontup or ()) if compiled.positional else None
        )
        self.defaults: dict[str, Any] = {
            name: value for name, value in compiled.params.items() if value is not None
        }
        # Only the parameters whose type converts them (strings, the usual case, do not).
        self.binds: tuple[tuple[str, Callable[[Any], Any]], ...] = tuple(
            (name, process) for name, bind in compiled.binds.items()
            if (process := bind.type.dialect_impl(dialect).bind_processor(dialect)) is not None
        )
        columns = list(statement.selected_columns)
        # Only the columns whose type converts them (JSON lists, datetimes on SQLite).
        self.processed: tuple[tuple[int, Callable[[Any], Any]], ...] = tuple(
            (index, process) for index, column in enumerate(columns)
            if (process := column.type.dialect_impl(dialect).result_processor(dialect, None))
            is not None
        )
        self.row: type[tuple[Any, ...]] = namedtuple(  # type: ignore[misc]
            "LookupRow", [str(column.key) for column in columns]
        )

    def parameters(self, given: Mapping[str, Any]) -> Any:
        values = {**self.defaults, **given} if self.defaults else given
        if self.binds:
            values = dict(values)
            for name, process in self.binds:
                if name in values:
                    values[name] = process(values[name])
        if self.names is None:
            return values
        return tuple([values[name] for name in self.names])

    def convert(self, raw: Any) -> Any:
        if not self.processed:
            return self.row._make(raw)  # type: ignore[attr-defined]
        values = list(raw)
        for index, process in self.processed:
            values[index] = process(values[index])
        return self.row._make(values)  # type: ignore[attr-defined]


class Lookup:
    """A one-row ``select`` run by :meth:`Lookups.one`; compiled on first use per dialect.

    Declare it once, at import (``_CLIENT = Lookup(select(...).where(... ==
    bindparam("client_id")))``); its rows have the selected columns' keys as attributes.
    """

    __slots__ = ("_compiled", "statement")

    def __init__(self, statement: AnySelect) -> None:
        self.statement = statement
        self._compiled: dict[str, _Compiled] = {}

    def compiled(self, dialect: Dialect) -> _Compiled:
        found = self._compiled.get(dialect.name)
        if found is None:
            found = self._compiled[dialect.name] = _Compiled(self.statement, dialect)
        return found


_QUERY_ONLY: Final = "PRAGMA query_only = ON"


class Lookups:
    """Runs :class:`Lookup` statements for ``database`` (see the module docstring)."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._dialect = database.engine.dialect
        url = database.url
        path = url.database or ""
        # A file of its own: per-thread connections see what every other one committed.
        self._sqlite_path: str | None = (
            path if database.is_sqlite and path not in ("", ":memory:")
            and not path.startswith("file:") and not url.query else None
        )
        self._connections: ThreadConnections | None = (
            ThreadConnections(self._sqlite_path, timeout=database.timeout, pragmas=[_QUERY_ONLY])
            if self._sqlite_path is not None else None
        )

    def one(self, lookup: Lookup, **params: Any) -> Any:
        """The first row of ``lookup`` with ``params``, or ``None``."""
        compiled = lookup.compiled(self._dialect)
        parameters = compiled.parameters(params)
        if self._connections is not None:
            raw = self._sqlite_one(self._connections, compiled.sql, parameters)
        else:
            raw = self._pooled_one(compiled.sql, parameters)
        return None if raw is None else compiled.convert(raw)

    def _sqlite_one(self, connections: ThreadConnections, sql: str, parameters: Any) -> Any:
        try:
            return connections.get().execute(sql, parameters).fetchone()
        except sqlite3.Error as error:
            raise self._wrapped(sql, parameters, error) from error

    def _pooled_one(self, sql: str, parameters: Any) -> Any:
        try:
            fairy = self._database.lookup_engine.raw_connection()
        except self._dialect.loaded_dbapi.Error as error:
            # The pool hands out the driver's own error when it cannot connect.
            raise self._wrapped(sql, parameters, error) from error
        try:
            cursor = fairy.cursor()
            try:
                cursor.execute(sql, parameters)
                row = cursor.fetchone()
            finally:
                cursor.close()
            # Ended here, where a failure is caught: the pool's own reset on the way back
            # then has nothing to do (and could only log a connection lost meanwhile).
            fairy.rollback()
            return row
        except self._dialect.loaded_dbapi.Error as error:
            # Whatever went wrong, this connection is not handed out again: resetting a
            # broken one on its way back to the pool fails in turn (a restart of the
            # server ends every connection with errors of several kinds).
            fairy.invalidate(error)
            raise self._wrapped(sql, parameters, error) from error
        finally:
            fairy.close()

    def _wrapped(self, sql: str, parameters: Any, error: Exception) -> exc.StatementError:
        return exc.DBAPIError.instance(
            sql, parameters, error, self._dialect.loaded_dbapi.Error,
            hide_parameters=True, dialect=self._dialect,
        )

    def close(self) -> None:
        """Close the per-thread SQLite connections (the pool closes the others)."""
        if self._connections is not None:
            self._connections.close()
