"""Bodies of ``/api/auth/account/*`` and ``/api/security/activity`` (``http-api.md``,
"Account security — the current Node client (2.2.12)")."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from .auth import GivenPassword, NewPassword
from .base import IsoDateTime, RequestModel, ResponseModel

__all__ = [
    "ActionToken",
    "AuthMethods",
    "InitiateResponse",
    "MfaCode",
    "SecurityActivities",
    "SecurityActivityItem",
    "SensitiveActionRequest",
    "SensitiveActionToken",
    "SetOrChangePasswordRequest",
    "VerifyCodeRequest",
]

#: A sensitive action's name: a short identifier (``delete_account``, ``mfa:disable``).
Action = Annotated[str, Field(pattern=r"^[a-z0-9_:-]{1,64}$")]
#: A sensitive-action token (43 characters as issued; anything longer is not one).
ActionToken = Annotated[str, Field(min_length=1, max_length=128)]
#: An MFA code: a 6-digit TOTP code, or a backup code (required while MFA is on).
MfaCode = Annotated[str, Field(max_length=64)]


class SensitiveActionRequest(RequestModel):
    """``{action}``."""

    action: Action


class VerifyCodeRequest(RequestModel):
    """``{action, code}``: the 6-digit code mailed for ``action``."""

    action: Action
    code: Annotated[str, Field(pattern=r"^[0-9]{6}$")]


class EmailMethod(ResponseModel):
    """``{available}``: whether a code can be mailed."""

    available: bool


class VerificationMethods(ResponseModel):
    """How the caller can prove themselves: ``{password, oauthProviders, email}``."""

    password: bool
    oauthProviders: list[dict[str, str]]
    email: EmailMethod


class InitiateResponse(ResponseModel):
    """``{requiresVerification, verificationMethods}``."""

    requiresVerification: bool
    verificationMethods: VerificationMethods


class SensitiveActionToken(ResponseModel):
    """``{token}``: single use, for the user and the action, for 5 minutes."""

    token: str


class AuthMethods(ResponseModel):
    """``{hasPassword, oauthProviders}``."""

    hasPassword: bool
    oauthProviders: list[str]


class SetOrChangePasswordRequest(RequestModel):
    """``{currentPassword?, newPassword, mfaCode?, sensitiveActionToken?}``.

    ``sensitiveActionToken`` (a server extension) stands in for the password an account
    without one cannot give. ``mfaCode`` (TOTP or backup code) is required while MFA
    is on.
    """

    currentPassword: GivenPassword | None = None
    newPassword: NewPassword
    mfaCode: MfaCode | None = None
    sensitiveActionToken: ActionToken | None = None


class SecurityActivityItem(ResponseModel):
    """One security event."""

    id: str
    userId: str
    activityType: str
    ipAddress: str | None
    userAgent: str | None
    location: str | None
    deviceType: str | None
    success: bool | None
    metadata: dict[str, Any] | None
    createdAt: IsoDateTime


class SecurityActivities(ResponseModel):
    """``{activities, total, limit, offset}``: one page, newest first."""

    activities: list[SecurityActivityItem]
    total: int
    limit: int
    offset: int
