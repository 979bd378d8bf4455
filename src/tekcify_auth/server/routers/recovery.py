"""Email verification, password reset and email change: the JSON API.

``POST /api/auth/email/verify`` takes ``{token}`` without a sign-in (the mailed link
carries it) or ``{code}`` with the account holder's own (first-party) Bearer token; it
declares no Bearer dependency, and asks for the token only when a code is sent.
``/password/forgot``, ``/password/reset`` and ``/api/user/email/change/confirm`` take no
token. The pages the mailed links open are in ``recovery_pages.py``.
"""

from __future__ import annotations

from typing import Final

import anyio.to_thread
from fastapi import BackgroundTasks, Request

from ..schemas.base import Message
from ..schemas.recovery import (
    EmailChangeConfirm,
    EmailChangeRequest,
    ForgotPasswordRequest,
    ResetPasswordRequest,
    VerifyEmailRequest,
)
from ..services import email_change, password_reset, verification
from ..services.accounts import Client
from .deps import Ctx, FirstParty, client_address, first_party_or, user_agent
from .images import BaseUrl
from .text import server_router

auth_router = server_router(prefix="/api/auth", tags=["auth"])
user_router = server_router(prefix="/api/user", tags=["user"])

_first_party: Final = first_party_or()
VERIFIED: Final = "Your email address is verified"
VERIFICATION_SENT: Final = "A new verification link and code are on their way"


def _client(request: Request) -> Client:
    return Client(address=client_address(request), user_agent=user_agent(request))


@auth_router.post("/email/verify")
async def verify_email(body: VerifyEmailRequest, request: Request, ctx: Ctx) -> Message:
    """Verify the address: ``{token}`` from the mailed link (no sign-in), or ``{code}``
    with the signed-in user's Bearer token. 400 for a token or code that is not valid,
    expired or used (the 10th wrong code locks it)."""
    client = _client(request)
    if body.code is not None:
        caller = await _first_party(request, ctx, None)
        await anyio.to_thread.run_sync(
            verification.verify_code, ctx, caller.user_id, body.code, client
        )
    else:
        assert body.token is not None
        await anyio.to_thread.run_sync(verification.verify_link, ctx, body.token, client)
    return Message(message=VERIFIED)


@auth_router.post("/email/verify/resend", status_code=202)
def resend_verification(
    request: Request, caller: FirstParty, ctx: Ctx, base: BaseUrl
) -> Message:
    """Mail a new link and code (202). 400 when the address is verified already; 429
    (``Retry-After``) past 5 an hour."""
    verification.resend(ctx, caller.user_id, base_url=base, address=client_address(request))
    return Message(message=VERIFICATION_SENT)


@auth_router.post("/password/forgot", status_code=202)
def forgot_password(
    body: ForgotPasswordRequest, request: Request, ctx: Ctx, base: BaseUrl,
    tasks: BackgroundTasks,
) -> Message:
    """Mail a reset link if an account has ``email``: always 202 with the same body
    (429 past 5 an hour per address asked for, 20 per client)."""
    password_reset.start_reset(ctx, body.email, address=client_address(request))
    tasks.add_task(
        password_reset.send_reset, ctx, body.email, base_url=base, client=_client(request)
    )
    return Message(message=password_reset.RESET_SENT)


@auth_router.post("/password/reset")
def reset_password(
    body: ResetPasswordRequest, request: Request, ctx: Ctx, base: BaseUrl
) -> Message:
    """Set a new password with the mailed link's token; every session is signed out."""
    password_reset.reset_password(
        ctx, body.token, body.newPassword, base_url=base, client=_client(request)
    )
    return Message(message="Your password was reset; sign in with the new one")


@user_router.post("/email/change", status_code=202)
def change_email(
    body: EmailChangeRequest, request: Request, caller: FirstParty, ctx: Ctx, base: BaseUrl
) -> Message:
    """Ask to change the address: a confirmation to the new one, a notice to the old
    (202). 400 wrong password, 409 taken, 429 too many."""
    email_change.request_change(
        ctx, caller.user_id, body.newEmail, body.password, base_url=base,
        client=_client(request),
    )
    return Message(message="Confirm the change with the link sent to the new address")


@user_router.post("/email/change/confirm")
def confirm_email_change(body: EmailChangeConfirm, request: Request, ctx: Ctx) -> Message:
    """Confirm with the mailed link's token: the address changes (and is verified).
    400 for a link that is not valid, expired or used; 409 when the address was taken
    meanwhile."""
    email_change.confirm_change(ctx, body.token, _client(request))
    return Message(message="Your email address was changed")
