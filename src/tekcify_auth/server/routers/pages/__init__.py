"""What every server-rendered page shares: cookies, CSRF, security headers, templates.

The sign-in pages (``authorize.py`` and its siblings), the logout pages and the consoles
(``console.py``) are rendered here. Every page is sent with ``Content-Security-Policy``
(nothing loads but our stylesheet and images; scripts only where a page asks for them,
from this server and never inline; ``frame-ancestors 'none'``; forms post only here and,
on the authorization pages, on to the request's redirect URI), ``X-Frame-Options: DENY``,
``Cache-Control: no-store`` and ``Referrer-Policy: no-referrer``. Cookies (the CSRF
secret and the page sign-in, ``services/login_sessions.py``) are HttpOnly and
``SameSite=Lax``; served over https they are ``Secure`` and ``__Host-`` prefixed, so no
other site or subdomain can set them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote, urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from ...context import ServerContext
from ...services import login_sessions
from ..images import get_canonical

STYLESHEET_PATH: Final = "/api/oauth/static/pages.css"
SERVER_DIR: Final = Path(__file__).resolve().parent.parent.parent
templates: Final = Environment(
    loader=FileSystemLoader(SERVER_DIR / "templates"),
    autoescape=select_autoescape(["html"]),
    auto_reload=False,
)
#: What a page says of a form whose CSRF token is missing, old or another browser's.
EXPIRED_FORM: Final = "This form had expired or did not come from this page. Please try again."

NO_STORE: Final = {
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


# -- cookies -----------------------------------------------------------------------------


def secure_request(request: Request, ctx: ServerContext) -> bool:
    public = ctx.settings.public_url or ""
    return request.url.scheme == "https" or public.startswith("https://")


def cookie_name(base: str, secure: bool) -> str:
    return f"__Host-{base}" if secure else base


@dataclass
class Browser:
    """The cookies of this request and the ones to set on the answer."""

    request: Request
    secure: bool
    csrf_secret: str
    new_csrf: bool
    login_token: str | None
    set_login: str | None = None

    @classmethod
    def of(cls, request: Request, ctx: ServerContext) -> Browser:
        secure = secure_request(request, ctx)
        secret = request.cookies.get(cookie_name("tekcify_csrf", secure))
        fresh = secret is None or not 20 <= len(secret) <= login_sessions.MAX_TOKEN_LENGTH
        return cls(
            request, secure, login_sessions.new_secret() if fresh else str(secret), fresh,
            request.cookies.get(cookie_name("tekcify_login", secure)),
        )

    def token(self, purpose: str) -> str:
        return login_sessions.csrf_token(self.csrf_secret, purpose)

    def csrf_ok(self, purpose: str, presented: str) -> bool:
        return not self.new_csrf and login_sessions.csrf_valid(
            self.csrf_secret, purpose, presented
        )

    def apply(self, response: Response, ctx: ServerContext) -> Response:
        common: dict[str, Any] = {
            "path": "/", "secure": self.secure, "httponly": True, "samesite": "lax",
        }
        if self.new_csrf:
            response.set_cookie(
                cookie_name("tekcify_csrf", self.secure), self.csrf_secret, **common
            )
        if self.set_login is not None:
            response.set_cookie(
                cookie_name("tekcify_login", self.secure), self.set_login,
                max_age=ctx.settings.login_session_ttl, **common,
            )
        return response


# -- answers -----------------------------------------------------------------------------


def _source(uri: str) -> str:
    """The CSP source of ``uri``'s origin (CSP has no syntax for IPv6 hosts: the scheme)."""
    parts = urlsplit(uri)
    if parts.hostname is None or ":" in parts.hostname:
        return f"{parts.scheme}:"
    return f"{parts.scheme}://{parts.netloc}"


def policy(
    ctx: ServerContext, redirect_uri: str | None, forms_here: bool = False,
    scripts: bool = False, data_images: bool = False,
) -> str:
    images = "'self'"
    if ctx.settings.public_url:
        images += " " + _source(ctx.settings.public_url)
    if data_images:  # a page showing an image it made itself (the two-factor QR code)
        images += " data:"
    forms = "'self'" if forms_here else "'none'"
    if redirect_uri is not None:
        forms = f"'self' {_source(redirect_uri)}"
    # A page with the passkey button runs our own script file, which asks this server for
    # the WebAuthn options (fetch): nothing inline, nothing from elsewhere.
    code = "script-src 'self'; connect-src 'self'; " if scripts else ""
    return (
        f"default-src 'none'; {code}style-src 'self'; img-src {images}; "
        f"form-action {forms}; frame-ancestors 'none'; base-uri 'none'"
    )


def page(
    browser: Browser | None,
    ctx: ServerContext,
    template: str,
    *,
    status: int = 200,
    redirect_uri: str | None = None,
    headers: dict[str, str] | None = None,
    forms_here: bool = False,
    scripts: bool = False,
    data_images: bool = False,
    **context: Any,
) -> Response:
    html = templates.get_template(template).render(stylesheet=STYLESHEET_PATH, **context)
    response = HTMLResponse(
        html, status_code=status,
        headers={
            **NO_STORE, **(headers or {}),
            "Content-Security-Policy": policy(ctx, redirect_uri, forms_here, scripts, data_images),
            "X-Frame-Options": "DENY",
        },
    )
    return response if browser is None else browser.apply(response, ctx)


def error_page(browser: Browser, ctx: ServerContext, message: str, status: int) -> Response:
    heading = "This sign-in link is not valid" if status == 400 else "Something went wrong"
    return page(
        browser, ctx, "error.html", status=status, title=heading, heading=heading,
        message=message,
    )


def redirect(browser: Browser, ctx: ServerContext, location: str, status: int) -> Response:
    response = RedirectResponse(location, status_code=status, headers=NO_STORE)
    return browser.apply(response, ctx)



def elsewhere(request: Request, ctx: ServerContext, again: str = "") -> Response | None:
    """The answer for a page asked for on another name of the canonical host, or ``None``.

    Cookies are kept per host: a browser on ``127.0.0.1`` whose application sends it to
    ``localhost`` (the library's default) would hold two CSRF secrets and two sign-ins,
    and each form would fail on the other host (issue 11, item 8). So a ``GET`` is sent
    to the same page on the canonical host (302) before any cookie is set; a form posted
    here is refused with no cookie and nothing done, and a link to ``again`` (the path
    of the page that shows the form anew) on the canonical host: replaying a post
    elsewhere would send a password on to another origin.
    """
    host = request.headers.get("host")
    target = get_canonical(request).elsewhere(host, request.url.scheme)
    if target is None:
        return None
    if request.method == "GET":
        query = request.scope["query_string"].decode("latin-1")
        location = target + request.scope["path"] + (f"?{query}" if query else "")
        return RedirectResponse(location, status_code=302, headers=NO_STORE)
    heading = "Continue on this server's own address"
    message = (
        f"This form was sent to {(host or '')[:100]}, but this server's sign-in pages are at "
        f"{target}, where your browser keeps its sign-in. Nothing you entered was used: "
        "open the page there and send it again."
    )
    return page(
        None, ctx, "error.html", status=400, title=heading, heading=heading, message=message,
        link=target + again, link_text=f"Open the page on {target}",
    )


def again(path: str, next_path: str) -> str:
    return f"{path}?next={quote(next_path, safe='')}"
