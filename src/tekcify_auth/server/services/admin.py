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

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from ..context import ServerContext
from ..db.applications import Application
from ..db.lookups import Lookup, Lookups
from ..db.models import User, UserSession
from ..db.oauth import ClientCredentialsAllowance
from ..db.security import SecurityActivity
from ..errors import ApiError
from . import accounts, activity, applications, profile, sessions

__all__ = [
    "NOT_ADMIN",
    "ROLES",
    "AppSummary",
    "UserSummary",
    "all_applications",
    "application_summary",
    "check_admin",
    "delete_user",
    "email_of",
    "find_any_application",
    "not_on_self",
    "page_applications",
    "page_users",
    "revoke_user_sessions",
    "set_application_active",
    "set_disabled",
    "set_role",
    "user_summary",
]

#: The roles an account may have (the access token's ``role`` claim).
ROLES: Final = ("user", "admin")
#: What an administrator's change carries in the security activity's metadata.
BY_ADMIN: Final = {"by": "admin"}
#: The ``revoked_reason`` of sessions an administrator ended.
REVOKED_BY_ADMIN: Final = "revoked_by_admin"


#: The 403 of the admin API for a live first-party caller whose account is not an admin.
NOT_ADMIN: Final = "Only an administrator may do this"

_ROLE = Lookup(select(User.role).where(User.id == bindparam("user_id")))


def check_admin(lookups: Lookups, user_id: str) -> None:
    """403 unless the account ``user_id`` has the role ``admin`` now (the database's role,
    not the token's claim: a demoted admin's unexpired token is refused at once)."""
    row = lookups.one(_ROLE, user_id=user_id)
    if row is None or row.role != "admin":
        raise ApiError(403, NOT_ADMIN)


def not_on_self(admin_id: str, user_id: str, action: str) -> None:
    """409 when an administrator would ``action`` (disable, delete, demote) their own
    account: then at least one administrator, the one acting, always remains."""
    if admin_id == user_id:
        raise ApiError(
            409,
            f"An administrator cannot {action} their own account; ask another administrator",
        )


def email_of(db: Session, user_id: str) -> str:
    """The email of the account ``user_id``; 404 when there is none."""
    email = None if "\x00" in user_id else db.execute(
        select(User.email).where(User.id == user_id)
    ).scalar_one_or_none()
    if email is None:
        raise ApiError(404, "User not found")
    return str(email)


def page_users(
    db: Session, *, limit: int, offset: int, query: str | None = None
) -> tuple[list[User], int]:
    """A page of the accounts, oldest first, whose email contains ``query`` (any case);
    and how many match in all."""
    where = []
    if query:
        pattern = query.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        where.append(func.lower(User.email).like(f"%{pattern}%", escape="\\"))
    total = db.execute(select(func.count()).select_from(User).where(*where)).scalar_one()
    rows = db.execute(
        select(User).where(*where).order_by(User.created_at, User.email)
        .limit(limit).offset(offset)
    ).scalars()
    return list(rows), int(total)


def set_disabled(db: Session, ctx: ServerContext, email: str, disabled: bool) -> User:
    """Disable (sessions revoked, applications suspended) or enable the account; recorded
    as ``account_disabled`` / ``account_enabled`` when its state changes."""
    user = _user(db, email)
    was = user.disabled_at is not None
    change = accounts.disable_user if disabled else accounts.enable_user
    user = change(db, ctx, email)
    if was != disabled:
        activity.record(
            db, ctx.clock(), user_id=user.id,
            activity_type="account_disabled" if disabled else "account_enabled",
            metadata=dict(BY_ADMIN),
        )
    return user


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
    activity.record(
        db, now, user_id=user_id, activity_type="account_deleted", success=True,
        metadata=dict(BY_ADMIN),
    )
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
    owner_id: str = ""


def _summary(row: Application, owner: User, allowance: str | None) -> AppSummary:
    return AppSummary(
        client_id=row.client_id, name=row.name, owner_email=owner.email,
        confidential=row.client_secret_hash is not None, active=bool(row.is_active),
        suspended=owner.disabled_at is not None, created_at=row.created_at,
        redirect_uris=list(row.redirect_uris), authorized_origins=list(row.authorized_origins),
        scopes=list(row.scopes),
        client_credentials_scopes=None if allowance is None else allowance.split(),
        description=row.description, owner_id=owner.id,
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


def page_applications(db: Session, *, limit: int, offset: int) -> tuple[list[AppSummary], int]:
    """A page of :func:`all_applications`, and how many there are in all."""
    total = db.execute(select(func.count()).select_from(Application)).scalar_one()
    rows = db.execute(
        _WITH_OWNER.order_by(Application.created_at, Application.client_id)
        .limit(limit).offset(offset)
    )
    return [_summary(app, owner, allowance) for app, owner, allowance in rows], int(total)


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
