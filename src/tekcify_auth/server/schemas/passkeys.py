"""Bodies of ``/api/auth/passkey/*`` (2.2.12's ``security.d.ts``: ``PasskeyRegistrationOptions``,
``RegisterPasskeyDto``, ``Passkey``, ``RenamePasskeyDto``) and the passkey sign-in."""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any

from pydantic import AfterValidator, Field

from .base import IsoDateTime, RequestModel, ResponseModel

__all__ = [
    "PasskeyLoginOptionsRequest",
    "PasskeyLoginRequest",
    "PasskeyOptions",
    "PasskeyOut",
    "RegisterPasskeyRequest",
    "RenamePasskeyRequest",
]


def _clean(value: str) -> str:
    value = value.strip()
    if any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in value):
        raise ValueError("must not contain control characters or line breaks")
    if not value:
        raise ValueError("must not be blank")
    return value


#: A passkey's name: 1 to 100 characters, no control or format characters.
PasskeyName = Annotated[str, Field(min_length=1, max_length=100), AfterValidator(_clean)]
#: A challenge as handed out (43 base64url characters).
Challenge = Annotated[str, Field(min_length=1, max_length=128)]
#: A ``PublicKeyCredential`` as JSON (``id``, ``rawId``, ``response``, ``type``, ...);
#: the ``webauthn`` package checks its structure.
Credential = dict[str, Any]


class PasskeyOptions(ResponseModel):
    """``{options, challenge}``: the options for the browser, and the challenge to send back."""

    options: dict[str, Any]
    challenge: str


class RegisterPasskeyRequest(RequestModel):
    """``{credential, challenge, name?}``."""

    credential: Credential
    challenge: Challenge
    name: PasskeyName | None = None


class RenamePasskeyRequest(RequestModel):
    """``{name}``."""

    name: PasskeyName


class PasskeyOut(ResponseModel):
    """``Passkey``: ``{id, credentialId, name, createdAt, lastUsedAt}``."""

    id: str
    credentialId: str
    name: str
    createdAt: IsoDateTime
    lastUsedAt: IsoDateTime | None


class PasskeyLoginOptionsRequest(RequestModel):
    """``{}``, or ``{mfaToken}`` for a passkey as the second factor of a password sign-in."""

    mfaToken: Annotated[str, Field(min_length=1, max_length=4096)] | None = None


class PasskeyLoginRequest(RequestModel):
    """``{credential, challenge, mfaToken?}``."""

    credential: Credential
    challenge: Challenge
    mfaToken: Annotated[str, Field(min_length=1, max_length=4096)] | None = None
