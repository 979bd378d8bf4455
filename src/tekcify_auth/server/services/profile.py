"""The caller's own account: profile, avatar, data export and account deletion.

**Export.** :func:`export_data` gathers every record the server holds on a user, one
section per kind of record (:data:`EXPORT_SECTIONS`), in the layout of 2.2.12's
``ExportedUserData``: the ``profile``, ``connectedApps`` (the consents they gave
applications), ``socialProviders`` (connected upstream accounts), ``passkeys`` (never a
key), ``securityActivity`` (their activity log) and ``exportedAt``; then what this
server holds besides: the ``sessions`` (never a token or its hash), the ``applications``
they own (never a secret's hash) and the stored ``images`` (their metadata; the URLs are
in the profile and the applications). A feature that stores more about users adds its
section there and its rows to :data:`ERASE_STEPS`.

**Deletion.** :func:`delete_account` checks the password (or a sensitive-action token,
``services/reauth.py``) outside any transaction (argon2 is slow on purpose; see
``services/accounts.py``), then deletes everything in one transaction, the token's use
included: a failure anywhere leaves everything in place. The user's security activity
goes too; one ``account_deleted`` event is kept, with the account's id and nothing else
(no address, user agent or metadata). Each kind of row is
deleted explicitly (children first) rather than left to ``ON DELETE CASCADE`` alone,
so nothing depends on SQLite's ``foreign_keys`` pragma. Sessions that other people
opened with the user's applications are revoked, as deleting an application does.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Final

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from ..context import ServerContext
from ..db.applications import Application
from ..db.images import StoredImage
from ..db.mfa import BackupCode, MfaChallenge, TotpFactor
from ..db.models import RefreshToken, User, UserSession
from ..db.oauth import AuthorizationCode, Consent, LoginSession, RevokedClientToken
from ..db.passkeys import Passkey, WebAuthnChallenge
from ..db.security import AccountCode, MailMessage, SecurityActivity
from ..db.social import SocialAccount, SocialFlow
from ..errors import ApiError
from ..schemas.user import (
    ExportedActivity,
    ExportedApplication,
    ExportedConnectedApp,
    ExportedImage,
    ExportedPasskey,
    ExportedProfile,
    ExportedSession,
    ExportedSocialProvider,
    dump,
    iso_time,
)
from . import activity, mfa, reauth
from .accounts import Client
from .image_store import AVATAR, delete_image_at, image_url, replace_image
from .images import ProcessedImage

__all__ = [
    "ERASE_STEPS",
    "EXPORT_SECTIONS",
    "WRONG_PASSWORD",
    "delete_account",
    "erase_user",
    "export_data",
    "get_user",
    "remove_avatar",
    "set_avatar",
    "update_profile",
]

WRONG_PASSWORD: Final = reauth.WRONG_PASSWORD
USER_NOT_FOUND: Final = "User not found"


def get_user(db: Session, user_id: str, *, for_update: bool = False) -> User:
    """The user ``user_id``; 404 when the account is gone.

    ``for_update`` locks the row until the transaction ends (PostgreSQL; SQLite's
    write transactions hold the whole database already).
    """
    query = select(User).where(User.id == user_id)
    if for_update:
        query = query.with_for_update()
    user = db.execute(query).scalar_one_or_none()
    if user is None:
        raise ApiError(404, USER_NOT_FOUND)
    return user


def update_profile(
    db: Session, user_id: str, changes: dict[str, str | None], now: datetime
) -> User:
    """Set ``first_name`` and/or ``last_name`` (the keys of ``changes``); returns the user."""
    user = get_user(db, user_id, for_update=True)
    for column in ("first_name", "last_name"):
        if column in changes:
            setattr(user, column, changes[column])
    if changes:
        user.updated_at = now
    db.flush()
    return user


def set_avatar(db: Session, user_id: str, processed: ProcessedImage, *, now: datetime) -> str:
    """Store ``processed`` as the user's avatar, delete the previous one; the new path
    (``image_store.image_url`` makes it absolute)."""
    user = get_user(db, user_id, for_update=True)
    url = replace_image(db, user.id, AVATAR, processed, old_url=user.avatar_url, now=now)
    user.avatar_url = url
    user.updated_at = now
    return url


def remove_avatar(db: Session, user_id: str, *, now: datetime) -> bool:
    """Remove the user's avatar and delete its stored image; whether there was one."""
    user = get_user(db, user_id, for_update=True)
    if user.avatar_url is None:
        return False
    delete_image_at(db, user.id, AVATAR, user.avatar_url)
    user.avatar_url = None
    user.updated_at = now
    return True


