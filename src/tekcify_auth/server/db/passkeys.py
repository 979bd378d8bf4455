"""The tables of passkeys (WebAuthn): registered credentials and pending ceremonies.

* ``passkeys`` — one WebAuthn credential of a user: its id (base64url, as browsers
  name it), its COSE public key, the last signature counter it reported, and what the
  authenticator said of itself at registration (AAGUID, transports, whether it is
  synced). ``services/passkeys.py`` holds the rules.
* ``webauthn_challenges`` — a challenge handed out for one ceremony (``register`` or
  ``login``): single use, five minutes, bound to the user for a registration (and for a
  second-factor sign-in). Only the challenge's SHA-256 is kept.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from .models import Base
from .types import UTCDateTime, new_id

__all__ = ["Passkey", "WebAuthnChallenge"]


class Passkey(Base):
    """A WebAuthn credential ``user_id`` signs in with; ``credential_id`` is base64url."""

    __tablename__ = "passkeys"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    # A credential id is at most 1023 bytes (WebAuthn L3 §5.1.1): 1364 base64url characters.
    credential_id: Mapped[str] = mapped_column(String(1400), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    # The authenticator's signature counter is an unsigned 32-bit number.
    sign_count: Mapped[int] = mapped_column(BigInteger, default=0)
    transports: Mapped[list[str] | None] = mapped_column(JSON)
    name: Mapped[str] = mapped_column(String(100))
    aaguid: Mapped[str | None] = mapped_column(String(36))
    # ``single_device`` or ``multi_device`` (a synced passkey), and whether it is backed up.
    device_type: Mapped[str | None] = mapped_column(String(16))
    backed_up: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WebAuthnChallenge(Base):
    """A pending ceremony: the SHA-256 (hex) of its challenge, what for, for whom, until when.

    ``purpose`` is ``register`` (``user_id`` set: the account adding a passkey) or
    ``login`` (``user_id`` set only for a second factor, whose assertion must be theirs).
    A challenge is deleted when it is used, so it serves once.
    """

    __tablename__ = "webauthn_challenges"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    challenge_hash: Mapped[str] = mapped_column(String(64), unique=True)
    purpose: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
