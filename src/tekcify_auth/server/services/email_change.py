"""Email change: the new address is confirmed from the new address itself.

``POST /api/user/email/change`` checks the password (a wrong one counts as a failed
login for the limiter), refuses an address another account has (409), and mails a
confirmation link (24 h, single use, hashed, bound to the new address as its
``target``) to the new address and a notice to the old one. Nothing changes until the
link is used: :func:`confirm_change` sets the address, marks it verified (the link
proved it) and refuses, 409, an address another account took meanwhile.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Final

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..context import ServerContext
from ..db.models import User
from ..errors import ApiError
from . import activity, codes, mail
from .accounts import EMAIL_TAKEN, find_by_email
from .mail_limits import throttle
from .password_reset import FORGOT_PAGE
from .verification import CODE_PURPOSE, LINK_PURPOSE, display_name, link_path, mark_verified

if TYPE_CHECKING:
    from .accounts import Client

__all__ = ["CHANGE_PURPOSE", "CHANGE_TTL", "CONFIRM_PAGE", "confirm_change", "request_change"]

CHANGE_PURPOSE: Final = "email_change"
CHANGE_TTL: Final = timedelta(hours=24)
#: The page the confirmation link opens (``routers/recovery_pages.py``).
CONFIRM_PAGE: Final = "/account/confirm-email"
WRONG_PASSWORD: Final = "The password is incorrect"


def request_change(
    ctx: ServerContext, user_id: str, new_email: str, password: str, *, base_url: str,
    client: Client,
) -> None:
    """Mail a confirmation for ``new_email`` (normalised) to it and a notice to the old
    address. 400 for a wrong password or the same address, 409 when it is taken, 429
    from the login limiter or past the mail limit."""
    with ctx.db.read() as db:
        user = db.get(User, user_id)
    if user is None:
        raise ApiError(404, "User not found")
    ctx.limiter.check(user.email, client.address)
    if not ctx.passwords.verify(user.password_hash, password):
        ctx.limiter.failed(user.email, client.address)
        raise ApiError(400, WRONG_PASSWORD)
    if new_email == user.email:
        raise ApiError(400, "This is already your email address")
    throttle(ctx, "email_change", account=user.email, address=client.address)
    now = ctx.clock()
    with ctx.db.write() as db:
        fresh = db.execute(
            select(User).where(User.id == user_id).with_for_update()
        ).scalar_one_or_none()
        if fresh is None:
            raise ApiError(404, "User not found")
        if find_by_email(db, new_email) is not None:
            raise ApiError(409, EMAIL_TAKEN)
        token = codes.issue_link(
            db, fresh.id, CHANGE_PURPOSE, ttl=CHANGE_TTL, now=now, target=new_email
        )
        values = {"name": display_name(fresh), "old_email": fresh.email, "new_email": new_email}
        mail.enqueue(
            db, kind="email_change_confirm", to=new_email, base_url=base_url, now=now,
            values={
                **values, "link_path": link_path(CONFIRM_PAGE, token),
                "link_hours": int(CHANGE_TTL.total_seconds() // 3600),
            },
        )
        mail.enqueue(
            db, kind="email_change_notice", to=fresh.email, base_url=base_url, now=now,
            values={**values, "forgot_path": FORGOT_PAGE},
        )
        activity.record(
            db, now, user_id=fresh.id, activity_type="email_change_requested",
            address=client.address, user_agent=client.user_agent,
        )


def confirm_change(ctx: ServerContext, token: str, client: Client) -> str:
    """Use the confirmation link ``token``: the account's address becomes the one it was
    sent to (verified); returns it. 400 for a link that is not valid, expired or used,
    409 when another account has the address by now (the link stays unused)."""
    now = ctx.clock()
    with ctx.db.write() as db:
        try:
            redeemed = codes.redeem_link(db, CHANGE_PURPOSE, token, now)
        except codes.CodeRefused as exc:
            raise ApiError(400, exc.reason) from None
        user = db.execute(
            select(User).where(User.id == redeemed.user_id).with_for_update()
        ).scalar_one_or_none()
        if user is None or redeemed.target is None:
            raise ApiError(400, "This link is not valid")
        if user.disabled_at is not None:
            raise ApiError(403, "This account is disabled")
        new_email = redeemed.target
        holder = find_by_email(db, new_email)
        if holder is not None and holder.id != user.id:
            raise ApiError(409, EMAIL_TAKEN)
        user.email = new_email
        user.email_verified = False
        mark_verified(user, now)
        try:
            db.flush()
        except IntegrityError:  # another account took it in this very instant
            raise ApiError(409, EMAIL_TAKEN) from None
        # Secrets mailed to the old address verify nothing any more.
        codes.withdraw(db, user.id, LINK_PURPOSE, now)
        codes.withdraw(db, user.id, CODE_PURPOSE, now)
        activity.record(
            db, now, user_id=user.id, activity_type="email_changed",
            address=client.address, user_agent=client.user_agent,
        )
        return new_email
