"""The tables of account security: mail queue, one-time codes, security activity.

* ``mail_queue`` — every message the server sends, written in the transaction of the
  action that sends it and delivered later by the mail sender (``services/mail.py``),
  so a crash or an SMTP outage loses nothing.
* ``account_codes`` — single-use secrets mailed to or handed to a user: verification
  links and codes, password-reset links, email-change confirmations, sensitive-action
  codes and the tokens they give (``services/codes.py``). Only a hash is stored.
* ``security_activity`` — the audit log a user reads at ``/api/security/activity``
  (``services/activity.py``). ``user_id`` is kept without a foreign key: a deleted
  account's ``account_deleted`` event outlives the account, without personal data.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .models import Base
from .types import UTCDateTime, new_id

__all__ = ["AccountCode", "MailMessage", "SecurityActivity"]


class MailMessage(Base):
    """One message to send. ``next_attempt_at`` orders the queue; ``sent_at`` ends it.

    ``failed_at`` marks a permanent failure (``last_error`` says why, never the body).
    """

    __tablename__ = "mail_queue"
    __table_args__ = (Index("ix_mail_queue_due", "sent_at", "failed_at", "next_attempt_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(64))
    to_address: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(255))
    text_body: Mapped[str] = mapped_column(Text)
    html_body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(500))


class AccountCode(Base):
    """A single-use secret for ``user_id`` and ``purpose``; only its SHA-256 (hex) is kept.

    ``target`` is what the secret is bound to besides the user: the new address of an
    email change, the action of a sensitive-action code. ``attempts`` counts wrong
    guesses of a short code; ``used_at`` is set once, when it is used or locked.
    """

    __tablename__ = "account_codes"
    __table_args__ = (Index("ix_account_codes_user_purpose", "user_id", "purpose"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(32))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    target: Mapped[str | None] = mapped_column(String(320))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SecurityActivity(Base):
    """One security event of a user: what, when, from where, and whether it succeeded."""

    __tablename__ = "security_activity"
    __table_args__ = (Index("ix_security_activity_user_created", "user_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str | None] = mapped_column(String(36))
    activity_type: Mapped[str] = mapped_column(String(64))
    ip_address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    location: Mapped[str | None] = mapped_column(String(128))
    device_type: Mapped[str | None] = mapped_column(String(16))
    success: Mapped[bool | None] = mapped_column(Boolean)
    details: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
