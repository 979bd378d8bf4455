"""The account rules of social sign-in: who comes back, who signs up, what gets linked.

When a provider says who signed in (:class:`.upstream.Identity`), :func:`resolve` decides:

1. an identity already linked (provider, subject) is its user;
2. otherwise its email decides: no account with it, a **sign-up** (no password; the
   address verified when the provider asserts it verified; refused when
   ``TEKCIFY_REGISTRATION`` is ``closed`` or ``invite``, and counted on the registration
   limits); an account with it, a **link**, but only when the provider asserts the
   email verified *and* the account's own address is verified. Otherwise nothing is
   linked yet: the identity waits (:func:`.flows.wait_for_sign_in`) until this browser
   signs in to that account, and :func:`link_pending` links it then.

The second condition stops pre-account hijacking: someone who registered a victim's
address with a password of their own (never verified) gets no link to the victim's
provider account; the victim is asked to sign in, and resets the password by mail.

:func:`unlink` refuses to remove the last way to sign in (no password, no passkey, no
other provider). Linking, unlinking and signing in are security activity events.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ...context import ServerContext
from ...db.models import User
from ...db.passkeys import Passkey
from ...db.social import SocialAccount
from ...errors import ApiError
from ...social_providers import Provider
from .. import activity, registration
from ..accounts import Client, create_user, find_by_email
from ..emails import InvalidEmail, normalise_email
from . import flows
from .upstream import Identity

__all__ = [
    "INVITE_ONLY", "LAST_WAY", "NO_EMAIL", "Resolved", "connect", "link_pending",
    "list_links", "provider", "resolve", "unlink",
]

NO_EMAIL: Final = (
    "{name} did not share a usable email address, which an account here needs; allow it "
    "at {name}, or create an account with your email address"
)
INVITE_ONLY: Final = (
    "Registration on this server needs an invite code: create your account on the "
    "registration page with your invite, then sign in with {name} to connect it"
)
LAST_WAY: Final = (
    "This is the only way to sign in to this account: set a password or add a passkey "
    "before disconnecting {name}"
)
TAKEN: Final = "This {name} account is already connected to another account"


def provider(ctx: ServerContext, name: str) -> Provider:
    """The configured provider ``name``; 404 when there is none."""
    for configured in ctx.settings.social_providers:
        if configured.name == name:
            return configured
    raise ApiError(404, "There is no such sign-in provider on this server")


@dataclass(frozen=True, slots=True)
class Resolved:
    """``user``: who signs in now (``created`` when just signed up); or ``None`` with
    ``pending_email``: the existing account to sign in to first."""

    user: User | None
    created: bool = False
    pending_email: str | None = None


def _link(
    db: Session, now: datetime, user_id: str, name: str, identity: Identity, client: Client
) -> None:
    db.add(SocialAccount(
        user_id=user_id, provider=name, subject=identity.subject,
        email=(identity.email or "")[:320] or None, linked_at=now, last_used_at=now,
    ))
    db.flush()
    activity.record(
        db, now, user_id=user_id, activity_type="social_account_linked",
        address=client.address, user_agent=client.user_agent, metadata={"provider": name},
    )


def _sign_up(
    db: Session, ctx: ServerContext, now: datetime, email: str, name: str,
    identity: Identity, client: Client,
) -> User:
    user = create_user(
        db, ctx, email=email, password_hash="", first_name=identity.first_name,
        last_name=identity.last_name,
    )
    if identity.email_verified:
        user.email_verified, user.email_verified_at = True, now
    _link(db, now, user.id, name, identity, client)
    return user


def resolve(
    ctx: ServerContext, upstream: Provider, identity: Identity, *, browser: str, client: Client
) -> Resolved:
    """Who ``identity`` signs in as (see the module docstring); raises 400, 403, 409, 429."""
    name = upstream.display_name
    with ctx.db.read() as db:
        known = db.execute(
            select(SocialAccount.id).where(
                SocialAccount.provider == upstream.name,
                SocialAccount.subject == identity.subject,
            )
        ).first()
    email = None
    if known is None:
        try:
            email = normalise_email(identity.email or "")
        except InvalidEmail:
            raise ApiError(400, NO_EMAIL.format(name=name)) from None
        with ctx.db.read() as db:
            taken = find_by_email(db, email) is not None
        if not taken:
            if ctx.settings.registration == "closed":
                raise ApiError(403, registration.CLOSED)
            if ctx.settings.registration == "invite":
                raise ApiError(403, INVITE_ONLY.format(name=name))
            registration.throttle(ctx, client.address)
    try:
        with ctx.db.write() as db:
            now = ctx.clock()
            link = db.execute(
                select(SocialAccount).where(
                    SocialAccount.provider == upstream.name,
                    SocialAccount.subject == identity.subject,
                )
            ).scalar_one_or_none()
            if link is not None:
                link.last_used_at = now
                user = db.get(User, link.user_id)
                assert user is not None  # the link's row goes with its user's
                return Resolved(user)
            assert email is not None
            existing = find_by_email(db, email)
            if existing is None:
                return Resolved(_sign_up(db, ctx, now, email, upstream.name, identity, client),
                                created=True)
            if identity.email_verified and existing.email_verified:
                _link(db, now, existing.id, upstream.name, identity, client)
                return Resolved(existing)
            flows.wait_for_sign_in(
                db, now, provider=upstream.name, browser=browser, user_id=existing.id,
                subject=identity.subject, email=identity.email,
            )
            return Resolved(None, pending_email=existing.email)
    except IntegrityError:  # a concurrent callback of the same identity or email won
        raise ApiError(409, "This sign-in happened twice at once; sign in again") from None


def link_pending(
    ctx: ServerContext, *, browser: str, user_id: str, signed_in_at: datetime, client: Client
) -> list[str]:
    """Link the identities waiting in ``browser`` for ``user_id``'s sign-in; their providers.

    An identity linked to someone else meanwhile is dropped.
    """
    with ctx.db.write() as db:
        now = ctx.clock()
        linked = []
        for row in flows.take_pending(
            db, now, browser=browser, user_id=user_id, signed_in_at=signed_in_at
        ):
            assert row.subject is not None
            taken = db.execute(
                select(SocialAccount.id).where(
                    SocialAccount.provider == row.provider, SocialAccount.subject == row.subject
                )
            ).first()
            if taken is None:
                identity = Identity(row.subject, row.email, False, None, None)
                _link(db, now, user_id, row.provider, identity, client)
                linked.append(row.provider)
        return linked


def connect(
    ctx: ServerContext, user_id: str, upstream: Provider, identity: Identity, client: Client
) -> bool:
    """Link ``identity`` to ``user_id``, who asked for it while signed in (the Social
    page); whether it is new. 409 when the identity is another account's."""
    try:
        with ctx.db.write() as db:
            now = ctx.clock()
            owner = db.execute(
                select(SocialAccount).where(
                    SocialAccount.provider == upstream.name,
                    SocialAccount.subject == identity.subject,
                )
            ).scalar_one_or_none()
            if owner is not None and owner.user_id != user_id:
                raise ApiError(409, TAKEN.format(name=upstream.display_name))
            if owner is not None:
                owner.last_used_at = now
                return False
            _link(db, now, user_id, upstream.name, identity, client)
            return True
    except IntegrityError:  # the same identity linked twice at once
        raise ApiError(409, TAKEN.format(name=upstream.display_name)) from None


