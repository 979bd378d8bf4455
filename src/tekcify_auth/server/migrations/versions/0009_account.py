"""Account security: the mail queue, single-use codes, the security activity log.

Adds ``users.email_verified_at`` (when the address was verified; ``email_verified``
stays as the flag the hot paths read), and three tables (``db/security.py``):
``mail_queue``, ``account_codes`` and ``security_activity``.

Revision ID: 0009_account
Revises: 0008_alg
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tekcify_auth.server.db.types import UTCDateTime

revision = "0009_account"
down_revision = "0008_alg"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("email_verified_at", UTCDateTime(), nullable=True))
    op.create_table(
        "mail_queue",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("to_address", sa.String(320), nullable=False),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("text_body", sa.Text(), nullable=False),
        sa.Column("html_body", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_by", sa.String(64), nullable=True),
        sa.Column("claimed_until", UTCDateTime(), nullable=True),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.Column("failed_at", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.String(500), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_queue")),
    )
    op.create_index(
        "ix_mail_queue_due", "mail_queue", ["sent_at", "failed_at", "next_attempt_at"]
    )
    op.create_table(
        "account_codes",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("target", sa.String(320), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_account_codes_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_codes")),
        sa.UniqueConstraint("secret_hash", name=op.f("uq_account_codes_secret_hash")),
    )
    op.create_index("ix_account_codes_user_purpose", "account_codes", ["user_id", "purpose"])
    op.create_index(op.f("ix_account_codes_expires_at"), "account_codes", ["expires_at"])
    op.create_table(
        "security_activity",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=True),
        sa.Column("activity_type", sa.String(64), nullable=False),
        sa.Column("ip_address", sa.String(64), nullable=True),
        sa.Column("user_agent", sa.String(512), nullable=True),
        sa.Column("location", sa.String(128), nullable=True),
        sa.Column("device_type", sa.String(16), nullable=True),
        sa.Column("success", sa.Boolean(), nullable=True),
        sa.Column("metadata", sa.JSON(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_security_activity")),
    )
    op.create_index(
        "ix_security_activity_user_created", "security_activity", ["user_id", "created_at"]
    )
    op.create_index(
        op.f("ix_security_activity_created_at"), "security_activity", ["created_at"]
    )


def downgrade() -> None:
    op.drop_table("security_activity")
    op.drop_table("account_codes")
    op.drop_table("mail_queue")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("email_verified_at")
