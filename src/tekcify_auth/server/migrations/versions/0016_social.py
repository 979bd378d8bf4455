"""Sign-in with upstream providers (issue 15, item 5).

``social_accounts``: upstream identities linked to users, one per (provider, subject).
``social_flows``: sign-ins at a provider under way (state as SHA-256, nonce, PKCE
verifier, bound to a browser), reauthentication tickets and links waiting for a sign-in.

Revision ID: 0016_social
Revises: 0015_publogout
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tekcify_auth.server.db.types import UTCDateTime

revision = "0016_social"
down_revision = "0015_publogout"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "social_accounts",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("linked_at", UTCDateTime(), nullable=False),
        sa.Column("last_used_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_social_accounts_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_social_accounts")),
        sa.UniqueConstraint(
            "provider", "subject", name=op.f("uq_social_accounts_provider_subject")
        ),
    )
    op.create_index(op.f("ix_social_accounts_user_id"), "social_accounts", ["user_id"])
    op.create_table(
        "social_flows",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("browser_hash", sa.String(64), nullable=True),
        sa.Column("nonce", sa.String(128), nullable=True),
        sa.Column("code_verifier", sa.String(128), nullable=True),
        sa.Column("next_path", sa.Text(), nullable=True),
        sa.Column("user_id", sa.String(36), nullable=True),
        sa.Column("action", sa.String(64), nullable=True),
        sa.Column("subject", sa.String(255), nullable=True),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_social_flows_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_social_flows")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_social_flows_key_hash")),
    )
    op.create_index(op.f("ix_social_flows_user_id"), "social_flows", ["user_id"])
    op.create_index(op.f("ix_social_flows_expires_at"), "social_flows", ["expires_at"])


def downgrade() -> None:
    op.drop_table("social_flows")
    op.drop_table("social_accounts")
