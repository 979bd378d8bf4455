"""The frame the account console (``/account``) and the developer console
(``/developer``) share: who is signed in, the layout, the forms' CSRF tokens, notices
after post/redirect/get, and the 404 page of both.

A console page is for the browser's page sign-in (the ``tekcify_login`` cookie that the
login page sets and RP-initiated logout ends), never for an API bearer token: a request
without that cookie is sent to the login page, which comes back here once signed in
(``authorize.ConsoleReturn``). Every form carries a CSRF token bound to the sign-in and
to the form (:meth:`Visit.csrf`); a successful post answers 303 to a page that shows
what was done (:meth:`Visit.done`, a notice named by a key, so nothing the user typed
travels in the URL), a refused one shows the page again with the error and its status.

Section modules add their routes to their own router (``server_router``), list it in
``app.add_routes`` before :data:`fallback_router`, and name their notices with
:func:`notices`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Final
from urllib.parse import quote, urlencode

from fastapi import Path as PathParam
from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from ...context import ServerContext
from ...db.models import User
from ...db.oauth import LoginSession
from ...services import login_sessions
from ..authorize import LOGIN_PATH
from ..deps import Ctx
from ..text import server_router
from . import EXPIRED_FORM, Browser, elsewhere, page, redirect

ACCOUNT_PATH: Final = "/account"
DEVELOPER_PATH: Final = "/developer"
#: Sign-out is RP-initiated logout's page (``logout_pages.py``), which asks to confirm.
SIGN_OUT_PATH: Final = "/api/oauth/logout"


@dataclass(frozen=True)
class Section:
    """A link of a console's side navigation."""

    key: str
    label: str
    path: str


ACCOUNT_SECTIONS: Final = (
    Section("profile", "Profile", ACCOUNT_PATH),
    Section("email", "Email", f"{ACCOUNT_PATH}/email"),
    Section("password", "Password", f"{ACCOUNT_PATH}/password"),
    Section("two-factor", "Two-factor sign-in", f"{ACCOUNT_PATH}/two-factor"),
    Section("passkeys", "Passkeys", f"{ACCOUNT_PATH}/passkeys"),
    Section("sessions", "Sessions", f"{ACCOUNT_PATH}/sessions"),
    Section("apps", "Connected apps", f"{ACCOUNT_PATH}/apps"),
    Section("social", "Social accounts", f"{ACCOUNT_PATH}/social"),
    Section("activity", "Security activity", f"{ACCOUNT_PATH}/activity"),
    Section("data", "Your data", f"{ACCOUNT_PATH}/data"),
)
DEVELOPER_SECTIONS: Final = (
    Section("applications", "Applications", DEVELOPER_PATH),
    Section("new-application", "New application", f"{DEVELOPER_PATH}/apps/new"),
)

_NOTICES: Final[dict[str, str]] = {}


def notices(**messages: str) -> dict[str, str]:
    """Name the notices a section shows after its posts (``key="Text."``); returns them.

    Keys are registered once, at import: a key in a URL shows only its fixed text.
    """
    for key, text in messages.items():
        known = _NOTICES.setdefault(key, text)
        if known != text:
            raise ValueError(f"notice {key!r} is already {known!r}")
    return messages


def notice_text(key: str | None) -> str | None:
    """The text of the notice ``key`` (``None`` for no key or an unknown one)."""
    return None if key is None else _NOTICES.get(key[:64])


