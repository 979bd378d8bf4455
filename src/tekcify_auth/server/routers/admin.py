"""``/api/admin/*``: the HTTP admin API, the ``tekcify-auth users`` and ``apps`` commands
over HTTP (issue 17 item 5).

For an administrator's own first-party session only (``deps.Admin``: no token 401,
another role's or an application's token 403). Each route calls the services the CLI
calls (``services/admin.py`` and the accounts, password, MFA and applications services),
inside ``activity.by_admin``, so the affected user's security activity records every
change as ``{"by": "admin", "adminId": ...}``. An administrator cannot disable, delete
or demote their own account (409): the acting administrator always remains one.
"""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import Path, Query, Response

from ..db.models import User
from ..errors import ApiError
from ..schemas.admin import (
    ID_LENGTH,
    AdminApplication,
    AdminApplicationList,
    AdminCreateApplicationRequest,
    AdminCreatedApplication,
    AdminUser,
    AdminUserDetail,
    AdminUserList,
    ConfirmRequest,
    ResetMfaResult,
    SessionsEnded,
    SetPasswordRequest,
    SetRoleRequest,
)
from ..schemas.applications import RegeneratedSecret
from ..schemas.base import Message
from ..services import accounts, activity, admin, applications, mfa, password_reset
from ..services.admin import AppSummary
from .deps import Admin, Ctx
from .text import server_router

router = server_router(prefix="/api/admin", tags=["admin"])

_NO_STORE: Final = {"Cache-Control": "no-store"}

UserId = Annotated[str, Path(min_length=1, max_length=ID_LENGTH)]
ClientId = Annotated[str, Path(min_length=1, max_length=ID_LENGTH)]
Limit = Annotated[int, Query(ge=1, le=100)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]


def _user(user: User) -> AdminUser:
    return AdminUser(
        id=user.id, email=user.email, role=user.role,
        state="disabled" if user.disabled_at is not None else "active",
        emailVerified=bool(user.email_verified), createdAt=user.created_at,
    )


def _application(app: AppSummary) -> AdminApplication:
    return AdminApplication(
        clientId=app.client_id, name=app.name, ownerId=app.owner_id,
        ownerEmail=app.owner_email, type="confidential" if app.confidential else "public",
        state="suspended" if app.suspended else ("active" if app.active else "inactive"),
        createdAt=app.created_at, redirectUris=app.redirect_uris,
        authorizedOrigins=app.authorized_origins, scopes=app.scopes,
        clientCredentialsScopes=app.client_credentials_scopes, description=app.description,
    )


# -- users ---------------------------------------------------------------------------


@router.get("/users")
def list_users(
    caller: Admin, ctx: Ctx, response: Response, limit: Limit = 20, offset: Offset = 0,
    q: Annotated[str | None, Query(max_length=320)] = None,
) -> AdminUserList:
    """A page of the accounts, oldest first; ``q`` keeps those whose email contains it."""
    with ctx.db.read() as db:
        rows, total = admin.page_users(db, limit=limit, offset=offset, query=q)
        users = [_user(row) for row in rows]
    response.headers.update(_NO_STORE)
    return AdminUserList(users=users, total=total, limit=limit, offset=offset)


@router.get("/users/{user_id}")
def show_user(user_id: UserId, caller: Admin, ctx: Ctx, response: Response) -> AdminUserDetail:
    """An account's facts (``tekcify-auth users show``)."""
    with ctx.db.read() as db:
        email = admin.email_of(db, user_id)
        facts = admin.user_summary(db, email, ctx.clock(), ctx.settings.refresh_token_ttl)
        mfa_on = mfa.is_enabled(db, user_id)
    response.headers.update(_NO_STORE)
    return AdminUserDetail(
        id=facts.id, email=facts.email, role=facts.role,
        state="disabled" if facts.disabled else "active", emailVerified=facts.email_verified,
        createdAt=facts.created_at, lastLoginAt=facts.last_login_at,
        liveSessions=facts.live_sessions, applications=facts.applications, mfaEnabled=mfa_on,
    )


