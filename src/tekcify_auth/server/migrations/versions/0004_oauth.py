"""OAuth: consents, authorization codes, sign-ins on the pages, revoked client tokens.

Revision ID: 0004_oauth
Revises: 0003_images
Create Date: 2025-01-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tekcify_auth.server.db.types import UTCDateTime

revision = "0004_oauth"
down_revision = "0003_images"
branch_labels = None
depends_on = None


def _user_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["user_id"], ["users.id"], name=op.f(f"fk_{table}_user_id_users"), ondelete="CASCADE"
    )


def _client_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["client_id"], ["applications.client_id"],
        name=op.f(f"fk_{table}_client_id_applications"), ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "consents",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("scopes", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        _user_fk("consents"),
        _client_fk("consents"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consents")),
        sa.UniqueConstraint("user_id", "client_id", name=op.f("uq_consents_user_id_client_id")),
    )
    op.create_index(op.f("ix_consents_user_id"), "consents", ["user_id"])
    op.create_index(op.f("ix_consents_client_id"), "consents", ["client_id"])

    op.create_table(
        "authorization_codes",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("redirect_uri", sa.String(2048), nullable=False),
        sa.Column("code_challenge", sa.String(128), nullable=False),
        sa.Column("scopes", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=True),
        sa.Column("session_id", sa.String(36), nullable=True),
        _user_fk("authorization_codes"),
        _client_fk("authorization_codes"),
        sa.ForeignKeyConstraint(
            ["session_id"], ["sessions.id"],
            name=op.f("fk_authorization_codes_session_id_sessions"), ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_authorization_codes")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_authorization_codes_code_hash")),
    )
    for column in ("client_id", "user_id", "expires_at", "session_id"):
        op.create_index(
            op.f(f"ix_authorization_codes_{column}"), "authorization_codes", [column]
        )

    op.create_table(
        "login_sessions",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("password_marker", sa.String(64), nullable=False),
        sa.Column("user_agent", sa.String(512), nullable=True),
        sa.Column("ip_address", sa.String(64), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        _user_fk("login_sessions"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_login_sessions_token_hash")),
    )
    op.create_index(op.f("ix_login_sessions_user_id"), "login_sessions", ["user_id"])
    op.create_index(op.f("ix_login_sessions_expires_at"), "login_sessions", ["expires_at"])

    op.create_table(
        "revoked_client_tokens",
        sa.Column("jti", sa.String(64), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        _client_fk("revoked_client_tokens"),
        sa.PrimaryKeyConstraint("jti", name=op.f("pk_revoked_client_tokens")),
    )
    op.create_index(
        op.f("ix_revoked_client_tokens_client_id"), "revoked_client_tokens", ["client_id"]
    )
    op.create_index(
        op.f("ix_revoked_client_tokens_expires_at"), "revoked_client_tokens", ["expires_at"]
    )


def downgrade() -> None:
    for column in ("expires_at", "client_id"):
        op.drop_index(
            op.f(f"ix_revoked_client_tokens_{column}"), table_name="revoked_client_tokens"
        )
    op.drop_table("revoked_client_tokens")
    for column in ("expires_at", "user_id"):
        op.drop_index(op.f(f"ix_login_sessions_{column}"), table_name="login_sessions")
    op.drop_table("login_sessions")
    for column in ("session_id", "expires_at", "user_id", "client_id"):
        op.drop_index(
            op.f(f"ix_authorization_codes_{column}"), table_name="authorization_codes"
        )
    op.drop_table("authorization_codes")
    op.drop_index(op.f("ix_consents_client_id"), table_name="consents")
    op.drop_index(op.f("ix_consents_user_id"), table_name="consents")
    op.drop_table("consents")
