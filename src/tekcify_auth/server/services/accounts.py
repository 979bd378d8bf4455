"""Accounts: register, log in, change the password, administer users.

Password hashing is slow on purpose, so it never runs inside a database transaction
(a SQLite write transaction holds the database's write lock): each operation reads,
hashes or verifies outside, then writes in a short transaction of its own.

A login for an unknown email verifies against a dummy hash, so both failures cost
the same and answer the same 401 (``INVALID_CREDENTIALS``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .. import metrics
from ..context import ServerContext
from ..db.models import User, UserSession
from ..db.oauth import AuthorizationCode
from ..db.types import new_id
from ..errors import ApiError
from . import activity, codes, verification

__all__ = [
    "DEFAULT_FIRST_PARTY_SCOPES",
    "INVALID_CREDENTIALS",
    "Client",
    "change_password",
    "check_credentials",
    "create_user",
    "disable_user",
    "enable_user",
    "find_by_email",
    "list_users",
    "lock_signed_in_user",
    "record_login",
    "register",
    "replace_password",
]

INVALID_CREDENTIALS: Final = "Invalid email or password"
#: The single-use links a new password withdraws (``codes`` purposes).
WITHDRAWN_WITH_PASSWORD: Final = ("email_change", "password_reset")
EMAIL_TAKEN: Final = "An account with this email already exists"
#: The scopes of a first-party session (Tekcify's own login): every default scope.
DEFAULT_FIRST_PARTY_SCOPES: Final = (
    "openid", "profile", "email", "offline_access", "read:profile", "write:profile",
)


@dataclass(frozen=True, slots=True)
class Client:
    """Who is calling: the address and User-Agent a new session records.

    ``via`` says where a sign-in came from for the activity log (``api`` or ``page``).
    """

    address: str | None = None
    user_agent: str | None = None
    via: str = "api"


def find_by_email(db: Session, email: str) -> User | None:
    """The user with this (already normalised) email, if any."""
    return db.execute(select(User).where(User.email == email)).scalar_one_or_none()


def create_user(
    db: Session,
    ctx: ServerContext,
    *,
    email: str,
    password_hash: str,
    first_name: str | None = None,
    last_name: str | None = None,
    role: str = "user",
) -> User:
    """Insert a user; raises the 409 :class:`ApiError` when the email is taken."""
    now = ctx.clock()
    user = User(
        id=new_id(), email=email, password_hash=password_hash, first_name=first_name,
        last_name=last_name, role=role, email_verified=False, created_at=now, updated_at=now,
    )
    if find_by_email(db, email) is not None:
        raise ApiError(409, EMAIL_TAKEN)
    db.add(user)
    try:
        db.flush()
    except IntegrityError:  # a concurrent registration of the same email won
        raise ApiError(409, EMAIL_TAKEN) from None
    return user


def register(
    ctx: ServerContext,
    *,
    email: str,
    password: str,
    first_name: str | None = None,
    last_name: str | None = None,
    role: str = "user",
    base_url: str | None = None,
) -> User:
    """Create an account (``email`` already normalised); 409 when the email is taken.

    With ``base_url`` (the public URL), the verification message is queued in the same
    transaction (``verification.send_verification``).
    """
    password_hash = ctx.passwords.hash(password)
    with ctx.db.write() as db:
        user = create_user(
            db, ctx, email=email, password_hash=password_hash, first_name=first_name,
            last_name=last_name, role=role,
        )
        if base_url is not None:
            verification.send_verification(db, user, base_url=base_url, now=ctx.clock())
        return user


def record_login(
    db: Session,
    ctx: ServerContext,
    user_id: str,
    client: Client,
    *,
    success: bool,
    reason: str | None = None,
) -> None:
    """Add a ``login_success`` / ``login_failed`` event to ``db``'s transaction.

    Its metadata says where (``client.via``) and, for a failure, why; never the
    password, nor the email typed.
    """
    details: dict[str, str] = {"via": client.via}
    if reason is not None:
        details["reason"] = reason
    activity.record(
        db, ctx.clock(), user_id=user_id,
        activity_type="login_success" if success else "login_failed", success=success,
        address=client.address, user_agent=client.user_agent, metadata=details,
    )


def _record_failure(ctx: ServerContext, user_id: str, client: Client, reason: str) -> None:
    # A failed sign-in changes nothing else: its event is a transaction of its own.
    # Only for an existing account (an unknown email has nobody to show it to).
    with ctx.db.write() as db:
        record_login(db, ctx, user_id, client, success=False, reason=reason)


def check_credentials(ctx: ServerContext, *, email: str, password: str, client: Client) -> User:
    """The user ``email`` names if ``password`` is theirs: what a login checks
    (``POST /api/auth/login`` is :func:`.mfa_login.login`, which adds the second factor).

    The rate limiter and argon2 as for ``/api/auth/login`` (the login page uses this too);
    a hash made with older parameters is replaced. Raises 429 when the limiter says so,
    401 ``Invalid email or password`` for an unknown email or a wrong password alike, 403
    for a disabled account and, with ``TEKCIFY_REQUIRE_VERIFIED_EMAIL``, for an
    unverified address (:class:`~.verification.EmailNotVerified`), both only once the
    password was right.
    """
    try:
        ctx.limiter.check(email, client.address, login=True)
    except ApiError:
        metrics.sign_in("refused", "password")
        raise
    with ctx.db.read() as db:
        user = find_by_email(db, email)
    if user is None:
        ok = ctx.passwords.verify_dummy(password)
    else:
        ok = ctx.passwords.verify(user.password_hash, password)
    if not ok or user is None:
        ctx.limiter.failed(email, client.address)
        if user is not None:
            _record_failure(ctx, user.id, client, "invalid_password")
        metrics.sign_in("failure", "password")
        raise ApiError(401, INVALID_CREDENTIALS)
    ctx.limiter.succeeded(email, client.address)
    if user.disabled_at is not None:
        _record_failure(ctx, user.id, client, "account_disabled")
        metrics.sign_in("refused", "password")
        raise ApiError(403, "This account is disabled")
    if ctx.settings.require_verified_email and not user.email_verified:
        metrics.sign_in("refused", "password")
        raise verification.EmailNotVerified()
    metrics.sign_in("success", "password")
    if ctx.passwords.needs_rehash(user.password_hash):
        new_hash = ctx.passwords.hash(password)
        with ctx.db.write() as db:
            result = db.execute(
                update(User)
                .where(User.id == user.id, User.password_hash == user.password_hash)
                .values(password_hash=new_hash)
            )
        if result.rowcount == 1:  # type: ignore[attr-defined]
            user.password_hash = new_hash  # what was verified, stored anew
    return user


def lock_signed_in_user(db: Session, user_id: str, password_hash: str) -> User:
    """The user, locked, if their password is still the one a sign-in just verified.

    Every sign-in calls this in the write transaction that opens its session (API
    session or page sign-in), with the password hash it verified outside that
    transaction. A password change or reset (:func:`replace_password`) commits the new
    hash and revokes every session in one transaction, so a sign-in with the old
    password either commits before it (and its session is revoked with the others) or
    sees the new hash here and is refused: it cannot slip a session in after the
    revocation. On PostgreSQL the row lock (``SELECT ... FOR UPDATE``) is what makes the
    two wait for each other under READ COMMITTED: without it this read could see the old
    hash while the change's revocation misses the session inserted next. SQLite's write
    transactions hold the whole database already.

    Raises the 401 ``INVALID_CREDENTIALS`` when the account is gone, disabled or its
    password changed since it was checked.
    """
    user = db.execute(
        select(User).where(User.id == user_id).with_for_update()
    ).scalar_one_or_none()
    if user is None or user.disabled_at is not None or user.password_hash != password_hash:
        raise ApiError(401, INVALID_CREDENTIALS)
    return user


def change_password(
    ctx: ServerContext,
    *,
    user_id: str,
    session_id: str | None,
    current_password: str,
    new_password: str,
    client: Client,
    mfa_code: str | None = None,
) -> int:
    """Replace the password and revoke every other session; returns how many.

    A wrong current password is a failed login for the limiter (400, or 429). While MFA
    is on, ``mfa_code`` (TOTP or backup code) is required too (400 without, 403 wrong).
    """
    from . import mfa  # mfa builds on this module

    with ctx.db.read() as db:
        user = db.get(User, user_id)
    if user is None:
        raise ApiError(404, "User not found")
    mfa.throttle(ctx, user_id)
    ctx.limiter.check(user.email, client.address)
    if not ctx.passwords.verify(user.password_hash, current_password):
        ctx.limiter.failed(user.email, client.address)
        raise ApiError(400, "The current password is incorrect")
    new_hash = ctx.passwords.hash(new_password)
    with ctx.db.write() as db:
        mfa.require_code(ctx, db, user_id, mfa_code, client)
        revoked = replace_password(
            db, ctx, user_id, old_hash=user.password_hash, new_hash=new_hash,
            keep=session_id, reason="password_changed",
        )
        activity.record(
            db, ctx.clock(), user_id=user_id, activity_type="password_changed",
            address=client.address, user_agent=client.user_agent,
            metadata={"sessionsRevoked": revoked},
        )
        return revoked


def replace_password(
    db: Session,
    ctx: ServerContext,
    user_id: str,
    *,
    old_hash: str | None,
    new_hash: str,
    keep: str | None,
    reason: str,
) -> int:
    """Store ``new_hash`` and end everything the old password opened; how many sessions.

    The one place a password is replaced (change now, reset later), in the caller's
    write transaction: the user row is locked and updated, then every live session but
    ``keep`` is revoked with ``reason`` and the user's unspent authorization codes are
    spent, and pending email changes and reset links are withdrawn. Page sign-ins end by
    themselves (their password marker no longer matches).
    Sign-ins in flight are refused by :func:`lock_signed_in_user`.

    ``old_hash`` is the hash the caller verified the current password against (``None``
    for a reset, which proves the user otherwise); 409 when it changed meanwhile.
    """
    user = db.execute(
        select(User).where(User.id == user_id).with_for_update()
    ).scalar_one_or_none()
    if user is None:
        raise ApiError(404, "User not found")
    if old_hash is not None and user.password_hash != old_hash:
        raise ApiError(409, "The password was changed meanwhile; try again")
    now = ctx.clock()
    user.password_hash = new_hash
    user.updated_at = now
    db.flush()
    db.execute(
        update(AuthorizationCode)
        .where(AuthorizationCode.user_id == user_id, AuthorizationCode.used_at.is_(None))
        .values(used_at=now)
    )
    query = update(UserSession).where(
        UserSession.user_id == user_id, UserSession.revoked_at.is_(None)
    )
    if keep is not None:
        query = query.where(UserSession.id != keep)
    result = db.execute(query.values(revoked_at=now, revoked_reason=reason))
    # What someone holding the old password may have started ends with it: a pending
    # email change (to their address) and any other reset link.
    for purpose in WITHDRAWN_WITH_PASSWORD:
        codes.withdraw(db, user_id, purpose, now)
    return int(result.rowcount)  # type: ignore[attr-defined]


def list_users(db: Session) -> list[User]:
    """Every user, oldest first."""
    return list(db.execute(select(User).order_by(User.created_at, User.email)).scalars())


def disable_user(db: Session, ctx: ServerContext, email: str) -> User:
    """Disable the account and revoke all its sessions; 404 when there is none.

    While it is disabled its applications are suspended (``find_application``).
    """
    user = find_by_email(db, email)
    if user is None:
        raise ApiError(404, "User not found")
    now = ctx.clock()
    if user.disabled_at is None:
        user.disabled_at = now
        user.updated_at = now
    db.execute(
        update(UserSession)
        .where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason="account_disabled")
    )
    return user


def enable_user(db: Session, ctx: ServerContext, email: str) -> User:
    """Enable a disabled account again; 404 when there is none.

    Its sessions stay revoked (the user signs in again); its applications, suspended
    while it was disabled, work again.
    """
    user = find_by_email(db, email)
    if user is None:
        raise ApiError(404, "User not found")
    if user.disabled_at is not None:
        user.disabled_at = None
        user.updated_at = ctx.clock()
    return user


def count_users(db: Session) -> int:
    """How many accounts exist."""
    return int(db.execute(select(func.count()).select_from(User)).scalar_one())
