"""Client credentials only by an administrator's leave: ``client_credentials_allowances``.

Revision ID: 0006_aud
Revises: 0005_oauth
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tekcify_auth.server.db.types import UTCDateTime

revision = "0006_aud"
down_revision = "0005_oauth"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "client_credentials_allowances",
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("scopes", sa.Text(), nullable=False),
        sa.Column("allowed_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"], ["applications.client_id"],
            name=op.f("fk_client_credentials_allowances_client_id_applications"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("client_id", name=op.f("pk_client_credentials_allowances")),
    )


def downgrade() -> None:
    op.drop_table("client_credentials_allowances")
