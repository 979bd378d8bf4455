"""TOTP two-factor authentication (RFC 6238) and backup codes: set up, check, turn off.

**The factor.** ``POST /api/auth/mfa/setup`` makes a 160-bit secret (``pyotp``) and ten
backup codes; the secret is stored sealed by the key-encryption cipher
(:attr:`~..context.ServerContext.key_cipher`, AES-256-GCM, the user's id as associated
data, so a sealed secret cannot be moved to another account), the backup codes as
salted SHA-256 only. The factor stays **pending** until ``verify-setup`` gets a right
code from the authenticator; only then is MFA on.

**Codes.** A TOTP code is accepted for the current 30-second step and one step either
side (clock drift). The step of the last accepted code is stored, and accepting a code
is one conditional UPDATE (``... WHERE last_step IS NULL OR last_step < :step``): a
code of that step or an earlier one is refused (RFC 6238 §5.2, no replay), and of two
concurrent uses of one code exactly one passes, on SQLite and PostgreSQL alike. A
backup code is spent by a conditional UPDATE too (``... WHERE used_at IS NULL``).

**Limits.** Wrong codes count per account (``TEKCIFY_MFA_MAX_FAILURES`` per login
window) in the login limiter's store: memory, the workers' shared file, or Redis, so
several instances share the count. Past it: 429 with ``Retry-After``, before any code is
checked. Each wrong code records an ``mfa_failed`` security event.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Final, TypeVar

import pyotp
import segno
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from ..context import ServerContext
from ..db.mfa import BackupCode, TotpFactor
from ..db.models import User
from ..errors import ApiError
from . import activity, reauth
from .accounts import Client

__all__ = [
    "BACKUP_CODE_COUNT",
    "DISABLE_ACTIONS",
    "ISSUER",
    "REGENERATE_ACTIONS",
    "SETUP_ACTIONS",
    "Setup",
    "accept_code",
    "disable",
    "is_enabled",
    "qr_code",
    "record_failure",
    "regenerate_backup_codes",
    "require_code",
    "reset",
    "setup",
    "throttle",
    "verify_setup",
]

#: The issuer an authenticator app shows beside the account (the ``otpauth://`` URI).
ISSUER: Final = "Tekcify"
BACKUP_CODE_COUNT: Final = 10
#: Steps of drift accepted either side of now (RFC 6238 §5.2 recommends at most one).
DRIFT: Final = 1
STEP: Final = 30
#: The sensitive-action token actions each endpoint accepts in place of the password.
SETUP_ACTIONS: Final = frozenset({"mfa_setup", "setup_mfa", "enable_mfa", "mfa:setup", "mfa"})
DISABLE_ACTIONS: Final = frozenset({"mfa_disable", "disable_mfa", "mfa:disable", "mfa"})
REGENERATE_ACTIONS: Final = frozenset({
    "regenerate_backup_codes", "mfa_backup_codes", "mfa:regenerate-backup-codes", "mfa",
})

T = TypeVar("T")

WRONG_CODE: Final = "The two-factor code is incorrect or was already used"
CODE_REQUIRED: Final = "mfaCode is required while two-factor sign-in is on"
TOO_MANY: Final = "Too many wrong two-factor codes; try again later"
_ALPHABET: Final = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i
_AAD_ALG: Final = "TOTP"


@dataclass(frozen=True, slots=True)
class Setup:
    """What ``setup`` answers once: the secret, its QR code, the backup codes."""

    secret: str
    qr_code_url: str
    backup_codes: list[str]


def _seal(ctx: ServerContext, user_id: str, secret: str) -> bytes:
    return ctx.key_cipher.seal(secret.encode("ascii"), f"totp:{user_id}", _AAD_ALG)


def _open(ctx: ServerContext, user_id: str, sealed: bytes) -> str:
    return ctx.key_cipher.open(sealed, f"totp:{user_id}", _AAD_ALG).decode("ascii")


def _normalise_backup(code: str) -> str:
    return "".join(ch for ch in code.lower() if ch.isalnum())


def _backup_hash(user_id: str, code: str) -> str:
    return hashlib.sha256(f"{user_id}:{_normalise_backup(code)}".encode()).hexdigest()


def _new_backup_codes(db: Session, user_id: str, now: datetime) -> list[str]:
    """Replace the user's backup codes with :data:`BACKUP_CODE_COUNT` new ones (60 bits each)."""
    db.execute(delete(BackupCode).where(BackupCode.user_id == user_id))
    plain = []
    for _ in range(BACKUP_CODE_COUNT):
        raw = "".join(secrets.choice(_ALPHABET) for _ in range(12))
        code = f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"
        plain.append(code)
        db.add(BackupCode(user_id=user_id, code_hash=_backup_hash(user_id, code), created_at=now))
    return plain


