"""Post-logout redirect URIs of applications (issue 15, RP-initiated logout 1.0).

``applications.post_logout_redirect_uris``: a JSON list of the addresses the
``end_session_endpoint`` may send a browser back to after signing out; an application
registered before has none (``[]``), so it gets the signed-out page until its owner adds
some.

Revision ID: 0015_publogout
Revises: 0014_ops
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015_publogout"
down_revision = "0014_ops"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("applications") as batch:
        batch.add_column(
            sa.Column(
                "post_logout_redirect_uris", sa.JSON(), nullable=False, server_default="[]"
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("applications") as batch:
        batch.drop_column("post_logout_redirect_uris")
