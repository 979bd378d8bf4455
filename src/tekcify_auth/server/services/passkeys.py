"""Passkeys (WebAuthn): registering them, naming and removing them, signing in with them.

Every check of a ceremony (client data, origin, RP ID hash, flags, attestation, the
signature) is the ``webauthn`` package's (py_webauthn); this module keeps the rules of
the server around it:

* **Challenges** are 32 random bytes, handed out with the options and returned with the
  response (``challenge``, base64url). Only their SHA-256 is stored
  (``webauthn_challenges``), with their purpose (``register`` / ``login``) and, for a
  registration or a second factor, the user they were made for. A challenge is deleted
  by the request that presents it, in a transaction of its own before the response is
  verified, so it serves once whatever the outcome; it lives :data:`CHALLENGE_TTL`.
* **The relying party** is the server's public URL (``TEKCIFY_PUBLIC_URL``, or the
  address the request came to without it): its host is the RP ID, its origin the only
  origin accepted.
* **User verification** is required in both ceremonies, and a discoverable credential
  (resident key) at registration, so a passkey alone signs a person in.
* **The signature counter** (WebAuthn L3 §6.1.1): an assertion whose counter is not
  above the stored one (when either is non-zero) comes from a cloned authenticator. It is
  refused and logged (``passkey_sign_count_regression``); the stored counter stays.
* **The last way to sign in**: an account without a password keeps its last passkey.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final
from urllib.parse import urlsplit

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticatorAttachment,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from .. import metrics
from ..context import ServerContext
from ..db.models import User
from ..db.passkeys import Passkey, WebAuthnChallenge
from ..db.types import new_id
from ..errors import ApiError
from . import activity, mfa_login, verification
from .accounts import DEFAULT_FIRST_PARTY_SCOPES, Client, lock_signed_in_user, record_login
from .login_sessions import start_login_session
from .tokens import TokenPair, start_session

__all__ = [
    "AMR",
    "CHALLENGE_TTL",
    "MAX_PASSKEYS",
    "SECOND_FACTOR_AMR",
    "RelyingParty",
    "authenticate",
    "delete_passkey",
    "list_passkeys",
    "login",
    "login_options",
    "page_sign_in",
    "register",
    "registration_options",
    "rename_passkey",
]

#: How long a challenge may be answered.
CHALLENGE_TTL: Final = timedelta(minutes=5)
#: The most passkeys one account may hold.
MAX_PASSKEYS: Final = 25
#: The ``amr`` of a passkey sign-in (RFC 8176): a hardware-bound key, the user verified.
AMR: Final = ("hwk", "user")
#: The ``amr`` of a password sign-in completed with a passkey.
SECOND_FACTOR_AMR: Final = ("pwd", "hwk", "user")
RP_NAME: Final = "Tekcify"
DEFAULT_NAME: Final = "Passkey"
#: The longest challenge or credential id accepted from a client, in characters.
MAX_CHALLENGE_LENGTH: Final = 128
MAX_CREDENTIAL_ID_LENGTH: Final = 1400

BAD_CHALLENGE: Final = "This passkey request has expired or was already used; start again"
NOT_FOUND: Final = "Passkey not found"
REFUSED: Final = "The passkey could not be verified"
LAST_WAY: Final = (
    "This passkey is your only way to sign in: set a password or add another passkey first"
)
CLONED: Final = (
    "This passkey's signature counter went back, as a copied authenticator's does; "
    "it was refused"
)


@dataclass(frozen=True, slots=True)
class RelyingParty:
    """Who the passkeys are for: the RP ID (a host name) and the one origin accepted."""

    id: str
    origin: str

    @classmethod
    def of(cls, base_url: str) -> RelyingParty:
        """The relying party of the server at ``base_url`` (its public URL)."""
        parts = urlsplit(base_url)
        return cls(id=parts.hostname or "", origin=f"{parts.scheme}://{parts.netloc}")


def _hash(challenge: str) -> str:
    return hashlib.sha256(challenge.encode("utf-8", "surrogatepass")).hexdigest()


def _new_challenge(db: Session, now: datetime, purpose: str, user_id: str | None) -> bytes:
    raw = secrets.token_bytes(32)
    db.add(WebAuthnChallenge(
        id=new_id(), challenge_hash=_hash(bytes_to_base64url(raw)), purpose=purpose,
        user_id=user_id, created_at=now, expires_at=now + CHALLENGE_TTL,
    ))
    return raw


def _consume(ctx: ServerContext, challenge: str, purpose: str, user_id: str | None) -> bytes:
    """The challenge's bytes, if it was made for ``purpose`` and ``user_id`` and is live.

    It is deleted (committed) before anything else happens, so it serves once.
    """
    if not challenge or len(challenge) > MAX_CHALLENGE_LENGTH:
        raise ApiError(400, BAD_CHALLENGE)
    now = ctx.clock()
    with ctx.db.write() as db:
        owner = (
            WebAuthnChallenge.user_id.is_(None) if user_id is None
            else WebAuthnChallenge.user_id == user_id
        )
        row = db.execute(
            select(WebAuthnChallenge.id, WebAuthnChallenge.expires_at).where(
                WebAuthnChallenge.challenge_hash == _hash(challenge),
                WebAuthnChallenge.purpose == purpose, owner,
            )
        ).first()
        won = row is not None and db.execute(
            delete(WebAuthnChallenge).where(WebAuthnChallenge.id == row.id)
        ).rowcount == 1  # type: ignore[attr-defined]
    if row is None or not won or row.expires_at <= now:
        raise ApiError(400, BAD_CHALLENGE)
    try:
        return base64url_to_bytes(challenge)
    except ValueError:
        raise ApiError(400, BAD_CHALLENGE) from None


def _descriptor(row: Passkey) -> PublicKeyCredentialDescriptor:
    transports = []
    for name in row.transports or []:
        try:
            transports.append(AuthenticatorTransport(name))
        except ValueError:
            continue  # a transport newer than the package: the browser finds it anyway
    return PublicKeyCredentialDescriptor(
        id=base64url_to_bytes(row.credential_id), transports=transports or None
    )


def list_passkeys(db: Session, user_id: str) -> list[Passkey]:
    """``user_id``'s passkeys, oldest first."""
    return list(db.execute(
        select(Passkey).where(Passkey.user_id == user_id)
        .order_by(Passkey.created_at, Passkey.id)
    ).scalars())