# ---------------------------------------------------------------------------- export


def _profile(db: Session, user_id: str) -> Any:
    user = get_user(db, user_id)
    last_login = db.execute(
        select(func.max(UserSession.created_at)).where(
            UserSession.user_id == user_id, UserSession.client_id.is_(None)
        )
    ).scalar_one()
    return dump(
        ExportedProfile(
            userId=user.id, email=user.email, firstName=user.first_name,
            lastName=user.last_name, avatarUrl=user.avatar_url,
            mfaEnabled=mfa.is_enabled(db, user_id),
            role=user.role, emailVerified=user.email_verified,
            emailVerifiedAt=user.email_verified_at, lastLoginAt=last_login,
            createdAt=user.created_at, updatedAt=user.updated_at,
        )
    )


def _sessions(db: Session, user_id: str) -> Any:
    rows = db.execute(
        select(UserSession)
        .where(UserSession.user_id == user_id)
        .order_by(UserSession.created_at, UserSession.id)
    ).scalars()
    return [
        dump(
            ExportedSession(
                id=s.id, clientId=s.client_id, scopes=s.scopes.split(), userAgent=s.user_agent,
                ipAddress=s.ip_address, createdAt=s.created_at, lastUsedAt=s.last_used_at,
                revokedAt=s.revoked_at, revokedReason=s.revoked_reason,
            )
        )
        for s in rows
    ]


def _applications(db: Session, user_id: str) -> Any:
    rows = db.execute(
        select(Application)
        .where(Application.owner_id == user_id)
        .order_by(Application.created_at, Application.client_id)
    ).scalars()
    return [
        dump(
            ExportedApplication(
                clientId=a.client_id, name=a.name, description=a.description,
                logoUrl=a.logo_url, redirectUris=a.redirect_uris,
                authorizedOrigins=a.authorized_origins, scopes=a.scopes,
                confidential=a.client_secret_hash is not None, createdAt=a.created_at,
                updatedAt=a.updated_at,
            )
        )
        for a in rows
    ]


def _connected_apps(db: Session, user_id: str) -> Any:
    rows = db.execute(
        select(Consent, Application.name)
        .join(Application, Application.client_id == Consent.client_id)
        .where(Consent.user_id == user_id)
        .order_by(Consent.created_at, Consent.id)
    ).all()
    return [
        dump(
            ExportedConnectedApp(
                applicationName=name, clientId=c.client_id, scopes=c.scopes.split(),
                consentedAt=c.created_at, updatedAt=c.updated_at,
            )
        )
        for c, name in rows
    ]


def _social_providers(db: Session, user_id: str) -> Any:
    rows = db.execute(
        select(SocialAccount).where(SocialAccount.user_id == user_id)
        .order_by(SocialAccount.linked_at, SocialAccount.id)
    ).scalars()
    return [
        dump(
            ExportedSocialProvider(
                provider=a.provider, email=a.email or "", connectedAt=a.linked_at,
                providerUserId=a.subject, lastUsedAt=a.last_used_at,
            )
        )
        for a in rows
    ]


def _passkeys(db: Session, user_id: str) -> Any:
    rows = db.execute(
        select(Passkey).where(Passkey.user_id == user_id).order_by(Passkey.created_at, Passkey.id)
    ).scalars()
    return [
        dump(
            ExportedPasskey(
                id=p.id, credentialId=p.credential_id, name=p.name, deviceType=p.device_type,
                createdAt=p.created_at, lastUsedAt=p.last_used_at,
            )
        )
        for p in rows
    ]


