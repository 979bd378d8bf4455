"""The second factor: TOTP, backup codes, sign-ins waiting for it, and ``amr``.

Three tables (``db/mfa.py``): ``mfa_totp`` (the sealed TOTP secret, pending or on, the
last accepted time step), ``mfa_backup_codes`` (hashed, single use) and
``mfa_challenges`` (the ``temp`` tokens of sign-ins waiting for their second factor).

``amr`` (RFC 8176 values, space-separated; ``pwd`` for every existing row) on
``sessions`` (access tokens carry it, refreshed ones too), ``login_sessions`` (a page
sign-in) and ``authorization_codes`` (a code carries its page sign-in's to the session
it opens).

Revision ID: 0011_mfa
Revises: 0010_shapes
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tekcify_auth.server.db.types import UTCDateTime

revision = "0011_mfa"
down_revision = "0010_shapes"
branch_labels = None
depends_on = None

_AMR_TABLES = ("sessions", "login_sessions", "authorization_codes")


def upgrade() -> None:
    for table in _AMR_TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(
                sa.Column("amr", sa.String(64), nullable=False, server_default="pwd")
            )
    op.create_table(
        "mfa_totp",
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("secret_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("enabled_at", UTCDateTime(), nullable=True),
        sa.Column("last_step", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_mfa_totp_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_mfa_totp")),
    )
    op.create_table(
        "mfa_backup_codes",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_mfa_backup_codes_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mfa_backup_codes")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_mfa_backup_codes_code_hash")),
    )
    op.create_index(
        op.f("ix_mfa_backup_codes_user_id"), "mfa_backup_codes", ["user_id"]
    )
    op.create_table(
        "mfa_challenges",
        sa.Column("jti", sa.String(36), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("password_marker", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_mfa_challenges_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("jti", name=op.f("pk_mfa_challenges")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_mfa_challenges_token_hash")),
    )
    op.create_index(op.f("ix_mfa_challenges_user_id"), "mfa_challenges", ["user_id"])
    op.create_index(op.f("ix_mfa_challenges_expires_at"), "mfa_challenges", ["expires_at"])


def downgrade() -> None:
    op.drop_table("mfa_challenges")
    op.drop_table("mfa_backup_codes")
    op.drop_table("mfa_totp")
    for table in reversed(_AMR_TABLES):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("amr")
