"""The account console's Sessions (``/account/sessions``), Connected apps
(``/account/apps``) and Security activity (``/account/activity``) pages.

Each calls the services of its JSON twin (``routers/auth.py``'s sessions routes,
``routers/connected_apps.py``, ``routers/account_security.py``'s activity log) and adds
only the reading: the device and browser of a User-Agent (the ``ua-parser`` package),
scopes and activity types in words. Revoking a session or an application's access is a
confirmation page (GET) and its form (POST); an id that is not the user's is the
console's 404, as the services' own 404 says.

The session of this browser is marked "this device" and is not revoked here: signing out
ends it (the header's link), so a page never signs its own browser out behind a 303.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Annotated, Any, Final

from fastapi import Form, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, Response
from ua_parser import parse as parse_agent

from ...context import ServerContext
from ...errors import ApiError
from ...services import activity, consent, sessions
from ...services.image_store import image_url
from ..auth import FIRST_PARTY_NAME
from ..authorize import SCOPE_TEXT
from ..deps import Ctx, client_address, user_agent
from ..images import base_url_of
from ..text import server_router
from . import EXPIRED_FORM, console
from .console import ACCOUNT_PATH, Visit

router = server_router(include_in_schema=False)

SESSIONS_PATH: Final = f"{ACCOUNT_PATH}/sessions"
REVOKE_OTHERS_PATH: Final = f"{ACCOUNT_PATH}/sessions/revoke-others"
APPS_PATH: Final = f"{ACCOUNT_PATH}/apps"
ACTIVITY_PATH: Final = f"{ACCOUNT_PATH}/activity"

#: Events on one page of the security activity.
PER_PAGE: Final = 20
MAX_PAGE: Final = 1_000_000
#: Ids in a URL are read up to this length (longer is nobody's).
_ID: Final = 256

console.notices(
    sessions_revoked_one="The session is revoked: it is signed out.",
    sessions_revoked_others="Your other sessions are revoked: they are signed out.",
    apps_revoked="The application can no longer use your account: its tokens are revoked.",
)

_THIS_DEVICE: Final = (
    "This is the session of this browser. To end it, sign out instead."
)

#: The activity types in words (``activity.TYPES``), in the filter's order.
ACTIVITY_TEXT: Final = {
    "login_success": "Signed in",
    "login_failed": "Sign-in failed",
    "logout": "Signed out",
    "refresh_token_reuse": "A used refresh token was presented again",
    "password_changed": "Password changed",
    "password_set": "Password set",
    "password_reset_requested": "Password reset requested",
    "password_reset": "Password reset",
    "email_verified": "Email address verified",
    "email_change_requested": "Email address change requested",
    "email_changed": "Email address changed",
    "session_revoked": "Session revoked",
    "sessions_revoked": "Other sessions revoked",
    "connected_app_revoked": "Connected application's access withdrawn",
    "application_created": "Application registered",
    "application_deleted": "Application deleted",
    "application_secret_regenerated": "Application secret regenerated",
    "sensitive_action_verified": "Identity confirmed for a sensitive action",
    "sensitive_action_failed": "Identity confirmation failed",
    "mfa_enabled": "Two-factor sign-in turned on",
    "mfa_disabled": "Two-factor sign-in turned off",
    "mfa_backup_codes_regenerated": "New backup codes made",
    "mfa_backup_code_used": "Backup code used",
    "mfa_failed": "Two-factor code refused",
    "passkey_added": "Passkey added",
    "passkey_renamed": "Passkey renamed",
    "passkey_removed": "Passkey removed",
    "passkey_used": "Signed in with a passkey",
    "passkey_sign_count_regression": "Passkey signature counter went back (possible clone)",
    "social_account_linked": "Social account linked",
    "social_account_unlinked": "Social account unlinked",
    "account_deleted": "Account deleted",
    "role_changed": "Role changed",
    "account_disabled": "Account disabled",
    "account_enabled": "Account enabled",
}
# Every type the server records has its words: tests/server/test_console_activity.py.


def _when(moment: datetime) -> str:
    return f"{moment.day} {moment:%b %Y, %H:%M} UTC"


@lru_cache(maxsize=1024)
def device_text(agent: str | None) -> str:
    """"Chrome 120 on Linux", "Mobile Safari 17 on iPhone (iOS 17)": what a person
    recognises of a User-Agent (``ua-parser``); "Unknown device" when it says nothing."""
    if not agent:
        return "Unknown device"
    found = parse_agent(agent[:1024])
    browser = None
    if found.user_agent is not None:
        browser = " ".join(p for p in (found.user_agent.family, found.user_agent.major) if p)
    system = None
    if found.os is not None:
        system = " ".join(p for p in (found.os.family, found.os.major) if p)
    device = None
    if found.device is not None and found.device.family not in ("Other", "Generic Smartphone"):
        device = found.device.family
    place = f"{device} ({system})" if device and system and system != device else (
        device or system
    )
    if browser and place:
        return f"{browser} on {place}"
    return browser or place or "Unknown device"


# -- Sessions ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionView:
    """A live session as the Sessions page shows it."""

    id: str
    device: str
    user_agent: str
    ip_address: str
    application: str
    logo_url: str | None
    kind: str
    created: str
    created_iso: str
    last_used: str
    last_used_iso: str
    current: bool

    @property
    def revoke_path(self) -> str:
        return f"{SESSIONS_PATH}/{self.id}/revoke"


def _session_views(seen: Visit) -> list[SessionView]:
    ctx = seen.ctx
    with ctx.db.read() as db:
        rows = sessions.list_sessions(db, seen.user.id, ctx.clock(), ctx.settings.refresh_token_ttl)
    base = base_url_of(seen.request)
    return [
        SessionView(
            id=s.id, device=device_text(s.user_agent), user_agent=(s.user_agent or "")[:300],
            ip_address=s.ip_address or "Unknown",
            application=s.application_name or FIRST_PARTY_NAME,
            logo_url=image_url(base, s.application_logo),
            kind="Signed in on the pages" if s.browser else (
                "Application" if s.client_id is not None else "Signed in through the API"
            ),
            created=_when(s.created_at), created_iso=s.created_at.isoformat(),
            last_used=_when(s.last_used_at), last_used_iso=s.last_used_at.isoformat(),
            current=s.id == seen.login.session_id,
        )
        for s in rows
    ]


def _sessions_page(seen: Visit, *, status: int = 200, error: str | None = None) -> Response:
    views = _session_views(seen)
    views.sort(key=lambda v: not v.current)  # this device first, then most recently used
    return seen.render(
        "account_sessions.html", title="Sessions", section="sessions", status=status,
        error=error, sessions=views, others=sum(not v.current for v in views),
        revoke_others_path=REVOKE_OTHERS_PATH,
    )


@router.get(SESSIONS_PATH, response_class=HTMLResponse)
def sessions_page(request: Request, ctx: Ctx) -> Response:
    """Sessions: every live session with its device, address, application and times."""
    seen = console.visit(request, ctx)
    return seen if isinstance(seen, Response) else _sessions_page(seen)


def _one_session(seen: Visit, session_id: str) -> SessionView | None:
    return next((v for v in _session_views(seen) if v.id == session_id), None)


def _revoke_page(
    seen: Visit, view: SessionView, *, status: int = 200, error: str | None = None
) -> Response:
    return seen.render(
        "account_session_revoke.html", title="Revoke a session", section="sessions",
        status=status, error=error, session=view, action=view.revoke_path,
        csrf_token=seen.csrf("session-revoke"), back=SESSIONS_PATH,
    )


SessionId = Annotated[str, PathParam(max_length=_ID)]


@router.get(SESSIONS_PATH + "/{session_id}/revoke", response_class=HTMLResponse)
def revoke_session_page(request: Request, ctx: Ctx, session_id: SessionId) -> Response:
    """What revoking the session will do, and the form that does it."""
    seen = console.visit(request, ctx)
    if isinstance(seen, Response):
        return seen
    view = _one_session(seen, session_id)
    if view is None:
        return console.not_found(request, ctx, "This session")
    return _revoke_page(seen, view)


@router.post(SESSIONS_PATH + "/{session_id}/revoke", response_class=HTMLResponse)
def revoke_session(
    request: Request, ctx: Ctx, session_id: SessionId,
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """Revoke one of the user's sessions, as ``DELETE /api/auth/sessions/{id}``."""
    seen = console.visit(request, ctx)
    if isinstance(seen, Response):
        return seen
    view = _one_session(seen, session_id)
    if view is None:
        return console.not_found(request, ctx, "This session")
    if not seen.csrf_ok("session-revoke", csrf_token):
        return _revoke_page(seen, view, status=403, error=EXPIRED_FORM)
    if view.current:
        return _revoke_page(seen, view, status=400, error=_THIS_DEVICE)
    try:
        with ctx.db.write() as db:
            sessions.revoke_own_session(
                db, seen.user.id, session_id, ctx.clock(), reason="revoked_by_user",
                address=client_address(request), user_agent=user_agent(request),
            )
    except ApiError as exc:
        if exc.status_code != 404:
            raise
        return console.not_found(request, ctx, "This session")
    return seen.done(SESSIONS_PATH, "sessions_revoked_one")