def _security_activity(db: Session, user_id: str) -> Any:
    rows = db.execute(
        select(SecurityActivity)
        .where(SecurityActivity.user_id == user_id)
        .order_by(SecurityActivity.created_at, SecurityActivity.id)
    ).scalars()
    return [
        dump(
            ExportedActivity(
                activityType=a.activity_type, ipAddress=a.ip_address, userAgent=a.user_agent,
                location=a.location, deviceType=a.device_type, success=a.success,
                createdAt=a.created_at,
            )
        )
        for a in rows
    ]


def _images(db: Session, user_id: str) -> Any:
    rows = db.execute(
        select(
            StoredImage.id, StoredImage.kind, StoredImage.media_type, StoredImage.width,
            StoredImage.height, StoredImage.created_at,
        )
        .where(StoredImage.owner_id == user_id)
        .order_by(StoredImage.created_at, StoredImage.id)
    )
    return [
        dump(
            ExportedImage(
                id=r.id, kind=r.kind, mediaType=r.media_type, width=r.width, height=r.height,
                createdAt=r.created_at,
            )
        )
        for r in rows
    ]


#: The sections of a data export, in order: ``(key, collect(db, user_id) -> JSON data)``.
EXPORT_SECTIONS: Final[tuple[tuple[str, Callable[[Session, str], Any]], ...]] = (
    ("profile", _profile),
    ("connectedApps", _connected_apps),
    ("socialProviders", _social_providers),
    ("passkeys", _passkeys),
    ("securityActivity", _security_activity),
    ("sessions", _sessions),
    ("applications", _applications),
    ("images", _images),
)


def export_data(db: Session, user_id: str, now: datetime, *, base_url: str) -> dict[str, Any]:
    """Every record held on ``user_id``: ``{profile, connectedApps, ..., exportedAt}``.

    Image paths become absolute URLs under ``base_url`` (``canonical.Canonical.base_url``).
    Raises the 404 :class:`ApiError` when the account is gone.
    """
    data: dict[str, Any] = {}
    for key, collect in EXPORT_SECTIONS:
        data[key] = collect(db, user_id)
    data["exportedAt"] = iso_time(now)
    data["profile"]["avatarUrl"] = image_url(base_url, data["profile"]["avatarUrl"])
    for application in data["applications"]:
        application["logoUrl"] = image_url(base_url, application["logoUrl"])
    return data


# -------------------------------------------------------------------------- deletion


def _revoke_application_sessions(db: Session, user_id: str, now: datetime) -> None:
    # Other people's sessions with this user's applications: the applications are going,
    # and so do the tokens issued to them (http-api.md: deleting an application revokes them).
    owned = select(Application.client_id).where(Application.owner_id == user_id)
    db.execute(
        update(UserSession)
        .where(
            UserSession.client_id.in_(owned),
            UserSession.user_id != user_id,
            UserSession.revoked_at.is_(None),
        )
        .values(revoked_at=now, revoked_reason="application_deleted")
    )


def _delete_refresh_tokens(db: Session, user_id: str, _now: datetime) -> None:
    sessions = select(UserSession.id).where(UserSession.user_id == user_id)
    db.execute(delete(RefreshToken).where(RefreshToken.session_id.in_(sessions)))


def _delete_sessions(db: Session, user_id: str, _now: datetime) -> None:
    db.execute(delete(UserSession).where(UserSession.user_id == user_id))


def _delete_oauth_records(db: Session, user_id: str, _now: datetime) -> None:
    # The user's consents, codes and page sign-ins, and those of others with the user's
    # applications (which are about to go).
    owned = select(Application.client_id).where(Application.owner_id == user_id)
    for model in (Consent, AuthorizationCode):
        db.execute(
            delete(model).where((model.user_id == user_id) | model.client_id.in_(owned))
        )
    db.execute(delete(LoginSession).where(LoginSession.user_id == user_id))
    db.execute(delete(RevokedClientToken).where(RevokedClientToken.client_id.in_(owned)))