# --------------------------------------------------------------------------- registration


def registration_options(ctx: ServerContext, user_id: str, rp: RelyingParty) -> dict[str, Any]:
    """``{options, challenge}`` for ``navigator.credentials.create`` (2.2.12's shape).

    ``excludeCredentials`` lists the user's passkeys, so an authenticator holding one
    says so instead of making a second. 400 past :data:`MAX_PASSKEYS`.
    """
    now = ctx.clock()
    with ctx.db.write() as db:
        user = db.get(User, user_id)
        if user is None:
            raise ApiError(404, "User not found")
        held = list_passkeys(db, user_id)
        if len(held) >= MAX_PASSKEYS:
            raise ApiError(400, f"An account holds at most {MAX_PASSKEYS} passkeys")
        challenge = _new_challenge(db, now, "register", user_id)
        display = " ".join(n for n in (user.first_name, user.last_name) if n) or user.email
        options = generate_registration_options(
            rp_id=rp.id, rp_name=RP_NAME, user_name=user.email, user_display_name=display,
            # The user handle is the account id (random, no personal data); a passkey
            # sign-in checks it against the credential's owner.
            user_id=user.id.encode(), challenge=challenge,
            timeout=int(CHALLENGE_TTL.total_seconds() * 1000),
            attestation=AttestationConveyancePreference.NONE,
            authenticator_selection=AuthenticatorSelectionCriteria(
                # 2.2.12's PasskeyRegistrationOptions always names an attachment; a
                # passkey lives on the user's device (or its synced keychain).
                authenticator_attachment=AuthenticatorAttachment.PLATFORM,
                resident_key=ResidentKeyRequirement.REQUIRED,
                require_resident_key=True,
                user_verification=UserVerificationRequirement.REQUIRED,
            ),
            exclude_credentials=[_descriptor(row) for row in held],
        )
    body: dict[str, Any] = json.loads(options_to_json(options))
    return {"options": body, "challenge": body["challenge"]}


