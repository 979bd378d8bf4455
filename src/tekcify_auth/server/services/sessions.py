"""Sessions: whether a token's session and account are still live; list and revoke.

A session is one login (one refresh-token family). Revoking it makes its refresh token
useless and, through :func:`ensure_live`, its access tokens too at this server. A
session of an application its owner set inactive is refused the same way while it is
inactive (``services/applications.py``), and works again once it is active.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.orm import Session

from tekcify_auth._errors import AuthenticationError
from tekcify_auth._guard import INVALID_TOKEN
from tekcify_auth._models import UserPayload

from ..db.applications import Application
from ..db.lookups import Lookup, Lookups
from ..db.models import RefreshToken, User, UserSession
from ..db.oauth import LoginSession
from ..errors import ApiError
from . import activity

__all__ = [
    "SessionEntry",
    "UserRow",
    "active_sessions",
    "ensure_live",
    "limit_sessions",
    "list_sessions",
    "live_user",
    "refuse_caller",
    "revoke_other_sessions",
    "revoke_own_session",
    "revoke_session",
]


def refuse_caller(reason: str) -> AuthenticationError:
    """The guard's generic 401 for a caller refused after verification (``reason`` is logged)."""
    return AuthenticationError(
        401, INVALID_TOKEN, reason=reason, error="invalid_token",
        description="The access token is invalid or expired",
    )


# Built once and run on the session's connection (Core, not the ORM): this check runs on
# every Bearer request and introspection, and building the statement and its cache key
# per call cost more than the query (benchmarks/server.py: 0.41 -> 0.17 ms on SQLite).
_USER_STATE = Lookup(select(User.disabled_at).where(User.id == bindparam("user_id")))
# The session's application, when it has one: an inactive one's sessions are refused.
_CLIENT_ACTIVE = Application.is_active.label("client_active")
_SESSION_STATE = Lookup(
    select(User.disabled_at, UserSession.revoked_at, UserSession.user_id, _CLIENT_ACTIVE)
    .join(UserSession, UserSession.user_id == User.id)
    .outerjoin(Application, Application.client_id == UserSession.client_id)
    .where(UserSession.id == bindparam("session_id"))
)


# The user's columns UserInfo reads, with the liveness check's: one query per request.
_USER_COLUMNS = (
    User.id, User.email, User.email_verified, User.first_name, User.last_name,
    User.avatar_url, User.updated_at, User.disabled_at,
)
_LIVE_USER = Lookup(select(*_USER_COLUMNS).where(User.id == bindparam("user_id")))
_LIVE_SESSION_USER = Lookup(
    select(*_USER_COLUMNS, UserSession.revoked_at, _CLIENT_ACTIVE)
    .join(UserSession, UserSession.user_id == User.id)
    .outerjoin(Application, Application.client_id == UserSession.client_id)
    .where(UserSession.id == bindparam("session_id"))
)


#: A row of :func:`live_user`: the user's columns by name (``row.email``...), a
#: named tuple from ``db/lookups.py``.
UserRow = Any


def live_user(lookups: Lookups, caller: UserPayload) -> UserRow:
    """The caller's user row (``id``, ``email``, names, ...) once :func:`ensure_live` holds.

    The same checks in the same order as :func:`ensure_live`, in one query that also
    returns the account, for routes that need both (UserInfo).
    """
    row: UserRow | None
    if caller.session_id is None:
        row = lookups.one(_LIVE_USER, user_id=caller.user_id)
        if row is None:
            raise refuse_caller("user_not_found")
    else:
        row = lookups.one(_LIVE_SESSION_USER, session_id=caller.session_id)
        if row is None or row.id != caller.user_id:
            raise refuse_caller("session_not_found")
        if row.revoked_at is not None:
            raise refuse_caller("session_revoked")
        if row.client_active is False:
            raise refuse_caller("application_inactive")
    if row.disabled_at is not None:
        raise refuse_caller("user_disabled")
    return row


def ensure_live(lookups: Lookups, caller: UserPayload) -> None:
    """Raise the guard's 401 unless the caller's account and session are live.

    A verified token is not enough: its session may have been revoked (logout,
    password change, refresh-token reuse) or its account disabled since it was issued.
    """
    if caller.session_id is None:
        row = lookups.one(_USER_STATE, user_id=caller.user_id)
        if row is None:
            raise refuse_caller("user_not_found")
        if row.disabled_at is not None:
            raise refuse_caller("user_disabled")
        return
    found = lookups.one(_SESSION_STATE, session_id=caller.session_id)
    if found is None or found.user_id != caller.user_id:
        raise refuse_caller("session_not_found")
    if found.revoked_at is not None:
        raise refuse_caller("session_revoked")
    if found.client_active is False:
        raise refuse_caller("application_inactive")
    if found.disabled_at is not None:
        raise refuse_caller("user_disabled")


def active_sessions(
    db: Session, user_id: str, now: datetime, refresh_ttl: int
) -> list[UserSession]:
    """The user's sessions that are neither revoked nor past their refresh lifetime.

    Sessions with a fixed end (``expires_at``: sign-ins on the authorization pages,
    application sessions without a refresh token) are listed until it.
    """
    return list(db.execute(_live(select(UserSession), user_id, now, refresh_ttl)).scalars())