def _set_disabled(user_id: str, caller: Admin, ctx: Ctx, disabled: bool) -> AdminUser:
    if disabled:
        admin.not_on_self(caller.user_id, user_id, "disable")
    with activity.by_admin(caller.user_id), ctx.db.write() as db:
        user = admin.set_disabled(db, ctx, admin.email_of(db, user_id), disabled)
        return _user(user)


@router.post("/users/{user_id}/disable")
def disable_user(user_id: UserId, caller: Admin, ctx: Ctx) -> AdminUser:
    """Disable the account: its sessions are revoked, its applications suspended."""
    return _set_disabled(user_id, caller, ctx, True)


@router.post("/users/{user_id}/enable")
def enable_user(user_id: UserId, caller: Admin, ctx: Ctx) -> AdminUser:
    """Enable a disabled account again (its sessions stay revoked)."""
    return _set_disabled(user_id, caller, ctx, False)


@router.delete("/users/{user_id}")
def delete_user(user_id: UserId, body: ConfirmRequest, caller: Admin, ctx: Ctx) -> Message:
    """Delete the account and everything it owns; ``confirm`` must be its email."""
    admin.not_on_self(caller.user_id, user_id, "delete")
    with activity.by_admin(caller.user_id), ctx.db.write() as db:
        email = admin.email_of(db, user_id)
        if body.confirm.strip().lower() != email.lower():
            raise ApiError(400, "confirm must be the email of the account to delete")
        admin.delete_user(db, email, ctx.clock())
    return Message(message="User deleted")


@router.put("/users/{user_id}/role")
def set_role(user_id: UserId, body: SetRoleRequest, caller: Admin, ctx: Ctx) -> AdminUser:
    """Give the account the role ``user`` or ``admin`` (its next tokens carry it)."""
    if body.role != "admin":
        admin.not_on_self(caller.user_id, user_id, "demote")
    with activity.by_admin(caller.user_id), ctx.db.write() as db:
        user, _ = admin.set_role(db, admin.email_of(db, user_id), body.role, ctx.clock())
        return _user(user)


@router.put("/users/{user_id}/password")
def set_password(
    user_id: UserId, body: SetPasswordRequest, caller: Admin, ctx: Ctx
) -> SessionsEnded:
    """Set the account's password and end all its sessions (the user gets a notice when
    ``TEKCIFY_PUBLIC_URL`` is set)."""
    with ctx.db.read() as db:
        email = admin.email_of(db, user_id)
    with activity.by_admin(caller.user_id):
        ended = password_reset.set_password(
            ctx, email, body.password, base_url=ctx.settings.public_url
        )
    return SessionsEnded(message="Password set; every session was signed out",
                         sessionsEnded=ended)


@router.post("/users/{user_id}/revoke-sessions")
def revoke_sessions(user_id: UserId, caller: Admin, ctx: Ctx) -> SessionsEnded:
    """End every live session of the account."""
    with activity.by_admin(caller.user_id), ctx.db.write() as db:
        ended = admin.revoke_user_sessions(db, admin.email_of(db, user_id), ctx.clock())
    return SessionsEnded(message="Sessions revoked", sessionsEnded=ended)


@router.post("/users/{user_id}/reset-mfa")
def reset_mfa(user_id: UserId, caller: Admin, ctx: Ctx) -> ResetMfaResult:
    """Turn two-factor sign-in off for the account; its backup codes are deleted."""
    with activity.by_admin(caller.user_id), ctx.db.write() as db:
        user = accounts.find_by_email(db, admin.email_of(db, user_id))
        assert user is not None  # email_of found it in this transaction
        was_on = mfa.reset(db, user, ctx.clock())
    return ResetMfaResult(message="Two-factor sign-in is off", wasEnabled=was_on)


# -- applications --------------------------------------------------------------------


