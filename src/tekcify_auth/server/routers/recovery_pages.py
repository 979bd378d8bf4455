"""The pages the mailed links open, and the forgotten-password pages.

* ``/account/verify-email?token=...`` and ``/account/confirm-email?token=...`` show a
  button that POSTs the token: a mail scanner that fetches the link does not use it up.
* ``/account/forgot-password`` asks for the address (the sign-in page links to it);
  ``/account/reset-password?token=...`` sets the new password.
* ``/account/resend-verification`` is what the sign-in page's "send a new link" button
  posts when ``TEKCIFY_REQUIRE_VERIFIED_EMAIL`` keeps an unverified user out: it takes
  no token and answers the same whether or not the address has an account.

They are pages of the same kind as the sign-in pages (``authorize.py``): the same
headers (CSP with ``form-action 'self'``, no framing, ``no-store``, no referrer), the
same CSRF cookie and per-form tokens, the same canonical-host rule. The rules live in
the services the JSON API uses (``verification``, ``password_reset``, ``email_change``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Final
from urllib.parse import quote

from fastapi import BackgroundTasks, Form, Request
from fastapi.responses import HTMLResponse, Response

from ..context import ServerContext
from ..errors import ApiError
from ..services import email_change, password_reset, verification
from ..services.accounts import Client
from ..services.emails import InvalidEmail, normalise_email
from ..services.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from .authorize import LOGIN_PATH, well_formed_next
from .deps import Ctx, client_address, user_agent
from .images import BaseUrl
from .pages import EXPIRED_FORM, Browser, elsewhere, page
from .text import server_router

router = server_router(tags=["pages"], include_in_schema=False)

VERIFY_PAGE: Final = verification.VERIFY_PAGE
RESEND_PAGE: Final = verification.RESEND_PAGE
FORGOT_PAGE: Final = password_reset.FORGOT_PAGE
RESET_PAGE: Final = password_reset.RESET_PAGE
CONFIRM_PAGE: Final = email_change.CONFIRM_PAGE
MAX_TOKEN: Final = 128


def _client(request: Request) -> Client:
    return Client(address=client_address(request), user_agent=user_agent(request))


def _show(
    browser: Browser | None, ctx: ServerContext, template: str, *, status: int = 200,
    headers: dict[str, str] | None = None, **context: Any,
) -> Response:
    return page(
        browser, ctx, template, status=status, headers=headers, forms_here=True, **context
    )


def _problem(
    browser: Browser, ctx: ServerContext, heading: str, message: str, status: int, *,
    link: str | None = None, link_text: str = "", headers: dict[str, str] | None = None,
) -> Response:
    return _show(
        browser, ctx, "error.html", status=status, headers=headers, title=heading,
        heading=heading, message=message, link=link, link_text=link_text,
    )


def _done(
    browser: Browser, ctx: ServerContext, heading: str, message: str, *,
    link: str | None = None, link_text: str = "",
) -> Response:
    return _show(
        browser, ctx, "account_done.html", title=heading, heading=heading, message=message,
        link=link, link_text=link_text,
    )


def _login_link(next_path: str) -> str | None:
    """The sign-in page continuing ``next`` (an authorization request or a console page)."""
    if not well_formed_next(next_path):
        return None
    return f"{LOGIN_PATH}?next={quote(next_path, safe='')}"


def _token(raw: str) -> str:
    return raw.strip()[:MAX_TOKEN]


# -- a button that posts the link's token -------------------------------------------------


def _button(
    browser: Browser, ctx: ServerContext, *, purpose: str, action: str, token: str,
    heading: str, message: str, button: str, status: int = 200, error: str | None = None,
) -> Response:
    return _show(
        browser, ctx, "account_button.html", status=status, title=heading, heading=heading,
        message=message, button=button, action=action, token=token, error=error,
        csrf_token=browser.token(purpose),
    )


@dataclass(frozen=True, slots=True)
class _LinkPage:
    """A mailed link's page: a button that posts the link's token (``GET`` uses nothing up)."""

    purpose: str
    path: str
    heading: str
    message: str
    button: str

    def show(
        self, browser: Browser, ctx: ServerContext, token: str, *, status: int = 200,
        error: str | None = None,
    ) -> Response:
        return _button(
            browser, ctx, purpose=self.purpose, action=self.path, token=token,
            heading=self.heading, message=self.message, button=self.button, status=status,
            error=error,
        )

    def posted(
        self, request: Request, ctx: ServerContext, csrf_token: str, token: str
    ) -> Response | Browser:
        """The response that ends a post (elsewhere, or a stale form), or its browser."""
        again = f"{self.path}?token={quote(token, safe='')}"
        if (moved := elsewhere(request, ctx, again)) is not None:
            return moved
        browser = Browser.of(request, ctx)
        if not browser.csrf_ok(self.purpose, csrf_token):
            return self.show(browser, ctx, token, status=403, error=EXPIRED_FORM)
        return browser


_VERIFY: Final = _LinkPage(
    "verify-email", VERIFY_PAGE, "Verify your email address",
    "Confirm that this email address is yours.", "Verify my email address",
)
_CONFIRM: Final = _LinkPage(
    "confirm-email", CONFIRM_PAGE, "Confirm your new email address",
    "Your account's email address changes to the one this link was sent to.",
    "Confirm the change",
)


@router.get(VERIFY_PAGE, response_class=HTMLResponse)
def verify_email_page(request: Request, ctx: Ctx, token: str = "") -> Response:
    """The verification link's page: a button that posts the token."""
    if (moved := elsewhere(request, ctx)) is not None:
        return moved
    return _VERIFY.show(Browser.of(request, ctx), ctx, _token(token))


