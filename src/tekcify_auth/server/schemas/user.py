"""Bodies of ``/api/user/*`` (``http-api.md``, "User") and the records of a data export."""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, Field, TypeAdapter

from .auth import GivenPassword
from .base import IsoDateTime, RequestModel, ResponseModel

__all__ = [
    "AvatarResponse",
    "DeleteAccountRequest",
    "ExportedApplication",
    "ExportedImage",
    "ExportedProfile",
    "ExportedSession",
    "ProfileUpdate",
    "dump",
    "iso_time",
]

#: The longest first or last name, in characters (the ``users`` columns hold 100).
MAX_NAME_LENGTH = 100


# Bidirectional overrides and isolates can make a name display as something else
# (CVE-2021-42574, "Trojan Source"); zero-width joiners stay, as some scripts need them.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _clean_name(value: str | None) -> str | None:
    """Trim a name; refuse control characters; blank means no name."""
    if value is None:
        return None
    value = value.strip()
    if any(unicodedata.category(c) in ("Cc", "Zl", "Zp") or c in _BIDI_CONTROLS for c in value):
        raise ValueError("must not contain control characters or line breaks")
    return value or None


Name = Annotated[str | None, Field(max_length=MAX_NAME_LENGTH), AfterValidator(_clean_name)]


class ProfileUpdate(RequestModel):
    """``{firstName?, lastName?}``: a field left out is unchanged; ``null`` or blank clears it."""

    firstName: Name = None
    lastName: Name = None


class DeleteAccountRequest(RequestModel):
    """``{password}``: the account's current password, checked again."""

    password: GivenPassword


class AvatarResponse(ResponseModel):
    """``{avatarUrl}``: where the new picture is served."""

    avatarUrl: str


class ExportedProfile(ResponseModel):
    """The account itself, in a data export (never the password hash)."""

    userId: str
    email: str
    firstName: str | None
    lastName: str | None
    avatarUrl: str | None
    role: str
    emailVerified: bool
    createdAt: IsoDateTime
    updatedAt: IsoDateTime


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
