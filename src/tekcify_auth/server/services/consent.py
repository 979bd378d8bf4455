"""Consent: what each user allowed each application, and withdrawing it.

One ``consents`` row per (user, application) holds every scope the user has granted it.
The consent page is skipped when the requested scopes are all granted already, and
shown again when the application asks for a scope it was not given, or when the request
says ``prompt=consent``. Allowing adds the requested scopes to the row.

Withdrawing (``DELETE /api/oauth/connected-apps/{clientId}``) deletes the row, revokes
every session the application holds for the user (their refresh tokens stop at once,
their access tokens at this server's checks) and deletes the user's unspent codes of
the application, so nothing issued under the consent outlives it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..db.applications import Application
from ..db.models import UserSession
from ..db.oauth import AuthorizationCode, Consent
from ..errors import ApiError
from . import activity

__all__ = [
    "connected_apps",
    "find_consent",
    "granted_scopes",
    "needs_consent",
    "remember_consent",
    "withdraw_consent",
]

_REVOKED_WITHDRAWN = "consent_withdrawn"


def _scope_text(scopes: Iterable[str]) -> str:
    return " ".join(sorted(set(scopes)))


def find_consent(db: Session, user_id: str, client_id: str) -> Consent | None:
    """The user's consent row for ``client_id``, if any."""
    return db.execute(
        select(Consent).where(Consent.user_id == user_id, Consent.client_id == client_id)
    ).scalar_one_or_none()


def granted_scopes(db: Session, user_id: str, client_id: str) -> frozenset[str]:
    """Every scope the user has granted ``client_id`` (empty: never consented)."""
    consent = find_consent(db, user_id, client_id)
    return frozenset(consent.scopes.split()) if consent is not None else frozenset()


def needs_consent(
    db: Session, user_id: str, client_id: str, scopes: Iterable[str], *, ask_again: bool = False
) -> bool:
    """Whether the consent page must be shown: ``ask_again`` or a scope not yet granted."""
    if ask_again:
        return True
    return not set(scopes) <= granted_scopes(db, user_id, client_id)


def remember_consent(
    db: Session, user_id: str, client_id: str, scopes: Iterable[str], now: datetime
) -> Consent:
    """Add ``scopes`` to what the user granted ``client_id`` (creating the row if needed)."""
    wanted = set(scopes)
    consent = find_consent(db, user_id, client_id)
    if consent is None:
        consent = Consent(
            user_id=user_id, client_id=client_id, scopes=_scope_text(wanted),
            created_at=now, updated_at=now,
        )
        try:
            with db.begin_nested():
                db.add(consent)
        except IntegrityError:  # the same user consented in another tab at the same time
            consent = find_consent(db, user_id, client_id)
            if consent is None:
                raise
        else:
            return consent
    merged = _scope_text(wanted | set(consent.scopes.split()))
    if merged != consent.scopes:
        consent.scopes = merged
    consent.updated_at = now
    db.flush()
    return consent


def connected_apps(db: Session, user_id: str) -> list[tuple[Consent, Application]]:
    """The user's consents with their applications, most recently granted first."""
    rows = db.execute(
        select(Consent, Application)
        .join(Application, Application.client_id == Consent.client_id)
        .where(Consent.user_id == user_id)
        .order_by(Consent.updated_at.desc(), Consent.client_id)
    ).all()
    return [(consent, application) for consent, application in rows]


def withdraw_consent(
    db: Session, user_id: str, client_id: str, now: datetime, *,
    address: str | None = None, user_agent: str | None = None,
) -> None:
    """Withdraw the user's consent to ``client_id`` and revoke what it issued; 404 if none.

    Logged as ``connected_app_revoked``.
    """
    deleted = db.execute(
        delete(Consent).where(Consent.user_id == user_id, Consent.client_id == client_id)
    )
    if deleted.rowcount != 1:  # type: ignore[attr-defined]
        raise ApiError(404, "Connected application not found")
    db.execute(
        update(UserSession)
        .where(
            UserSession.user_id == user_id,
            UserSession.client_id == client_id,
            UserSession.revoked_at.is_(None),
        )
        .values(revoked_at=now, revoked_reason=_REVOKED_WITHDRAWN)
    )
    db.execute(
        delete(AuthorizationCode).where(
            AuthorizationCode.user_id == user_id,
            AuthorizationCode.client_id == client_id,
            AuthorizationCode.used_at.is_(None),
        )
    )
    activity.record(
        db, now, user_id=user_id, activity_type="connected_app_revoked", address=address,
        user_agent=user_agent, metadata={"clientId": client_id},
    )
