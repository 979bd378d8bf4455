"""The tables of the second factor: TOTP, backup codes, and the sign-ins waiting for it.

* ``mfa_totp`` — a user's TOTP factor (RFC 6238): the secret sealed with the
  key-encryption secret (``services/keystore.py``'s :class:`KeyCipher`), never in clear;
  ``enabled_at`` NULL while the set-up waits for its first code (pending), set once the
  user proved their authenticator. ``last_step`` is the time step of the last accepted
  code: a code of that step or an earlier one is refused (no replay).
* ``mfa_backup_codes`` — ten single-use codes per user, kept as salted SHA-256 only.
* ``mfa_challenges`` — a sign-in whose password was right, waiting for its second
  factor: the ``temp`` token's ``jti`` and SHA-256, bound to the user and the password
  hash it was made under; ``used_at`` is set once, when the sign-in completes.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from .models import Base
from .types import UTCDateTime, new_id

__all__ = ["BackupCode", "MfaChallenge", "TotpFactor"]


class TotpFactor(Base):
    """A user's TOTP factor: pending (``enabled_at`` NULL) or on."""

    __tablename__ = "mfa_totp"

    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    secret_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    enabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_step: Mapped[int | None] = mapped_column(BigInteger)


class BackupCode(Base):
    """One single-use backup code; ``used_at`` is set by the conditional UPDATE that spends it."""

    __tablename__ = "mfa_backup_codes"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class MfaChallenge(Base):
    """A sign-in waiting for its second factor (the ``temp`` token's record)."""

    __tablename__ = "mfa_challenges"

    jti: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    password_marker: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