def _clean_name(name: str | None, count: int) -> str:
    if name:
        return name
    return DEFAULT_NAME if count == 0 else f"{DEFAULT_NAME} {count + 1}"


def register(
    ctx: ServerContext,
    user_id: str,
    *,
    credential: dict[str, Any],
    challenge: str,
    name: str | None,
    rp: RelyingParty,
    client: Client,
) -> Passkey:
    """Verify a registration response against ``challenge`` and store the passkey.

    400 for an unknown, expired, used or another user's challenge and for a response
    that does not verify (wrong challenge, origin, RP ID, no user verification); 409
    when the credential is registered already.
    """
    expected = _consume(ctx, challenge, "register", user_id)
    try:
        verified = verify_registration_response(
            credential=credential, expected_challenge=expected, expected_rp_id=rp.id,
            expected_origin=rp.origin, require_user_verification=True,
        )
    except (WebAuthnException, ValueError, TypeError, KeyError):
        raise ApiError(400, REFUSED) from None
    credential_id = bytes_to_base64url(verified.credential_id)
    if len(credential_id) > MAX_CREDENTIAL_ID_LENGTH:
        raise ApiError(400, REFUSED)
    transports = _transports(credential)
    now = ctx.clock()
    try:
        with ctx.db.write() as db:
            user = db.execute(
                select(User).where(User.id == user_id).with_for_update()
            ).scalar_one_or_none()
            if user is None or user.disabled_at is not None:
                raise ApiError(404, "User not found")
            count = db.execute(
                select(func.count()).select_from(Passkey).where(Passkey.user_id == user_id)
            ).scalar_one()
            if count >= MAX_PASSKEYS:
                raise ApiError(400, f"An account holds at most {MAX_PASSKEYS} passkeys")
            row = Passkey(
                id=new_id(), user_id=user_id, credential_id=credential_id,
                public_key=verified.credential_public_key, sign_count=verified.sign_count,
                transports=transports, name=_clean_name(name, int(count)),
                aaguid=verified.aaguid, device_type=verified.credential_device_type.value,
                backed_up=verified.credential_backed_up, created_at=now, last_used_at=None,
            )
            db.add(row)
            db.flush()
            activity.record(
                db, now, user_id=user_id, activity_type="passkey_added",
                address=client.address, user_agent=client.user_agent,
                metadata={"credentialId": credential_id, "name": row.name},
            )
            return row
    except IntegrityError:
        raise ApiError(409, "This passkey is registered already") from None


def _transports(credential: dict[str, Any]) -> list[str] | None:
    response = credential.get("response")
    found = response.get("transports") if isinstance(response, dict) else None
    if not isinstance(found, list):
        return None
    return [t for t in found if isinstance(t, str) and len(t) <= 32][:8] or None


# ------------------------------------------------------------------------- manage


def _own(db: Session, user_id: str, credential_id: str) -> Passkey:
    if len(credential_id) > MAX_CREDENTIAL_ID_LENGTH:
        raise ApiError(404, NOT_FOUND)
    row = db.execute(
        select(Passkey).where(
            Passkey.credential_id == credential_id, Passkey.user_id == user_id
        ).with_for_update()
    ).scalar_one_or_none()
    if row is None:  # another user's passkey is as unknown as none at all
        raise ApiError(404, NOT_FOUND)
    return row


