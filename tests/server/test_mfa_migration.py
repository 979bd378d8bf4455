"""Migration ``0011_mfa``: rows written before it sign in with ``pwd``; it goes back down."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from sqlalchemy import inspect, select, text

from tekcify_auth.server.db.engine import Database
from tekcify_auth.server.db.migrate import alembic_config, upgrade
from tekcify_auth.server.db.models import UserSession


def test_the_migration_gives_existing_sessions_the_password_amr(empty_database: Database) -> None:
    db = empty_database
    upgrade(db, "0010_shapes")
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
                "INSERT INTO sessions (id, user_id, scopes, created_at, last_used_at) "
                "VALUES ('s1', 'u1', '', :now, :now)"
            ),
            {"now": now},
        )
    upgrade(db)
    with db.engine.connect() as conn:
        assert conn.execute(select(UserSession.amr)).scalar_one() == "pwd"
        tables = set(inspect(conn).get_table_names())
    assert {"mfa_totp", "mfa_backup_codes", "mfa_challenges"} <= tables
    config = alembic_config()
    with db.write_connection() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0010_shapes")
    with db.engine.connect() as conn:
        inspector = inspect(conn)
        for table in ("sessions", "login_sessions", "authorization_codes"):
            assert "amr" not in {c["name"] for c in inspector.get_columns(table)}
        assert not {"mfa_totp", "mfa_backup_codes", "mfa_challenges"} & set(
            inspector.get_table_names()
        )
