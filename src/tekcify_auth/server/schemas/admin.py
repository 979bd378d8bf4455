"""The bodies of the HTTP admin API (``/api/admin/*``, ``routers/admin.py``)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from .applications import CreateApplicationRequest
from .auth import NewPassword
from .base import IsoDateTime, RequestModel, ResponseModel

__all__ = [
    "AdminApplication", "AdminApplicationList", "AdminCreateApplicationRequest",
    "AdminCreatedApplication", "AdminUser", "AdminUserDetail", "AdminUserList",
    "ConfirmRequest", "ResetMfaResult", "SessionsEnded", "SetPasswordRequest",
    "SetRoleRequest",
]

#: An id in a path: a user's UUID or an application's client id.
ID_LENGTH = 128


class ConfirmRequest(RequestModel):
    """``{confirm}``: the user's email (deleting a user) or the client id (an application)."""

    confirm: Annotated[str, Field(min_length=1, max_length=320)]


class SetRoleRequest(RequestModel):
    """``{role}``: ``user`` or ``admin``."""

    role: Literal["user", "admin"]


class SetPasswordRequest(RequestModel):
    """``{password}``: the new password, by the registration rules (8 to 1,024 characters)."""

    password: NewPassword


class AdminCreateApplicationRequest(CreateApplicationRequest):
    """The owner's ``createApplication`` body plus ``ownerId``, the owning account's id."""

    ownerId: Annotated[str, Field(min_length=1, max_length=ID_LENGTH)]


class AdminUser(ResponseModel):
    """An account as the admin API lists it."""

    id: str
    email: str
    role: str
    state: Literal["active", "disabled"]
    emailVerified: bool
    createdAt: IsoDateTime


class AdminUserDetail(AdminUser):
    """An account's facts: the list's fields plus last login, sessions, applications, MFA."""

    lastLoginAt: IsoDateTime | None
    liveSessions: int
    applications: int
    mfaEnabled: bool


class AdminUserList(ResponseModel):
    """``{users, total, limit, offset}``."""

    users: list[AdminUser]
    total: int
    limit: int
    offset: int


class AdminApplication(ResponseModel):
    """An application as ``tekcify-auth apps show --json`` prints it."""

    clientId: str
    name: str
    ownerId: str
    ownerEmail: str
    type: Literal["confidential", "public"]
    state: Literal["active", "inactive", "suspended"]
    createdAt: IsoDateTime
    redirectUris: list[str]
    authorizedOrigins: list[str]
    scopes: list[str]
    clientCredentialsScopes: list[str] | None
    description: str | None


class AdminApplicationList(ResponseModel):
    """``{applications, total, limit, offset}``."""

    applications: list[AdminApplication]
    total: int
    limit: int
    offset: int


class AdminCreatedApplication(AdminApplication):
    """The application plus its ``clientSecret``, shown this once."""

    clientSecret: str


class SessionsEnded(ResponseModel):
    """``{message, sessionsEnded}``."""

    message: str
    sessionsEnded: int


class ResetMfaResult(ResponseModel):
    """``{message, wasEnabled}``."""

    message: str
    wasEnabled: bool