def _live(query: Any, user_id: str, now: datetime, refresh_ttl: int) -> Any:
    """``query`` narrowed to the user's live sessions, most recently used first."""
    horizon = now - timedelta(seconds=refresh_ttl)
    return query.where(
        UserSession.user_id == user_id,
        UserSession.revoked_at.is_(None),
        UserSession.last_used_at > horizon,
        or_(UserSession.expires_at.is_(None), UserSession.expires_at > now),
    ).order_by(UserSession.last_used_at.desc(), UserSession.id)


@dataclass(frozen=True, slots=True)
class SessionEntry:
    """One live session as ``GET /api/auth/sessions`` lists it.

    ``application_name`` and ``application_logo`` (a stored path) are the OAuth
    application's, ``None`` for a first-party login; ``expires_at`` is when the session
    ends unless used again: its fixed end, else its live refresh token's expiry.
    """

    id: str
    client_id: str | None
    application_name: str | None
    application_logo: str | None
    ip_address: str | None
    user_agent: str | None
    scopes: list[str]
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    #: Whether it is a sign-in on the pages (a browser), not a token holder's session.
    browser: bool = False


def list_sessions(db: Session, user_id: str, now: datetime, refresh_ttl: int) -> list[SessionEntry]:
    """The sessions :func:`active_sessions` lists, with their application and their end."""
    live_refresh = (
        select(func.max(RefreshToken.expires_at))
        .where(RefreshToken.session_id == UserSession.id, RefreshToken.rotated_at.is_(None))
        .correlate(UserSession)
        .scalar_subquery()
    )
    query = (
        select(
            UserSession, Application.name, Application.logo_url, live_refresh,
            LoginSession.id.is_not(None),
        )
        .outerjoin(Application, Application.client_id == UserSession.client_id)
        .outerjoin(LoginSession, LoginSession.session_id == UserSession.id)
    )
    rows = db.execute(_live(query, user_id, now, refresh_ttl)).all()
    return [
        SessionEntry(
            id=s.id, client_id=s.client_id, application_name=name, application_logo=logo,
            ip_address=s.ip_address, user_agent=s.user_agent, scopes=s.scopes.split(),
            created_at=s.created_at, last_used_at=s.last_used_at,
            expires_at=s.expires_at or refresh_end or s.last_used_at + timedelta(
                seconds=refresh_ttl
            ),
            browser=bool(browser),
        )
        for s, name, logo, refresh_end, browser in rows
    ]


def revoke_session(db: Session, user_id: str, session_id: str, now: datetime, reason: str) -> None:
    """Revoke one of the user's live sessions; 404 when it is not theirs or not live."""
    result = db.execute(
        update(UserSession)
        .where(
            UserSession.id == session_id,
            UserSession.user_id == user_id,
            UserSession.revoked_at.is_(None),
        )
        .values(revoked_at=now, revoked_reason=reason)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise ApiError(404, "Session not found")


def revoke_own_session(
    db: Session,
    user_id: str,
    session_id: str,
    now: datetime,
    *,
    reason: str,
    address: str | None = None,
    user_agent: str | None = None,
) -> None:
    """The user ends one of their sessions (:func:`revoke_session`), and it is logged:
    ``logout`` when ``reason`` is ``logout``, ``session_revoked`` otherwise."""
    revoke_session(db, user_id, session_id, now, reason)
    activity.record(
        db, now, user_id=user_id,
        activity_type="logout" if reason == "logout" else "session_revoked",
        address=address, user_agent=user_agent, metadata={"sessionId": session_id},
    )


def revoke_other_sessions(
    db: Session,
    user_id: str,
    keep: str | None,
    now: datetime,
    *,
    address: str | None = None,
    user_agent: str | None = None,
) -> int:
    """Revoke every live session of the user but ``keep``; returns how many.

    Logged as one ``sessions_revoked`` event with the count.
    """
    query = update(UserSession).where(
        UserSession.user_id == user_id, UserSession.revoked_at.is_(None)
    )
    if keep is not None:
        query = query.where(UserSession.id != keep)
    result = db.execute(query.values(revoked_at=now, revoked_reason="revoked_by_user"))
    count = int(result.rowcount)  # type: ignore[attr-defined]
    activity.record(
        db, now, user_id=user_id, activity_type="sessions_revoked",
        address=address, user_agent=user_agent, metadata={"count": count},
    )
    return count


def limit_sessions(db: Session, user_id: str, keep: str, limit: int, now: datetime) -> int:
    """Revoke the user's live sessions beyond ``limit``, least recently used first.

    ``keep`` (the session just opened) is never one of them. Returns how many were
    revoked. Logins run it under the user's row lock, so they cannot overshoot the
    limit together (``accounts.lock_signed_in_user``).
    """
    beyond = list(
        db.execute(
            select(UserSession.id)
            .where(
                UserSession.user_id == user_id,
                UserSession.revoked_at.is_(None),
                # Page sign-ins and sessions without a refresh token end by themselves.
                or_(UserSession.expires_at.is_(None), UserSession.expires_at > now),
                UserSession.id != keep,
            )
            .order_by(
                UserSession.last_used_at.desc(), UserSession.created_at.desc(),
                UserSession.id.desc(),
            )
            .offset(limit - 1)
        ).scalars()
    )
    if not beyond:
        return 0
    result = db.execute(
        update(UserSession)
        .where(UserSession.id.in_(beyond), UserSession.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason="session_limit")
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
