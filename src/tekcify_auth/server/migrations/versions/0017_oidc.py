"""OpenID Connect id tokens (issue 15, item 2).

* ``signing_keys.purpose``: ``access`` (every key so far) or ``id_token``: the RS256 key
  that signs id tokens when access tokens are not RS256 (``services/keystore.py``).
* ``authorization_codes``: the request's ``nonce`` (returned in the id token exactly),
  ``auth_time`` (when the user signed in on the pages) and ``browser_session_id`` (the
  ``sessions`` row of that sign-in: the id token's ``sid``).
* ``sessions``: ``auth_time`` and ``browser_session_id`` copied from the code, so that
  an id token issued on refresh says the same.

Revision ID: 0017_oidc
Revises: 0016_social
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tekcify_auth.server.db.types import UTCDateTime

revision = "0017_oidc"
down_revision = "0016_social"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("signing_keys") as batch:
        batch.add_column(
            sa.Column("purpose", sa.String(16), nullable=False, server_default="access")
        )
    with op.batch_alter_table("authorization_codes") as batch:
        batch.add_column(sa.Column("nonce", sa.Text(), nullable=True))
        batch.add_column(sa.Column("auth_time", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("browser_session_id", sa.String(36), nullable=True))
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("auth_time", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("browser_session_id", sa.String(36), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("browser_session_id")
        batch.drop_column("auth_time")
    with op.batch_alter_table("authorization_codes") as batch:
        batch.drop_column("browser_session_id")
        batch.drop_column("auth_time")
        batch.drop_column("nonce")
    with op.batch_alter_table("signing_keys") as batch:
        batch.drop_column("purpose")
