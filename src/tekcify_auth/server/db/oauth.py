"""The tables of the authorization-code flow: consents, codes, browser sign-ins, revoked tokens.

* ``consents`` — what a user allowed an application: one row per (user, application),
  holding the set of scopes granted so far (``services/consent.py``).
* ``authorization_codes`` — codes issued by ``/api/oauth/authorize``; only their SHA-256
  is kept, with everything the code is bound to and, once redeemed, the session it
  started, so a second use can revoke it (``services/authorize.py``).
* ``login_sessions`` — a sign-in on the authorization pages (a browser cookie); only the
  cookie's SHA-256 is kept, with the ``sessions`` row that backs it
  (``services/login_sessions.py``).
* ``revoked_client_tokens`` — the ``jti`` of client-credentials access tokens revoked
  before they expire (``services/client_credentials.py``); a row can go once its token
  has expired.
* ``client_credentials_allowances`` — the applications an administrator allowed to use
  ``client_credentials``, and for which scopes (``tekcify-auth apps
  allow-client-credentials``); an application without a row gets no client token.

Every row goes with its user and its application (``ON DELETE CASCADE``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .models import Base
from .types import UTCDateTime, new_id

__all__ = [
    "AuthorizationCode", "ClientCredentialsAllowance", "Consent", "LoginSession",
    "RevokedClientToken",
]


class Consent(Base):
    """The scopes ``user_id`` granted ``client_id``: space-separated, sorted, no repeats."""

    __tablename__ = "consents"
    __table_args__ = (UniqueConstraint("user_id", "client_id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    client_id: Mapped[str] = mapped_column(
        ForeignKey("applications.client_id", ondelete="CASCADE"), index=True
    )
    scopes: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AuthorizationCode(Base):
    """An authorization code (RFC 6749 §4.1.2), stored as its SHA-256 (hex).

    Bound to its client, user, the exact ``redirect_uri`` of the request (a loopback
    port included) and the PKCE ``code_challenge`` (S256). ``used_at`` is set once, by
    the conditional UPDATE of a redemption (successful or not); ``session_id`` is the
    session a successful one started.
    """

    __tablename__ = "authorization_codes"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    client_id: Mapped[str] = mapped_column(
        ForeignKey("applications.client_id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    redirect_uri: Mapped[str] = mapped_column(String(2048))
    code_challenge: Mapped[str] = mapped_column(String(128))
    scopes: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    session_id: Mapped[str | None] = mapped_column(
        ForeignKey("sessions.id", ondelete="SET NULL"), index=True
    )
    # The ``amr`` of the page sign-in that issued the code (its session gets it).
    amr: Mapped[str] = mapped_column(String(64), default="pwd", server_default="pwd")
    # OpenID Connect: the request's nonce (NULL: none sent), when the user signed in on
    # the pages, and that sign-in's session: the id token's nonce, auth_time and sid.
    nonce: Mapped[str | None] = mapped_column(Text)
    auth_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    browser_session_id: Mapped[str | None] = mapped_column(String(36))


class LoginSession(Base):
    """A sign-in on the authorization pages: the browser holds the token, we its SHA-256.

    ``session_id`` is the session (``sessions`` row, no refresh token) the sign-in is:
    it is listed with the user's other sessions and ends when that session is revoked
    (logout, "sign out everywhere", a password change); deleting it deletes this row.
    ``password_marker`` is the SHA-256 of the user's password hash at sign-in: when the
    password changes, the marker no longer matches and the sign-in ends.
    """

    __tablename__ = "login_sessions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    session_id: Mapped[str] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), unique=True
    )
    password_marker: Mapped[str] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    ip_address: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    # How the user signed in on the pages (``pwd``, ``pwd otp``): the codes it issues carry it.
    amr: Mapped[str] = mapped_column(String(64), default="pwd", server_default="pwd")


class RevokedClientToken(Base):
    """A client-credentials access token revoked before its ``exp`` (RFC 7009)."""

    __tablename__ = "revoked_client_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(
        ForeignKey("applications.client_id", ondelete="CASCADE"), index=True
    )
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class ClientCredentialsAllowance(Base):
    """An administrator's leave for ``client_id`` to use ``client_credentials``.

    ``scopes`` (space-separated, sorted, no repeats) are the most its client tokens may
    hold; the application's own registered scopes narrow them further.
    """

    __tablename__ = "client_credentials_allowances"

    client_id: Mapped[str] = mapped_column(
        ForeignKey("applications.client_id", ondelete="CASCADE"), primary_key=True
    )
    scopes: Mapped[str] = mapped_column(Text)
    allowed_at: Mapped[datetime] = mapped_column(UTCDateTime)
