"""Applications get an active state and a primary colour (the 2.2.12 shapes, issue 13).

``applications.is_active`` (default true: every existing application stays active): an
inactive application is refused wherever a client is looked up, as a suspended one is
(``services/applications.py``). ``applications.primary_color``: ``#rrggbb`` in lower
case, or NULL.

Revision ID: 0010_shapes
Revises: 0009_account
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_shapes"
down_revision = "0009_account"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("applications") as batch:
        batch.add_column(
            sa.Column("is_active", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        batch.add_column(sa.Column("primary_color", sa.String(7), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("applications") as batch:
        batch.drop_column("primary_color")
        batch.drop_column("is_active")
