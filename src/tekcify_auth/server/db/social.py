"""The tables of sign-in with upstream providers (social accounts).

* ``social_accounts`` — an account at an upstream provider linked to a user: the
  provider's name (``TEKCIFY_SOCIAL_PROVIDERS_FILE``), its subject (``sub``, or GitHub's
  user id), the email it asserted when linked; one link per (provider, subject).
* ``social_flows`` — a sign-in at a provider under way, or waiting: ``signin`` and
  ``reauth`` flows hold the ``state`` (SHA-256 only), ``nonce`` and PKCE verifier sent
  upstream, bound to the browser that started them; ``reauth_ticket`` is the
  ``reauthUrl`` of ``initiateSensitiveAction``; ``pending_link`` is an upstream identity
  waiting for its browser to sign in to the account it is to be linked to. Each row is
  single use and short-lived (``services/social/flows.py``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .models import Base
from .types import UTCDateTime, new_id

__all__ = ["SocialAccount", "SocialFlow"]


class SocialAccount(Base):
    """``user_id`` signs in with ``subject`` at ``provider``."""

    __tablename__ = "social_accounts"
    __table_args__ = (UniqueConstraint("provider", "subject"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    provider: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(320))
    linked_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SocialFlow(Base):
    """One step of a sign-in at a provider; see the module docstring for ``purpose``."""

    __tablename__ = "social_flows"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    # SHA-256 (hex) of the flow's secret: the state sent upstream, or the ticket.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    purpose: Mapped[str] = mapped_column(String(16))
    provider: Mapped[str] = mapped_column(String(32))
    # SHA-256 of the browser's CSRF-derived binding (NULL for a reauth ticket).
    browser_hash: Mapped[str | None] = mapped_column(String(64))
    nonce: Mapped[str | None] = mapped_column(String(128))
    code_verifier: Mapped[str | None] = mapped_column(String(128))
    # The authorization request the login page continues (a path on this server).
    next_path: Mapped[str | None] = mapped_column(Text)
    user_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    action: Mapped[str | None] = mapped_column(String(64))
    subject: Mapped[str | None] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