def list_links(db: Session, user_id: str) -> list[SocialAccount]:
    """``user_id``'s linked identities, oldest first."""
    return list(db.execute(
        select(SocialAccount).where(SocialAccount.user_id == user_id)
        .order_by(SocialAccount.linked_at, SocialAccount.id)
    ).scalars())


def unlink(ctx: ServerContext, user_id: str, name: str, client: Client) -> None:
    """Disconnect ``user_id``'s identity at ``name``: 404 without one, 409 when it is the
    last way to sign in."""
    label = next(
        (p.display_name for p in ctx.settings.social_providers if p.name == name), name
    )
    with ctx.db.write() as db:
        now = ctx.clock()
        user = db.execute(
            select(User).where(User.id == user_id).with_for_update()
        ).scalar_one_or_none()
        if user is None:
            raise ApiError(404, "User not found")
        mine = db.execute(
            select(SocialAccount).where(
                SocialAccount.user_id == user_id, SocialAccount.provider == name
            )
        ).scalars().all()
        if not mine:
            raise ApiError(404, f"No {label} account is connected")
        others = db.execute(
            select(func.count()).select_from(SocialAccount).where(
                SocialAccount.user_id == user_id, SocialAccount.provider != name
            )
        ).scalar_one()
        passkeys = db.execute(
            select(func.count()).select_from(Passkey).where(Passkey.user_id == user_id)
        ).scalar_one()
        if not user.password_hash and not others and not passkeys:
            raise ApiError(409, LAST_WAY.format(name=label))
        db.execute(
            delete(SocialAccount).where(
                SocialAccount.user_id == user_id, SocialAccount.provider == name
            )
        )
        activity.record(
            db, now, user_id=user_id, activity_type="social_account_unlinked",
            address=client.address, user_agent=client.user_agent, metadata={"provider": name},
        )


def linked_subject(db: Session, user_id: str, name: str) -> list[str]:
    """The subjects ``user_id`` has linked at ``name`` (usually one)."""
    return list(db.execute(
        select(SocialAccount.subject).where(
            SocialAccount.user_id == user_id, SocialAccount.provider == name
        )
    ).scalars())


def touch(db: Session, now: datetime, name: str, subject: str) -> None:
    """Record that the identity was used to sign in (or confirm an action)."""
    db.execute(
        update(SocialAccount)
        .where(SocialAccount.provider == name, SocialAccount.subject == subject)
        .values(last_used_at=now)
    )
