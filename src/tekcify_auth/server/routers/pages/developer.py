"""The developer console (``/developer``): a person's OAuth applications, as pages.

Every page calls the rules ``/api/applications`` calls (``services/applications.py``,
the request schemas' checks of single values), so a page accepts exactly what the API
accepts and says why it refuses the rest. An application is known by its client id in
the URLs; one the signed-in person does not own is a 404 on every page, as in the API.

A client secret is shown in the answer to the post that made it (creation,
regeneration), never again and never in a URL: the database keeps only its hash. The
copy buttons are the one script here (``static/developer.js``); without JavaScript they
stay hidden and the secret is plain selectable text.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Annotated, Any, Final
from urllib.parse import urlencode

import anyio.to_thread
from fastapi import Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from ...db.applications import Application
from ...errors import ApiError
from ...schemas.applications import CreateApplicationRequest, UpdateApplicationRequest
from ...services import applications
from ...services.discovery import PATHS
from ...services.image_store import image_url
from ...services.images import ImageRejected
from ..authorize import SCOPE_TEXT, colour_stylesheet
from ..deps import Ctx, client_address, user_agent
from ..images import Processor, base_url_of
from ..text import server_router
from . import EXPIRED_FORM, SERVER_DIR, console
from .console import DEVELOPER_PATH, Visit

router = server_router(include_in_schema=False)

NEW_PATH: Final = f"{DEVELOPER_PATH}/apps/new"
SCRIPT_PATH: Final = "/api/oauth/static/developer.js"
#: Applications on a page of the list.
PER_PAGE: Final = 20
# Far past any real list; keeps OFFSET within every database's integer range.
MAX_PAGE: Final = 1_000_000
DISCOVERY_PATH: Final = "/.well-known/openid-configuration"
#: The scopes a new application's form starts with (those the server knows).
FIRST_SCOPES: Final = ("openid", "profile", "email")

console.notices(
    developer_app_created="Your application is registered.",
    developer_app_saved="Your changes are saved.",
    developer_logo_saved="The new logo is saved. This is how it is stored and shown.",
    developer_logo_removed="The logo is removed.",
    developer_app_deactivated=(
        "The application is inactive: nobody can sign in to it until you activate it again."
    ),
    developer_app_activated="The application is active again.",
    developer_app_deleted="The application is deleted; every token it was given is revoked.",
)

# The form's fields and the request schema's, with the words a page uses for them.
_FIELDS: Final = {
    "name": ("name", "Name"),
    "description": ("description", "Description"),
    "redirectUris": ("redirect_uris", "Redirect URIs"),
    "authorizedOrigins": ("authorized_origins", "Allowed origins"),
    "scopes": ("scopes", "Scopes"),
    "primaryColor": ("primary_color", "Primary colour"),
    "postLogoutRedirectUris": ("post_logout_redirect_uris", "Post-logout redirect URIs"),
    "tokenEndpointAuthMethod": ("kind", "Type"),
}
_KINDS: Final = {"confidential": "client_secret_basic", "public": "none"}


def app_path(client_id: str, rest: str = "") -> str:
    """The console path of the application ``client_id`` (``rest`` after it)."""
    return f"{DEVELOPER_PATH}/apps/{client_id}{rest}"


def _when(moment: datetime) -> str:
    return f"{moment.day} {moment:%b %Y, %H:%M} UTC"


@dataclass(frozen=True)
class AppView:
    """What the pages show of an application (read in the request's transaction)."""

    client_id: str
    name: str
    description: str | None
    redirect_uris: list[str]
    authorized_origins: list[str]
    post_logout_redirect_uris: list[str]
    scopes: list[str]
    primary_color: str | None
    logo_url: str | None
    is_active: bool
    confidential: bool
    created: str
    updated: str
    created_iso: str

    @classmethod
    def of(cls, row: Application, base_url: str) -> AppView:
        return cls(
            row.client_id, row.name, row.description, list(row.redirect_uris),
            list(row.authorized_origins), list(row.post_logout_redirect_uris),
            list(row.scopes), row.primary_color, image_url(base_url, row.logo_url),
            row.is_active, row.client_secret_hash is not None, _when(row.created_at),
            _when(row.updated_at), row.created_at.isoformat(),
        )

    @property
    def path(self) -> str:
        return app_path(self.client_id)


@dataclass
class AppForm:
    """The values of the create and edit forms, as typed (lists one a line)."""

    name: str = ""
    description: str = ""
    redirect_uris: str = ""
    authorized_origins: str = ""
    post_logout_redirect_uris: str = ""
    scopes: list[str] = field(default_factory=list)
    primary_color: str = ""
    kind: str = "confidential"

    @classmethod
    def of(cls, app: AppView) -> AppForm:
        return cls(
            app.name, app.description or "", "\n".join(app.redirect_uris),
            "\n".join(app.authorized_origins), "\n".join(app.post_logout_redirect_uris),
            list(app.scopes), app.primary_color or "",
            "confidential" if app.confidential else "public",
        )

    @classmethod
    def posted(
        cls, name: str, description: str, redirect_uris: str, authorized_origins: str,
        post_logout_redirect_uris: str, scopes: list[str], primary_color: str, kind: str,
    ) -> AppForm:
        """The form as posted, lists without their blank lines (so line numbers in an
        error are those shown again)."""
        return cls(
            name, description, "\n".join(_lines(redirect_uris)),
            "\n".join(_lines(authorized_origins)), "\n".join(_lines(post_logout_redirect_uris)),
            scopes[:200], primary_color.strip(), kind,
        )

    def fields(self) -> dict[str, Any]:
        """The request schema's fields (the API's names) for these values."""
        return {
            "name": self.name, "description": self.description,
            "redirectUris": _lines(self.redirect_uris),
            "authorizedOrigins": _lines(self.authorized_origins),
            "scopes": self.scopes, "primaryColor": self.primary_color or None,
            "postLogoutRedirectUris": _lines(self.post_logout_redirect_uris),
        }


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


@dataclass(frozen=True)
class Problem:
    """Why a form was refused: the message and the form field it is about."""

    message: str
    field: str


def _problem(exc: ValidationError) -> Problem:
    """The first of ``exc``'s errors in a page's words, naming the field (and line)."""
    first = exc.errors()[0]
    loc = first.get("loc", ())
    name, label = _FIELDS.get(str(loc[0]) if loc else "", ("", "The form"))
    kind = first.get("type", "")
    if kind in ("too_short", "missing") and len(loc) == 1:
        empty = {
            "name": "Give the application a name.",
            "redirect_uris": "Add at least one redirect URI, one a line.",
            "scopes": "Choose at least one scope.",
        }
        return Problem(empty.get(name, f"{label}: this is needed."), name)
    if kind == "too_long" and len(loc) == 1:
        most = (first.get("ctx") or {}).get("max_length")
        return Problem(f"{label}: at most {most}, one a line.", name)
    if kind == "literal_error":
        return Problem("Choose whether the application is confidential or public.", name)
    message = str(first.get("msg", "is not valid")).removeprefix("Value error, ")
    where = label
    if len(loc) > 1 and isinstance(loc[1], int):
        where = f"{label}, line {loc[1] + 1}"
    return Problem(f"{where}: {message}", name)


def _scope_choices(visit: Visit) -> list[dict[str, str]]:
    described = visit.ctx.settings.scope_descriptions
    return [
        {"name": name, "text": SCOPE_TEXT.get(name) or described.get(name) or ""}
        for name in visit.ctx.settings.scopes
    ]


def _owned(visit: Visit, client_id: str) -> AppView | None:
    with visit.ctx.db.read() as db:
        try:
            row = applications.owned_application(db, visit.user.id, client_id)
        except ApiError:
            return None
        return AppView.of(row, base_url_of(visit.request))


def _not_found(request: Request, ctx: Ctx) -> Response:
    return console.not_found(request, ctx, "This application")


# -- the list ----------------------------------------------------------------------------


def _page_number(raw: str | None) -> int:
    try:
        number = int(raw or "1")
    except ValueError:
        return 1
    return min(max(number, 1), MAX_PAGE)


@router.get(DEVELOPER_PATH, response_class=HTMLResponse)
def list_page(request: Request, ctx: Ctx, page: str | None = None) -> Response:
    """The person's applications, newest first, 20 a page, with the active and inactive
    counts."""
    seen = console.visit(request, ctx)
    if isinstance(seen, Response):
        return seen
    number = _page_number(page)
    with ctx.db.read() as db:
        rows, stats = applications.list_applications(
            db, seen.user.id, page=number, limit=PER_PAGE
        )
        apps = [AppView.of(row, base_url_of(request)) for row in rows]
    pages = max(1, -(-stats.total // PER_PAGE))
    return seen.render(
        "developer_list.html", title="Applications", section="applications", apps=apps,
        total=stats.total, active=stats.active, inactive=stats.inactive, page=number,
        pages=pages, new_path=NEW_PATH, list_path=DEVELOPER_PATH,
    )


# -- create ------------------------------------------------------------------------------


def _new_page(
    seen: Visit, form: AppForm, *, status: int = 200, error: str | None = None,
    invalid: str = "",
) -> Response:
    return seen.render(
        "developer_new.html", title="New application", section="new-application",
        status=status, error=error, form=form, invalid=invalid, action=NEW_PATH,
        csrf_token=seen.csrf("app-new"), scope_choices=_scope_choices(seen),
    )


@router.get(NEW_PATH, response_class=HTMLResponse)
def new_page(request: Request, ctx: Ctx) -> Response:
    """The form registering an application."""
    seen = console.visit(request, ctx)
    if isinstance(seen, Response):
        return seen
    known = ctx.settings.scopes
    return _new_page(seen, AppForm(scopes=[s for s in FIRST_SCOPES if s in known]))


@router.post(NEW_PATH, response_class=HTMLResponse)
def create(
    request: Request,
    ctx: Ctx,
    csrf_token: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
    kind: Annotated[str, Form()] = "confidential",
    redirect_uris: Annotated[str, Form()] = "",
    authorized_origins: Annotated[str, Form()] = "",
    post_logout_redirect_uris: Annotated[str, Form()] = "",
    scopes: Annotated[list[str] | None, Form()] = None,
    primary_color: Annotated[str, Form()] = "",
) -> Response:
    """Register the application, as ``POST /api/applications``; a confidential one's
    secret is shown on the answer, this once."""
    seen = console.visit(request, ctx)
    if isinstance(seen, Response):
        return seen
    form = AppForm.posted(
        name, description, redirect_uris, authorized_origins, post_logout_redirect_uris,
        scopes or [], primary_color, kind,
    )
    if not seen.csrf_ok("app-new", csrf_token):
        return _new_page(seen, form, status=403, error=EXPIRED_FORM)
    try:
        body = CreateApplicationRequest.model_validate(
            {**form.fields(), "tokenEndpointAuthMethod": _KINDS.get(kind, kind)}
        )
        checked = applications.check_scopes(body.scopes, ctx.settings.scopes)
    except ValidationError as exc:
        problem = _problem(exc)
        return _new_page(seen, form, status=400, error=problem.message, invalid=problem.field)
    except ApiError as exc:
        return _new_page(seen, form, status=exc.status_code, error=exc.message, invalid="scopes")
    with ctx.db.write() as db:
        row, secret = applications.create_application(
            db, owner_id=seen.user.id, name=body.name, description=body.description,
            redirect_uris=body.redirectUris, authorized_origins=body.authorizedOrigins or [],
            scopes=checked, now=ctx.clock(), primary_color=body.primaryColor,
            confidential=body.confidential,
            post_logout_redirect_uris=body.postLogoutRedirectUris or [],
            address=client_address(request), user_agent=user_agent(request),
        )
        app = AppView.of(row, base_url_of(request))
    if secret is None:
        return seen.done(app.path, "developer_app_created")
    return _secret_page(seen, app, secret, created=True)


def _secret_page(seen: Visit, app: AppView, secret: str, *, created: bool) -> Response:
    return seen.render(
        "developer_secret.html",
        title=f"The client secret of {app.name}", section="applications", app=app,
        secret=secret, created=created, scripts=True, script_path=SCRIPT_PATH,
        notice=console.notice_text("developer_app_created") if created else None,
    )


# -- the application's page: details, edit, try it ----------------------------------------


def _example_request(app: AppView, base: str) -> dict[str, str]:
    """An authorization request of ``app`` to paste into a browser, with a PKCE pair made
    for this page (RFC 7636 §4.1, §4.2: S256)."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    redirect_uri = app.redirect_uris[0] if app.redirect_uris else ""
    query = urlencode({
        "response_type": "code", "client_id": app.client_id, "redirect_uri": redirect_uri,
        "scope": " ".join(app.scopes), "state": secrets.token_urlsafe(12),
        "code_challenge": challenge, "code_challenge_method": "S256",
    })
    return {
        "authorize_url": f"{base}{PATHS['authorization_endpoint']}?{query}",
        "token_url": base + PATHS["token_endpoint"],
        "discovery_url": base + DISCOVERY_PATH,
        "verifier": verifier, "challenge": challenge, "redirect_uri": redirect_uri,
    }


def _app_page(
    seen: Visit, app: AppView, form: AppForm | None = None, *, status: int = 200,
    error: str | None = None, invalid: str = "",
) -> Response:
    base = base_url_of(seen.request).rstrip("/")
    processor = seen.request.app.state.image_processor
    return seen.render(
        "developer_app.html", title=app.name, section="applications", status=status,
        error=error, app=app, form=form or AppForm.of(app), invalid=invalid,
        scope_choices=_scope_choices(seen), try_it=_example_request(app, base),
        colour_url=colour_stylesheet(app.primary_color), scripts=True,
        script_path=SCRIPT_PATH, edit_csrf=seen.csrf(f"app-edit|{app.client_id}"),
        logo_csrf=seen.csrf(f"app-logo|{app.client_id}"),
        activate_csrf=seen.csrf(f"app-activate|{app.client_id}"),
        max_mib=processor.limits.max_bytes // (1024 * 1024),
        code_ttl=seen.ctx.settings.authorization_code_ttl,
    )


@router.get(DEVELOPER_PATH + "/apps/{client_id}", response_class=HTMLResponse)
def app_page(request: Request, ctx: Ctx, client_id: str) -> Response:
    """One application: its settings to edit, its logo, secret and state, and a "try it"
    panel with an authorization URL to paste and the discovery URL."""
    seen = console.visit(request, ctx)
    if isinstance(seen, Response):
        return seen
    app = _owned(seen, client_id)
    if app is None:
        return _not_found(request, ctx)
    return _app_page(seen, app)


@router.post(DEVELOPER_PATH + "/apps/{client_id}", response_class=HTMLResponse)
def update(
    request: Request,
    ctx: Ctx,
    client_id: str,
    csrf_token: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
    redirect_uris: Annotated[str, Form()] = "",
    authorized_origins: Annotated[str, Form()] = "",
    post_logout_redirect_uris: Annotated[str, Form()] = "",
    scopes: Annotated[list[str] | None, Form()] = None,
    primary_color: Annotated[str, Form()] = "",
) -> Response:
    """Save the settings, as ``PUT /api/applications/{clientId}`` with every field (a
    scope taken away revokes the sessions holding it)."""
    seen = console.visit(request, ctx)
    if isinstance(seen, Response):
        return seen
    app = _owned(seen, client_id)
    if app is None:
        return _not_found(request, ctx)
    form = AppForm.posted(
        name, description, redirect_uris, authorized_origins, post_logout_redirect_uris,
        scopes or [], primary_color, "confidential" if app.confidential else "public",
    )
    if not seen.csrf_ok(f"app-edit|{client_id}", csrf_token):
        return _app_page(seen, app, form, status=403, error=EXPIRED_FORM)
    try:
        body = UpdateApplicationRequest.model_validate(form.fields())
        applications.check_scopes(body.scopes or [], ctx.settings.scopes)
    except ValidationError as exc:
        problem = _problem(exc)
        return _app_page(
            seen, app, form, status=400, error=problem.message, invalid=problem.field
        )
    except ApiError as exc:
        return _app_page(
            seen, app, form, status=exc.status_code, error=exc.message, invalid="scopes"
        )
    changes = applications.Changes(
        fields=frozenset({
            "name", "description", "redirect_uris", "authorized_origins", "scopes",
            "primary_color", "post_logout_redirect_uris",
        }),
        name=body.name, description=body.description,
        redirect_uris=body.redirectUris or (), authorized_origins=body.authorizedOrigins or (),
        scopes=body.scopes or (), primary_color=body.primaryColor,
        post_logout_redirect_uris=body.postLogoutRedirectUris or (),
    )
    with ctx.db.write() as db:
        try:
            applications.update_application(db, seen.user.id, client_id, changes, ctx.clock())
        except ApiError:  # deleted in the instant since
            return _not_found(request, ctx)
    return seen.done(app.path, "developer_app_saved")


# -- logo --------------------------------------------------------------------------------


@router.post(DEVELOPER_PATH + "/apps/{client_id}/logo", response_class=HTMLResponse)
async def upload_logo(
    request: Request, ctx: Ctx, processor: Processor, client_id: str
) -> Response:
    """Replace the logo (``multipart/form-data``: ``csrf_token`` and ``file``), as
    ``POST /api/applications/{clientId}/logo``: checked and stored re-encoded."""
    seen = await anyio.to_thread.run_sync(console.visit, request, ctx)
    if isinstance(seen, Response):
        return seen
    app = await anyio.to_thread.run_sync(_owned, seen, client_id)
    if app is None:  # someone else's: a 404 before the upload is even read
        return await anyio.to_thread.run_sync(_not_found, request, ctx)
    async with request.form(max_files=1, max_fields=10) as posted:
        token = posted.get("csrf_token")
        if not isinstance(token, str) or not seen.csrf_ok(f"app-logo|{client_id}", token):
            return _app_page(seen, app, status=403, error=EXPIRED_FORM)
        item = posted.get("file")
        if not isinstance(item, UploadFile) or not item.filename:
            return _app_page(
                seen, app, status=400, invalid="logo", error="Choose a logo to upload."
            )
        data = await item.read()
        filename, content_type = item.filename, item.content_type
    try:
        processed = await processor.aprocess(
            data, filename=filename, content_type=content_type
        )
    except ImageRejected as exc:
        return _app_page(seen, app, status=exc.status_code, invalid="logo", error=exc.message)

    def save() -> Response | None:
        with ctx.db.write() as db:
            try:
                applications.set_logo(db, seen.user.id, client_id, processed, now=ctx.clock())
            except ApiError:  # deleted in the instant since
                return _not_found(request, ctx)
        return None

    gone = await anyio.to_thread.run_sync(save)
    return gone or seen.done(app.path, "developer_logo_saved")


# -- confirmations: remove the logo, regenerate the secret, deactivate --------------------


@dataclass(frozen=True)
class Confirmation:
    """A page asking to confirm one action on an application, and what the post does."""

    form: str
    rest: str
    heading: str
    explain: tuple[str, ...]
    button: str
    danger: bool = True

    def render(
        self, seen: Visit, app: AppView, *, status: int = 200, error: str | None = None
    ) -> Response:
        return seen.render(
            "developer_confirm.html", title=self.heading.format(name=app.name),
            section="applications", status=status, error=error, app=app,
            heading=self.heading.format(name=app.name),
            explain=[line.format(name=app.name) for line in self.explain],
            button=self.button.format(name=app.name), danger=self.danger,
            action=app_path(app.client_id, self.rest),
            csrf_token=seen.csrf(f"{self.form}|{app.client_id}"),
        )


REMOVE_LOGO: Final = Confirmation(
    "app-logo-remove", "/logo/remove", "Remove the logo of {name}",
    ("The consent page will show no logo for this application until you upload one again.",),
    "Remove the logo of {name}",
)
REGENERATE: Final = Confirmation(
    "app-secret", "/secret", "Regenerate the client secret of {name}",
    (
        "A new client secret is made and shown to you once. The current secret stops "
        "working at once: every server using it fails to get tokens until you give it "
        "the new one.",
        "Tokens already issued keep working until they expire.",
    ),
    "Regenerate the client secret of {name}",
)
DEACTIVATE: Final = Confirmation(
    "app-deactivate", "/deactivate", "Deactivate {name}",
    (
        "While it is inactive, nobody can sign in to {name}: its authorization requests "
        "show an error, the token endpoint refuses it and its tokens are not accepted at "
        "introspection.",
        "Nothing is deleted or revoked: activate it again and it works as before.",
    ),
    "Deactivate {name}",
)


def _confirm_get(request: Request, ctx: Ctx, client_id: str, what: Confirmation) -> Response:
    seen = console.visit(request, ctx)
    if isinstance(seen, Response):
        return seen
    app = _owned(seen, client_id)
    if app is None:
        return _not_found(request, ctx)
    if (
        (what is REMOVE_LOGO and app.logo_url is None)
        or (what is REGENERATE and not app.confidential)
        or (what is DEACTIVATE and not app.is_active)
    ):
        return seen.done(app.path)  # nothing to confirm: the application's page says why
    return what.render(seen, app)


def _confirmed(
    request: Request, ctx: Ctx, client_id: str, csrf_token: str, what: Confirmation
) -> tuple[Visit, AppView] | Response:
    seen = console.visit(request, ctx)
    if isinstance(seen, Response):
        return seen
    app = _owned(seen, client_id)
    if app is None:
        return _not_found(request, ctx)
    if not seen.csrf_ok(f"{what.form}|{client_id}", csrf_token):
        return what.render(seen, app, status=403, error=EXPIRED_FORM)
    return seen, app


@router.get(DEVELOPER_PATH + "/apps/{client_id}/logo/remove", response_class=HTMLResponse)
def remove_logo_page(request: Request, ctx: Ctx, client_id: str) -> Response:
    """The confirmation before the logo is removed."""
    return _confirm_get(request, ctx, client_id, REMOVE_LOGO)


@router.post(DEVELOPER_PATH + "/apps/{client_id}/logo/remove", response_class=HTMLResponse)
def remove_logo(
    request: Request, ctx: Ctx, client_id: str, csrf_token: Annotated[str, Form()] = ""
) -> Response:
    """Remove the logo; its stored image is deleted."""
    found = _confirmed(request, ctx, client_id, csrf_token, REMOVE_LOGO)
    if isinstance(found, Response):
        return found
    seen, app = found
    with ctx.db.write() as db:
        try:
            applications.remove_logo(db, seen.user.id, client_id, now=ctx.clock())
        except ApiError:
            return _not_found(request, ctx)
    return seen.done(app.path, "developer_logo_removed")


@router.get(DEVELOPER_PATH + "/apps/{client_id}/secret", response_class=HTMLResponse)
def regenerate_page(request: Request, ctx: Ctx, client_id: str) -> Response:
    """The confirmation before a new client secret replaces the current one."""
    return _confirm_get(request, ctx, client_id, REGENERATE)


@router.post(DEVELOPER_PATH + "/apps/{client_id}/secret", response_class=HTMLResponse)
def regenerate(
    request: Request, ctx: Ctx, client_id: str, csrf_token: Annotated[str, Form()] = ""
) -> Response:
    """A new client secret, as ``POST /api/applications/{clientId}/regenerate-secret``,
    shown on the answer this once."""
    found = _confirmed(request, ctx, client_id, csrf_token, REGENERATE)
    if isinstance(found, Response):
        return found
    seen, app = found
    try:
        with ctx.db.write() as db:
            secret = applications.regenerate_secret(
                db, seen.user.id, client_id, ctx.clock(), address=client_address(request),
                user_agent=user_agent(request),
            )
    except ApiError as exc:
        if exc.status_code == 404:
            return _not_found(request, ctx)
        return _app_page(seen, app, status=exc.status_code, error=exc.message)
    return _secret_page(seen, app, secret, created=False)


def _set_active(seen: Visit, client_id: str, active: bool) -> bool:
    changes = applications.Changes(fields=frozenset({"is_active"}), is_active=active)
    with seen.ctx.db.write() as db:
        try:
            applications.update_application(db, seen.user.id, client_id, changes, seen.ctx.clock())
        except ApiError:
            return False
    return True


@router.get(DEVELOPER_PATH + "/apps/{client_id}/deactivate", response_class=HTMLResponse)
def deactivate_page(request: Request, ctx: Ctx, client_id: str) -> Response:
    """The confirmation before the application is set inactive."""
    return _confirm_get(request, ctx, client_id, DEACTIVATE)


@router.post(DEVELOPER_PATH + "/apps/{client_id}/deactivate", response_class=HTMLResponse)
def deactivate(
    request: Request, ctx: Ctx, client_id: str, csrf_token: Annotated[str, Form()] = ""
) -> Response:
    """Set the application inactive (``isActive: false``): unusable, nothing revoked."""
    found = _confirmed(request, ctx, client_id, csrf_token, DEACTIVATE)
    if isinstance(found, Response):
        return found
    seen, app = found
    if not _set_active(seen, client_id, False):
        return _not_found(request, ctx)
    return seen.done(app.path, "developer_app_deactivated")


@router.post(DEVELOPER_PATH + "/apps/{client_id}/activate", response_class=HTMLResponse)
def activate(
    request: Request, ctx: Ctx, client_id: str, csrf_token: Annotated[str, Form()] = ""
) -> Response:
    """Set the application active again (nothing to confirm: it only restores)."""
    seen = console.visit(request, ctx)
    if isinstance(seen, Response):
        return seen
    app = _owned(seen, client_id)
    if app is None:
        return _not_found(request, ctx)
    if not seen.csrf_ok(f"app-activate|{client_id}", csrf_token):
        return _app_page(seen, app, status=403, error=EXPIRED_FORM)
    if not _set_active(seen, client_id, True):
        return _not_found(request, ctx)
    return seen.done(app.path, "developer_app_activated")


# -- delete ------------------------------------------------------------------------------


def _delete_page(
    seen: Visit, app: AppView, *, status: int = 200, error: str | None = None,
    typed: str = "",
) -> Response:
    return seen.render(
        "developer_delete.html", title=f"Delete {app.name}", section="applications",
        status=status, error=error, app=app, typed=typed,
        action=app_path(app.client_id, "/delete"),
        csrf_token=seen.csrf(f"app-delete|{app.client_id}"),
    )


@router.get(DEVELOPER_PATH + "/apps/{client_id}/delete", response_class=HTMLResponse)
def delete_page(request: Request, ctx: Ctx, client_id: str) -> Response:
    """The confirmation before the application is deleted: its name, typed."""
    seen = console.visit(request, ctx)
    if isinstance(seen, Response):
        return seen
    app = _owned(seen, client_id)
    if app is None:
        return _not_found(request, ctx)
    return _delete_page(seen, app)


@router.post(DEVELOPER_PATH + "/apps/{client_id}/delete", response_class=HTMLResponse)
def delete(
    request: Request,
    ctx: Ctx,
    client_id: str,
    csrf_token: Annotated[str, Form()] = "",
    confirm_name: Annotated[str, Form()] = "",
) -> Response:
    """Delete the application, as ``DELETE /api/applications/{clientId}``: every token
    it was given is revoked."""
    seen = console.visit(request, ctx)
    if isinstance(seen, Response):
        return seen
    app = _owned(seen, client_id)
    if app is None:
        return _not_found(request, ctx)
    typed = confirm_name[:200]
    if not seen.csrf_ok(f"app-delete|{client_id}", csrf_token):
        return _delete_page(seen, app, status=403, error=EXPIRED_FORM, typed=typed)
    if typed.strip() != app.name:
        return _delete_page(
            seen, app, status=400, typed=typed,
            error=f"Type the application's name, {app.name}, exactly as it is written to "
            "delete it. Nothing was deleted.",
        )
    with ctx.db.write() as db:
        try:
            applications.delete_application(
                db, seen.user.id, client_id, ctx.clock(), address=client_address(request),
                user_agent=user_agent(request),
            )
        except ApiError:
            return _not_found(request, ctx)
    return seen.done(DEVELOPER_PATH, "developer_app_deleted")


# -- the copy buttons' script --------------------------------------------------------------


@lru_cache(maxsize=1)
def _script() -> bytes:
    return (SERVER_DIR / "static" / "developer.js").read_bytes()


@router.get(SCRIPT_PATH)
def script() -> Response:
    """The developer console's script: its copy-to-clipboard buttons."""
    return Response(
        _script(), media_type="text/javascript; charset=utf-8",
        headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
    )
