"""The ``end_session_endpoint`` (RP-initiated logout 1.0) and its pages.

* ``GET /api/oauth/logout`` and ``POST /api/oauth/logout`` (form-encoded, §2) take the
  application's request; a bad one is an error page, never a redirect
  (``services/end_session.py`` has the rules).
* A browser signed in on the pages sees a confirmation page: its form
  (``POST /api/oauth/logout/confirm``) carries a CSRF token bound to that sign-in, as
  the consent form does, and a checkbox to end the user's sessions with the
  application too. Without a valid token nothing ends.
* After signing out the browser goes to the registered ``post_logout_redirect_uri``
  with ``state`` when the request is vouched for: by a valid ``id_token_hint``, or (after
  the confirmation) by the user's earlier consent to that application. Otherwise a
  signed-out page shows, with a link back when there is a registered address.

The pages carry the headers of the other pages (``routers/authorize.py``): CSP,
``X-Frame-Options: DENY``, ``no-store``, ``no-referrer``.
"""

from __future__ import annotations

import contextlib
from typing import Annotated
from urllib.parse import quote, urlencode, urlsplit

from fastapi import Form, Request
from fastapi.responses import HTMLResponse, Response

from ..context import ServerContext
from ..db.models import User
from ..db.oauth import LoginSession
from ..errors import ApiError
from ..services import consent, end_session, login_sessions
from ..services.authorize import parse_query
from ..services.discovery import metadata
from ..services.end_session import (
    CONFIRM_PATH,
    END_SESSION_PATH,
    LogoutRefused,
    LogoutRequest,
)
from .deps import Ctx, client_address, user_agent
from .images import BaseUrl
from .pages import EXPIRED_FORM, Browser, cookie_name, elsewhere, page, redirect
from .text import server_router

router = server_router(tags=["oauth"])



def _issuer(ctx: ServerContext, base: str) -> str:
    # The issuer discovery announces is the one ID tokens carry (OIDC Core §2).
    issuer: str = metadata(ctx.settings, base)["issuer"]
    return issuer


def _validate(
    ctx: ServerContext, base: str, pairs: list[tuple[str, str]], browser: Browser
) -> tuple[LogoutRequest, tuple[LoginSession, User] | None]:
    keys = ctx.jwks().get("keys", [])  # the access keys and the id tokens'
    with ctx.db.read() as db:
        asked = end_session.validate_logout(db, pairs, keys=keys, issuer=_issuer(ctx, base))
        found = login_sessions.find_login_session(db, ctx, browser.login_token)
    return asked, found


def _error(browser: Browser, ctx: ServerContext, message: str) -> Response:
    heading = "This sign-out link is not valid"
    return page(
        browser, ctx, "error.html", status=400, title=heading, heading=heading,
        message=message,
    )


def _signed_out(
    browser: Browser, ctx: ServerContext, asked: LogoutRequest, *, go_on: bool, status: int
) -> Response:
    """On to the application when ``go_on`` and it registered an address; else the page."""
    location = asked.location()
    if go_on and location is not None:
        response = redirect(browser, ctx, location, status)
    else:
        name = asked.client.name if asked.client is not None else None
        response = page(
            browser, ctx, "signed_out.html", title="Signed out",
            message="You are no longer signed in to Tekcify in this browser.",
            link=location, link_text=f"Return to {name}" if name else "",
        )
    response.delete_cookie(
        cookie_name("tekcify_login", browser.secure), path="/", secure=browser.secure,
        httponly=True, samesite="lax",
    )
    return response


def _confirm_page(
    browser: Browser, ctx: ServerContext, asked: LogoutRequest, login: LoginSession,
    user: User, *, status: int = 200, error: str | None = None,
) -> Response:
    uri = asked.post_logout_redirect_uri
    return page(
        browser, ctx, "logout.html", status=status, redirect_uri=uri, forms_here=True,
        title="Sign out", email=user.email,
        application_name=asked.client.name if asked.client is not None else None,
        action=CONFIRM_PATH, csrf_token=browser.token(f"logout|{login.id}"),
        request_query=asked.encoded, error=error,
        destination=urlsplit(uri).netloc or uri if uri is not None else None,
    )


