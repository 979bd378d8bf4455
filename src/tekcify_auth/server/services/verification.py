"""Email verification: a link and a 6-digit code mailed at registration.

Registration (and a resend) mails a ``verify_email`` message with a link (24 h) and a
code (15 min), each single use and stored only as a hash (``codes.py``), each bound to
the address it was sent to (a secret sent to an address the account no longer has
verifies nothing). The link needs no sign-in: it opens a page (``VERIFY_PAGE``) whose
button POSTs it, so a mail scanner that fetches links does not use it up. The code is
entered by the signed-in user. Using either withdraws the other.

``users.email_verified_at`` and ``users.email_verified`` are set together, in one
transaction: the hot paths (UserInfo, introspection) read the flag.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Final
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..context import ServerContext
from ..db.models import User
from ..errors import ApiError
from . import activity, codes, mail
from .mail_limits import throttle

if TYPE_CHECKING:
    from .accounts import Client

__all__ = [
    "ALREADY_VERIFIED", "CODE_PURPOSE", "CODE_TTL", "LINK_PURPOSE", "LINK_TTL",
    "NOT_VERIFIED", "RESEND_PAGE", "VERIFY_PAGE", "EmailNotVerified", "display_name",
    "mark_verified", "resend", "resend_to_address", "send_verification", "verify_code",
    "verify_link",
]

LINK_PURPOSE: Final = "verify_email"
CODE_PURPOSE: Final = "verify_email_code"
LINK_TTL: Final = timedelta(hours=24)
CODE_TTL: Final = timedelta(minutes=15)
#: The page the mailed link opens (``routers/recovery_pages.py``).
VERIFY_PAGE: Final = "/account/verify-email"
#: Where the sign-in page's "send a new link" form posts (no token needed).
RESEND_PAGE: Final = "/account/resend-verification"
ALREADY_VERIFIED: Final = "Your email address is already verified"
NOT_VERIFIED: Final = (
    "Verify your email address before signing in: open the link we sent you, or ask "
    "for a new one"
)


class EmailNotVerified(ApiError):
    """403: ``TEKCIFY_REQUIRE_VERIFIED_EMAIL`` is on and this account's address is not
    verified (raised only once the password was right)."""

    def __init__(self) -> None:
        super().__init__(403, NOT_VERIFIED)


def display_name(user: User) -> str:
    """How a message greets ``user``: the first name, else the address."""
    return user.first_name or user.email


def link_path(page: str, token: str) -> str:
    """The path (under the public URL) of ``page`` carrying ``token``."""
    return f"{page}?token={quote(token, safe='')}"


def send_verification(db: Session, user: User, *, base_url: str, now: datetime) -> None:
    """Issue a new link and code for ``user``'s address and queue the message (in ``db``'s
    transaction); older ones stop working."""
    token = codes.issue_link(db, user.id, LINK_PURPOSE, ttl=LINK_TTL, now=now, target=user.email)
    code = codes.issue_code(db, user.id, CODE_PURPOSE, ttl=CODE_TTL, now=now, target=user.email)
    mail.enqueue(
        db, kind="verify_email", to=user.email, base_url=base_url, now=now,
        values={
            "name": display_name(user), "email": user.email,
            "link_path": link_path(VERIFY_PAGE, token), "code": code,
            "link_hours": int(LINK_TTL.total_seconds() // 3600),
            "code_minutes": int(CODE_TTL.total_seconds() // 60),
        },
    )


def mark_verified(user: User, now: datetime) -> bool:
    """Mark ``user``'s current address verified (both columns); whether it was not yet."""
    if user.email_verified and user.email_verified_at is not None:
        return False
    user.email_verified = True
    user.email_verified_at = now
    user.updated_at = now
    return True


def _locked_user(db: Session, user_id: str) -> User | None:
    return db.execute(
        select(User).where(User.id == user_id).with_for_update()
    ).scalar_one_or_none()


def _verified(db: Session, user: User, now: datetime, client: Client, how: str) -> None:
    if mark_verified(user, now):
        activity.record(
            db, now, user_id=user.id, activity_type="email_verified",
            address=client.address, user_agent=client.user_agent, metadata={"method": how},
        )
    codes.withdraw(db, user.id, LINK_PURPOSE, now)
    codes.withdraw(db, user.id, CODE_PURPOSE, now)


def verify_link(ctx: ServerContext, token: str, client: Client) -> None:
    """Verify the address the link ``token`` was mailed to; 400 when the link is not
    valid, expired, used, or sent to an address the account no longer has."""
    now = ctx.clock()
    with ctx.db.write() as db:
        try:
            redeemed = codes.redeem_link(db, LINK_PURPOSE, token, now)
        except codes.CodeRefused as exc:
            raise ApiError(400, exc.reason) from None
        user = _locked_user(db, redeemed.user_id)
        if user is None or user.disabled_at is not None or redeemed.target != user.email:
            raise ApiError(400, "This link is not valid")
        _verified(db, user, now, client, "link")


def verify_code(ctx: ServerContext, user_id: str, code: str, client: Client) -> None:
    """Verify the signed-in user's address with the mailed ``code``.

    400 for a wrong, expired or used code; a wrong guess counts (committed), and the
    :data:`codes.MAX_ATTEMPTS`-th locks the code (400 saying so: ask for a new one).
    """
    now = ctx.clock()
    refused: codes.CodeRefused | None = None
    with ctx.db.write() as db:
        user = _locked_user(db, user_id)
        if user is None:
            raise ApiError(404, "User not found")
        try:
            codes.redeem_code(db, user.id, CODE_PURPOSE, code, now, target=user.email)
        except codes.CodeRefused as exc:
            refused = exc  # the wrong guess is counted: this transaction commits
        else:
            _verified(db, user, now, client, "code")
    if refused is not None:
        raise ApiError(400, refused.reason)


def resend(ctx: ServerContext, user_id: str, *, base_url: str, address: str | None) -> None:
    """Mail ``user_id`` a new link and code; 400 when the address is verified already,
    429 past :data:`mail_limits.PER_ACCOUNT` per hour."""
    with ctx.db.read() as db:
        user = db.get(User, user_id)
    if user is None:
        raise ApiError(404, "User not found")
    if user.email_verified:
        raise ApiError(400, ALREADY_VERIFIED)
    throttle(ctx, "verify", account=user.email, address=address)
    now = ctx.clock()
    with ctx.db.write() as db:
        fresh = _locked_user(db, user_id)
        if fresh is not None and not fresh.email_verified:
            send_verification(db, fresh, base_url=base_url, now=now)


def resend_to_address(
    ctx: ServerContext, email: str, *, base_url: str, address: str | None
) -> None:
    """Mail a new link and code to ``email`` if it is an account's unverified address.

    For the sign-in page, without a token: it answers the same whether or not the
    address has an account (nothing to tell apart but the mail itself), and counts
    against the address and the client as a resend does (429).
    """
    throttle(ctx, "verify", account=email, address=address)
    now = ctx.clock()
    with ctx.db.write() as db:
        user = db.execute(
            select(User).where(User.email == email).with_for_update()
        ).scalar_one_or_none()
        if user is not None and user.disabled_at is None and not user.email_verified:
            send_verification(db, user, base_url=base_url, now=now)
