"""``/api/auth``: register, login, refresh, sessions, password change.

The Bearer routes are for the account holder's own (first-party) session only: a token
issued to an application gets 403 ``insufficient_scope`` whatever its scopes
(``deps.first_party_or``).
"""

from __future__ import annotations

from fastapi import Request, Response

from tekcify_auth._models import UserPayload

from .. import metrics
from ..db.models import User
from ..errors import ApiError
from ..schemas.auth import (
    ChangePasswordRequest,
    LoginRequest,
    RefreshRequest,
    RegisterRequest,
    SessionInfo,
    SessionList,
    TokenResponse,
    UserProfile,
)
from ..schemas.base import Message
from ..schemas.mfa import LoginMfaRequest, MfaChallengeResponse
from ..services import accounts, mfa_login, registration, sessions, tokens
from ..services.image_store import image_url
from .deps import Ctx, FirstParty, client_address, user_agent
from .images import BaseUrl
from .text import server_router

router = server_router(prefix="/api/auth", tags=["auth"])

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
#: The ``applicationName`` of a first-party session: this server's own.
FIRST_PARTY_NAME = "Tekcify"


def profile(user: User, base_url: str) -> UserProfile:
    """The ``UserProfile`` of ``user``; its picture's URL under ``base_url``."""
    return UserProfile(
        userId=user.id, email=user.email, firstName=user.first_name,
        lastName=user.last_name, avatarUrl=image_url(base_url, user.avatar_url),
        emailVerifiedAt=user.email_verified_at,
    )


def _tokens(pair: tokens.TokenPair, response: Response) -> TokenResponse:
    response.headers.update(_NO_STORE)
    return TokenResponse(
        accessToken=pair.access_token, refreshToken=pair.refresh_token,
        expiresIn=pair.expires_in,
    )


def _client(request: Request) -> accounts.Client:
    return accounts.Client(address=client_address(request), user_agent=user_agent(request))


@router.post("/register", status_code=201)
def register(body: RegisterRequest, request: Request, ctx: Ctx, base: BaseUrl) -> UserProfile:
    """Create an account (201 ``UserProfile``; 409 when the email is taken) and mail the
    verification link and code. 403 when registration is closed or needs an invite code
    (``inviteCode``), 429 past the registration limits (``services/registration.py``)."""
    signed_up = registration.sign_up(
        ctx, email=body.email, password=body.password, first_name=body.firstName,
        last_name=body.lastName, invite_code=body.inviteCode,
        address=client_address(request), base_url=base,
    )
    return profile(signed_up.user, base)


@router.post("/login")
def login(
    body: LoginRequest, request: Request, response: Response, ctx: Ctx
) -> TokenResponse | MfaChallengeResponse:
    """Exchange email and password for a token pair (a new session); with MFA on, for
    ``{mfaRequired: true, mfaToken, methods}``, completed by ``POST /api/auth/login/mfa``."""
    answer = mfa_login.login(
        ctx, email=body.email, password=body.password, client=_client(request)
    )
    if isinstance(answer, mfa_login.Challenge):
        response.headers.update(_NO_STORE)
        return MfaChallengeResponse(mfaToken=answer.mfa_token, methods=answer.methods)
    return _tokens(answer, response)


@router.post("/login/mfa")
def login_mfa(
    body: LoginMfaRequest, request: Request, response: Response, ctx: Ctx
) -> TokenResponse:
    """Complete a login with its second factor: ``{mfaToken, code | backupCode}``.

    401 for a wrong code (counted on the login limits) or a spent or expired token."""
    pair = mfa_login.complete_login(
        ctx, body.mfaToken, code=body.code, backup_code=body.backupCode,
        client=_client(request),
    )
    return _tokens(pair, response)


@router.post("/refresh")
def refresh(
    body: RefreshRequest, request: Request, response: Response, ctx: Ctx
) -> TokenResponse:
    """Rotate a refresh token: a new pair; reuse of an old one revokes the session."""
    try:
        with ctx.db.write() as db:
            pair = tokens.rotate_refresh_token(
                db, ctx, body.refreshToken, client_id=None,
                address=client_address(request), user_agent=user_agent(request),
            )
    except tokens.RefreshRefused as exc:
        raise ApiError(401, exc.message) from None
    metrics.token_issued("refresh_token")
    return _tokens(pair, response)


def _session_id(caller: UserPayload) -> str:
    if caller.session_id is None:
        raise ApiError(400, "This access token belongs to no session")
    return caller.session_id


@router.post("/sessions/logout")
def logout(caller: FirstParty, request: Request, ctx: Ctx) -> Message:
    """Revoke the caller's session and its refresh token."""
    with ctx.db.write() as db:
        sessions.revoke_own_session(
            db, caller.user_id, _session_id(caller), ctx.clock(), reason="logout",
            address=client_address(request), user_agent=user_agent(request),
        )
    return Message(message="Logged out")


@router.get("/sessions")
def list_sessions(caller: FirstParty, ctx: Ctx, base: BaseUrl) -> SessionList:
    """The caller's live sessions, most recently used first: ``{sessions: [...]}``."""
    with ctx.db.read() as db:
        rows = sessions.list_sessions(
            db, caller.user_id, ctx.clock(), ctx.settings.refresh_token_ttl
        )
    return SessionList(sessions=[
        SessionInfo(
            id=s.id, applicationName=s.application_name or FIRST_PARTY_NAME,
            applicationLogo=image_url(base, s.application_logo), ipAddress=s.ip_address,
            userAgent=s.user_agent, scopes=s.scopes, createdAt=s.created_at,
            lastUsedAt=s.last_used_at, expiresAt=s.expires_at,
            current=s.id == caller.session_id,
            kind="browser" if s.browser else (
                "application" if s.client_id is not None else "first_party"
            ),
        )
        for s in rows
    ])


@router.delete("/sessions/{session_id}")
def revoke_session(session_id: str, caller: FirstParty, request: Request, ctx: Ctx) -> Message:
    """Revoke one of the caller's sessions (404 when it is not theirs)."""
    with ctx.db.write() as db:
        sessions.revoke_own_session(
            db, caller.user_id, session_id, ctx.clock(), reason="revoked_by_user",
            address=client_address(request), user_agent=user_agent(request),
        )
    return Message(message="Session revoked")


@router.delete("/sessions")
def revoke_other_sessions(caller: FirstParty, request: Request, ctx: Ctx) -> Message:
    """Revoke every session of the caller but the current one."""
    with ctx.db.write() as db:
        count = sessions.revoke_other_sessions(
            db, caller.user_id, caller.session_id, ctx.clock(),
            address=client_address(request), user_agent=user_agent(request),
        )
    return Message(message=f"Revoked {count} other session{'s' if count != 1 else ''}")


@router.post("/password/change")
def change_password(
    body: ChangePasswordRequest, request: Request, caller: FirstParty, ctx: Ctx
) -> Message:
    """Set a new password; every other session is revoked."""
    accounts.change_password(
        ctx, user_id=caller.user_id, session_id=caller.session_id,
        current_password=body.currentPassword, new_password=body.newPassword,
        client=_client(request), mfa_code=body.mfaCode,
    )
    return Message(message="Password changed; other sessions were signed out")