def _revoke_others_page(seen: Visit, *, status: int = 200, error: str | None = None) -> Response:
    views = [v for v in _session_views(seen) if not v.current]
    return seen.render(
        "account_sessions_revoke_others.html", title="Revoke your other sessions",
        section="sessions", status=status, error=error, sessions=views,
        action=REVOKE_OTHERS_PATH, csrf_token=seen.csrf("sessions-revoke-others"),
        back=SESSIONS_PATH,
    )


@router.get(REVOKE_OTHERS_PATH, response_class=HTMLResponse)
def revoke_others_page(request: Request, ctx: Ctx) -> Response:
    """Which sessions "revoke all others" ends, and the form that does it."""
    seen = console.visit(request, ctx)
    return seen if isinstance(seen, Response) else _revoke_others_page(seen)


@router.post(REVOKE_OTHERS_PATH, response_class=HTMLResponse)
def revoke_others(request: Request, ctx: Ctx, csrf_token: Annotated[str, Form()] = "") -> Response:
    """Revoke every session but this browser's, as ``DELETE /api/auth/sessions``."""
    seen = console.visit(request, ctx)
    if isinstance(seen, Response):
        return seen
    if not seen.csrf_ok("sessions-revoke-others", csrf_token):
        return _revoke_others_page(seen, status=403, error=EXPIRED_FORM)
    with ctx.db.write() as db:
        sessions.revoke_other_sessions(
            db, seen.user.id, seen.login.session_id, ctx.clock(),
            address=client_address(request), user_agent=user_agent(request),
        )
    return seen.done(SESSIONS_PATH, "sessions_revoked_others")


