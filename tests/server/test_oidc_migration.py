"""Migration ``0017_oidc``: keys made before it are access keys; it goes back down."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from sqlalchemy import inspect, select, text

from tekcify_auth.server.db.engine import Database
from tekcify_auth.server.db.migrate import alembic_config, upgrade
from tekcify_auth.server.db.models import SigningKey

#: The columns 0015 adds, by table.
ADDED = {
    "signing_keys": {"purpose"},
    "authorization_codes": {"nonce", "auth_time", "browser_session_id"},
    "sessions": {"auth_time", "browser_session_id"},
}


def columns(db: Database, table: str) -> set[str]:
    with db.engine.connect() as conn:
        return {column["name"] for column in inspect(conn).get_columns(table)}


def test_the_migration_keeps_existing_keys_for_access_tokens(empty_database: Database) -> None:
    db = empty_database
    upgrade(db, "0016_social")
    now = datetime(2026, 1, 1, tzinfo=UTC)
    with db.write_connection() as conn:
        conn.execute(
            text(
                "INSERT INTO signing_keys (kid, alg, public_jwk, private_key, created_at) "
                "VALUES ('k1', 'ES256', '{}', :blob, :now)"
            ),
            {"now": now, "blob": b"sealed"},
        )
    upgrade(db)
    with db.engine.connect() as conn:
        assert conn.execute(select(SigningKey.purpose)).scalar_one() == "access"
    for table, added in ADDED.items():
        assert added <= columns(db, table), table
    config = alembic_config()
    with db.write_connection() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0016_social")
    for table, added in ADDED.items():
        assert not added & columns(db, table), table
