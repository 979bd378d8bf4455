"""What an administrator does to any account or application (``tekcify-auth users`` and
``apps``, issue 17 item 5), through the services the HTTP routes use.

Each function works in the caller's write (or read) transaction and raises the domain's
:class:`ApiError` (404 for an unknown account or application). Every change is recorded
in the account's security activity with ``{"by": "admin"}`` in its metadata, so the
user sees it was not them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ..db.applications import Application
from ..db.models import User, UserSession
from ..db.oauth import ClientCredentialsAllowance
from ..db.security import SecurityActivity
from ..errors import ApiError
from . import accounts, activity, applications, profile, sessions

__all__ = [
    "ROLES",
    "AppSummary",
    "UserSummary",
    "all_applications",
    "application_summary",
    "delete_user",
    "find_any_application",
    "revoke_user_sessions",
    "set_application_active",
    "set_role",
    "user_summary",
]

#: The roles an account may have (the access token's ``role`` claim).
ROLES: Final = ("user", "admin")
#: What an administrator's change carries in the security activity's metadata.
BY_ADMIN: Final = {"by": "admin"}
#: The ``revoked_reason`` of sessions an administrator ended.
REVOKED_BY_ADMIN: Final = "revoked_by_admin"


def _user(db: Session, email: str, *, lock: bool = False) -> User:
    query = select(User).where(User.email == email)
    if lock:
        query = query.with_for_update()
    user = db.execute(query).scalar_one_or_none()
    if user is None:
        raise ApiError(404, "User not found")
    return user


@dataclass(frozen=True, slots=True)
class UserSummary:
    """What ``users show`` prints of an account."""

    id: str
    email: str
    role: str
    disabled: bool
    email_verified: bool
    created_at: datetime
    last_login_at: datetime | None
    live_sessions: int
    applications: int
    #: Every ``mfa``/``totp`` column of the users table (once MFA exists), by name.
    mfa: dict[str, Any]


def user_summary(db: Session, email: str, now: datetime, refresh_ttl: int) -> UserSummary:
    """The account ``email``'s facts; 404 when there is none."""
    user = _user(db, email)
    last_login = db.execute(
        select(func.max(SecurityActivity.created_at)).where(
            SecurityActivity.user_id == user.id,
            SecurityActivity.activity_type == "login_success",
        )
    ).scalar_one()
    owned = db.execute(
        select(func.count()).select_from(Application).where(Application.owner_id == user.id)
    ).scalar_one()
    mfa = {
        column.key: getattr(user, column.key, None)
        for column in User.__table__.columns
        if "mfa" in column.key or "totp" in column.key
    }
    return UserSummary(
        id=user.id, email=user.email, role=user.role, disabled=user.disabled_at is not None,
        email_verified=bool(user.email_verified), created_at=user.created_at,
        last_login_at=last_login,
        live_sessions=len(sessions.active_sessions(db, user.id, now, refresh_ttl)),
        applications=int(owned), mfa=mfa,
    )


def set_role(db: Session, email: str, role: str, now: datetime) -> tuple[User, str]:
    """Give the account ``role`` (one of :data:`ROLES`); the user and its role before."""
    if role not in ROLES:
        raise ApiError(400, f"Unknown role {role!r}: one of {', '.join(ROLES)}")
    user = _user(db, email, lock=True)
    before = user.role
    if before != role:
        user.role = role
        user.updated_at = now
        activity.record(
            db, now, user_id=user.id, activity_type="role_changed",
            metadata={**BY_ADMIN, "from": before, "to": role},
        )
    return user, before


def revoke_user_sessions(db: Session, email: str, now: datetime) -> int:
    """End every live session of the account (API, application and page sign-ins); how
    many. Their refresh tokens stop at once, their access tokens at this server's next
    check (introspection, UserInfo, the account routes)."""
    user = _user(db, email)
    result = db.execute(
        update(UserSession)
        .where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason=REVOKED_BY_ADMIN)
    )
    count = int(result.rowcount)  # type: ignore[attr-defined]
    activity.record(
        db, now, user_id=user.id, activity_type="sessions_revoked",
        metadata={**BY_ADMIN, "count": count},
    )
    return count


def delete_user(db: Session, email: str, now: datetime) -> str:
    """Delete the account and everything it owns, as its own deletion does (one
    transaction, ``profile.erase_user``); its id. One ``account_deleted`` event is kept,
    without personal data."""
    user = _user(db, email, lock=True)
    user_id = user.id
    profile.erase_user(db, user_id, now)
    activity.record(db, now, user_id=user_id, activity_type="account_deleted", success=True)
    return user_id


# -- applications --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AppSummary:
    """What ``apps list`` and ``apps show`` print of an application."""

    client_id: str
    name: str
    owner_email: str
    confidential: bool
    active: bool
    suspended: bool
    created_at: datetime
    redirect_uris: list[str]
    authorized_origins: list[str]
    scopes: list[str]
    client_credentials_scopes: list[str] | None
    description: str | None


def _summary(row: Application, owner: User, allowance: str | None) -> AppSummary:
    return AppSummary(
        client_id=row.client_id, name=row.name, owner_email=owner.email,
        confidential=row.client_secret_hash is not None, active=bool(row.is_active),
        suspended=owner.disabled_at is not None, created_at=row.created_at,
        redirect_uris=list(row.redirect_uris), authorized_origins=list(row.authorized_origins),
        scopes=list(row.scopes),
        client_credentials_scopes=None if allowance is None else allowance.split(),
        description=row.description,
    )


_WITH_OWNER = (
    select(Application, User, ClientCredentialsAllowance.scopes)
    .join(User, User.id == Application.owner_id)
    .outerjoin(
        ClientCredentialsAllowance,
        ClientCredentialsAllowance.client_id == Application.client_id,
    )
)


def all_applications(db: Session) -> list[AppSummary]:
    """Every application of every owner, oldest first; inactive and suspended ones too."""
    rows = db.execute(_WITH_OWNER.order_by(Application.created_at, Application.client_id))
    return [_summary(app, owner, allowance) for app, owner, allowance in rows]


def application_summary(db: Session, client_id: str) -> AppSummary:
    """The application ``client_id`` whatever its state; 404 when there is none."""
    row = db.execute(_WITH_OWNER.where(Application.client_id == client_id)).first()
    if row is None:
        raise ApiError(404, applications.NOT_FOUND)
    return _summary(row[0], row[1], row[2])


def find_any_application(db: Session, client_id: str) -> Application:
    """The application ``client_id``, inactive or suspended too; 404 when there is none."""
    if "\x00" in client_id:
        raise ApiError(404, applications.NOT_FOUND)
    application = db.get(Application, client_id)
    if application is None:
        raise ApiError(404, applications.NOT_FOUND)
    return application


def set_application_active(
    db: Session, client_id: str, active: bool, now: datetime
) -> Application:
    """Set the application active or inactive, as its owner can (``isActive``)."""
    application = find_any_application(db, client_id)
    return applications.update_application(
        db, application.owner_id, client_id,
        applications.Changes(fields=frozenset({"is_active"}), is_active=active), now,
    )


def owner_of(db: Session, email: str) -> User:
    """The account that will own an application made by an administrator; 404 if none."""
    found = accounts.find_by_email(db, email)
    if found is None:
        raise ApiError(404, "User not found")
    return found
