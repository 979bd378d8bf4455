"""Signing in with a second factor: the ``temp`` token between the password and the code.

With MFA on, a right password opens no session. ``POST /api/auth/login`` (and the login
page) answers a **challenge** instead: ``mfaToken``, a JWT signed like the access tokens
with ``type: "temp"`` (which no guard accepts as an access token: the library's
verifiers take ``type: "access"`` only), living :data:`CHALLENGE_TTL`. The server keeps
its ``jti`` and SHA-256 (``mfa_challenges``), bound to the user and to the password hash
the password was checked against, so a password change in between ends it.

``POST /api/auth/login/mfa {mfaToken, code | backupCode}`` completes it: the token is
spent by a conditional UPDATE (``... WHERE used_at IS NULL``) in the transaction that
opens the session, so it is good for one sign-in only. A wrong code leaves the token
usable until it expires; wrong codes count on the login limits of the account and the
client address (as wrong passwords do) and on the account's MFA limit
(``services/mfa.py``).
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, TypeVar

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from .. import metrics
from ..context import ServerContext
from ..db.mfa import MfaChallenge
from ..db.models import User
from ..db.passkeys import Passkey
from ..errors import ApiError
from . import mfa
from .accounts import (
    DEFAULT_FIRST_PARTY_SCOPES,
    Client,
    check_credentials,
    lock_signed_in_user,
    record_login,
)
from .tokens import TokenPair, start_session

__all__ = [
    "CHALLENGE_TTL",
    "OTP_AMR",
    "Challenge",
    "challenge_user",
    "complete",
    "complete_login",
    "login",
    "login_methods",
    "spend_challenge",
    "start_challenge",
    "user_has_passkeys",
]

CHALLENGE_TTL: Final = timedelta(minutes=5)
#: The ``amr`` of a sign-in with a password and a one-time code (TOTP or backup code).
OTP_AMR: Final = ("pwd", "otp")
EXPIRED: Final = "This sign-in has expired or was already completed; sign in again"
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Challenge:
    """A sign-in waiting for its second factor: the ``temp`` token and what completes it."""

    mfa_token: str
    methods: list[str]


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _marker(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode()).hexdigest()


def user_has_passkeys(db: Session, user_id: str) -> bool:
    """Whether ``user_id`` can answer the challenge with a passkey (``"passkey"`` then
    joins the challenge's ``methods``; ``services/passkeys.py`` completes it)."""
    held = select(Passkey.id).where(Passkey.user_id == user_id).limit(1)
    return db.execute(held).first() is not None


def login_methods(db: Session, user_id: str) -> list[str]:
    """The second factors ``user_id`` may answer a challenge with."""
    methods = ["totp", "backup_code"]
    if user_has_passkeys(db, user_id):
        methods.append("passkey")
    return methods


def start_challenge(db: Session, ctx: ServerContext, user: User) -> Challenge:
    """Record a challenge for ``user`` (password just checked) in ``db``; its token."""
    now = ctx.clock()
    db.execute(delete(MfaChallenge).where(MfaChallenge.expires_at < now))
    issued = int(now.timestamp())
    jti = str(uuid.uuid4())
    token = ctx.signer.sign({
        "iss": ctx.settings.issuer, "aud": ctx.settings.audience, "sub": user.id,
        "type": "temp", "amr": ["pwd"], "jti": jti, "iat": issued,
        "exp": issued + int(CHALLENGE_TTL.total_seconds()),
    })
    db.add(MfaChallenge(
        jti=jti, user_id=user.id, token_hash=_hash(token),
        password_marker=_marker(user.password_hash), created_at=now,
        expires_at=now + CHALLENGE_TTL,
    ))
    return Challenge(token, login_methods(db, user.id))


def _live(db: Session, ctx: ServerContext, token: str) -> tuple[MfaChallenge, User] | None:
    if not token or len(token) > 4096:
        return None
    found = db.execute(
        select(MfaChallenge, User)
        .join(User, User.id == MfaChallenge.user_id)
        .where(MfaChallenge.token_hash == _hash(token))
    ).first()
    if found is None:
        return None
    challenge, user = found
    if (
        challenge.used_at is not None
        or challenge.expires_at <= ctx.clock()
        or user.disabled_at is not None
        or not hmac.compare_digest(challenge.password_marker, _marker(user.password_hash))
    ):
        return None
    return challenge, user


def challenge_user(ctx: ServerContext, token: str) -> tuple[str, User]:
    """The ``jti`` of the live challenge ``token`` and its user; 401 :data:`EXPIRED`."""
    with ctx.db.read() as db:
        found = _live(db, ctx, token)
    if found is None:
        raise ApiError(401, EXPIRED)
    return found[0].jti, found[1]


def spend_challenge(db: Session, jti: str, now: datetime) -> None:
    """Spend the challenge ``jti`` in ``db``'s transaction; 401 :data:`EXPIRED` when a
    concurrent completion spent it first."""
    spent = db.execute(
        update(MfaChallenge)
        .where(MfaChallenge.jti == jti, MfaChallenge.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if int(spent.rowcount) != 1:  # type: ignore[attr-defined]
        raise ApiError(401, EXPIRED)


class _Wrong(Exception):
    pass


def complete(
    ctx: ServerContext,
    token: str,
    *,
    code: str | None,
    backup_code: str | None,
    client: Client,
    open_session: Callable[[Session, User], T],
) -> T:
    """Check the challenge ``token`` and the code, then ``open_session(db, user)`` in the
    transaction that spends the token.

    401 :data:`EXPIRED` for an unknown, expired, spent or outdated token; 401 for a wrong
    code (counted, see the module docstring); 429 past the limits; 400 without a code or
    with both kinds.
    """
    if (code is None) == (backup_code is None):
        raise ApiError(400, "Give either code or backupCode")
    with ctx.db.read() as db:
        found = _live(db, ctx, token)
    if found is None:
        raise ApiError(401, EXPIRED)
    user = found[1]
    ctx.limiter.check(user.email, client.address)
    mfa.throttle(ctx, user.id)
    try:
        with ctx.db.write() as db:
            now = ctx.clock()
            fresh = lock_signed_in_user(db, user.id, user.password_hash)
            method = mfa.accept_code(
                db, ctx, user.id, now, client, code=code, backup_code=backup_code
            )
            if method is None:
                raise _Wrong()
            spend_challenge(db, found[0].jti, now)  # a concurrent completion may have won
            opened = open_session(db, fresh)
    except _Wrong:
        ctx.limiter.failed(user.email, client.address)
        mfa.record_failure(ctx, user.id, client, during="login")
        metrics.sign_in("failure", _factor(code))
        raise ApiError(401, mfa.WRONG_CODE) from None
    metrics.sign_in("success", _factor(code))
    return opened


def _factor(code: str | None) -> str:
    """The metrics factor of a second step: ``otp``, or ``recovery_code`` (a backup code)."""
    return "otp" if code is not None else "recovery_code"


def login(
    ctx: ServerContext, *, email: str, password: str, client: Client
) -> TokenPair | Challenge:
    """``POST /api/auth/login``: the token pair, or a :class:`Challenge` with MFA on.

    Raises what :func:`.accounts.check_credentials` raises (429, 401, 403); a login that
    waits for its second factor records no ``login_success`` until it completes.
    """
    user = check_credentials(ctx, email=email, password=password, client=client)
    with ctx.db.write() as db:
        fresh = lock_signed_in_user(db, user.id, user.password_hash)
        if mfa.is_enabled(db, fresh.id):
            challenge = start_challenge(db, ctx, fresh)
        else:
            challenge = None
            pair = start_session(
                db, ctx, fresh, scopes=list(DEFAULT_FIRST_PARTY_SCOPES),
                user_agent=client.user_agent, ip_address=client.address,
            )
            record_login(db, ctx, fresh.id, client, success=True)
    if challenge is not None:
        metrics.sign_in("challenge", "password")
        return challenge
    metrics.token_issued("password")
    return pair


def complete_login(
    ctx: ServerContext,
    token: str,
    *,
    code: str | None,
    backup_code: str | None,
    client: Client,
) -> TokenPair:
    """``POST /api/auth/login/mfa``: the token pair of a completed challenge (``amr``
    ``["pwd", "otp"]``)."""

    def open_session(db: Session, user: User) -> TokenPair:
        pair = start_session(
            db, ctx, user, scopes=list(DEFAULT_FIRST_PARTY_SCOPES),
            user_agent=client.user_agent, ip_address=client.address, amr=list(OTP_AMR),
        )
        record_login(db, ctx, user.id, client, success=True)
        return pair

    pair = complete(
        ctx, token, code=code, backup_code=backup_code, client=client,
        open_session=open_session,
    )
    metrics.token_issued("password")
    return pair
