"""PostgreSQL advisory locks, one per job, scoped to the schema the server runs in.

An advisory lock belongs to a whole database, not to a schema. Keyed by a constant
alone, two deployments that share a database in separate schemas (``search_path``)
would wait for each other's migrations and skip each other's purges. Each lock is
therefore the pair (job, ``hashtext(current_schema())``): every process of one
deployment, servers and CLI alike, computes the same pair.

SQLite needs none of this: its write transaction already excludes other writers.
"""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy import text

__all__ = ["KEYSTORE", "MIGRATE", "PURGE", "try_lock", "unlock", "xact_lock"]

#: The jobs (any constants, the same in every process and the CLI, never reused).
MIGRATE: Final = 0x7E6C1F1
KEYSTORE: Final = 0x7E6C1F2
PURGE: Final = 0x7E6C1F3

_SCHEMA: Final = "hashtext(current_schema())"


def xact_lock(conn: Any, job: int) -> None:
    """Wait for ``job``'s lock until the transaction of ``conn`` ends (``lock_timeout``)."""
    conn.execute(text(f"SELECT pg_advisory_xact_lock(:job, {_SCHEMA})"), {"job": job})


def try_lock(conn: Any, job: int) -> bool:
    """Take ``job``'s lock for the session of ``conn`` if it is free; whether it was."""
    taken = conn.execute(text(f"SELECT pg_try_advisory_lock(:job, {_SCHEMA})"), {"job": job})
    return bool(taken.scalar_one())


def unlock(conn: Any, job: int) -> None:
    """Release ``job``'s session lock taken by :func:`try_lock` on ``conn``."""
    conn.execute(text(f"SELECT pg_advisory_unlock(:job, {_SCHEMA})"), {"job": job})
