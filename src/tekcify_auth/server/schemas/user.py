"""Bodies of ``/api/user/*`` (``http-api.md``, "User") and the records of a data export."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, TypeAdapter, model_validator

from .auth import GivenPassword
from .base import IsoDateTime, Name, RequestModel, ResponseModel

__all__ = [
    "AvatarResponse",
    "DeleteAccountRequest",
    "ExportedActivity",
    "ExportedApplication",
    "ExportedConnectedApp",
    "ExportedImage",
    "ExportedPasskey",
    "ExportedProfile",
    "ExportedSession",
    "ExportedSocialProvider",
    "ProfileUpdate",
    "dump",
    "iso_time",
]

class ProfileUpdate(RequestModel):
    """``{firstName?, lastName?}``: a field left out is unchanged; ``null`` or blank clears it."""

    firstName: Name = None
    lastName: Name = None


class DeleteAccountRequest(RequestModel):
    """``{password?, sensitiveActionToken?, mfaCode?, confirmDelete?}`` (2.2.12).

    Exactly one of ``password`` and ``sensitiveActionToken`` (checked by the service).
    ``confirmDelete``, when sent, must be ``true``. ``mfaCode`` (a TOTP or backup code) is
    required while the account has MFA on.
    """

    password: GivenPassword | None = None
    sensitiveActionToken: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    mfaCode: Annotated[str, Field(max_length=64)] | None = None
    confirmDelete: bool | None = None

    @model_validator(mode="after")
    def _confirmed(self) -> DeleteAccountRequest:
        if "confirmDelete" in self.model_fields_set and self.confirmDelete is not True:
            raise ValueError("confirmDelete must be true")
        return self


class AvatarResponse(ResponseModel):
    """``{avatarUrl}``: where the new picture is served."""

    avatarUrl: str


class ExportedProfile(ResponseModel):
    """The account itself, in a data export (never the password hash).

    2.2.12 ``ExportedUserData.profile`` (``mfaEnabled``: TOTP is on; ``lastLoginAt``
    is the newest first-party sign-in), plus ``userId``,
    ``emailVerified`` and ``updatedAt``.
    """

    userId: str
    email: str
    firstName: str | None
    lastName: str | None
    avatarUrl: str | None
    mfaEnabled: bool
    role: str
    emailVerified: bool
    emailVerifiedAt: IsoDateTime | None
    lastLoginAt: IsoDateTime | None
    createdAt: IsoDateTime
    updatedAt: IsoDateTime


class ExportedConnectedApp(ResponseModel):
    """The scopes the user granted one application, in a data export.

    2.2.12 ``{applicationName, scopes, consentedAt}``, plus ``clientId`` and
    ``updatedAt`` (when scopes were last added).
    """

    applicationName: str
    clientId: str
    scopes: list[str]
    consentedAt: IsoDateTime
    updatedAt: IsoDateTime


class ExportedActivity(ResponseModel):
    """One security event, in a data export: 2.2.12 ``{activityType, ipAddress,
    location, deviceType, success, createdAt}``, plus ``userAgent``."""

    activityType: str
    ipAddress: str | None
    userAgent: str | None
    location: str | None
    deviceType: str | None
    success: bool | None
    createdAt: IsoDateTime


class ExportedPasskey(ResponseModel):
    """One passkey, in a data export: 2.2.12 ``{name, deviceType, createdAt, lastUsedAt}``,
    plus its ``id`` and ``credentialId`` (never its public key)."""

    id: str
    credentialId: str
    name: str | None
    deviceType: str | None
    createdAt: IsoDateTime
    lastUsedAt: IsoDateTime | None


class ExportedSocialProvider(ResponseModel):
    """One connected upstream account, in a data export: 2.2.12 ``{provider, email,
    connectedAt}`` (the email the provider gave, "" if none), plus ``providerUserId`` and
    ``lastUsedAt``."""

    provider: str
    email: str
    connectedAt: IsoDateTime
    providerUserId: str
    lastUsedAt: IsoDateTime | None


class ExportedSession(ResponseModel):
    """One session (login), live or revoked, in a data export (never a token or hash)."""

    id: str
    clientId: str | None
    scopes: list[str]
    userAgent: str | None
    ipAddress: str | None
    createdAt: IsoDateTime
    lastUsedAt: IsoDateTime
    revokedAt: IsoDateTime | None
    revokedReason: str | None


class ExportedApplication(ResponseModel):
    """One application the user owns, in a data export (never the secret's hash)."""

    clientId: str
    name: str
    description: str | None
    logoUrl: str | None
    redirectUris: list[str]
    authorizedOrigins: list[str]
    scopes: list[str]
    confidential: bool
    createdAt: IsoDateTime
    updatedAt: IsoDateTime


class ExportedImage(ResponseModel):
    """One stored image (avatar or logo), in a data export; the URLs are in the profile
    and the applications."""

    id: str
    kind: str
    mediaType: str
    width: int
    height: int
    createdAt: IsoDateTime


def dump(record: ResponseModel) -> dict[str, Any]:
    """``record`` as JSON-ready data (timestamps as ISO 8601 strings)."""
    return record.model_dump(mode="json")


_TIME: TypeAdapter[datetime] = TypeAdapter(IsoDateTime)


def iso_time(value: datetime) -> str:
    """``value`` as the API writes timestamps: ``2025-01-31T12:00:00.000Z``."""
    return str(_TIME.dump_python(value, mode="json"))
