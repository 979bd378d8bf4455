"""Alembic environment: always run from :func:`tekcify_auth.server.db.migrate.upgrade`.

The caller hands over a connection already inside a write transaction (holding the
migration lock), so every revision of one upgrade commits or rolls back together.
"""

from __future__ import annotations

from alembic import context

from tekcify_auth.server.db.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "run migrations with `tekcify-auth db upgrade`, not the alembic command line"
    )

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=True,  # SQLite can only ALTER through table copies
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