def _delete_images(db: Session, user_id: str, _now: datetime) -> None:
    db.execute(delete(StoredImage).where(StoredImage.owner_id == user_id))


def _delete_applications(db: Session, user_id: str, _now: datetime) -> None:
    db.execute(delete(Application).where(Application.owner_id == user_id))


def _delete_security_records(db: Session, user_id: str, _now: datetime) -> None:
    # Codes and tokens mailed or handed to the user, and their activity log (addresses,
    # user agents): personal data, gone with the account.
    db.execute(delete(AccountCode).where(AccountCode.user_id == user_id))
    db.execute(delete(SecurityActivity).where(SecurityActivity.user_id == user_id))
    # Mail not yet sent to the account's address (its links die with the account anyway).
    address = select(User.email).where(User.id == user_id).scalar_subquery()
    db.execute(
        delete(MailMessage).where(MailMessage.to_address == address, MailMessage.sent_at.is_(None))
    )


def _delete_mfa_records(db: Session, user_id: str, _now: datetime) -> None:
    # The TOTP factor, backup codes and sign-ins waiting for a second factor.
    for model in (TotpFactor, BackupCode, MfaChallenge):
        db.execute(delete(model).where(model.user_id == user_id))


def _delete_passkeys(db: Session, user_id: str, _now: datetime) -> None:
    db.execute(delete(WebAuthnChallenge).where(WebAuthnChallenge.user_id == user_id))
    db.execute(delete(Passkey).where(Passkey.user_id == user_id))


def _delete_social(db: Session, user_id: str, _now: datetime) -> None:
    # Connected upstream accounts, and sign-ins at a provider waiting for this account.
    db.execute(delete(SocialFlow).where(SocialFlow.user_id == user_id))
    db.execute(delete(SocialAccount).where(SocialAccount.user_id == user_id))


def _delete_user(db: Session, user_id: str, _now: datetime) -> None:
    db.execute(delete(User).where(User.id == user_id))


#: What deleting an account does, in order (children before parents):
#: ``step(db, user_id, now)``, all in one transaction.
ERASE_STEPS: Final[tuple[Callable[[Session, str, datetime], None], ...]] = (
    _revoke_application_sessions,
    _delete_oauth_records,
    _delete_refresh_tokens,
    _delete_sessions,
    _delete_images,
    _delete_applications,
    _delete_security_records,
    _delete_mfa_records,
    _delete_passkeys,
    _delete_social,
    _delete_user,
)


def erase_user(db: Session, user_id: str, now: datetime) -> None:
    """Delete ``user_id`` and every row that belongs to them (:data:`ERASE_STEPS`)."""
    for step in ERASE_STEPS:
        step(db, user_id, now)


def delete_account(
    ctx: ServerContext,
    *,
    user_id: str,
    password: str | None = None,
    sensitive_action_token: str | None = None,
    mfa_code: str | None = None,
    client: Client,
) -> None:
    """Prove the caller again, then delete the account and everything it owns.

    Exactly one proof (``reauth.confirm_identity``): the password, where a wrong one
    counts as a failed login for the rate limiter (403, or 429 once limited), or a
    sensitive-action token for one of :data:`.reauth.DELETE_ACCOUNT` (403 when refused).
    Nothing is deleted on a refusal. Raises 404 when the account is already gone, 409
    when its password changed while this request checked the old one. While MFA is on,
    ``mfa_code`` (TOTP or backup code) is required too (``mfa.require_code``: 400
    without it, 403 when wrong).
    """
    mfa.throttle(ctx, user_id)
    confirmed = reauth.confirm_identity(
        ctx, user_id, actions=reauth.DELETE_ACCOUNT, password=password,
        sensitive_action_token=sensitive_action_token, client=client,
    )
    with ctx.db.write() as db:
        now = ctx.clock()
        confirmed.settle(db, now)
        mfa.require_code(ctx, db, user_id, mfa_code, client)
        erase_user(db, user_id, now)
        # Kept without personal data: whose account it was, and when.
        activity.record(
            db, now, user_id=user_id, activity_type="account_deleted", success=True
        )
