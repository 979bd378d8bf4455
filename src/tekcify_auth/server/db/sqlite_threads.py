"""One SQLite connection per thread, to a file of the server's, closed together.

The driver's own connections, outside SQLAlchemy's pool, in autocommit (each statement
reads the latest committed state and takes no lock for longer than itself). Used where
the pool's per-use cost would be most of the work: the hot paths' lookups
(``db/lookups.py``) and the login limits shared by one server's workers
(``services/ratelimit.py``).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

__all__ = ["ThreadConnections"]


class ThreadConnections:
    """Connections to ``path``, one per thread, each set up with ``pragmas`` once."""

    def __init__(
        self, path: str | Path, *, timeout: float, pragmas: Sequence[str] = ()
    ) -> None:
        self._path = path
        self._timeout = timeout
        self._pragmas = tuple(pragmas)
        self._local = threading.local()
        self._opened: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def get(self) -> sqlite3.Connection:
        """This thread's connection (opened on first use)."""
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(
                self._path, timeout=self._timeout, isolation_level=None,
                check_same_thread=False,
            )
            for pragma in self._pragmas:
                connection.execute(pragma)
            with self._lock:
                self._opened.append(connection)
            self._local.connection = connection
        return connection

    def close(self) -> None:
        """Close every connection opened so far; a thread asking again gets a new one."""
        with self._lock:
            opened, self._opened = self._opened, []
        for connection in opened:
            connection.close()
        self._local = threading.local()
