"""Bodies of ``/api/auth/*`` (``http-api.md``, "First-party authentication")."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from ..services.emails import normalise_email
from ..services.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from .base import IsoDateTime, Name, RequestModel, ResponseModel

__all__ = [
    "ChangePasswordRequest",
    "Email",
    "LoginRequest",
    "NewPassword",
    "RefreshRequest",
    "RegisterRequest",
    "SessionInfo",
    "SessionList",
    "TokenResponse",
    "UserProfile",
]

#: An email address, validated and normalised (lower case).
Email = Annotated[
    str, Field(max_length=320, json_schema_extra={"format": "email"}),
    AfterValidator(normalise_email),
]
#: A password being set: 8 to 1,024 characters.
NewPassword = Annotated[
    str, Field(min_length=MIN_PASSWORD_LENGTH, max_length=MAX_PASSWORD_LENGTH)
]
#: A password being checked: anything up to 1,024 characters.
GivenPassword = Annotated[str, Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)]


class RegisterRequest(RequestModel):
    """``{email, password, firstName?, lastName?, inviteCode?}``.

    ``inviteCode`` is this server's addition to the contract: needed, and only read,
    with ``TEKCIFY_REGISTRATION=invite``.
    """

    email: Email
    password: NewPassword
    firstName: Name = None
    lastName: Name = None
    inviteCode: Annotated[str, Field(min_length=1, max_length=128)] | None = None


class LoginRequest(RequestModel):
    """``{email, password}``."""

    email: Email
    password: GivenPassword


class RefreshRequest(RequestModel):
    """``{refreshToken}``."""

    refreshToken: Annotated[str, Field(min_length=1, max_length=512)]


class ChangePasswordRequest(RequestModel):
    """``{currentPassword, newPassword, mfaCode?}`` (2.2.12 ``ChangePasswordDto``).

    ``mfaCode`` (a TOTP or backup code) is required while the account has MFA on.
    """

    currentPassword: GivenPassword
    newPassword: NewPassword
    mfaCode: Annotated[str, Field(max_length=64)] | None = None


class TokenResponse(ResponseModel):
    """``{accessToken, refreshToken, tokenType: "Bearer", expiresIn}``."""

    accessToken: str
    refreshToken: str
    tokenType: Literal["Bearer"] = "Bearer"
    expiresIn: int


class UserProfile(ResponseModel):
    """``{userId, email, firstName, lastName, avatarUrl, emailVerifiedAt}``."""

    userId: str
    email: str
    firstName: str | None
    lastName: str | None
    avatarUrl: str | None
    #: When the address was verified; ``null`` while it is not (beyond the 2.2.12 type).
    emailVerifiedAt: IsoDateTime | None = None


class SessionInfo(ResponseModel):
    """One entry of ``GET /api/auth/sessions``: 2.2.12 ``Session`` plus ``current``.

    ``applicationName`` is the OAuth application's name, or the server's own
    (``Tekcify``) for a first-party login; ``applicationLogo`` the application's logo
    (``null`` without one, and for a first-party login); ``expiresAt`` when the session
    ends unless it is used again.
    """

    id: str
    applicationName: str
    applicationLogo: str | None
    ipAddress: str | None
    userAgent: str | None
    scopes: list[str]
    createdAt: IsoDateTime
    lastUsedAt: IsoDateTime
    expiresAt: IsoDateTime
    current: bool
    #: This server's extension (issue 15): ``browser`` for a sign-in on the sign-in pages
    #: (ending it signs the browser out of them), ``first_party`` for a login of the
    #: user's own through the API, ``application`` for an OAuth application's session.
    kind: Literal["browser", "first_party", "application"]


class SessionList(ResponseModel):
    """2.2.12 ``SessionsResponse``: ``{sessions: [...]}``."""

    sessions: list[SessionInfo]