def is_enabled(db: Session, user_id: str) -> bool:
    """Whether ``user_id`` has TOTP turned on (a pending set-up does not count)."""
    return db.execute(
        select(TotpFactor.user_id).where(
            TotpFactor.user_id == user_id, TotpFactor.enabled_at.is_not(None)
        )
    ).first() is not None


def _qr_data_url(uri: str) -> str:
    return str(segno.make(uri, error="m").png_data_uri(scale=5, border=4))


def qr_code(email: str, secret: str) -> str:
    """The QR code (``data:image/png``) an authenticator app scans to hold ``secret``."""
    return _qr_data_url(pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER))


def setup(
    ctx: ServerContext,
    user_id: str,
    *,
    password: str | None,
    sensitive_action_token: str | None,
    client: Client,
) -> Setup:
    """Start (or restart) setting up TOTP: a pending factor and ten backup codes.

    The caller proves themselves with the password or a sensitive-action token of
    :data:`SETUP_ACTIONS` (``reauth.confirm_identity``). 409 when MFA is already on.
    """
    confirmed = reauth.confirm_identity(
        ctx, user_id, actions=SETUP_ACTIONS, password=password,
        sensitive_action_token=sensitive_action_token, client=client,
    )
    secret = pyotp.random_base32(32)
    with ctx.db.write() as db:
        now = ctx.clock()
        user = confirmed.settle(db, now)
        if is_enabled(db, user_id):
            raise ApiError(409, "Two-factor sign-in is already on; turn it off first")
        db.execute(delete(TotpFactor).where(TotpFactor.user_id == user_id))
        sealed = _seal(ctx, user_id, secret)
        db.add(TotpFactor(user_id=user_id, secret_sealed=sealed, created_at=now))
        codes = _new_backup_codes(db, user_id, now)
        email = user.email
    return Setup(secret=secret, qr_code_url=qr_code(email, secret), backup_codes=codes)


def throttle(ctx: ServerContext, user_id: str) -> None:
    """429 (with ``Retry-After``) once the account had ``TEKCIFY_MFA_MAX_FAILURES`` wrong
    codes in the login window; the count is in the login limiter's (shared) store."""
    limiter = ctx.limiter
    now = limiter.clock()
    count, oldest = limiter.store.recent(f"mfa:{user_id}", limiter.window, now)
    if count >= ctx.settings.mfa_max_failures and oldest is not None:
        wait = min(math.ceil(limiter.window), max(1, math.ceil(oldest + limiter.window - now)))
        raise ApiError(429, TOO_MANY, headers={"Retry-After": str(wait)})


def record_failure(ctx: ServerContext, user_id: str, client: Client, *, during: str) -> None:
    """Count a wrong code for the account and log an ``mfa_failed`` event (its own
    transaction: the refused action changed nothing)."""
    limiter = ctx.limiter
    limiter.store.add(
        f"mfa:{user_id}", limiter.window, limiter.clock(), keep=ctx.settings.mfa_max_failures
    )
    with ctx.db.write() as db:
        activity.record(
            db, ctx.clock(), user_id=user_id, activity_type="mfa_failed", success=False,
            address=client.address, user_agent=client.user_agent, metadata={"during": during},
        )