def _start(
    request: Request, ctx: ServerContext, base: str, pairs: list[tuple[str, str]], status: int
) -> Response:
    browser = Browser.of(request, ctx)
    try:
        asked, found = _validate(ctx, base, pairs, browser)
    except LogoutRefused as exc:
        return _error(browser, ctx, exc.message)
    if found is None:  # nothing to end: on at once only when a valid hint vouches
        return _signed_out(browser, ctx, asked, go_on=asked.hint is not None, status=status)
    return _confirm_page(browser, ctx, asked, *found)


@router.get(END_SESSION_PATH, response_class=HTMLResponse)
def end_session_get(request: Request, ctx: Ctx, base: BaseUrl) -> Response:
    """RP-initiated logout: the confirmation page, or signed out already."""
    if (moved := elsewhere(request, ctx)) is not None:
        return moved
    return _start(request, ctx, base, parse_query(request.scope["query_string"]), 302)


@router.post(END_SESSION_PATH, response_class=HTMLResponse)
def end_session_post(
    request: Request,
    ctx: Ctx,
    base: BaseUrl,
    id_token_hint: Annotated[str, Form()] = "",
    client_id: Annotated[str, Form()] = "",
    post_logout_redirect_uri: Annotated[str, Form()] = "",
    state: Annotated[str, Form()] = "",
) -> Response:
    """RP-initiated logout by a form post (§2): as the ``GET``."""
    pairs = [
        (name, value) for name, value in (
            ("id_token_hint", id_token_hint), ("client_id", client_id),
            ("post_logout_redirect_uri", post_logout_redirect_uri), ("state", state),
        ) if value
    ]
    again = f"{END_SESSION_PATH}?{urlencode(pairs)}"
    if (moved := elsewhere(request, ctx, again)) is not None:
        return moved
    return _start(request, ctx, base, pairs, 303)


@router.post(CONFIRM_PATH, response_class=HTMLResponse, include_in_schema=False)
def confirm(
    request: Request,
    ctx: Ctx,
    base: BaseUrl,
    csrf_token: Annotated[str, Form()] = "",
    logout_request: Annotated[str, Form(alias="request")] = "",
    end_app_sessions: Annotated[str, Form()] = "",
) -> Response:
    """Sign out (the confirmation form), then on to the application or the signed-out page."""
    again = f"{END_SESSION_PATH}?{quote(logout_request, safe='&=%+')}"
    if (moved := elsewhere(request, ctx, again)) is not None:
        return moved
    browser = Browser.of(request, ctx)
    try:
        asked, found = _validate(ctx, base, parse_query(logout_request), browser)
    except LogoutRefused as exc:
        return _error(browser, ctx, exc.message)
    if found is None:  # ended meanwhile: nothing to do
        return _signed_out(browser, ctx, asked, go_on=asked.hint is not None, status=303)
    login, user = found
    if not browser.csrf_ok(f"logout|{login.id}", csrf_token):
        return _confirm_page(browser, ctx, asked, login, user, status=403, error=EXPIRED_FORM)
    client_id = asked.client.client_id if asked.client is not None else None
    with ctx.db.write() as db:
        # An ApiError: revoked in the instant since it was read; signed out all the same.
        with contextlib.suppress(ApiError):
            end_session.end_sign_in(
                db, login, ctx.clock(), client_id=client_id,
                end_app_sessions=end_app_sessions == "on", address=client_address(request),
                user_agent=user_agent(request),
            )
        known = client_id is not None and (
            consent.find_consent(db, user.id, client_id) is not None
        )
    return _signed_out(browser, ctx, asked, go_on=asked.hint is not None or known, status=303)
