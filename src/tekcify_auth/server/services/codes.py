"""Single-use secrets of account security: links, 6-digit codes, action tokens.

A **link token** (email verification, password reset, email change) is 256 random bits,
sent once and looked up by its SHA-256, so it needs no user in the request. A **code** (6
digits: email verification, sensitive actions) is too small to look up safely by hash
alone: it is checked against the newest live code of that user and purpose, in constant
time, and :data:`MAX_ATTEMPTS` wrong guesses lock it. Either is used at most once: the
conditional UPDATE that marks it used is what redeems it, so two racing requests cannot
both succeed.

Issuing a new secret of a purpose withdraws the older live ones of that user and purpose
(only the newest mail works). Expired and used rows are deleted by the purge.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from .. import metrics
from ..db.security import AccountCode
from ..db.types import new_id

__all__ = [
    "MAX_ATTEMPTS", "CodeRefused", "Redeemed", "check_link", "issue_code", "issue_link",
    "redeem_code", "redeem_link", "withdraw",
]

#: Wrong guesses after which a code is locked (used up) for good.
MAX_ATTEMPTS: Final = 10
CODE_DIGITS: Final = 6


class CodeRefused(Exception):
    """The secret is unknown, expired, used, locked or bound to something else.

    ``locked`` tells a code that this very guess locked (or that was locked before).
    """

    def __init__(self, reason: str, *, locked: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.locked = locked


@dataclass(frozen=True, slots=True)
class Redeemed:
    """A secret just used: whose, and what it was bound to."""

    user_id: str
    target: str | None


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def withdraw(db: Session, user_id: str, purpose: str, now: datetime) -> None:
    """Mark every live secret of ``user_id`` for ``purpose`` used."""
    db.execute(
        update(AccountCode)
        .where(
            AccountCode.user_id == user_id, AccountCode.purpose == purpose,
            AccountCode.used_at.is_(None),
        )
        .values(used_at=now)
    )


def _store(
    db: Session, user_id: str, purpose: str, ttl: timedelta, now: datetime,
    target: str | None, secret_hash: str, row_id: str,
) -> None:
    withdraw(db, user_id, purpose, now)
    db.add(AccountCode(
        id=row_id, user_id=user_id, purpose=purpose, secret_hash=secret_hash,
        target=target, attempts=0, created_at=now, expires_at=now + ttl,
    ))
    db.flush()


def issue_link(
    db: Session, user_id: str, purpose: str, *, ttl: timedelta, now: datetime,
    target: str | None = None,
) -> str:
    """A new link token (URL-safe, 43 characters) for ``user_id`` and ``purpose``."""
    secret = secrets.token_urlsafe(32)
    _store(db, user_id, purpose, ttl, now, target, _hash(secret), new_id())
    return secret


def issue_code(
    db: Session, user_id: str, purpose: str, *, ttl: timedelta, now: datetime,
    target: str | None = None,
) -> str:
    """A new 6-digit code for ``user_id`` and ``purpose``.

    Its hash is salted with the row's id, so equal codes never collide on the unique
    hash and one table of the million codes' hashes serves no two rows.
    """
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    row_id = new_id()
    _store(db, user_id, purpose, ttl, now, target, _code_hash(row_id, code), row_id)
    return code


def _code_hash(row_id: str, code: str) -> str:
    return _hash(f"{row_id}:{code}")


def _mark_used(db: Session, row_id: str, now: datetime) -> bool:
    result = db.execute(
        update(AccountCode)
        .where(AccountCode.id == row_id, AccountCode.used_at.is_(None))
        .values(used_at=now)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


def redeem_link(
    db: Session, purpose: str, token: str, now: datetime, *, target: str | None = None
) -> Redeemed:
    """Use the link token ``token`` of ``purpose``; raises :class:`CodeRefused`."""
    row = _live_link(db, purpose, token, now, target)
    if not _mark_used(db, row.id, now):
        raise CodeRefused("This link has already been used")
    return Redeemed(user_id=row.user_id, target=row.target)


def check_link(
    db: Session, purpose: str, token: str, now: datetime, *, target: str | None = None
) -> Redeemed:
    """What :func:`redeem_link` would redeem, without using it; raises :class:`CodeRefused`.

    For a flow with slow work between (hashing a new password): check first, do the
    work outside the transaction, then redeem.
    """
    row = _live_link(db, purpose, token, now, target)
    return Redeemed(user_id=row.user_id, target=row.target)


def _live_link(
    db: Session, purpose: str, token: str, now: datetime, target: str | None
) -> AccountCode:
    row = db.execute(
        select(AccountCode).where(AccountCode.secret_hash == _hash(token))
    ).scalar_one_or_none()
    if row is None or row.purpose != purpose:
        raise CodeRefused("This link is not valid")
    if row.used_at is not None:
        raise CodeRefused("This link has already been used")
    if row.expires_at <= now:
        raise CodeRefused("This link has expired")
    if target is not None and row.target != target:
        raise CodeRefused("This link is not valid")
    return row


def redeem_code(
    db: Session, user_id: str, purpose: str, code: str, now: datetime, *,
    target: str | None = None,
) -> Redeemed:
    """Use ``code``, the newest live code of ``user_id`` for ``purpose``.

    A wrong guess counts against the code (committed by the caller's transaction even
    though this raises: call it in a transaction that commits on :class:`CodeRefused`);
    the :data:`MAX_ATTEMPTS`-th wrong guess locks it.
    """
    row = db.execute(
        select(AccountCode)
        .where(
            AccountCode.user_id == user_id, AccountCode.purpose == purpose,
            AccountCode.used_at.is_(None), AccountCode.expires_at > now,
        )
        .order_by(AccountCode.created_at.desc())
        .limit(1)
    ).scalar_one_or_none()
    if row is None:
        raise CodeRefused("No valid code: ask for a new one")
    right = hmac.compare_digest(row.secret_hash, _code_hash(row.id, code.strip()))
    if not right or (target is not None and row.target != target):
        attempts = row.attempts + 1
        locked = attempts >= MAX_ATTEMPTS
        db.execute(
            update(AccountCode)
            .where(AccountCode.id == row.id)
            .values(attempts=AccountCode.attempts + 1, **({"used_at": now} if locked else {}))
        )
        if locked:
            metrics.lockout("code")
            raise CodeRefused("Too many wrong codes: ask for a new one", locked=True)
        raise CodeRefused("The code is not valid")
    if not _mark_used(db, row.id, now):
        raise CodeRefused("This code has already been used")
    return Redeemed(user_id=row.user_id, target=row.target)
