"""``/api/auth/mfa/*``: set up, confirm, turn off TOTP and renew the backup codes.

For the account holder's own (first-party) session only (``deps.FirstParty``). The rules
are in ``services/mfa.py``; the second step of a login is ``POST /api/auth/login/mfa``
(``routers/auth.py``).
"""

from __future__ import annotations

from typing import Final

from fastapi import Request, Response

from ..schemas.base import Message
from ..schemas.mfa import (
    BackupCodesResponse,
    MfaCodeRequest,
    MfaProofRequest,
    MfaSetupResponse,
    VerifyMfaSetupRequest,
)
from ..services import mfa
from ..services.accounts import Client
from .deps import Ctx, FirstParty, client_address, user_agent
from .text import server_router

router = server_router(prefix="/api/auth/mfa", tags=["account security"])

_NO_STORE: Final = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _client(request: Request) -> Client:
    return Client(address=client_address(request), user_agent=user_agent(request))


@router.post("/setup")
def setup(
    body: MfaProofRequest, request: Request, response: Response, caller: FirstParty, ctx: Ctx
) -> MfaSetupResponse:
    """A new TOTP secret, its QR code (``data:image/png``) and ten backup codes; MFA is on
    once ``verify-setup`` gets a right code. 409 when it is on already."""
    made = mfa.setup(
        ctx, caller.user_id, password=body.password,
        sensitive_action_token=body.sensitiveActionToken, client=_client(request),
    )
    response.headers.update(_NO_STORE)
    return MfaSetupResponse(
        secret=made.secret, qrCodeUrl=made.qr_code_url, backupCodes=made.backup_codes
    )


@router.post("/verify-setup")
def verify_setup(
    body: VerifyMfaSetupRequest, request: Request, caller: FirstParty, ctx: Ctx
) -> Message:
    """Turn MFA on with a code of the authenticator just set up (400 when wrong)."""
    mfa.verify_setup(ctx, caller.user_id, body.code, _client(request))
    return Message(message="Two-factor sign-in is on")


@router.post("/disable")
def disable(body: MfaCodeRequest, request: Request, caller: FirstParty, ctx: Ctx) -> Message:
    """Turn MFA off: the password (or a sensitive-action token) and a TOTP or backup code."""
    mfa.disable(
        ctx, caller.user_id, password=body.password,
        sensitive_action_token=body.sensitiveActionToken, mfa_code=body.mfaCode,
        client=_client(request),
    )
    return Message(message="Two-factor sign-in is off")


@router.post("/regenerate-backup-codes")
def regenerate_backup_codes(
    body: MfaCodeRequest, request: Request, response: Response, caller: FirstParty, ctx: Ctx
) -> BackupCodesResponse:
    """Ten new backup codes (the old ones stop working), with the proofs of ``disable``."""
    codes = mfa.regenerate_backup_codes(
        ctx, caller.user_id, password=body.password,
        sensitive_action_token=body.sensitiveActionToken, mfa_code=body.mfaCode,
        client=_client(request),
    )
    response.headers.update(_NO_STORE)
    return BackupCodesResponse(backupCodes=codes)