def rename_passkey(
    ctx: ServerContext, user_id: str, credential_id: str, name: str, client: Client
) -> Passkey:
    """Rename one of ``user_id``'s passkeys; 404 when it is not theirs."""
    with ctx.db.write() as db:
        row = _own(db, user_id, credential_id)
        old = row.name
        row.name = name
        db.flush()
        activity.record(
            db, ctx.clock(), user_id=user_id, activity_type="passkey_renamed",
            address=client.address, user_agent=client.user_agent,
            metadata={"credentialId": credential_id, "from": old, "to": name},
        )
        return row


def delete_passkey(ctx: ServerContext, user_id: str, credential_id: str, client: Client) -> None:
    """Remove one of ``user_id``'s passkeys.

    404 when it is not theirs; 409 when the account has no password and this is its
    last passkey (:data:`LAST_WAY`). The user's row is locked first, so two removals at
    once cannot each leave the other passkey as the last.
    """
    with ctx.db.write() as db:
        user = db.execute(
            select(User).where(User.id == user_id).with_for_update()
        ).scalar_one_or_none()
        if user is None:
            raise ApiError(404, NOT_FOUND)
        row = _own(db, user_id, credential_id)
        count = db.execute(
            select(func.count()).select_from(Passkey).where(Passkey.user_id == user_id)
        ).scalar_one()
        if not user.password_hash and count <= 1:
            raise ApiError(409, LAST_WAY)
        name = row.name
        db.delete(row)
        activity.record(
            db, ctx.clock(), user_id=user_id, activity_type="passkey_removed",
            address=client.address, user_agent=client.user_agent,
            metadata={"credentialId": credential_id, "name": name},
        )


# ------------------------------------------------------------------------- sign-in


def login_options(
    ctx: ServerContext, rp: RelyingParty, *, mfa_token: str | None = None
) -> dict[str, Any]:
    """``{options, challenge}`` for ``navigator.credentials.get``.

    Without ``mfa_token``, a discoverable-credential sign-in (``allowCredentials`` empty:
    the authenticator offers its passkeys for this RP). With it (a passkey as the second
    factor of a password sign-in), the challenge is bound to the token's user and lists
    their passkeys; 401 when the token is not a live challenge.
    """
    user_id = None
    if mfa_token is not None:
        user_id = mfa_login.challenge_user(ctx, mfa_token)[1].id
    now = ctx.clock()
    with ctx.db.write() as db:
        challenge = _new_challenge(db, now, "login", user_id)
        allowed = [] if user_id is None else [_descriptor(r) for r in list_passkeys(db, user_id)]
    options = generate_authentication_options(
        rp_id=rp.id, challenge=challenge, timeout=int(CHALLENGE_TTL.total_seconds() * 1000),
        allow_credentials=allowed, user_verification=UserVerificationRequirement.REQUIRED,
    )
    body: dict[str, Any] = json.loads(options_to_json(options))
    return {"options": body, "challenge": body["challenge"]}


def _credential_id(credential: dict[str, Any]) -> str:
    raw = credential.get("rawId", credential.get("id"))
    if not isinstance(raw, str) or not raw or len(raw) > MAX_CREDENTIAL_ID_LENGTH:
        raise ApiError(400, REFUSED)
    try:
        return bytes_to_base64url(base64url_to_bytes(raw))  # one spelling, no padding
    except ValueError:
        raise ApiError(400, REFUSED) from None


def _user_handle(credential: dict[str, Any]) -> str | None:
    response = credential.get("response")
    handle = response.get("userHandle") if isinstance(response, dict) else None
    if not isinstance(handle, str) or not handle:
        return None
    try:
        return base64url_to_bytes(handle).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, REFUSED) from None