# -- Connected apps ----------------------------------------------------------------------


@dataclass(frozen=True)
class ConnectedView:
    """An application the user consented to, as the Connected apps page shows it."""

    client_id: str
    name: str
    description: str
    logo_url: str | None
    scopes: list[dict[str, str]]
    connected: str
    connected_iso: str
    updated: str
    updated_iso: str

    @property
    def revoke_path(self) -> str:
        return f"{APPS_PATH}/{self.client_id}/revoke"


def scope_words(ctx: ServerContext, names: list[str]) -> list[dict[str, str]]:
    """Each scope with what it lets an application do, as the consent page says it."""
    described = ctx.settings.scope_descriptions
    return [
        {"name": name, "text": SCOPE_TEXT.get(name) or described.get(name)
         or f"Use the “{name}” permission"}
        for name in names
    ]


def _connected_views(seen: Visit) -> list[ConnectedView]:
    with seen.ctx.db.read() as db:
        rows = consent.connected_apps(db, seen.user.id)
        base = base_url_of(seen.request)
        return [
            ConnectedView(
                client_id=application.client_id, name=application.name,
                description=application.description or "",
                logo_url=image_url(base, application.logo_url),
                scopes=scope_words(seen.ctx, row.scopes.split()),
                connected=_when(row.created_at), connected_iso=row.created_at.isoformat(),
                updated=_when(row.updated_at), updated_iso=row.updated_at.isoformat(),
            )
            for row, application in rows
        ]


@router.get(APPS_PATH, response_class=HTMLResponse)
def apps_page(request: Request, ctx: Ctx) -> Response:
    """Connected apps: the applications the user let in, with what they may do."""
    seen = console.visit(request, ctx)
    if isinstance(seen, Response):
        return seen
    return seen.render(
        "account_apps.html", title="Connected apps", section="apps", apps=_connected_views(seen),
    )


ClientId = Annotated[str, PathParam(max_length=_ID)]


def _withdraw_page(
    seen: Visit, view: ConnectedView, *, status: int = 200, error: str | None = None
) -> Response:
    return seen.render(
        "account_app_revoke.html", title=f"Withdraw access from {view.name}", section="apps",
        status=status, error=error, app=view, action=view.revoke_path,
        csrf_token=seen.csrf("app-revoke"), back=APPS_PATH,
    )


def _connected(seen: Visit, client_id: str) -> ConnectedView | None:
    return next((v for v in _connected_views(seen) if v.client_id == client_id), None)


@router.get(APPS_PATH + "/{client_id}/revoke", response_class=HTMLResponse)
def withdraw_page(request: Request, ctx: Ctx, client_id: ClientId) -> Response:
    """What withdrawing the application's access will do, and the form that does it."""
    seen = console.visit(request, ctx)
    if isinstance(seen, Response):
        return seen
    view = _connected(seen, client_id)
    if view is None:
        return console.not_found(request, ctx, "This connected application")
    return _withdraw_page(seen, view)


