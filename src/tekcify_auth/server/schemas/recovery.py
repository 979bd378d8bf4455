"""Bodies of email verification, password reset and email change (``http-api.md``,
"Account security")."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from .auth import Email, GivenPassword, NewPassword
from .base import RequestModel

__all__ = [
    "EmailChangeConfirm", "EmailChangeRequest", "ForgotPasswordRequest",
    "ResetPasswordRequest", "VerifyEmailRequest",
]

#: A mailed link's token (43 characters; a little room, nothing more).
LinkToken = Annotated[str, Field(min_length=1, max_length=128)]
#: A mailed 6-digit code, as typed (spaces around it are dropped).
Code = Annotated[str, Field(min_length=1, max_length=16)]


class VerifyEmailRequest(RequestModel):
    """``{token}`` (the mailed link's, no sign-in needed) or ``{code}`` (Bearer)."""

    token: LinkToken | None = None
    code: Code | None = None

    @model_validator(mode="after")
    def _one_of(self) -> VerifyEmailRequest:
        if (self.token is None) == (self.code is None):
            raise ValueError("send either token or code")
        return self


class ForgotPasswordRequest(RequestModel):
    """``{email}``."""

    email: Email


class ResetPasswordRequest(RequestModel):
    """``{token, newPassword}``: the password rules of registration."""

    token: LinkToken
    newPassword: NewPassword


class EmailChangeRequest(RequestModel):
    """``{newEmail, password}``."""

    newEmail: Email
    password: GivenPassword


class EmailChangeConfirm(RequestModel):
    """``{token}`` from the confirmation link."""

    token: LinkToken