@router.post(VERIFY_PAGE, response_class=HTMLResponse)
def verify_email(
    request: Request,
    ctx: Ctx,
    csrf_token: Annotated[str, Form()] = "",
    token: Annotated[str, Form()] = "",
) -> Response:
    """Verify with the posted link token; the result page."""
    token = _token(token)
    browser = _VERIFY.posted(request, ctx, csrf_token, token)
    if not isinstance(browser, Browser):
        return browser
    try:
        verification.verify_link(ctx, token, _client(request))
    except ApiError as exc:
        return _problem(
            browser, ctx, "This verification link does not work", exc.message,
            exc.status_code,
        )
    return _done(
        browser, ctx, "Your email address is verified",
        "Thank you. You can close this page and go back to the application.",
    )


@router.get(CONFIRM_PAGE, response_class=HTMLResponse)
def confirm_email_page(request: Request, ctx: Ctx, token: str = "") -> Response:
    """The email-change link's page: a button that posts the token."""
    if (moved := elsewhere(request, ctx)) is not None:
        return moved
    return _CONFIRM.show(Browser.of(request, ctx), ctx, _token(token))


@router.post(CONFIRM_PAGE, response_class=HTMLResponse)
def confirm_email(
    request: Request,
    ctx: Ctx,
    csrf_token: Annotated[str, Form()] = "",
    token: Annotated[str, Form()] = "",
) -> Response:
    """Change the address with the posted link token; the result page."""
    token = _token(token)
    browser = _CONFIRM.posted(request, ctx, csrf_token, token)
    if not isinstance(browser, Browser):
        return browser
    try:
        address = email_change.confirm_change(ctx, token, _client(request))
    except ApiError as exc:
        return _problem(
            browser, ctx, "This confirmation link does not work", exc.message, exc.status_code
        )
    return _done(
        browser, ctx, "Your email address was changed",
        f"Your account's address is now {address}. Sign in with it from now on.",
    )


# -- forgotten password ------------------------------------------------------------------


def _forgot_page(
    browser: Browser, ctx: ServerContext, next_path: str, *, status: int = 200,
    error: str | None = None, email: str = "", headers: dict[str, str] | None = None,
) -> Response:
    return _show(
        browser, ctx, "forgot_password.html", status=status, headers=headers,
        title="Forgot your password?", action=FORGOT_PAGE, csrf_token=browser.token("forgot"),
        next=next_path if _login_link(next_path) else "", email=email, error=error,
        login_url=_login_link(next_path),
    )


@router.get(FORGOT_PAGE, response_class=HTMLResponse)
def forgot_page(request: Request, ctx: Ctx, next: str = "") -> Response:
    """Ask for a reset link (``next``: the authorization request to go back to)."""
    if (moved := elsewhere(request, ctx)) is not None:
        return moved
    return _forgot_page(Browser.of(request, ctx), ctx, next)


