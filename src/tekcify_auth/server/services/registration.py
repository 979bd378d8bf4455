"""Who may register, how often, and what registration tells (issue 17, item 4).

:func:`sign_up` is registration through ``POST /api/auth/register`` and the registration
page; ``tekcify-auth users create`` calls :func:`accounts.register` directly and is
subject to none of this.

* ``TEKCIFY_REGISTRATION``: ``open`` (anyone), ``closed`` (nobody: 403) or ``invite``
  (with a code made by ``tekcify-auth invites create``, ``services/invites.py``; 403
  without a usable one).
* Every attempt counts, before the password is hashed, per client address (as the login
  limiter counts it, ``ratelimit.client_key``: IPv6 per /64) and per network (IPv4 /24,
  IPv6 /56, ``ratelimit.network_key``) in the login limits' store, so several workers and
  instances share the count (Redis); past either limit, 429 with ``Retry-After``.
* ``TEKCIFY_HIDE_EXISTING_ACCOUNTS=true``: an existing email is answered as a new one
  (201, a profile of the same shape with a random id), after the same password hash and
  one write transaction, and the account's owner is mailed a notice
  (``templates/mail/account_exists``) instead of the new account's verification message.
  Off (the default), an existing email is the Tekcify contract's 409.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from .. import metrics
from ..context import ServerContext
from ..db.models import User
from ..db.types import new_id
from ..errors import ApiError
from . import accounts, invites, mail, verification
from .password_reset import FORGOT_PAGE
from .ratelimit import client_key, network_key

__all__ = ["CLOSED", "TOO_MANY_REGISTRATIONS", "SignUp", "sign_up", "throttle"]

CLOSED: Final = (
    "Registration is closed on this server; ask its administrator for an account"
)
TOO_MANY_REGISTRATIONS: Final = "Too many registrations from this network; try again later"


@dataclass(frozen=True, slots=True)
class SignUp:
    """What a registration answers: ``user`` (the new account, or with
    ``TEKCIFY_HIDE_EXISTING_ACCOUNTS`` a stand-in of the same shape for an existing email)
    and whether an account was ``created``. Only the server may look at ``created``."""

    user: User
    created: bool


def _limit_keys(ctx: ServerContext, address: str | None) -> list[tuple[str, int]]:
    settings = ctx.settings
    return [
        (f"reg:ad:{client_key(address, settings.login_ipv6_prefix)}",
         settings.registration_max_per_address),
        (f"reg:net:{network_key(address)}", settings.registration_max_per_network),
    ]


def _stand_in(ctx: ServerContext, email: str, first: str | None, last: str | None) -> User:
    now = ctx.clock()
    return User(
        id=new_id(), email=email, password_hash="", first_name=first, last_name=last,
        avatar_url=None, role="user", email_verified=False, email_verified_at=None,
        disabled_at=None, created_at=now, updated_at=now,
    )


def throttle(ctx: ServerContext, address: str | None) -> None:
    """Count a registration attempt from ``address``; 429 (``Retry-After``) past the limits.

    Every way to create an account counts here: the API, the page, a first sign-in with
    an upstream provider (``services/social/links.py``).
    """
    keys = _limit_keys(ctx, address)
    try:
        ctx.registrations.check(keys, TOO_MANY_REGISTRATIONS)
    except ApiError:
        metrics.rate_limited("registration")
        raise
    ctx.registrations.add(keys)


def sign_up(
    ctx: ServerContext,
    *,
    email: str,
    password: str,
    first_name: str | None,
    last_name: str | None,
    invite_code: str | None,
    address: str | None,
    base_url: str,
) -> SignUp:
    """Register ``email`` (already normalised) for a client at ``address``.

    Raises 403 (closed, or no usable invite), 429 (the limits) and, unless existing
    accounts are hidden, 409 for a taken email.
    """
    settings = ctx.settings
    if settings.registration == "closed":
        raise ApiError(403, CLOSED)
    throttle(ctx, address)
    password_hash = ctx.passwords.hash(password)
    hide = settings.hide_existing_accounts
    try:
        with ctx.db.write() as db:
            now = ctx.clock()
            if settings.registration == "invite":
                invites.spend_invite(db, invite_code, now)
            existing = accounts.find_by_email(db, email) if hide else None
            if existing is not None:
                mail.enqueue(
                    db, kind="account_exists", to=existing.email, base_url=base_url, now=now,
                    values={
                        "name": verification.display_name(existing), "email": existing.email,
                        "forgot_path": FORGOT_PAGE,
                    },
                )
                return SignUp(_stand_in(ctx, email, first_name, last_name), created=False)
            user = accounts.create_user(
                db, ctx, email=email, password_hash=password_hash, first_name=first_name,
                last_name=last_name,
            )
            verification.send_verification(db, user, base_url=base_url, now=now)
            return SignUp(user, created=True)
    except ApiError as exc:
        if hide and exc.status_code == 409:  # a concurrent registration of it won
            return SignUp(_stand_in(ctx, email, first_name, last_name), created=False)
        raise
