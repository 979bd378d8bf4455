"""Sign-ins at a provider under way, each bound to the browser that started it.

A flow row (``social_flows``) is written when the browser is sent upstream: the SHA-256
of the ``state``, the ``nonce`` and PKCE verifier, and the SHA-256 of a value derived
from the browser's CSRF secret (:func:`binding`). The callback takes it back only with
the same state, for the same provider, in the same browser, within :data:`FLOW_TTL`;
taking it deletes it, so a state serves once. A browser that did not start the flow
(a link sent by someone else, a state guessed or replayed) finds nothing.

Two more kinds of rows use the table: a **reauth ticket** (the ``reauthUrl`` of
``initiateSensitiveAction``, for one user and action, :data:`TICKET_TTL`) and a
**pending link** (an identity whose email is an existing account's but was not
asserted verified: it is linked once that browser signs in to that very account, within
:data:`PENDING_TTL`).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ...db.social import SocialFlow
from ..login_sessions import csrf_token

__all__ = [
    "FLOW_TTL", "PENDING_TTL", "TICKET_TTL", "binding", "start", "take", "take_pending",
    "take_ticket", "wait_for_sign_in", "write_ticket",
]

FLOW_TTL: Final = timedelta(minutes=10)
TICKET_TTL: Final = timedelta(minutes=10)
PENDING_TTL: Final = timedelta(minutes=15)
SIGN_IN: Final = "signin"
REAUTH: Final = "reauth"
#: Connecting a provider to the signed-in account (the account console's Social page).
LINK: Final = "link"
_TICKET: Final = "reauth_ticket"
_PENDING: Final = "pending_link"


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def binding(csrf_secret: str) -> str:
    """What binds a flow to a browser: the SHA-256 of a token derived from its CSRF secret."""
    return _hash(csrf_token(csrf_secret, "social-flow"))


def _purge(db: Session, now: datetime) -> None:
    db.execute(delete(SocialFlow).where(SocialFlow.expires_at < now))


def start(
    db: Session,
    now: datetime,
    *,
    purpose: str,
    provider: str,
    browser: str,
    state: str,
    nonce: str,
    code_verifier: str,
    next_path: str | None,
    user_id: str | None = None,
    action: str | None = None,
) -> None:
    """Remember a flow sent upstream with ``state`` from the browser ``browser``."""
    _purge(db, now)
    db.add(SocialFlow(
        key_hash=_hash(state), purpose=purpose, provider=provider, browser_hash=browser,
        nonce=nonce, code_verifier=code_verifier, next_path=next_path, user_id=user_id,
        action=action, created_at=now, expires_at=now + FLOW_TTL,
    ))


def _spend(db: Session, row: SocialFlow) -> bool:
    gone = db.execute(
        delete(SocialFlow).where(SocialFlow.id == row.id)
        .execution_options(synchronize_session=False)
    )
    return int(gone.rowcount) == 1  # type: ignore[attr-defined]


def take(
    db: Session, now: datetime, *, provider: str, state: str, browser: str
) -> SocialFlow | None:
    """The flow ``state`` names, spent, if this browser started it for ``provider``."""
    if not state or len(state) > 256:
        return None
    row = db.execute(
        select(SocialFlow).where(
            SocialFlow.key_hash == _hash(state),
            SocialFlow.purpose.in_((SIGN_IN, REAUTH, LINK)),
        )
    ).scalar_one_or_none()
    if (
        row is None or row.provider != provider or row.browser_hash != browser
        or row.expires_at <= now
    ):
        return None
    return row if _spend(db, row) else None


def write_ticket(db: Session, now: datetime, *, provider: str, user_id: str, action: str) -> str:
    """A new reauth ticket for ``user_id`` to confirm ``action`` at ``provider``."""
    _purge(db, now)
    ticket = secrets.token_urlsafe(32)
    db.add(SocialFlow(
        key_hash=_hash(ticket), purpose=_TICKET, provider=provider, user_id=user_id,
        action=action, created_at=now, expires_at=now + TICKET_TTL,
    ))
    return ticket


def take_ticket(db: Session, now: datetime, *, provider: str, ticket: str) -> SocialFlow | None:
    """The reauth ticket ``ticket`` for ``provider``, spent; ``None`` if unknown or old."""
    if not ticket or len(ticket) > 256:
        return None
    row = db.execute(
        select(SocialFlow).where(
            SocialFlow.key_hash == _hash(ticket), SocialFlow.purpose == _TICKET
        )
    ).scalar_one_or_none()
    if row is None or row.provider != provider or row.expires_at <= now:
        return None
    return row if _spend(db, row) else None


def wait_for_sign_in(
    db: Session, now: datetime, *, provider: str, browser: str, user_id: str, subject: str,
    email: str | None,
) -> None:
    """Keep ``subject`` at ``provider`` until this browser signs in as ``user_id``."""
    _purge(db, now)
    db.add(SocialFlow(
        key_hash=_hash(secrets.token_urlsafe(32)), purpose=_PENDING, provider=provider,
        browser_hash=browser, user_id=user_id, subject=subject, email=email,
        created_at=now, expires_at=now + PENDING_TTL,
    ))


def take_pending(
    db: Session, now: datetime, *, browser: str, user_id: str, signed_in_at: datetime
) -> list[SocialFlow]:
    """The links waiting in this browser for ``user_id``'s sign-in at ``signed_in_at``, spent.

    Only a sign-in made after the identity came back counts: "sign in first" means the
    holder of the account proved themselves after seeing the page.
    """
    rows = db.execute(
        select(SocialFlow).where(
            SocialFlow.purpose == _PENDING, SocialFlow.browser_hash == browser,
            SocialFlow.user_id == user_id, SocialFlow.expires_at > now,
            SocialFlow.created_at <= signed_in_at,
        )
    ).scalars().all()
    return [row for row in rows if _spend(db, row)]