@router.post(FORGOT_PAGE, response_class=HTMLResponse)
def forgot(
    request: Request,
    ctx: Ctx,
    base: BaseUrl,
    tasks: BackgroundTasks,
    csrf_token: Annotated[str, Form()] = "",
    email: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    """Mail a reset link if an account has the address; the same page either way."""
    if (moved := elsewhere(request, ctx, FORGOT_PAGE)) is not None:
        return moved
    browser = Browser.of(request, ctx)
    shown = email.strip()[:320]
    if not browser.csrf_ok("forgot", csrf_token):
        return _forgot_page(browser, ctx, next, status=403, error=EXPIRED_FORM, email=shown)
    try:
        address = normalise_email(email)
    except InvalidEmail:
        return _forgot_page(
            browser, ctx, next, status=400, error="Enter a valid email address.", email=shown
        )
    try:
        password_reset.start_reset(ctx, address, address=client_address(request))
    except ApiError as exc:
        return _forgot_page(
            browser, ctx, next, status=exc.status_code, error=exc.message, email=shown,
            headers=exc.headers,
        )
    tasks.add_task(password_reset.send_reset, ctx, address, base_url=base, client=_client(request))
    link = _login_link(next)
    return _done(
        browser, ctx, "Check your email",
        f"If an account has the address {address}, a link to choose a new password is on "
        "its way. It works once, for 30 minutes.",
        link=link, link_text="Back to sign in",
    )


def _reset_page(
    browser: Browser, ctx: ServerContext, token: str, *, status: int = 200,
    error: str | None = None,
) -> Response:
    return _show(
        browser, ctx, "reset_password.html", status=status, title="Choose a new password",
        action=RESET_PAGE, csrf_token=browser.token("reset"), token=token, error=error,
        min_password=MIN_PASSWORD_LENGTH, max_password=MAX_PASSWORD_LENGTH,
    )


@router.get(RESET_PAGE, response_class=HTMLResponse)
def reset_page(request: Request, ctx: Ctx, token: str = "") -> Response:
    """The reset link's page: the new password, twice."""
    if (moved := elsewhere(request, ctx)) is not None:
        return moved
    return _reset_page(Browser.of(request, ctx), ctx, _token(token))


@router.post(RESET_PAGE, response_class=HTMLResponse)
def reset(
    request: Request,
    ctx: Ctx,
    base: BaseUrl,
    csrf_token: Annotated[str, Form()] = "",
    token: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    password_again: Annotated[str, Form()] = "",
) -> Response:
    """Set the new password with the posted link token; every session ends."""
    token = _token(token)
    again = f"{RESET_PAGE}?token={quote(token, safe='')}"
    if (moved := elsewhere(request, ctx, again)) is not None:
        return moved
    browser = Browser.of(request, ctx)
    if not browser.csrf_ok("reset", csrf_token):
        return _reset_page(browser, ctx, token, status=403, error=EXPIRED_FORM)
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        return _reset_page(
            browser, ctx, token, status=400,
            error=f"Choose a password of {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} "
            "characters.",
        )
    if password != password_again:
        return _reset_page(browser, ctx, token, status=400, error="The passwords differ.")
    try:
        password_reset.reset_password(
            ctx, token, password, base_url=base, client=_client(request)
        )
    except ApiError as exc:
        return _problem(
            browser, ctx, "This reset link does not work", exc.message, exc.status_code,
            link=FORGOT_PAGE, link_text="Ask for a new link",
        )
    return _done(
        browser, ctx, "Your password was changed",
        "Every device signed in to your account was signed out. Go back to the "
        "application and sign in with your new password.",
    )


# -- a new verification link, from the sign-in page --------------------------------------


@router.post(RESEND_PAGE, response_class=HTMLResponse)
def resend_verification(
    request: Request,
    ctx: Ctx,
    base: BaseUrl,
    csrf_token: Annotated[str, Form()] = "",
    email: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    """Mail a new verification link if the address is an account's, unverified; the same
    page whether or not it is."""
    back = _login_link(next) or ""
    if (moved := elsewhere(request, ctx, back)) is not None:
        return moved
    browser = Browser.of(request, ctx)
    if not browser.csrf_ok("resend", csrf_token):
        return _problem(
            browser, ctx, "Sign in again", EXPIRED_FORM, 403, link=back or None,
            link_text="Back to sign in",
        )
    try:
        address = normalise_email(email)
    except InvalidEmail:
        return _problem(
            browser, ctx, "Sign in again", "Enter a valid email address.", 400,
            link=back or None, link_text="Back to sign in",
        )
    try:
        verification.resend_to_address(
            ctx, address, base_url=base, address=client_address(request)
        )
    except ApiError as exc:
        return _problem(
            browser, ctx, "Please wait", exc.message, exc.status_code, headers=exc.headers,
            link=back or None, link_text="Back to sign in",
        )
    return _done(
        browser, ctx, "Check your email",
        f"If {address} is an account's address waiting to be verified, a new link is on "
        "its way. Open it, then sign in.",
        link=back or None, link_text="Back to sign in",
    )
