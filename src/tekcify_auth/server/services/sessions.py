"""Sessions: whether a token's session and account are still live.

(The session lifecycle — listing, revoking, logout — lives here as well.)
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from tekcify_auth._errors import AuthenticationError
from tekcify_auth._guard import INVALID_TOKEN
from tekcify_auth._models import UserPayload

from ..db.models import User, UserSession

__all__ = ["ensure_live"]


def _refuse(reason: str) -> AuthenticationError:
    return AuthenticationError(
        401, INVALID_TOKEN, reason=reason, error="invalid_token",
        description="The access token is invalid or expired",
    )


def ensure_live(session: Session, caller: UserPayload) -> None:
    """Raise the guard's 401 unless the caller's account and session are live.

    A verified token is not enough: its session may have been revoked (logout,
    password change, refresh-token reuse) or its account disabled since it was issued.
    """
    if caller.session_id is None:
        row = session.execute(select(User.disabled_at).where(User.id == caller.user_id)).first()
        if row is None:
            raise _refuse("user_not_found")
        if row.disabled_at is not None:
            raise _refuse("user_disabled")
        return
    found = session.execute(
        select(User.disabled_at, UserSession.revoked_at, UserSession.user_id)
        .join(UserSession, UserSession.user_id == User.id)
        .where(UserSession.id == caller.session_id)
    ).first()
    if found is None or found.user_id != caller.user_id:
        raise _refuse("session_not_found")
    if found.revoked_at is not None:
        raise _refuse("session_revoked")
    if found.disabled_at is not None:
        raise _refuse("user_disabled")
