"""Signing keys get a schedule and a revocation; sessions remember their signing key.

``signing_keys.activates_at``: when the key starts signing. ``tekcify-auth keys rotate``
publishes the next key at once and sets this to later (the JWKS ``max-age`` plus the
reload interval), so every resource server has fetched it before any token carries it.
NULL (a key written before this revision) means ``created_at``.
``signing_keys.revoked_at``: when ``tekcify-auth keys revoke`` withdrew the key (out of
the JWKS, its tokens refused); NULL for a key never revoked.
``sessions.signing_kid``: the ``kid`` of the key that signed the session's latest access
token (NULL with HS256 and for sessions from before this revision), so that revoking a
key can also revoke the sessions whose access tokens it signed (no index: that is a
rare operator's command, and the column is written on every refresh).

Revision ID: 0013_keys
Revises: 0012_passkey
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tekcify_auth.server.db.types import UTCDateTime

revision = "0013_keys"
down_revision = "0012_passkey"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("signing_keys") as batch:
        batch.add_column(sa.Column("activates_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("revoked_at", UTCDateTime(), nullable=True))
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("signing_kid", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("signing_kid")
    with op.batch_alter_table("signing_keys") as batch:
        batch.drop_column("revoked_at")
        batch.drop_column("activates_at")