def _failed(ctx: ServerContext, user: User, client: Client, reason: str) -> None:
    with ctx.db.write() as db:
        record_login(db, ctx, user.id, client, success=False, reason=reason)


def authenticate(
    ctx: ServerContext,
    *,
    credential: dict[str, Any],
    challenge: str,
    rp: RelyingParty,
    client: Client,
    user_id: str | None = None,
) -> tuple[User, Passkey]:
    """Verify an assertion: the user it signs in, and the passkey (its counter stored).

    ``user_id`` (a second factor) binds the challenge, and the passkey must be theirs.
    400 for a bad or used challenge; 401 for an unknown passkey, another user's, a
    signature that does not verify, another origin or RP ID, no user verification or a
    counter gone back (logged); 403 for a disabled account; 429 from the login limiter.
    """
    # Before the account is known: the client address's counters (an unknown credential
    # counts on them, under no account).
    ctx.limiter.check("", client.address)
    expected = _consume(ctx, challenge, "login", user_id)
    credential_id = _credential_id(credential)
    with ctx.db.read() as db:
        found = db.execute(
            select(Passkey, User).join(User, User.id == Passkey.user_id)
            .where(Passkey.credential_id == credential_id)
        ).first()
    if found is None:
        ctx.limiter.failed("", client.address)
        raise ApiError(401, REFUSED)
    passkey, user = found
    handle = _user_handle(credential)
    if (user_id is not None and user.id != user_id) or (handle is not None and handle != user.id):
        ctx.limiter.failed(user.email, client.address)
        raise ApiError(401, REFUSED)
    ctx.limiter.check(user.email, client.address, login=True)
    try:
        verified = verify_authentication_response(
            credential=credential, expected_challenge=expected, expected_rp_id=rp.id,
            expected_origin=rp.origin, credential_public_key=passkey.public_key,
            # The counter rule is applied below, after the signature is known to be good,
            # so that only a genuine assertion with a stale counter is logged as a clone.
            credential_current_sign_count=0, require_user_verification=True,
        )
    except (WebAuthnException, ValueError, TypeError, KeyError):
        ctx.limiter.failed(user.email, client.address)
        _failed(ctx, user, client, "passkey_invalid")
        raise ApiError(401, REFUSED) from None
    return _accept(ctx, passkey.id, verified.new_sign_count, client)


def _accept(
    ctx: ServerContext, passkey_id: str, new_count: int, client: Client
) -> tuple[User, Passkey]:
    now = ctx.clock()
    with ctx.db.write() as db:
        found = db.execute(
            select(Passkey, User).join(User, User.id == Passkey.user_id)
            .where(Passkey.id == passkey_id).with_for_update()
        ).first()
        if found is None:  # removed meanwhile
            raise ApiError(401, REFUSED)
        passkey, user = found
        stored = passkey.sign_count
        regressed = (new_count > 0 or stored > 0) and new_count <= stored
        if not regressed and user.disabled_at is None:
            passkey.sign_count = new_count
            passkey.last_used_at = now
            activity.record(
                db, now, user_id=user.id, activity_type="passkey_used",
                address=client.address, user_agent=client.user_agent,
                metadata={"credentialId": passkey.credential_id, "name": passkey.name},
            )
            ctx.limiter.succeeded(user.email, client.address)
            return user, passkey
    if regressed:
        with ctx.db.write() as db:
            activity.record(
                db, now, user_id=user.id, activity_type="passkey_sign_count_regression",
                success=False, address=client.address, user_agent=client.user_agent,
                metadata={
                    "credentialId": passkey.credential_id, "name": passkey.name,
                    "storedCount": stored, "presentedCount": new_count,
                },
            )
        ctx.limiter.failed(user.email, client.address)
        raise ApiError(401, CLONED)
    _failed(ctx, user, client, "account_disabled")
    raise ApiError(403, "This account is disabled")


