"""Sign-ins on the pages are sessions: ``sessions.expires_at``, ``login_sessions.session_id``.

A sign-in on the authorization pages is now backed by a row of ``sessions`` (listed
with the others, revoked by the same means) that ``login_sessions.session_id`` names;
``login_sessions.revoked_at`` gives way to the session's. ``sessions.expires_at`` is
the fixed end of a session that has no refresh token to end with (a page sign-in, an
application session without ``offline_access``). Sign-ins made before this revision
have no session: they are deleted, and those browsers sign in again.

Revision ID: 0005_oauth
Revises: 0004_oauth
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tekcify_auth.server.db.types import UTCDateTime

revision = "0005_oauth"
down_revision = "0004_oauth"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("expires_at", UTCDateTime(), nullable=True))
    op.execute(sa.text("DELETE FROM login_sessions"))
    with op.batch_alter_table("login_sessions") as batch:
        batch.add_column(sa.Column("session_id", sa.String(36), nullable=False))
        batch.create_foreign_key(
            op.f("fk_login_sessions_session_id_sessions"), "sessions", ["session_id"], ["id"],
            ondelete="CASCADE",
        )
        batch.create_unique_constraint(
            op.f("uq_login_sessions_session_id"), ["session_id"]
        )
        batch.drop_column("revoked_at")


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM login_sessions"))
    with op.batch_alter_table("login_sessions") as batch:
        batch.add_column(sa.Column("revoked_at", UTCDateTime(), nullable=True))
        batch.drop_constraint(op.f("uq_login_sessions_session_id"), type_="unique")
        batch.drop_constraint(op.f("fk_login_sessions_session_id_sessions"), type_="foreignkey")
        batch.drop_column("session_id")
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("expires_at")
