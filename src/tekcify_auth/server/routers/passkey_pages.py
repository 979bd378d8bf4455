"""Passkeys on the pages: signing in with one on the login page, and adding one.

* ``POST /api/oauth/login/passkey`` is what the login page's "Sign in with a passkey"
  button posts (``static/passkey.js`` fills the form with the assertion answering
  options from ``POST /api/auth/passkey/login/options``). Same rules as the password
  form: the canonical host, the CSRF token, the authorization request ``next`` checked
  again; then a page sign-in (cookie) and on to the authorization request. On the MFA
  step the form carries the ``mfa_token`` and the passkey is the second factor.
* ``/account/passkeys`` lists the passkeys of the browser's page sign-in and adds one
  (``POST /account/passkeys/options`` gives the registration options to the script; the
  new credential is posted as a form). The account console comes later; this is the
  minimal page a person needs to make a passkey.

The rules are ``services/passkeys.py``'s, as for the JSON API.
"""

from __future__ import annotations

import json
import unicodedata
from functools import lru_cache
from typing import Annotated, Any, Final

from fastapi import Body, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from ..context import ServerContext
from ..db.models import User
from ..db.oauth import LoginSession
from ..errors import ApiError
from ..services import login_sessions, mfa_login, passkeys, verification
from ..services.accounts import Client
from .authorize import (
    LOGIN_PASSKEY_PATH,
    LOGIN_PATH,
    LOGIN_PROMPTS,
    PASSKEY_SCRIPT_PATH,
    continued,
    render_login,
)
from .deps import Ctx, client_address, user_agent
from .images import BaseUrl
from .pages import EXPIRED_FORM, SERVER_DIR, Browser, again, elsewhere, page, redirect
from .text import server_router

router = server_router(include_in_schema=False)

ACCOUNT_PASSKEYS: Final = "/account/passkeys"
ACCOUNT_OPTIONS: Final = "/account/passkeys/options"
#: The longest credential JSON a form may carry (an attestation with certificates fits).
MAX_CREDENTIAL_CHARS: Final = 64 * 1024
NO_STORE: Final = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _credential(raw: str) -> dict[str, Any]:
    try:
        value = json.loads(raw) if len(raw) <= MAX_CREDENTIAL_CHARS else None
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise ApiError(400, passkeys.REFUSED)
    return value


def _client(request: Request) -> Client:
    return Client(address=client_address(request), user_agent=user_agent(request), via="page")


@router.post(LOGIN_PASSKEY_PATH, response_class=HTMLResponse)
def login_with_passkey(
    request: Request,
    ctx: Ctx,
    base: BaseUrl,
    csrf_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
    challenge: Annotated[str, Form()] = "",
    credential: Annotated[str, Form()] = "",
    mfa_token: Annotated[str, Form()] = "",
) -> Response:
    """Sign in with the passkey assertion the page's script posted, then continue."""
    if (moved := elsewhere(request, ctx, again(LOGIN_PATH, next))) is not None:
        return moved
    browser = Browser.of(request, ctx)
    asked = continued(browser, ctx, next, 303)
    if isinstance(asked, Response):
        return asked
    token = mfa_token[:4096] or None
    if not browser.csrf_ok("login-passkey", csrf_token):
        return render_login(browser, ctx, asked, status=403, error=EXPIRED_FORM, mfa_token=token)
    try:
        cookie = passkeys.page_sign_in(
            ctx, credential=_credential(credential), challenge=challenge[:256],
            rp=passkeys.RelyingParty.of(base), client=_client(request), mfa_token=token,
            replacing=browser.login_token,
        )
    except verification.EmailNotVerified as exc:
        return render_login(
            browser, ctx, asked, status=exc.status_code, error=exc.message, resend=True
        )
    except ApiError as exc:
        if exc.message == mfa_login.EXPIRED:  # the MFA step is over: start again
            token = None
        return render_login(
            browser, ctx, asked, status=exc.status_code, error=exc.message,
            headers=exc.headers, mfa_token=token,
        )
    browser.set_login = cookie
    return redirect(browser, ctx, asked.path(without_prompts=LOGIN_PROMPTS), 303)


@lru_cache(maxsize=1)
def _script() -> bytes:
    return (SERVER_DIR / "static" / "passkey.js").read_bytes()


