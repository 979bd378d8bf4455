"""Sign-ins on the authorization pages, and the CSRF tokens of their forms.

**Login sessions.** Signing in on the login or registration page gives the browser a
cookie holding a 256-bit random token; the ``login_sessions`` table keeps only its
SHA-256, so the database alone cannot sign anyone in. Each sign-in is backed by a
session (a ``sessions`` row without refresh token, with the browser's user agent and
address) that the cookie's row names: it is listed by ``GET /api/auth/sessions`` with
the user's other sessions, and revoking it by any means (``DELETE /api/auth/sessions``,
``DELETE /api/auth/sessions/{id}``, a password change) ends the sign-in, through the
same mechanism as every other session. A login session lives
``TEKCIFY_LOGIN_SESSION_TTL`` seconds (an hour by default) from sign-in, and ends early
when its session is revoked (signing in again in the same browser revokes the previous
one), when the account is disabled or deleted, or when the password changes: the row
keeps a digest of the password hash it was made under, which must still match. It
gives access to the authorization pages only, never to the API.

**CSRF.** Each browser gets a random secret in a cookie of its own (HttpOnly,
SameSite=Lax). A form carries a token derived from that secret and the form's purpose
(HMAC-SHA256), so a token is good for one kind of form in one browser only, and a page
of another site can neither read the secret nor compute the token. The consent form's
purpose includes the login session, so it cannot be replayed after signing in as
someone else.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from ..context import ServerContext
from ..db.models import User, UserSession
from ..db.oauth import LoginSession
from ..db.types import new_id
from .accounts import Client, lock_signed_in_user, record_login
from .sessions import limit_sessions
from .tokens import DEFAULT_AMR

__all__ = [
    "MAX_TOKEN_LENGTH",
    "csrf_token",
    "csrf_valid",
    "find_login_session",
    "lock_login_session",
    "new_secret",
    "start_login_session",
    "touch_login_session",
]

MAX_TOKEN_LENGTH: Final = 128
#: The ``revoked_reason`` of a sign-in replaced by a new one in the same browser.
_REPLACED: Final = "signed_in_again"
_CSRF_INFO: Final = b"tekcify-auth page form v1|"


def new_secret() -> str:
    """A fresh cookie value (login session token or CSRF secret): 256 random bits."""
    return secrets.token_urlsafe(32)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _password_marker(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode()).hexdigest()


def start_login_session(
    db: Session,
    ctx: ServerContext,
    user_id: str,
    *,
    password_hash: str,
    replacing: str | None = None,
    user_agent: str | None = None,
    ip_address: str | None = None,
    amr: str = DEFAULT_AMR,
    via: str = "page",
) -> tuple[str, LoginSession]:
    """Sign ``user_id`` in; returns the cookie token and the row (and opens its session).

    ``password_hash`` is the hash the password was verified against (outside this
    transaction): the sign-in is refused with the 401 ``ApiError`` of
    :func:`.accounts.lock_signed_in_user` when the password changed meanwhile, so a
    sign-in with the old password cannot outlive the change. ``replacing`` is the
    browser's previous token, whose session is revoked here. Expired sign-ins are
    deleted on the way, with their sessions. ``amr`` is how the user signed in
    (``pwd``, ``pwd otp``): the codes this sign-in issues carry it. ``via`` goes into the
    ``login_success`` event (``social:google`` for a sign-in at a provider).
    """
    now = ctx.clock()
    user = lock_signed_in_user(db, user_id, password_hash)
    expired = select(LoginSession.session_id).where(LoginSession.expires_at < now)
    db.execute(
        delete(UserSession)
        .where(UserSession.id.in_(expired))
        .execution_options(synchronize_session=False)
    )
    if replacing is not None and len(replacing) <= MAX_TOKEN_LENGTH:
        previous = select(LoginSession.session_id).where(
            LoginSession.token_hash == _hash(replacing)
        )
        db.execute(
            update(UserSession)
            .where(UserSession.id.in_(previous), UserSession.revoked_at.is_(None))
            .values(revoked_at=now, revoked_reason=_REPLACED)
            .execution_options(synchronize_session=False)
        )
    expires_at = now + timedelta(seconds=ctx.settings.login_session_ttl)
    session = UserSession(
        id=new_id(), user_id=user.id, client_id=None, scopes="", user_agent=user_agent,
        ip_address=ip_address, created_at=now, last_used_at=now, expires_at=expires_at,
        amr=amr,
    )
    db.add(session)
    db.flush()  # the session first: the sign-in refers to it
    limit_sessions(db, user.id, session.id, ctx.settings.max_sessions_per_account, now)
    token = new_secret()
    row = LoginSession(
        user_id=user.id, token_hash=_hash(token), session_id=session.id,
        password_marker=_password_marker(user.password_hash), user_agent=user_agent,
        ip_address=ip_address, created_at=now, expires_at=expires_at, amr=amr,
    )
    db.add(row)
    db.flush()
    record_login(
        db, ctx, user.id, Client(address=ip_address, user_agent=user_agent, via=via),
        success=True,
    )
    return token, row


def touch_login_session(db: Session, login: LoginSession, now: datetime) -> None:
    """Record that the sign-in ``login`` was used (its session's ``last_used_at``)."""
    db.execute(
        update(UserSession)
        .where(UserSession.id == login.session_id)
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )


def find_login_session(
    db: Session, ctx: ServerContext, token: str | None
) -> tuple[LoginSession, User] | None:
    """The live login session of the cookie ``token`` and its user, or ``None``."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    found = db.execute(
        select(LoginSession, User, UserSession.revoked_at)
        .join(User, User.id == LoginSession.user_id)
        .join(UserSession, UserSession.id == LoginSession.session_id)
        .where(LoginSession.token_hash == _hash(token))
    ).first()
    if found is None:
        return None
    login, user, revoked_at = found
    return (login, user) if _live(ctx, login, user, revoked_at) else None


def _live(
    ctx: ServerContext, login: LoginSession, user: User, revoked_at: datetime | None
) -> bool:
    """A sign-in is live while its session is not revoked, it has not expired, its user
    is not disabled and the password it was made with is still the user's."""
    return (
        revoked_at is None
        and login.expires_at > ctx.clock()
        and user.disabled_at is None
        and hmac.compare_digest(login.password_marker, _password_marker(user.password_hash))
    )


def lock_login_session(db: Session, ctx: ServerContext, login_id: str) -> bool:
    """Whether the page sign-in ``login_id`` is still live, its user's row locked.

    For the write transaction that acts on a sign-in found earlier (issuing a code):
    like :func:`.accounts.lock_signed_in_user`, the row lock orders it with a password
    change, which spends every unspent code in its own transaction. Either the code is
    stored first and the change spends it, or the change commits first and this sees
    the new password.
    """
    found = db.execute(
        select(LoginSession, User, UserSession.revoked_at)
        .join(User, User.id == LoginSession.user_id)
        .join(UserSession, UserSession.id == LoginSession.session_id)
        .where(LoginSession.id == login_id)
        .with_for_update(of=User)
    ).first()
    return found is not None and _live(ctx, found[0], found[1], found[2])


def csrf_token(secret: str, purpose: str) -> str:
    """The token a form for ``purpose`` carries in the browser holding ``secret``."""
    digest = hmac.new(secret.encode(), _CSRF_INFO + purpose.encode(), hashlib.sha256).digest()
    return digest.hex()


def csrf_valid(secret: str | None, purpose: str, presented: str | None) -> bool:
    """Whether ``presented`` is the token of ``purpose`` for the cookie ``secret``."""
    if not secret or not presented or len(secret) > MAX_TOKEN_LENGTH:
        return False
    return hmac.compare_digest(csrf_token(secret, purpose), presented)
