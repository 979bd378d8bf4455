"""The ORM models: one class per table, SQLAlchemy 2 typed mappings.

Tables of this module: ``users``, ``sessions``, ``refresh_tokens``, ``signing_keys``,
``server_state``.
Later features add their own models here (or in a sibling module imported by
``db/__init__.py``) together with an Alembic revision: ``applications``, ``consents``,
``authorization_codes``, ``images``. ``sessions.client_id`` is already there for the
OAuth application a session belongs to (``NULL`` for first-party logins).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, LargeBinary, MetaData, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from .types import UTCDateTime, new_id

__all__ = ["Base", "RefreshToken", "ServerState", "SigningKey", "User", "UserSession"]

# Named constraints, so Alembic can alter them later on SQLite (batch mode) and PG alike.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """The declarative base; its ``metadata`` is what Alembic compares against."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class User(Base):
    """An account. ``email`` is stored normalised (lower case), unique."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    first_name: Mapped[str | None] = mapped_column(String(100))
    last_name: Mapped[str | None] = mapped_column(String(100))
    avatar_url: Mapped[str | None] = mapped_column(String(2048))
    role: Mapped[str] = mapped_column(String(16), default="user")
    email_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    # When the address was verified (``email_verified`` is true exactly when this is set).
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class UserSession(Base):
    """A login: one refresh-token family. Revoking it ends every token it issued."""

    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    # The OAuth application (applications.client_id) or NULL for a first-party login.
    client_id: Mapped[str | None] = mapped_column(String(64), index=True)
    scopes: Mapped[str] = mapped_column(Text, default="")
    user_agent: Mapped[str | None] = mapped_column(String(512))
    ip_address: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The fixed end of a session without a refresh token (a sign-in on the authorization
    # pages, an application session without offline_access); NULL: it ends with its
    # refresh token.
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_reason: Mapped[str | None] = mapped_column(String(32))
    # How the user signed in (RFC 8176 ``amr`` values, space-separated): ``pwd``, ``pwd otp``,
    # ``hwk user``. Copied into every access token of the session, refreshed ones too.
    amr: Mapped[str] = mapped_column(String(64), default="pwd", server_default="pwd")
    # The kid of the key that signed the latest access token (NULL: HS256, or older).
    signing_kid: Mapped[str | None] = mapped_column(String(64))
    # OpenID Connect, from the code that opened the session: when the user signed in on
    # the pages, and that sign-in's session (the id tokens' auth_time and sid).
    auth_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    browser_session_id: Mapped[str | None] = mapped_column(String(36))


class RefreshToken(Base):
    """One refresh token of a session's family; only its SHA-256 is stored.

    ``rotated_at`` is set, once, by the conditional UPDATE that rotates it, together
    with ``replaced_by_id`` and (when the retry grace window is on) ``retry_blob``: the
    successor pair encrypted under a key derived from this token itself, so only its
    holder can read it back (see ``services/tokens.py``).
    """

    __tablename__ = "refresh_tokens"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    session_id: Mapped[str] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    replaced_by_id: Mapped[str | None] = mapped_column(String(36))
    retry_blob: Mapped[bytes | None] = mapped_column(LargeBinary)


class SigningKey(Base):
    """An asymmetric signing key (RS256, ES256, EdDSA).

    ``private_key`` holds the private key as the keys service stores it (encrypted at
    rest); ``public_jwk`` the JSON of the public JWK. A key signs from ``activates_at``
    (NULL: ``created_at``) until ``retired_at``; a retired key stays in the JWKS until
    every token it signed has expired. A revoked one (``revoked_at``) is withdrawn at
    once. ``services/keystore.py`` derives the states from these times.
    """

    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    alg: Mapped[str] = mapped_column(String(16))
    public_jwk: Mapped[str] = mapped_column(Text)
    private_key: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    activates_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # ``access`` (access tokens) or ``id_token`` (the RS256 key of id tokens when access
    # tokens are signed otherwise; services/keystore.py).
    purpose: Mapped[str] = mapped_column(String(16), default="access", server_default="access")


class ServerState(Base):
    """A fact about the server that every instance sharing the database must agree on.

    One row per ``name``. ``signing_alg`` holds the signing algorithm recorded at the
    first start (or by ``tekcify-auth keys switch-alg``): ``HS256``, which has no key
    row, or the algorithm of the active key (``services/keystore.py``). ``purge_lease``
    is the SQLite purge's lease: its holder ("" when free) and last renewal
    (``services/purge.py``).
    """

    __tablename__ = "server_state"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