@router.get(PASSKEY_SCRIPT_PATH)
def script() -> Response:
    """The pages' passkey script."""
    return Response(
        _script(), media_type="text/javascript; charset=utf-8",
        headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
    )


# -- /account/passkeys ---------------------------------------------------------------------


def _signed_in(ctx: ServerContext, browser: Browser) -> tuple[LoginSession, User] | None:
    with ctx.db.read() as db:
        return login_sessions.find_login_session(db, ctx, browser.login_token)


def _not_signed_in(browser: Browser, ctx: ServerContext) -> Response:
    heading = "Sign in first"
    return page(
        browser, ctx, "error.html", status=401, title=heading, heading=heading,
        message="Passkeys are added from a browser signed in to Tekcify: sign in to an "
        "application with your password, then open this page again.",
        link=None,
    )


def _account_page(
    browser: Browser, ctx: ServerContext, login: LoginSession, user: User, *,
    status: int = 200, error: str | None = None, notice: str | None = None,
) -> Response:
    with ctx.db.read() as db:
        held = passkeys.list_passkeys(db, user.id)
    return page(
        browser, ctx, "account_passkeys.html", status=status, forms_here=True, scripts=True,
        title="Passkeys", email=user.email, passkeys=held, error=error, notice=notice,
        action=ACCOUNT_PASSKEYS, options_url=ACCOUNT_OPTIONS, script=PASSKEY_SCRIPT_PATH,
        csrf_token=browser.token(f"account-passkey|{login.id}"),
    )


@router.get(ACCOUNT_PASSKEYS, response_class=HTMLResponse)
def account_passkeys(request: Request, ctx: Ctx) -> Response:
    """The passkeys of the browser's page sign-in, and the button that adds one."""
    if (moved := elsewhere(request, ctx)) is not None:
        return moved
    browser = Browser.of(request, ctx)
    found = _signed_in(ctx, browser)
    if found is None:
        return _not_signed_in(browser, ctx)
    return _account_page(browser, ctx, *found)


@router.post(ACCOUNT_OPTIONS)
def account_passkey_options(
    request: Request, ctx: Ctx, base: BaseUrl,
    csrfToken: Annotated[str, Body(embed=True, max_length=128)] = "",
) -> Response:
    """The registration options for the page's script (CSRF token in the JSON body)."""
    browser = Browser.of(request, ctx)
    found = _signed_in(ctx, browser)
    if found is None:
        raise ApiError(401, "Sign in first")
    if not browser.csrf_ok(f"account-passkey|{found[0].id}", csrfToken):
        raise ApiError(403, EXPIRED_FORM)
    options = passkeys.registration_options(
        ctx, found[1].id, passkeys.RelyingParty.of(base)
    )
    return JSONResponse(options, headers=NO_STORE)


@router.post(ACCOUNT_PASSKEYS, response_class=HTMLResponse)
def add_passkey(
    request: Request,
    ctx: Ctx,
    base: BaseUrl,
    csrf_token: Annotated[str, Form()] = "",
    challenge: Annotated[str, Form()] = "",
    credential: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
) -> Response:
    """Register the new passkey the page's script posted."""
    if (moved := elsewhere(request, ctx, ACCOUNT_PASSKEYS)) is not None:
        return moved
    browser = Browser.of(request, ctx)
    found = _signed_in(ctx, browser)
    if found is None:
        return _not_signed_in(browser, ctx)
    login, user = found
    if not browser.csrf_ok(f"account-passkey|{login.id}", csrf_token):
        return _account_page(browser, ctx, login, user, status=403, error=EXPIRED_FORM)
    # The API's rule for names (schemas/passkeys.py): no control or format characters.
    label = " ".join("".join(
        c for c in name if unicodedata.category(c)[0] != "C"
    ).split())[:100] or None
    try:
        row = passkeys.register(
            ctx, user.id, credential=_credential(credential), challenge=challenge[:256],
            name=label, rp=passkeys.RelyingParty.of(base), client=_client(request),
        )
    except ApiError as exc:
        return _account_page(
            browser, ctx, login, user, status=exc.status_code, error=exc.message
        )
    return _account_page(browser, ctx, login, user, notice=f"Passkey “{row.name}” added.")
