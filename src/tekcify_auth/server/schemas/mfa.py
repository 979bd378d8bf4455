"""Bodies of ``/api/auth/mfa/*`` and of the second step of a login (``http-api.md``,
"Account security — the current Node client (2.2.12)": ``SetupMfaDto`` and the rest)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from .account_security import ActionToken, MfaCode
from .auth import GivenPassword
from .base import RequestModel, ResponseModel

__all__ = [
    "BackupCodesResponse",
    "LoginMfaRequest",
    "MfaChallengeResponse",
    "MfaCodeRequest",
    "MfaProofRequest",
    "MfaSetupResponse",
    "VerifyMfaSetupRequest",
]


class MfaProofRequest(RequestModel):
    """``{password? | sensitiveActionToken?}`` (``SetupMfaDto``): exactly one."""

    password: GivenPassword | None = None
    sensitiveActionToken: ActionToken | None = None


class MfaCodeRequest(MfaProofRequest):
    """``{password? | sensitiveActionToken?, mfaCode}`` (``DisableMfaDto``,
    ``RegenerateBackupCodesDto``): ``mfaCode`` a TOTP or backup code."""

    mfaCode: Annotated[str, Field(min_length=1, max_length=64)]


class VerifyMfaSetupRequest(RequestModel):
    """``{code}``: the first code of the authenticator just set up."""

    code: MfaCode


class MfaSetupResponse(ResponseModel):
    """``{secret, qrCodeUrl, backupCodes}``: shown once."""

    secret: str
    qrCodeUrl: str
    backupCodes: list[str]


class BackupCodesResponse(ResponseModel):
    """``{backupCodes}``: ten new single-use codes, shown once."""

    backupCodes: list[str]


class MfaChallengeResponse(ResponseModel):
    """``POST /api/auth/login`` with MFA on: ``{mfaRequired: true, mfaToken, methods}``.

    ``mfaToken`` is a JWT with ``type: "temp"`` (5 minutes, single use) that no guard
    accepts as an access token; ``methods`` lists ``totp``, ``backup_code`` (and
    ``passkey`` when the user has one).
    """

    mfaRequired: Literal[True] = True
    mfaToken: str
    methods: list[str]


class LoginMfaRequest(RequestModel):
    """``{mfaToken, code? | backupCode?}``: the second step of a login."""

    mfaToken: Annotated[str, Field(min_length=1, max_length=4096)]
    code: MfaCode | None = None
    backupCode: MfaCode | None = None
