"""Migration ``0015_publogout``: applications made before it have no post-logout
redirect URIs, and new rows written without the column get none; it goes back down."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from sqlalchemy import inspect, select, text

from tekcify_auth.server.db.applications import Application
from tekcify_auth.server.db.engine import Database
from tekcify_auth.server.db.migrate import alembic_config, upgrade

_INSERT = (
    "INSERT INTO applications (client_id, owner_id, name, redirect_uris, "
    "authorized_origins, scopes, created_at, updated_at) VALUES (:id, 'u1', 'Old', "
    "'[\"https://app.example.com/cb\"]', '[]', '[\"openid\"]', :now, :now)"
)


def test_old_applications_get_no_post_logout_redirect_uris(empty_database: Database) -> None:
    db = empty_database
    upgrade(db, "0014_ops")
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
        conn.execute(text(_INSERT), {"id": "before", "now": now})
    upgrade(db)
    with db.write_connection() as conn:
        # Old code, which does not know the column, still inserts.
        conn.execute(text(_INSERT), {"id": "after", "now": now})
    with db.engine.connect() as conn:
        rows = dict(
            conn.execute(
                select(Application.client_id, Application.post_logout_redirect_uris)
            ).all()
        )
    assert rows == {"before": [], "after": []}
    config = alembic_config()
    with db.write_connection() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0014_ops")
    with db.engine.connect() as conn:
        columns = {c["name"] for c in inspect(conn).get_columns("applications")}
    assert "post_logout_redirect_uris" not in columns
    assert "redirect_uris" in columns
