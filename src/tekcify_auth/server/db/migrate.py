"""Apply the Alembic migrations of ``server/migrations`` to a :class:`Database`.

Several workers may start at once: the whole upgrade runs in one write transaction
that holds a lock (``BEGIN IMMEDIATE`` on SQLite, an advisory lock on PostgreSQL), so
one worker migrates and the others find the schema already at head. On PostgreSQL the
others wait up to :data:`LOCK_WAIT` for that lock, not the request-sized
``TEKCIFY_DB_TIMEOUT``: a migration on a busy database can take longer than a request
may wait. A schema already at head is seen without the lock and left alone.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any, Final

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

from . import locks
from .engine import Database

__all__ = [
    "LOCK_WAIT", "MIGRATIONS_DIR", "alembic_config", "current_revision", "head_revision",
    "upgrade",
]

MIGRATIONS_DIR: Final = Path(__file__).resolve().parent.parent / "migrations"
#: How long an instance waits for another one's migration (PostgreSQL ``lock_timeout``).
LOCK_WAIT: Final = "120s"


def alembic_config() -> Config:
    """An Alembic configuration pointing at the server's migrations (no ini file)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


@cache
def head_revision() -> str | None:
    """The newest revision the code knows."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(db: Database) -> str | None:
    """The revision the database is at (``None`` before the first migration)."""
    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(db: Database, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (default: the newest)."""
    if revision == "head" and current_revision(db) == head_revision():
        return
    config = alembic_config()
    with db.write_connection() as conn:
        if not db.is_sqlite:
            timeout = conn.execute(text("SHOW lock_timeout")).scalar_one()
            _set_lock_timeout(conn, LOCK_WAIT)
            locks.xact_lock(conn, locks.MIGRATE)
            # The migration's own statements wait no longer than a request would.
            _set_lock_timeout(conn, timeout)
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def _set_lock_timeout(conn: Any, value: str) -> None:
    """Set PostgreSQL's ``lock_timeout`` until the transaction of ``conn`` ends."""
    conn.execute(text("SELECT set_config('lock_timeout', :value, true)"), {"value": value})