def _accept_totp(
    db: Session, ctx: ServerContext, user_id: str, code: str, now: datetime, *, pending: bool
) -> bool:
    digits = code.replace(" ", "")
    if len(digits) != 6 or not digits.isdigit():
        return False
    factor = db.execute(
        select(TotpFactor).where(TotpFactor.user_id == user_id)
    ).scalar_one_or_none()
    if factor is None or (factor.enabled_at is None) != pending:
        return False
    totp = pyotp.TOTP(_open(ctx, user_id, factor.secret_sealed))
    current = int(now.timestamp()) // STEP
    matched = [
        step for step in range(current - DRIFT, current + DRIFT + 1)
        if hmac.compare_digest(totp.generate_otp(step), digits)
    ]
    if not matched:
        return False
    step = max(matched)
    # The replay check and the claim in one statement: of concurrent uses one wins.
    won = db.execute(
        update(TotpFactor)
        .where(
            TotpFactor.user_id == user_id,
            or_(TotpFactor.last_step.is_(None), TotpFactor.last_step < step),
        )
        .values(last_step=step)
        .execution_options(synchronize_session=False)
    )
    return int(won.rowcount) == 1  # type: ignore[attr-defined]


def _accept_backup(
    db: Session, ctx: ServerContext, user_id: str, code: str, now: datetime, client: Client
) -> bool:
    if not 8 <= len(_normalise_backup(code)) <= 32:
        return False
    won = db.execute(
        update(BackupCode)
        .where(
            BackupCode.user_id == user_id,
            BackupCode.code_hash == _backup_hash(user_id, code),
            BackupCode.used_at.is_(None),
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if int(won.rowcount) != 1:  # type: ignore[attr-defined]
        return False
    left = db.execute(
        select(func.count()).select_from(BackupCode).where(
            BackupCode.user_id == user_id, BackupCode.used_at.is_(None)
        )
    ).scalar_one()
    activity.record(
        db, now, user_id=user_id, activity_type="mfa_backup_code_used",
        address=client.address, user_agent=client.user_agent,
        metadata={"remaining": int(left)},
    )
    return True


def accept_code(
    db: Session,
    ctx: ServerContext,
    user_id: str,
    now: datetime,
    client: Client,
    *,
    code: str | None = None,
    backup_code: str | None = None,
) -> str | None:
    """Spend a TOTP ``code`` or a ``backup_code`` of the user's (enabled) factor in
    ``db``'s write transaction; the method used (``totp`` / ``backup_code``) or ``None``.

    ``code`` may be a backup code too (the 2.2.12 bodies have one ``mfaCode`` field).
    """
    if code is not None:
        if _accept_totp(db, ctx, user_id, code, now, pending=False):
            return "totp"
        if len(code.replace(" ", "")) != 6 and _accept_backup(db, ctx, user_id, code, now, client):
            return "backup_code"
        return None
    if backup_code is not None and _accept_backup(db, ctx, user_id, backup_code, now, client):
        return "backup_code"
    return None


class _Refused(Exception):
    pass


def require_code(
    ctx: ServerContext, db: Session, user_id: str, mfa_code: str | None, client: Client
) -> None:
    """In an action's write transaction: while MFA is on, ``mfa_code`` must be given and
    right (400 when missing). A wrong one raises the 403 after its failure is recorded,
    which the caller's rollback cannot undo (the failure has its own transaction).

    Call :func:`throttle` before opening the transaction.
    """
    if not is_enabled(db, user_id):
        return
    if not mfa_code:
        raise ApiError(400, CODE_REQUIRED)
    if accept_code(db, ctx, user_id, ctx.clock(), client, code=mfa_code) is None:
        db.rollback()
        record_failure(ctx, user_id, client, during="action")
        raise ApiError(403, WRONG_CODE)


def verify_setup(ctx: ServerContext, user_id: str, code: str, client: Client) -> None:
    """Turn MFA on with the first right code of the pending factor (400 otherwise)."""
    throttle(ctx, user_id)
    try:
        with ctx.db.write() as db:
            now = ctx.clock()
            if is_enabled(db, user_id):
                raise ApiError(409, "Two-factor sign-in is already on")
            if db.get(TotpFactor, user_id) is None:
                raise ApiError(400, "Set up two-factor sign-in first (POST /api/auth/mfa/setup)")
            if not _accept_totp(db, ctx, user_id, code, now, pending=True):
                raise _Refused()
            db.execute(
                update(TotpFactor).where(TotpFactor.user_id == user_id).values(enabled_at=now)
            )
            activity.record(
                db, now, user_id=user_id, activity_type="mfa_enabled",
                address=client.address, user_agent=client.user_agent,
            )
    except _Refused:
        record_failure(ctx, user_id, client, during="setup")
        raise ApiError(400, WRONG_CODE) from None


def _with_proofs(
    ctx: ServerContext,
    user_id: str,
    *,
    actions: frozenset[str],
    password: str | None,
    sensitive_action_token: str | None,
    mfa_code: str,
    client: Client,
    during: str,
    then: Callable[[Session, datetime], T],
) -> T:
    """What disable and regenerate share: once the wrong-code limit allows, the identity
    check (password or a token of ``actions``), then in one transaction MFA on and a right
    code, then ``then(db, now)``. A wrong code is recorded (``during``) and is 403."""
    throttle(ctx, user_id)
    confirmed = reauth.confirm_identity(
        ctx, user_id, actions=actions, password=password,
        sensitive_action_token=sensitive_action_token, client=client,
    )
    try:
        with ctx.db.write() as db:
            now = ctx.clock()
            confirmed.settle(db, now)
            if not is_enabled(db, user_id):
                raise ApiError(400, "Two-factor sign-in is not on")
            if accept_code(db, ctx, user_id, now, client, code=mfa_code) is None:
                raise _Refused()
            return then(db, now)
    except _Refused:
        record_failure(ctx, user_id, client, during=during)
        raise ApiError(403, WRONG_CODE) from None


def disable(
    ctx: ServerContext,
    user_id: str,
    *,
    password: str | None,
    sensitive_action_token: str | None,
    mfa_code: str,
    client: Client,
) -> None:
    """Turn MFA off: the password (or a token of :data:`DISABLE_ACTIONS`) and a right code
    (TOTP or backup code). The factor and the backup codes are deleted."""
    def turn_off(db: Session, now: datetime) -> None:
        _remove(db, user_id)
        activity.record(
            db, now, user_id=user_id, activity_type="mfa_disabled",
            address=client.address, user_agent=client.user_agent,
        )

    _with_proofs(
        ctx, user_id, actions=DISABLE_ACTIONS, password=password,
        sensitive_action_token=sensitive_action_token, mfa_code=mfa_code, client=client,
        during="disable", then=turn_off,
    )


def regenerate_backup_codes(
    ctx: ServerContext,
    user_id: str,
    *,
    password: str | None,
    sensitive_action_token: str | None,
    mfa_code: str,
    client: Client,
) -> list[str]:
    """Ten new backup codes (the old ones stop working), with the same proofs as
    :func:`disable` (a token of :data:`REGENERATE_ACTIONS`)."""
    def renew(db: Session, now: datetime) -> list[str]:
        codes = _new_backup_codes(db, user_id, now)
        activity.record(
            db, now, user_id=user_id, activity_type="mfa_backup_codes_regenerated",
            address=client.address, user_agent=client.user_agent,
        )
        return codes

    return _with_proofs(
        ctx, user_id, actions=REGENERATE_ACTIONS, password=password,
        sensitive_action_token=sensitive_action_token, mfa_code=mfa_code, client=client,
        during="regenerate_backup_codes", then=renew,
    )


def _remove(db: Session, user_id: str) -> None:
    db.execute(delete(TotpFactor).where(TotpFactor.user_id == user_id))
    db.execute(delete(BackupCode).where(BackupCode.user_id == user_id))


def reset(db: Session, user: User, now: datetime) -> bool:
    """The operator's ``users reset-mfa``: MFA off, backup codes gone; whether it was on."""
    was_on = is_enabled(db, user.id)
    _remove(db, user.id)
    activity.record(
        db, now, user_id=user.id, activity_type="mfa_disabled", metadata={"by": "operator"}
    )
    return was_on