@router.get("/applications")
def list_applications(
    caller: Admin, ctx: Ctx, response: Response, limit: Limit = 20, offset: Offset = 0
) -> AdminApplicationList:
    """A page of every owner's applications, oldest first; inactive and suspended too."""
    with ctx.db.read() as db:
        apps, total = admin.page_applications(db, limit=limit, offset=offset)
    response.headers.update(_NO_STORE)
    return AdminApplicationList(
        applications=[_application(app) for app in apps], total=total, limit=limit,
        offset=offset,
    )


@router.get("/applications/{client_id}")
def show_application(client_id: ClientId, caller: Admin, ctx: Ctx) -> AdminApplication:
    """An application's settings and state, whatever its state."""
    with ctx.db.read() as db:
        return _application(admin.application_summary(db, client_id))


@router.post("/applications", status_code=201)
def create_application(
    body: AdminCreateApplicationRequest, caller: Admin, ctx: Ctx, response: Response
) -> AdminCreatedApplication | AdminApplication:
    """Register an application for ``ownerId``; its ``clientSecret`` is in this answer
    and never again. ``tokenEndpointAuthMethod: "none"`` makes a public client, which
    has no secret (``type: "public"``, no ``clientSecret``)."""
    scopes = applications.check_scopes(body.scopes, ctx.settings.scopes)
    with activity.by_admin(caller.user_id), ctx.db.write() as db:
        owner = admin.owner_of(db, admin.email_of(db, body.ownerId))
        application, secret = applications.create_application(
            db, owner_id=owner.id, name=body.name, description=body.description,
            redirect_uris=body.redirectUris, authorized_origins=body.authorizedOrigins or [],
            scopes=scopes, now=ctx.clock(), primary_color=body.primaryColor,
            confidential=body.confidential,
            post_logout_redirect_uris=body.postLogoutRedirectUris or [],
        )
        summary = admin.application_summary(db, application.client_id)
    response.headers.update(_NO_STORE)
    if secret is None:
        return _application(summary)
    return AdminCreatedApplication(
        **_application(summary).model_dump(), clientSecret=secret
    )


def _set_active(client_id: str, caller: Admin, ctx: Ctx, active: bool) -> AdminApplication:
    with activity.by_admin(caller.user_id), ctx.db.write() as db:
        admin.set_application_active(db, client_id, active, ctx.clock())
        return _application(admin.application_summary(db, client_id))


@router.post("/applications/{client_id}/activate")
def activate_application(client_id: ClientId, caller: Admin, ctx: Ctx) -> AdminApplication:
    """Set an inactive application active again."""
    return _set_active(client_id, caller, ctx, True)


@router.post("/applications/{client_id}/deactivate")
def deactivate_application(client_id: ClientId, caller: Admin, ctx: Ctx) -> AdminApplication:
    """Set the application inactive: refused everywhere until activated."""
    return _set_active(client_id, caller, ctx, False)


@router.post("/applications/{client_id}/regenerate-secret")
def regenerate_secret(
    client_id: ClientId, caller: Admin, ctx: Ctx, response: Response
) -> RegeneratedSecret:
    """A new secret for a confidential application; the old one stops working at once."""
    with activity.by_admin(caller.user_id), ctx.db.write() as db:
        application = admin.find_any_application(db, client_id)
        secret = applications.regenerate_secret(
            db, application.owner_id, client_id, ctx.clock()
        )
    response.headers.update(_NO_STORE)
    return RegeneratedSecret(
        clientId=client_id, clientSecret=secret,
        message="Client secret regenerated; the old one no longer works",
    )


@router.delete("/applications/{client_id}")
def delete_application(
    client_id: ClientId, body: ConfirmRequest, caller: Admin, ctx: Ctx
) -> Message:
    """Delete the application and revoke every session it was given; ``confirm`` must be
    its client id."""
    with activity.by_admin(caller.user_id), ctx.db.write() as db:
        application = admin.find_any_application(db, client_id)
        if body.confirm.strip() != application.client_id:
            raise ApiError(400, "confirm must be the client id of the application to delete")
        applications.delete_application(db, application.owner_id, client_id, ctx.clock())
    return Message(message="Application deleted")
