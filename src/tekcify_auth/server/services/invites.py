"""Invite codes: made, listed and revoked by ``tekcify-auth invites``; spent by a
registration when ``TEKCIFY_REGISTRATION=invite`` (``services/registration.py``).

A code is 144 random bits (24 URL-safe characters); only its SHA-256 is stored, so the
database cannot give codes away. A registration spends one use in its own transaction
with one conditional ``UPDATE`` (not revoked, not expired, uses left), so two
registrations cannot both spend a code's last use, and a registration that fails (the
email is taken) spends nothing.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from ..db.invites import Invite
from ..db.types import new_id
from ..errors import ApiError

__all__ = [
    "INVITE_REFUSED",
    "INVITE_REQUIRED",
    "InviteInfo",
    "create_invite",
    "list_invites",
    "revoke_invite",
    "spend_invite",
]

INVITE_REQUIRED: Final = "Registration needs an invite code (inviteCode)"
INVITE_REFUSED: Final = "This invite code is not valid: unknown, used up, expired or revoked"
MAX_CODE_LENGTH: Final = 128


def _hash(code: str) -> str:
    return hashlib.sha256(code.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True, slots=True)
class InviteInfo:
    """What ``invites list`` shows of a code (never the code)."""

    id: str
    max_uses: int
    uses: int
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    def state(self, now: datetime) -> str:
        """``revoked``, ``expired``, ``used`` or ``usable``."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        if self.uses >= self.max_uses:
            return "used"
        return "usable"


def _info(invite: Invite) -> InviteInfo:
    return InviteInfo(
        invite.id, invite.max_uses, invite.uses, invite.created_at, invite.expires_at,
        invite.revoked_at,
    )


def create_invite(
    db: Session, now: datetime, *, uses: int = 1, expires_in: timedelta | None = None
) -> tuple[InviteInfo, str]:
    """Make a code good for ``uses`` registrations (until ``now + expires_in``); the
    row's facts and the code, which is not kept."""
    if uses < 1:
        raise ValueError("an invite is good for one use or more")
    code = secrets.token_urlsafe(18)
    invite = Invite(
        id=new_id(), code_hash=_hash(code), max_uses=uses, uses=0, created_at=now,
        expires_at=None if expires_in is None else now + expires_in,
    )
    db.add(invite)
    db.flush()
    return _info(invite), code


def list_invites(db: Session) -> list[InviteInfo]:
    """Every invite, oldest first."""
    rows = db.execute(select(Invite).order_by(Invite.created_at, Invite.id)).scalars()
    return [_info(row) for row in rows]


def revoke_invite(db: Session, invite_id: str, now: datetime) -> bool:
    """Revoke the invite ``invite_id``; ``False`` when there is none (or it was already)."""
    result = db.execute(
        update(Invite)
        .where(Invite.id == invite_id, Invite.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return int(result.rowcount) == 1  # type: ignore[attr-defined]


def spend_invite(db: Session, code: str | None, now: datetime) -> None:
    """Spend one use of ``code`` in ``db``'s transaction; 403 when it cannot be."""
    if not code:
        raise ApiError(403, INVITE_REQUIRED)
    if len(code) > MAX_CODE_LENGTH:
        raise ApiError(403, INVITE_REFUSED)
    result = db.execute(
        update(Invite)
        .where(
            Invite.code_hash == _hash(code),
            Invite.revoked_at.is_(None),
            or_(Invite.expires_at.is_(None), Invite.expires_at > now),
            Invite.uses < Invite.max_uses,
        )
        .values(uses=Invite.uses + 1)
    )
    if int(result.rowcount) != 1:  # type: ignore[attr-defined]
        raise ApiError(403, INVITE_REFUSED)
