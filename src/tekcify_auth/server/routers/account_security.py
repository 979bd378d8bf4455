"""``/api/auth/account/*`` and ``/api/security/activity``: proving it is the holder again
(sensitive-action codes), the ways to sign in, and the security activity log.

All for the account holder's own (first-party) session only (``deps.FirstParty``).
"""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import Query, Request, Response

from ..errors import ApiError
from ..schemas.account_security import (
    AuthMethods,
    InitiateResponse,
    SecurityActivities,
    SecurityActivityItem,
    SensitiveActionRequest,
    SensitiveActionToken,
    SetOrChangePasswordRequest,
    VerifyCodeRequest,
)
from ..schemas.base import Message
from ..services import activity, reauth
from ..services.accounts import Client
from ..services.social import links
from .deps import Ctx, FirstParty, client_address, user_agent
from .images import BaseUrl
from .social import reauth_urls
from .text import server_router

router = server_router(prefix="/api/auth/account", tags=["account security"])
activity_router = server_router(prefix="/api/security", tags=["account security"])

_NO_STORE: Final = {"Cache-Control": "no-store"}


def _client(request: Request) -> Client:
    return Client(address=client_address(request), user_agent=user_agent(request))


@router.post("/sensitive-action/initiate")
def initiate(
    body: SensitiveActionRequest, caller: FirstParty, ctx: Ctx, base: BaseUrl
) -> InitiateResponse:
    """How the caller can prove themselves before ``action``: password, mailed code, or
    signing in again at a connected provider (``oauthProviders[].reauthUrl``)."""
    methods = reauth.methods(ctx, caller.user_id)
    methods["oauthProviders"] = reauth_urls(ctx, caller.user_id, body.action, base)
    return InitiateResponse.model_validate(
        {"requiresVerification": True, "verificationMethods": methods}
    )


@router.post("/sensitive-action/send-code")
def send_code(
    body: SensitiveActionRequest, caller: FirstParty, ctx: Ctx, base: BaseUrl
) -> Message:
    """Mail a 6-digit code for ``action`` (10 minutes); 429 when asked too often."""
    reauth.send_code(ctx, caller.user_id, body.action, base_url=base)
    return Message(message="A verification code was sent to your email address")


@router.post("/sensitive-action/verify-code")
def verify_code(
    body: VerifyCodeRequest, request: Request, response: Response, caller: FirstParty, ctx: Ctx
) -> SensitiveActionToken:
    """Trade the code for a token for ``action``: single use, 5 minutes; 400 if refused."""
    token = reauth.verify_code(
        ctx, caller.user_id, body.action, body.code, client=_client(request)
    )
    response.headers.update(_NO_STORE)
    return SensitiveActionToken(token=token)


@router.get("/password/auth-methods")
def auth_methods(caller: FirstParty, ctx: Ctx) -> AuthMethods:
    """Whether the account has a password, and the other providers it signs in with."""
    methods = reauth.methods(ctx, caller.user_id)
    with ctx.db.read() as db:
        providers = dict.fromkeys(row.provider for row in links.list_links(db, caller.user_id))
    return AuthMethods(hasPassword=bool(methods["password"]), oauthProviders=list(providers))


@router.post("/password/set-or-change")
def set_or_change_password(
    body: SetOrChangePasswordRequest, request: Request, caller: FirstParty, ctx: Ctx
) -> Message:
    """Change the password (``currentPassword``), or set one on an account without it
    (``sensitiveActionToken``); every other session is revoked. ``mfaCode`` (TOTP or
    backup code) is required while MFA is on."""
    was_set = reauth.set_or_change_password(
        ctx, user_id=caller.user_id, session_id=caller.session_id,
        current_password=body.currentPassword,
        sensitive_action_token=body.sensitiveActionToken, new_password=body.newPassword,
        client=_client(request), mfa_code=body.mfaCode,
    )
    done = "set" if was_set else "changed"
    return Message(message=f"Password {done}; other sessions were signed out")


@activity_router.get("/activity")
def list_activity(
    caller: FirstParty,
    ctx: Ctx,
    response: Response,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    activityType: Annotated[str | None, Query(max_length=64)] = None,
) -> SecurityActivities:
    """The caller's security events, newest first: ``{activities, total, limit, offset}``."""
    if activityType is not None and activityType not in activity.TYPES:
        raise ApiError(400, f"Unknown activityType: {activityType}")
    with ctx.db.read() as db:
        rows, total = activity.list_activity(
            db, caller.user_id, limit=limit, offset=offset, activity_type=activityType
        )
    response.headers.update(_NO_STORE)
    return SecurityActivities(
        activities=[
            SecurityActivityItem(
                id=row.id, userId=caller.user_id, activityType=row.activity_type,
                ipAddress=row.ip_address, userAgent=row.user_agent, location=row.location,
                deviceType=row.device_type, success=row.success, metadata=row.details,
                createdAt=row.created_at,
            )
            for row in rows
        ],
        total=total, limit=limit, offset=offset,
    )
