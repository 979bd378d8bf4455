"""Invite codes: who may register when ``TEKCIFY_REGISTRATION=invite``.

Made, listed and revoked with ``tekcify-auth invites`` (``services/invites.py``). Only
the SHA-256 (hex) of a code is kept: the code itself is printed once, when it is made.
``uses`` counts registrations that spent it, at most ``max_uses``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from .models import Base
from .types import UTCDateTime, new_id

__all__ = ["Invite"]


class Invite(Base):
    """One invite code; usable while not revoked, not expired and ``uses < max_uses``."""

    __tablename__ = "invites"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    max_uses: Mapped[int] = mapped_column(Integer, default=1)
    uses: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
