"""Passkeys on the sign-in pages: signing in with one on the login page, and the script.

* ``POST /api/oauth/login/passkey`` is what the login page's "Sign in with a passkey"
  button posts (``static/passkey.js`` fills the form with the assertion answering
  options from ``POST /api/auth/passkey/login/options``). Same rules as the password
  form: the canonical host, the CSRF token, the authorization request ``next`` checked
  again; then a page sign-in (cookie) and on to the authorization request. On the MFA
  step the form carries the ``mfa_token`` and the passkey is the second factor.
* ``GET /api/oauth/static/passkey.js``: the script of this button and of the account
  console's Passkeys page (``pages/account_security.py``), which adds passkeys.

The rules are ``services/passkeys.py``'s, as for the JSON API.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Annotated, Any, Final

from fastapi import Form, Request
from fastapi.responses import HTMLResponse, Response

from ..errors import ApiError
from ..services import mfa_login, passkeys, verification
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
from .pages import EXPIRED_FORM, SERVER_DIR, Browser, again, elsewhere, redirect
from .text import server_router

router = server_router(include_in_schema=False)

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
