"""Proving it is really the account holder: sensitive-action codes and tokens.

Some actions (deleting the account, setting a password) need more than a live access
token: the holder proves themselves again, with their password or with a
**sensitive-action token** (the 2.2.12 client's ``initiateSensitiveAction``,
``sendSensitiveActionCode``, ``verifySensitiveActionCode``):

1. :func:`send_code` mails a 6-digit code bound to the action (10 minutes; at most
   :data:`SENDS_PER_WINDOW` mails per account per login window, shared by every worker
   through the login limiter's store);
2. :func:`verify_code` trades the code for a token (5 minutes) bound to the user and the
   action; :data:`~.codes.MAX_ATTEMPTS` wrong guesses lock the code;
3. the action's endpoint calls :func:`confirm_identity` with the password *or* the
   token, and :meth:`Confirmed.settle` in its write transaction, which redeems the
   token there: the action and the token's single use commit together.

Codes and tokens are single-use secrets of ``services/codes.py`` (stored as SHA-256
only). The action names an endpoint accepts are listed next to it (:data:`DELETE_ACCOUNT`,
:data:`SET_PASSWORD`); a token of another action is refused.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..context import ServerContext
from ..db.models import User
from ..errors import ApiError
from . import accounts, activity, codes, mail
from .accounts import Client

__all__ = [
    "CODE_PURPOSE", "CODE_TTL", "DELETE_ACCOUNT", "SENDS_PER_WINDOW", "SET_PASSWORD",
    "TOKEN_PURPOSE", "TOKEN_TTL", "Confirmed", "confirm_identity", "issue_code", "methods",
    "send_code", "set_or_change_password", "verify_code",
]

CODE_PURPOSE: Final = "sensitive_action_code"
TOKEN_PURPOSE: Final = "sensitive_action_token"
CODE_TTL: Final = timedelta(minutes=10)
TOKEN_TTL: Final = timedelta(minutes=5)
#: Codes mailed per account per ``TEKCIFY_LOGIN_WINDOW`` (then 429 with Retry-After).
SENDS_PER_WINDOW: Final = 5

#: The actions whose token ``DELETE /api/user/account`` accepts.
DELETE_ACCOUNT: Final = frozenset({"delete_account"})
#: The actions whose token sets a password on an account without one
#: (``POST /api/auth/account/password/set-or-change``).
SET_PASSWORD: Final = frozenset({"set_password", "change_password"})

WRONG_PASSWORD: Final = "The password is incorrect"
BAD_TOKEN: Final = "The sensitive action token is not valid, has expired or was used"
ONE_PROOF: Final = "Give either your password or a sensitiveActionToken, not both"
NO_PROOF: Final = "Give your password or a sensitiveActionToken"


def methods(ctx: ServerContext, user_id: str) -> dict[str, object]:
    """The ``verificationMethods`` of ``initiate``: what the user can prove themselves with."""
    with ctx.db.read() as db:
        user = _user(db, user_id)
    return {
        "password": bool(user.password_hash),
        # The reauthUrls need the action: routers/social.py's reauth_urls fills them in.
        "oauthProviders": [],
        "email": {"available": True},
    }


def _throttle(ctx: ServerContext, user_id: str) -> None:
    # The login limiter's store and window: shared by every worker (file or Redis), and
    # the SQLite store trims every key by one window, so another window would cut the
    # login counters short.
    limiter = ctx.limiter
    key = f"sa:{user_id}"
    now = limiter.clock()
    count, oldest = limiter.store.recent(key, limiter.window, now)
    if count >= SENDS_PER_WINDOW and oldest is not None:
        wait = min(math.ceil(limiter.window), max(1, math.ceil(oldest + limiter.window - now)))
        raise ApiError(
            429, "Too many codes were sent; try again later",
            headers={"Retry-After": str(wait)},
        )
    limiter.store.add(key, limiter.window, now, keep=SENDS_PER_WINDOW)


def send_code(ctx: ServerContext, user_id: str, action: str, *, base_url: str) -> None:
    """Mail a new code for ``action`` to the account's address (older ones stop working).

    Raises 429 (with ``Retry-After``) past :data:`SENDS_PER_WINDOW` per window.
    """
    _throttle(ctx, user_id)
    now = ctx.clock()
    with ctx.db.write() as db:
        user = _user(db, user_id)
        code = codes.issue_code(db, user.id, CODE_PURPOSE, ttl=CODE_TTL, now=now, target=action)
        mail.enqueue(
            db, kind="sensitive_action_code", to=user.email, base_url=base_url, now=now,
            values={
                "code": code, "action": action,
                "minutes": int(CODE_TTL.total_seconds() // 60),
            },
        )


def issue_code(db: Session, now: datetime, user_id: str, action: str) -> str:
    """A new code for ``action``, as :func:`send_code` mails, in ``db``'s transaction: what
    the page shows after the user confirmed themselves at an upstream provider
    (``oauthProviders[].reauthUrl``); :func:`verify_code` trades it for the token."""
    return codes.issue_code(db, user_id, CODE_PURPOSE, ttl=CODE_TTL, now=now, target=action)


def verify_code(
    ctx: ServerContext, user_id: str, action: str, code: str, *, client: Client
) -> str:
    """Trade ``code`` for a sensitive-action token for ``action`` (valid :data:`TOKEN_TTL`).

    A wrong code (or one mailed for another action) counts against it and is committed
    with a ``sensitive_action_failed`` event; the tenth locks it. Raises 400.
    """
    now = ctx.clock()
    refused: codes.CodeRefused | None = None
    with ctx.db.write() as db:
        try:
            codes.redeem_code(db, user_id, CODE_PURPOSE, code, now, target=action)
        except codes.CodeRefused as exc:
            refused = exc
            token = ""
        else:
            token = codes.issue_link(
                db, user_id, TOKEN_PURPOSE, ttl=TOKEN_TTL, now=now, target=action
            )
        activity.record(
            db, now, user_id=user_id,
            activity_type="sensitive_action_failed" if refused else "sensitive_action_verified",
            success=refused is None, address=client.address, user_agent=client.user_agent,
            metadata={"action": action, **({"locked": True} if refused and refused.locked else {})},
        )
    if refused is not None:
        raise ApiError(400, refused.reason)
    return token


@dataclass(frozen=True, slots=True)
class Confirmed:
    """The caller proved themselves; what the action's write transaction re-checks.

    ``token`` is the sensitive-action token still to redeem (``None`` after a password),
    valid for any of ``actions``.
    """

    user_id: str
    password_hash: str
    token: str | None
    actions: frozenset[str]

    def settle(self, db: Session, now: datetime) -> User:
        """In the action's write transaction: the user, locked; the token redeemed.

        409 when the password changed since it was checked; 403 when the token is
        unknown, expired, used, another user's or another action's. Raised inside the
        transaction, the refusal rolls back everything, the token's use included.
        """
        user = _user(db, self.user_id, for_update=True)
        if user.password_hash != self.password_hash:
            raise ApiError(409, "The password was changed meanwhile; try again")
        if self.token is not None:
            try:
                redeemed = codes.redeem_link(db, TOKEN_PURPOSE, self.token, now)
            except codes.CodeRefused:
                raise ApiError(403, BAD_TOKEN) from None
            if redeemed.user_id != self.user_id or redeemed.target not in self.actions:
                raise ApiError(403, BAD_TOKEN)
        return user


def confirm_identity(
    ctx: ServerContext,
    user_id: str,
    *,
    actions: frozenset[str],
    password: str | None = None,
    sensitive_action_token: str | None = None,
    client: Client,
) -> Confirmed:
    """Check that the caller is the holder of ``user_id``, with exactly one proof.

    ``password`` is checked with argon2 here, outside any transaction, and a wrong one
    counts as a failed login for the limiter (403, or 429). ``sensitive_action_token``
    must be one issued to this user for one of ``actions``; it is redeemed by
    :meth:`Confirmed.settle`, in the action's transaction. Both or neither: 400.
    """
    if password is not None and sensitive_action_token is not None:
        raise ApiError(400, ONE_PROOF)
    if password is None and sensitive_action_token is None:
        raise ApiError(400, NO_PROOF)
    with ctx.db.read() as db:
        user = _user(db, user_id)
    if sensitive_action_token is not None:
        return Confirmed(user.id, user.password_hash, sensitive_action_token, actions)
    assert password is not None
    ctx.limiter.check(user.email, client.address)
    if not ctx.passwords.verify(user.password_hash, password):
        ctx.limiter.failed(user.email, client.address)
        raise ApiError(403, WRONG_PASSWORD)
    return Confirmed(user.id, user.password_hash, None, actions)


def _user(db: Session, user_id: str, *, for_update: bool = False) -> User:
    query = select(User).where(User.id == user_id)
    if for_update:
        query = query.with_for_update()
    user = db.execute(query).scalar_one_or_none()
    if user is None:
        raise ApiError(404, "User not found")
    return user


def set_or_change_password(
    ctx: ServerContext,
    *,
    user_id: str,
    session_id: str | None,
    current_password: str | None,
    sensitive_action_token: str | None,
    new_password: str,
    client: Client,
    mfa_code: str | None = None,
) -> bool:
    """Change the password (``current_password`` needed) or set a first one.

    While MFA is on, ``mfa_code`` (TOTP or backup code) is required either way.

    An account with a password changes it exactly as ``POST /api/auth/password/change``
    (:func:`.accounts.change_password`). An account without one (signed up elsewhere)
    proves itself with a sensitive-action token of :data:`SET_PASSWORD` instead, since it
    has no password to give. Either way every other session is revoked. Returns whether
    a password was set (``True``) rather than changed.
    """
    with ctx.db.read() as db:
        user = _user(db, user_id)
    if user.password_hash:
        if sensitive_action_token is not None and current_password is not None:
            raise ApiError(400, ONE_PROOF)
        if current_password is None:
            raise ApiError(400, "currentPassword is required to change the password")
        accounts.change_password(
            ctx, user_id=user_id, session_id=session_id, current_password=current_password,
            new_password=new_password, client=client, mfa_code=mfa_code,
        )
        return False
    if current_password is not None:
        raise ApiError(
            400, "This account has no password yet: confirm with a sensitiveActionToken"
        )
    confirmed = confirm_identity(
        ctx, user_id, actions=SET_PASSWORD, sensitive_action_token=sensitive_action_token,
        client=client,
    )
    new_hash = ctx.passwords.hash(new_password)
    from . import mfa  # mfa builds on this module

    mfa.throttle(ctx, user_id)
    with ctx.db.write() as db:
        now = ctx.clock()
        confirmed.settle(db, now)
        mfa.require_code(ctx, db, user_id, mfa_code, client)
        accounts.replace_password(
            db, ctx, user_id, old_hash=confirmed.password_hash, new_hash=new_hash,
            keep=session_id, reason="password_set",
        )
        activity.record(
            db, now, user_id=user_id, activity_type="password_set",
            address=client.address, user_agent=client.user_agent,
        )
    return True
