"""Revision ``0005_oauth``: sign-ins on the pages become sessions, on both databases.

A database at ``0004_oauth`` holding a sign-in (which has no session to back it) is
upgraded: the old sign-in is gone (that browser signs in again) and the new columns
exist; the downgrade goes back to ``0004_oauth``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from sqlalchemy import inspect, text

from tekcify_auth.server.db.engine import Database
from tekcify_auth.server.db.migrate import alembic_config, upgrade


def _columns(db: Database, table: str) -> set[str]:
    with db.engine.connect() as conn:
        return {column["name"] for column in inspect(conn).get_columns(table)}


def test_old_sign_ins_are_dropped_and_the_downgrade_goes_back(empty_database: Database) -> None:
    db = empty_database
    upgrade(db, "0004_oauth")
    now = datetime(2026, 1, 1, tzinfo=UTC)
    with db.write_connection() as conn:
        conn.execute(
            text(
                "INSERT INTO users (id, email, password_hash, role, email_verified, "
                "created_at, updated_at) VALUES ('u1', 'a@example.com', 'h', 'user', "
                ":no, :now, :now)"
            ),
            {"now": now, "no": False},
        )
        conn.execute(
            text(
                "INSERT INTO login_sessions (id, user_id, token_hash, password_marker, "
                "created_at, expires_at) VALUES ('l1', 'u1', :hash, 'm', :now, :now)"
            ),
            {"hash": "0" * 64, "now": now},
        )
    upgrade(db)
    assert "session_id" in _columns(db, "login_sessions")
    assert "revoked_at" not in _columns(db, "login_sessions")
    assert "expires_at" in _columns(db, "sessions")
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM login_sessions")).scalar_one() == 0
        assert conn.execute(text("SELECT count(*) FROM users")).scalar_one() == 1
    config = alembic_config()
    with db.write_connection() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0004_oauth")
    assert "session_id" not in _columns(db, "login_sessions")
    assert "revoked_at" in _columns(db, "login_sessions")
    assert "expires_at" not in _columns(db, "sessions")