@router.post(APPS_PATH + "/{client_id}/revoke", response_class=HTMLResponse)
def withdraw(
    request: Request, ctx: Ctx, client_id: ClientId, csrf_token: Annotated[str, Form()] = ""
) -> Response:
    """Withdraw the consent and revoke the application's tokens, as
    ``DELETE /api/oauth/connected-apps/{client_id}``."""
    seen = console.visit(request, ctx)
    if isinstance(seen, Response):
        return seen
    view = _connected(seen, client_id)
    if view is None:
        return console.not_found(request, ctx, "This connected application")
    if not seen.csrf_ok("app-revoke", csrf_token):
        return _withdraw_page(seen, view, status=403, error=EXPIRED_FORM)
    try:
        with ctx.db.write() as db:
            consent.withdraw_consent(
                db, seen.user.id, client_id, ctx.clock(), address=client_address(request),
                user_agent=user_agent(request),
            )
    except ApiError as exc:
        if exc.status_code != 404:
            raise
        return console.not_found(request, ctx, "This connected application")
    return seen.done(APPS_PATH, "apps_revoked")


# -- Security activity -------------------------------------------------------------------


@dataclass(frozen=True)
class EventView:
    """One security event as the activity page shows it."""

    what: str
    type: str
    success: bool
    when: str
    when_iso: str
    device: str
    ip_address: str
    details: list[str]


def _details(metadata: dict[str, Any] | None) -> list[str]:
    """The event's metadata worth showing, in words (the log never holds a secret)."""
    data = metadata or {}
    said: list[str] = []
    if data.get("by") in ("admin", "administrator"):
        said.append("By an administrator")
    elif data.get("by") == "operator":
        said.append("By the server's operator")
    if isinstance(data.get("name"), str):
        said.append(f"Name: {data['name'][:200]}")
    if isinstance(data.get("provider"), str):
        said.append(f"Provider: {data['provider'][:64]}")
    if isinstance(data.get("method"), str):
        said.append(f"Method: {data['method'][:64]}")
    if isinstance(data.get("clientId"), str):
        said.append(f"Application: {data['clientId'][:200]}")
    for key, label in (("count", "Sessions"), ("sessionsRevoked", "Sessions revoked"),
                       ("remaining", "Backup codes left")):
        if isinstance(data.get(key), int):
            said.append(f"{label}: {data[key]}")
    if isinstance(data.get("from"), str) and isinstance(data.get("to"), str):
        said.append(f"From {data['from'][:200]} to {data['to'][:200]}")
    return said


def _page_number(raw: str | None) -> int:
    try:
        number = int((raw or "1")[:16])
    except ValueError:
        return 1
    return min(max(number, 1), MAX_PAGE)


@router.get(ACTIVITY_PATH, response_class=HTMLResponse)
def activity_page(
    request: Request,
    ctx: Ctx,
    page: str | None = None,
    kind: Annotated[str | None, Query(alias="type")] = None,
) -> Response:
    """Security activity: the user's events, newest first, 20 a page, filtered by type."""
    seen = console.visit(request, ctx)
    if isinstance(seen, Response):
        return seen
    chosen = (kind or "")[:64] or None
    status, error = 200, None
    if chosen is not None and chosen not in activity.TYPES:
        status, error, chosen = 400, "Choose a type of event from the list.", None
    number = _page_number(page)
    with ctx.db.read() as db:
        rows, total = activity.list_activity(
            db, seen.user.id, limit=PER_PAGE, offset=(number - 1) * PER_PAGE,
            activity_type=chosen,
        )
        events = [
            EventView(
                what=ACTIVITY_TEXT.get(row.activity_type, row.activity_type),
                type=row.activity_type, success=row.success is not False,
                when=_when(row.created_at),
                when_iso=row.created_at.isoformat(), device=device_text(row.user_agent),
                ip_address=row.ip_address or "Unknown", details=_details(row.details),
            )
            for row in rows
        ]
    pages = max(1, math.ceil(total / PER_PAGE))
    query = f"type={chosen}&" if chosen else ""
    return seen.render(
        "account_activity.html", title="Security activity", section="activity",
        status=status, error=error, events=events, total=total, page=number, pages=pages,
        chosen=chosen or "", types=list(ACTIVITY_TEXT.items()), list_path=ACTIVITY_PATH,
        page_query=query,
    )
