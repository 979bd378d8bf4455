"""The security activity log: what happened to an account, when, and from where.

Services call :func:`record` inside the transaction of the action itself, so an event is
logged exactly when the action took effect (a failed sign-in, which changes nothing,
records in a transaction of its own). Users read their own events at
``GET /api/security/activity``; the purge deletes events older than
``TEKCIFY_ACTIVITY_RETENTION_DAYS``. ``metadata`` never holds a secret, token or code.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from typing import Any, Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..db.security import SecurityActivity
from ..db.types import new_id

__all__ = ["TYPES", "by_admin", "device_type", "list_activity", "record"]

#: Every activity type the server records (``activityType`` on the wire).
TYPES: Final = frozenset({
    "login_success", "login_failed", "logout",
    "refresh_token_reuse",
    "password_changed", "password_reset", "password_reset_requested", "password_set",
    "email_verified", "email_change_requested", "email_changed",
    "session_revoked", "sessions_revoked",
    "application_created", "application_deleted", "application_secret_regenerated",
    "connected_app_revoked",
    "sensitive_action_verified", "sensitive_action_failed",
    "account_deleted",
    "mfa_enabled", "mfa_disabled", "mfa_backup_codes_regenerated", "mfa_backup_code_used",
    "mfa_failed",
    "passkey_added", "passkey_renamed", "passkey_removed", "passkey_used",
    "passkey_sign_count_regression",
    "social_account_linked", "social_account_unlinked",  # sign-in: login_success, via social:*
    "role_changed",  # by an administrator (tekcify-auth users set-role)
    "account_disabled", "account_enabled",  # by an administrator
})

#: Who acts in this context when an administrator does (:func:`by_admin`).
_ACTING_ADMIN: ContextVar[dict[str, Any] | None] = ContextVar("acting_admin", default=None)


@contextmanager
def by_admin(admin_id: str) -> Iterator[None]:
    """Within the block, every event recorded (by any service) carries ``{"by": "admin",
    "adminId": admin_id}`` in its metadata: the HTTP admin API (``routers/admin.py``) wraps
    each action in it, so the user sees an administrator did it, and which one."""
    token = _ACTING_ADMIN.set({"by": "admin", "adminId": admin_id})
    try:
        yield
    finally:
        _ACTING_ADMIN.reset(token)

_BOT: Final = re.compile(r"bot|crawl|spider|curl|wget|python-|httpx|okhttp|node-fetch|undici", re.I)
_TABLET: Final = re.compile(r"ipad|tablet|kindle|silk|(android(?!.*mobile))", re.I)
_MOBILE: Final = re.compile(r"mobile|iphone|ipod|android|blackberry|opera mini|iemobile", re.I)


def device_type(user_agent: str | None) -> str | None:
    """``desktop``, ``mobile``, ``tablet`` or ``bot`` from a User-Agent; ``None`` without one."""
    if not user_agent:
        return None
    if _BOT.search(user_agent):
        return "bot"
    if _TABLET.search(user_agent):
        return "tablet"
    if _MOBILE.search(user_agent):
        return "mobile"
    return "desktop"


def record(
    db: Session,
    now: datetime,
    *,
    user_id: str | None,
    activity_type: str,
    success: bool | None = True,
    address: str | None = None,
    user_agent: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> None:
    """Add one event to ``db``'s transaction (``activity_type`` one of :data:`TYPES`)."""
    if activity_type not in TYPES:
        raise ValueError(f"unknown security activity type {activity_type!r}")
    acting = _ACTING_ADMIN.get()
    if acting is not None:
        metadata = {**(metadata or {}), **acting}
    agent = user_agent[:512] if user_agent else None
    db.add(SecurityActivity(
        id=new_id(), user_id=user_id, activity_type=activity_type,
        ip_address=address, user_agent=agent, location=None,
        device_type=device_type(agent), success=success, details=metadata,
        created_at=now,
    ))


def list_activity(
    db: Session, user_id: str, *, limit: int, offset: int, activity_type: str | None = None
) -> tuple[list[SecurityActivity], int]:
    """One page of ``user_id``'s events, newest first, and how many there are in all.

    ``activity_type`` (one of :data:`TYPES`) keeps only events of that type.
    """
    where = [SecurityActivity.user_id == user_id]
    if activity_type is not None:
        where.append(SecurityActivity.activity_type == activity_type)
    total = db.execute(
        select(func.count()).select_from(SecurityActivity).where(*where)
    ).scalar_one()
    rows = db.execute(
        select(SecurityActivity)
        .where(*where)
        .order_by(SecurityActivity.created_at.desc(), SecurityActivity.id.desc())
        .limit(limit)
        .offset(offset)
    ).scalars()
    return list(rows), int(total)
