"""Apply the Alembic migrations of ``server/migrations`` to a :class:`Database`.

Several workers may start at once: the whole upgrade runs in one write transaction
that holds a lock (``BEGIN IMMEDIATE`` on SQLite, an advisory lock on PostgreSQL), so
one worker migrates and the others find the schema already at head.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from .engine import Database

__all__ = ["MIGRATIONS_DIR", "alembic_config", "current_revision", "head_revision", "upgrade"]

MIGRATIONS_DIR: Final = Path(__file__).resolve().parent.parent / "migrations"
_LOCK_ID: Final = 0x7E6C1F1  # any constant shared by every server process


def alembic_config() -> Config:
    """An Alembic configuration pointing at the server's migrations (no ini file)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str | None:
    """The newest revision the code knows."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(db: Database) -> str | None:
    """The revision the database is at (``None`` before the first migration)."""
    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(db: Database, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (default: the newest)."""
    config = alembic_config()
    with db.write_connection() as conn:
        if not db.is_sqlite:
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_LOCK_ID})")
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
