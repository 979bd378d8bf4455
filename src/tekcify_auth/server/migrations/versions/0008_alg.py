"""The signing algorithm is recorded in the database: ``server_state``.

``TEKCIFY_SIGNING_ALG`` was read only from the environment: an instance restarted
without it signed HS256 again while an RS256 key was active, and every resource server
verifying with the JWKS refused its tokens (issue 11, item 10). The algorithm chosen at
the first start is now kept in ``server_state`` (name ``signing_alg``); a start with
another one refuses, and ``tekcify-auth keys switch-alg`` changes it on purpose.

No row is written here: a database from before this revision gets its row at its next
start (``services/keystore.py``, ``settle_signing_alg``), which can ask the operator
when the database alone does not say which algorithm was in use.

Revision ID: 0008_alg
Revises: 0007_input
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tekcify_auth.server.db.types import UTCDateTime

revision = "0008_alg"
down_revision = "0007_input"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "server_state",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_server_state")),
    )


def downgrade() -> None:
    op.drop_table("server_state")