@dataclass(frozen=True, slots=True)
class _Verified:
    user: User
    #: The ``jti`` of the password sign-in this passkey completes, if it is a second factor.
    challenge_jti: str | None
    amr: tuple[str, ...]


def _verify(
    ctx: ServerContext,
    *,
    credential: dict[str, Any],
    challenge: str,
    rp: RelyingParty,
    client: Client,
    mfa_token: str | None,
) -> _Verified:
    if mfa_token is None:
        user, _passkey = authenticate(
            ctx, credential=credential, challenge=challenge, rp=rp, client=client
        )
        return _Verified(user, None, AMR)
    jti, owner = mfa_login.challenge_user(ctx, mfa_token)
    user, _passkey = authenticate(
        ctx, credential=credential, challenge=challenge, rp=rp, client=client, user_id=owner.id
    )
    return _Verified(user, jti, SECOND_FACTOR_AMR)


def _open(db: Session, ctx: ServerContext, verified: _Verified) -> User:
    """The signed-in user, locked, in the transaction that opens the session (a second
    factor's challenge spent there too); 401 when the account changed since."""
    user = lock_signed_in_user(db, verified.user.id, verified.user.password_hash)
    if ctx.settings.require_verified_email and not user.email_verified:
        raise verification.EmailNotVerified()
    if verified.challenge_jti is not None:
        mfa_login.spend_challenge(db, verified.challenge_jti, ctx.clock())
    return user


@contextmanager
def _counted() -> Iterator[None]:
    """Count a passkey sign-in in the metrics: ``success``, ``failure`` (400/401: a bad
    challenge or assertion) or ``refused`` (limited, disabled, unverified)."""
    try:
        yield
    except ApiError as exc:
        metrics.sign_in("failure" if exc.status_code in (400, 401) else "refused", "passkey")
        raise
    metrics.sign_in("success", "passkey")


def login(
    ctx: ServerContext,
    *,
    credential: dict[str, Any],
    challenge: str,
    rp: RelyingParty,
    client: Client,
    mfa_token: str | None = None,
) -> TokenPair:
    """Sign in with a passkey: :func:`authenticate`, then a first-party session whose
    access token says ``amr: ["hwk", "user"]``.

    With ``mfa_token`` the passkey is the second factor of a password sign-in
    (``services/mfa_login.py``): the assertion must be the token's user's, the token is
    spent in the transaction that opens the session, and ``amr`` is ``["pwd", "hwk",
    "user"]``.
    """
    with _counted():
        verified = _verify(
            ctx, credential=credential, challenge=challenge, rp=rp, client=client,
            mfa_token=mfa_token,
        )
        with ctx.db.write() as db:
            user = _open(db, ctx, verified)
            pair = start_session(
                db, ctx, user, scopes=list(DEFAULT_FIRST_PARTY_SCOPES),
                user_agent=client.user_agent, ip_address=client.address,
                amr=list(verified.amr),
            )
            record_login(db, ctx, user.id, client, success=True)
    metrics.token_issued("password")
    return pair


def page_sign_in(
    ctx: ServerContext,
    *,
    credential: dict[str, Any],
    challenge: str,
    rp: RelyingParty,
    client: Client,
    mfa_token: str | None = None,
    replacing: str | None = None,
) -> str:
    """Sign in on the authorization pages with a passkey, as :func:`login` does, but
    opening a page sign-in (``services/login_sessions.py``): its cookie token.

    ``replacing`` is the browser's previous sign-in, revoked here.
    """
    with _counted():
        verified = _verify(
            ctx, credential=credential, challenge=challenge, rp=rp, client=client,
            mfa_token=mfa_token,
        )
        with ctx.db.write() as db:
            user = _open(db, ctx, verified)
            cookie, _row = start_login_session(
                db, ctx, user.id, password_hash=user.password_hash, replacing=replacing,
                user_agent=client.user_agent, ip_address=client.address,
                amr=" ".join(verified.amr),
            )
    return cookie