@dataclass
class Visit:
    """A console request of a signed-in browser."""

    request: Request
    ctx: ServerContext
    browser: Browser
    login: LoginSession
    user: User

    def csrf(self, form: str) -> str:
        """The CSRF token of the form ``form``, bound to this sign-in."""
        return self.browser.token(f"console|{form}|{self.login.id}")

    def csrf_ok(self, form: str, presented: str) -> bool:
        return self.browser.csrf_ok(f"console|{form}|{self.login.id}", presented[:256])

    def render(
        self,
        template: str,
        *,
        title: str,
        section: str,
        status: int = 200,
        error: str | None = None,
        notice: str | None = None,
        scripts: bool = False,
        data_images: bool = False,
        headers: dict[str, str] | None = None,
        **context: Any,
    ) -> Response:
        """The page ``template`` (which extends ``console.html``) in the console's frame.

        ``section`` is the key of the navigation link to mark current; ``data_images``
        lets the page show ``data:`` images (one it made itself). The notice is
        ``notice``, else the one the URL's ``notice`` key names (after a 303).
        """
        developer = any(s.key == section for s in DEVELOPER_SECTIONS)
        shown = notice or (
            notice_text(self.request.query_params.get("notice")) if status < 400 else None
        )
        return page(
            self.browser, self.ctx, template, status=status, headers=headers,
            forms_here=True, scripts=scripts, data_images=data_images, title=title,
            section=section, user=self.user,
            user_label=_user_label(self.user), error=error, notice=shown,
            console="developer" if developer else "account",
            sections=DEVELOPER_SECTIONS if developer else ACCOUNT_SECTIONS,
            account_path=ACCOUNT_PATH, developer_path=DEVELOPER_PATH,
            sign_out_url=SIGN_OUT_PATH, **context,
        )

    def done(self, location: str, notice: str | None = None, **query: str) -> Response:
        """303 to ``location`` (a console path), which will show the notice ``notice``."""
        if notice is not None and notice not in _NOTICES:
            raise ValueError(f"unknown notice {notice!r}: name it with console.notices")
        params = {**query, **({"notice": notice} if notice else {})}
        target = location + ("?" + urlencode(params) if params else "")
        return redirect(self.browser, self.ctx, target, 303)

    def expired(self, template: str, **render: Any) -> Response:
        """``template`` shown again, 403, for a form whose CSRF token is not this form's."""
        return self.render(template, status=403, error=EXPIRED_FORM, **render)


def _user_label(user: User) -> str:
    name = " ".join(part for part in (user.first_name, user.last_name) if part)
    return name or user.email


def visit(request: Request, ctx: ServerContext) -> Visit | Response:
    """The signed-in browser asking for a console page, or the answer sending it to sign in.

    A request on another name of this host goes to the canonical one first (cookies are
    per host, ``pages.elsewhere``). Without a live page sign-in, a ``GET`` goes to the
    login page, which continues to this page; a form posted without one is not acted on
    and goes to the login page for the page it came from.
    """
    path = request.scope["path"]
    if (moved := elsewhere(request, ctx, path)) is not None:
        return moved
    browser = Browser.of(request, ctx)
    with ctx.db.read() as db:
        found = login_sessions.find_login_session(db, ctx, browser.login_token)
    if found is None:
        query = request.scope["query_string"].decode("latin-1")
        target = path + (f"?{query}" if query and request.method == "GET" else "")
        status = 302 if request.method == "GET" else 303
        return redirect(browser, ctx, f"{LOGIN_PATH}?next={quote(target, safe='')}", status)
    return Visit(request, ctx, browser, *found)


# -- the 404 page of both consoles ---------------------------------------------------------

fallback_router = server_router(include_in_schema=False)


def not_found(request: Request, ctx: ServerContext, what: str = "This page") -> Response:
    """The console's 404 page (for a signed-in browser; others are sent to sign in)."""
    seen = visit(request, ctx)
    if isinstance(seen, Response):
        return seen
    developer = request.scope["path"].startswith(DEVELOPER_PATH)
    return seen.render(
        "console_not_found.html", title="Not found", status=404,
        section="applications" if developer else "profile", what=what,
        home=DEVELOPER_PATH if developer else ACCOUNT_PATH,
    )


@fallback_router.get(ACCOUNT_PATH + "/{rest:path}", response_class=HTMLResponse)
@fallback_router.get(DEVELOPER_PATH + "/{rest:path}", response_class=HTMLResponse)
def unknown_page(
    request: Request, ctx: Ctx, rest: Annotated[str, PathParam(max_length=2048)]
) -> Response:
    """Any other console address: 404 (after sign-in, so it reveals nothing to strangers)."""
    return not_found(request, ctx)
