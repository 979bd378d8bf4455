"""Password reset: a single-use link mailed to the account's address.

``POST /api/auth/password/forgot`` answers 202 with one body whatever the address: the
request path only counts the request (``mail_limits``: per address asked for and per
client, the same whether or not an account has it) and hands the rest to
:func:`send_reset`, run after the answer is sent (a background task), so neither the
status, the body nor the time to answer tells whether the address has an account. An
unknown or disabled account gets no message.

The link (``RESET_PAGE``) holds a 256-bit token, stored as its SHA-256, valid for
30 minutes, used once, bound to the address it was sent to. :func:`reset_password`
checks it, hashes the new password outside any transaction, then in one transaction
uses the token, stores the hash and ends every session, refresh token, page sign-in
and unspent authorization code of the account (``accounts.replace_password``). The
link proves the address is the user's, so it also marks it verified.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..context import ServerContext
from ..db.models import User
from ..errors import ApiError
from . import activity, codes, mail
from .accounts import replace_password
from .mail_limits import throttle
from .verification import display_name, link_path, mark_verified

if TYPE_CHECKING:
    from .accounts import Client

__all__ = [
    "DISABLED", "FORGOT_PAGE", "RESET_PAGE", "RESET_PURPOSE", "RESET_SENT", "RESET_TTL",
    "notify_password_changed", "reset_password", "send_reset", "set_password", "start_reset",
]

RESET_PURPOSE: Final = "password_reset"
RESET_TTL: Final = timedelta(minutes=30)
#: The pages of the flow (``routers/recovery_pages.py``).
FORGOT_PAGE: Final = "/account/forgot-password"
RESET_PAGE: Final = "/account/reset-password"
#: The one answer of ``POST /api/auth/password/forgot``, known address or not.
RESET_SENT: Final = (
    "If an account has this email address, a link to reset its password is on its way"
)
DISABLED: Final = "This account is disabled"

logger = logging.getLogger("tekcify_auth.server")


def start_reset(ctx: ServerContext, email: str, *, address: str | None) -> None:
    """The request-path part of a reset: count it (429 past the limits), nothing else."""
    throttle(ctx, "reset", account=email, address=address)


def send_reset(ctx: ServerContext, email: str, *, base_url: str, client: Client) -> None:
    """Mail a reset link to ``email`` if an enabled account has it (off the request path).

    Errors are logged, never raised: the answer is already sent.
    """
    try:
        now = ctx.clock()
        with ctx.db.write() as db:
            user = db.execute(select(User).where(User.email == email)).scalar_one_or_none()
            if user is None or user.disabled_at is not None:
                return
            token = codes.issue_link(
                db, user.id, RESET_PURPOSE, ttl=RESET_TTL, now=now, target=user.email
            )
            mail.enqueue(
                db, kind="password_reset", to=user.email, base_url=base_url, now=now,
                values={
                    "name": display_name(user), "email": user.email,
                    "link_path": link_path(RESET_PAGE, token),
                    "link_minutes": int(RESET_TTL.total_seconds() // 60),
                },
            )
            activity.record(
                db, now, user_id=user.id, activity_type="password_reset_requested",
                address=client.address, user_agent=client.user_agent,
            )
    except Exception:
        logger.exception("could not queue a password reset message")


def notify_password_changed(
    db: Session, user: User, *, how: str, base_url: str, now: datetime
) -> None:
    """Queue the ``password_changed`` notice to ``user`` (``how``: "reset", "set by an
    administrator", ...)."""
    mail.enqueue(
        db, kind="password_changed", to=user.email, base_url=base_url, now=now,
        values={
            "name": display_name(user), "email": user.email, "how": how,
            "forgot_path": FORGOT_PAGE,
        },
    )


def reset_password(
    ctx: ServerContext, token: str, new_password: str, *, base_url: str, client: Client
) -> None:
    """Set ``new_password`` with the reset link ``token`` and end every session.

    400 for a link that is not valid, expired or used; 403 for a disabled account (the
    link stays unused). The caller has checked ``new_password`` against the password
    rules (``schemas.auth.NewPassword``).
    """
    now = ctx.clock()
    with ctx.db.read() as db:
        try:
            codes.check_link(db, RESET_PURPOSE, token, now)
        except codes.CodeRefused as exc:
            raise ApiError(400, exc.reason) from None
    new_hash = ctx.passwords.hash(new_password)  # slow: outside any transaction
    now = ctx.clock()
    with ctx.db.write() as db:
        try:
            redeemed = codes.redeem_link(db, RESET_PURPOSE, token, now)
        except codes.CodeRefused as exc:
            raise ApiError(400, exc.reason) from None
        user = db.execute(
            select(User).where(User.id == redeemed.user_id).with_for_update()
        ).scalar_one_or_none()
        if user is None or redeemed.target != user.email:
            raise ApiError(400, "This link is not valid")
        if user.disabled_at is not None:
            raise ApiError(403, DISABLED)
        replace_password(
            db, ctx, user.id, old_hash=None, new_hash=new_hash, keep=None,
            reason="password_reset",
        )
        mark_verified(user, now)
        activity.record(
            db, now, user_id=user.id, activity_type="password_reset",
            address=client.address, user_agent=client.user_agent,
        )
        notify_password_changed(db, user, how="reset", base_url=base_url, now=now)


def set_password(
    ctx: ServerContext, email: str, new_password: str, *, base_url: str | None
) -> int:
    """An administrator's reset (``tekcify-auth users set-password``): store
    ``new_password`` for ``email`` and end every session; returns how many ended.

    404 when there is no such account. With ``base_url`` (the public URL) the user gets
    the ``password_changed`` notice.
    """
    new_hash = ctx.passwords.hash(new_password)  # slow: outside any transaction
    now = ctx.clock()
    with ctx.db.write() as db:
        user = db.execute(
            select(User).where(User.email == email).with_for_update()
        ).scalar_one_or_none()
        if user is None:
            raise ApiError(404, "User not found")
        ended = replace_password(
            db, ctx, user.id, old_hash=None, new_hash=new_hash, keep=None,
            reason="password_reset",
        )
        codes.withdraw(db, user.id, RESET_PURPOSE, now)
        activity.record(
            db, now, user_id=user.id, activity_type="password_reset",
            metadata={"by": "administrator"},
        )
        if base_url is not None:
            notify_password_changed(
                db, user, how="set by an administrator", base_url=base_url, now=now
            )
        return ended
