"""Sign-in with upstream providers: the pages' flow and the account API.

* ``GET /api/oauth/social/{provider}/start?next=`` — the login page's "Continue with …"
  button: remembers a flow bound to this browser (``services/social/flows.py``) and sends
  the browser to the provider with ``state``, ``nonce`` and PKCE (S256).
* ``GET /api/oauth/social/{provider}/callback`` — the provider's answer: the flow is taken
  back (same state, same browser, once), the code exchanged and the id token checked
  (``services/social/upstream.py``); then the account rules (``services/social/links.py``)
  and a page sign-in as the login page makes one, MFA's second step included, and on to
  the authorization request.
* ``GET /api/oauth/social/{provider}/reauth?ticket=`` — ``initiateSensitiveAction``'s
  ``oauthProviders[].reauthUrl``: signing in at the provider again shows a 6-digit code
  for the action, which the application trades for the sensitive-action token with
  ``verifySensitiveActionCode`` as for a mailed code.
* The account console's Social page (``pages/account_security.py``) starts a flow of
  purpose ``link`` for the signed-in account; its callback connects the provider's
  identity to that account (``links.connect``) and goes back to the page.
* ``GET /api/auth/account/social``, ``DELETE /api/auth/account/social/{provider}`` — the
  2.2.12 client's ``listSocialProviders`` and ``disconnectSocialProvider``.
"""

from __future__ import annotations

import logging
from typing import Final
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from ..context import ServerContext
from ..errors import ApiError
from ..schemas.base import Message
from ..schemas.social import SocialProviderItem
from ..services import accounts, activity, reauth
from ..services.social import flows, links
from ..services.social.upstream import UpstreamError, authorization, identity
from .authorize import (
    LOGIN_PATH,
    LOGIN_PROMPTS,
    SOCIAL_PATH,
    SOCIAL_PENDING_COOKIE,
    Destination,
    complete_sign_in,
    continued,
    render_login,
    unverified,
    verify_first,
)
from .deps import Ctx, FirstParty, client_address, user_agent
from .images import BaseUrl
from .pages import Browser, cookie_name, elsewhere, error_page, page, redirect
from .text import server_router

router = server_router(include_in_schema=False)
account_router = server_router(prefix="/api/auth/account", tags=["account security"])
logger = logging.getLogger("tekcify_auth.server.social")

#: The ``amr`` of a page sign-in at an upstream provider (a federated assertion).
FEDERATED_AMR: Final = "fed"
DISABLED: Final = "This account is disabled"
STATE_MISMATCH: Final = (
    "This sign-in did not start in this browser, has already been used or has expired. "
    "Go back to the application and sign in again."
)


def callback_url(base: str, name: str) -> str:
    return f"{base}{SOCIAL_PATH}/{name}/callback"


def _client(request: Request, name: str = "") -> accounts.Client:
    return accounts.Client(
        address=client_address(request), user_agent=user_agent(request),
        via=f"social:{name}" if name else "page",
    )


@router.get(SOCIAL_PATH + "/{name}/start", response_class=HTMLResponse)
def start(request: Request, ctx: Ctx, base: BaseUrl, name: str, next: str = "") -> Response:
    """Send the browser to the provider ``name`` for the authorization request ``next``."""
    if (moved := elsewhere(request, ctx)) is not None:
        return moved
    browser = Browser.of(request, ctx)
    asked = continued(browser, ctx, next, 302)
    if isinstance(asked, Response):
        return asked
    try:
        upstream = links.provider(ctx, name[:64])
        sent = authorization(upstream, callback_url(base, upstream.name))
    except ApiError as exc:
        return render_login(browser, ctx, asked, status=exc.status_code, error=exc.message)
    except UpstreamError as exc:
        logger.warning("social sign-in at %s could not start: %s", name, exc.reason)
        return render_login(browser, ctx, asked, status=502, error=exc.message)
    with ctx.db.write() as db:
        flows.start(
            db, ctx.clock(), purpose=flows.SIGN_IN, provider=upstream.name,
            browser=flows.binding(browser.csrf_secret), state=sent.state, nonce=sent.nonce,
            code_verifier=sent.code_verifier,
            next_path=asked.path(without_prompts=LOGIN_PROMPTS),
        )
    return redirect(browser, ctx, sent.url, 302)


@router.get(SOCIAL_PATH + "/{name}/reauth", response_class=HTMLResponse)
def reauth_start(
    request: Request, ctx: Ctx, base: BaseUrl, name: str, ticket: str = ""
) -> Response:
    """``reauthUrl``: sign in at the provider again to confirm a sensitive action."""
    if (moved := elsewhere(request, ctx)) is not None:
        return moved
    browser = Browser.of(request, ctx)
    try:
        upstream = links.provider(ctx, name[:64])
    except ApiError as exc:
        return error_page(browser, ctx, exc.message, exc.status_code)
    with ctx.db.write() as db:
        row = flows.take_ticket(db, ctx.clock(), provider=upstream.name, ticket=ticket)
    if row is None or row.user_id is None or row.action is None:
        return error_page(
            browser, ctx, "This link has expired or was already used; ask the application "
            "for a new one.", 400,
        )
    try:
        sent = authorization(upstream, callback_url(base, upstream.name), reauth=True)
    except UpstreamError as exc:
        return error_page(browser, ctx, exc.message, 502)
    with ctx.db.write() as db:
        flows.start(
            db, ctx.clock(), purpose=flows.REAUTH, provider=upstream.name,
            browser=flows.binding(browser.csrf_secret), state=sent.state, nonce=sent.nonce,
            code_verifier=sent.code_verifier, next_path=None, user_id=row.user_id,
            action=row.action,
        )
    return redirect(browser, ctx, sent.url, 302)


@router.get(SOCIAL_PATH + "/{name}/callback", response_class=HTMLResponse)
def callback(
    request: Request, ctx: Ctx, base: BaseUrl, name: str, state: str = "", code: str = "",
    error: str = "", iss: str | None = None,
) -> Response:
    """The provider's answer: check it, then sign in, sign up, link, or confirm an action."""
    if (moved := elsewhere(request, ctx)) is not None:
        return moved
    browser = Browser.of(request, ctx)
    flow = None
    if not browser.new_csrf:  # a browser without our cookie started nothing here
        with ctx.db.write() as db:
            flow = flows.take(
                db, ctx.clock(), provider=name[:64], state=state,
                browser=flows.binding(browser.csrf_secret),
            )
    if flow is None:
        return error_page(browser, ctx, STATE_MISMATCH, 400)
    try:
        upstream = links.provider(ctx, flow.provider)
    except ApiError as exc:
        return error_page(browser, ctx, exc.message, exc.status_code)
    asked: Destination | Response | None = None
    if flow.purpose == flows.SIGN_IN:
        asked = continued(browser, ctx, flow.next_path or "", 303)
        if isinstance(asked, Response):
            return asked

    def refused(message: str, status: int) -> Response:
        if asked is not None and not isinstance(asked, Response):
            return render_login(browser, ctx, asked, status=status, error=message)
        return error_page(browser, ctx, message, status)

    if error or not code:
        return refused(
            f"The sign-in at {upstream.display_name} was cancelled or refused "
            f"(error: {(error or 'no code')[:64]}).", 400,
        )
    try:
        who = identity(
            upstream, code=code[:2048], code_verifier=flow.code_verifier or "",
            nonce=flow.nonce or "", redirect_uri=callback_url(base, upstream.name),
            iss=None if iss is None else iss[:2048],
        )
    except UpstreamError as exc:
        logger.warning("social sign-in at %s refused: %s", upstream.name, exc.reason)
        return refused(exc.message, 502 if exc.reason == "unreachable" else 400)
    client = _client(request, upstream.name)
    if flow.purpose == flows.REAUTH:
        assert flow.user_id is not None
        assert flow.action is not None
        return _reauth_done(browser, ctx, upstream.name, upstream.display_name, flow.user_id,
                            flow.action, who.subject, client)
    if flow.purpose == flows.LINK:
        assert flow.user_id is not None
        try:
            links.connect(ctx, flow.user_id, upstream, who, client)
        except ApiError as exc:
            return error_page(browser, ctx, exc.message, exc.status_code)
        return redirect(browser, ctx, flow.next_path or "/account/social", 303)
    assert asked is not None
    assert not isinstance(asked, Response)
    binding = flows.binding(browser.csrf_secret)
    try:
        resolved = links.resolve(ctx, upstream, who, browser=binding, client=client)
    except ApiError as exc:
        return render_login(
            browser, ctx, asked, status=exc.status_code, error=exc.message, headers=exc.headers
        )
    if resolved.user is None:
        return _sign_in_first(browser, ctx, asked, upstream.display_name,
                              resolved.pending_email or "")
    if resolved.user.disabled_at is not None:
        return render_login(browser, ctx, asked, status=403, error=DISABLED)
    if unverified(ctx, resolved.user):
        return verify_first(browser, ctx, asked, resolved.user)
    try:
        return complete_sign_in(browser, ctx, asked, resolved.user, client, FEDERATED_AMR)
    except ApiError:  # disabled, or its password changed, in the instant since
        return render_login(browser, ctx, asked, status=401,
                           error="Your sign-in could not be completed; sign in again.")


def _sign_in_first(
    browser: Browser, ctx: ServerContext, asked: Destination, label: str, email: str
) -> Response:
    next_path = asked.path(without_prompts=LOGIN_PROMPTS)
    heading = "Sign in to your account first"
    answer = page(
        browser, ctx, "error.html", title=heading, heading=heading,
        message=(
            f"An account with {email} already exists here, and {label} did not confirm "
            f"that this address is yours. To connect {label} to that account, sign in to it "
            f"first (with its password or a passkey): {label} is connected when you do, in "
            "this browser, within 15 minutes."
        ),
        link=f"{LOGIN_PATH}?next={quote(next_path, safe='')}", link_text="Sign in",
    )
    # The hint that makes the authorization endpoint look for the waiting link.
    answer.set_cookie(
        cookie_name(SOCIAL_PENDING_COOKIE, browser.secure), "1",
        max_age=int(flows.PENDING_TTL.total_seconds()), path="/", secure=browser.secure,
        httponly=True, samesite="lax",
    )
    return answer


def _reauth_done(
    browser: Browser, ctx: ServerContext, name: str, label: str, user_id: str, action: str,
    subject: str, client: accounts.Client,
) -> Response:
    with ctx.db.write() as db:
        now = ctx.clock()
        confirmed = subject in links.linked_subject(db, user_id, name)
        if confirmed:
            links.touch(db, now, name, subject)
            shown = reauth.issue_code(db, now, user_id, action)
        activity.record(
            db, now, user_id=user_id,
            activity_type="sensitive_action_verified" if confirmed else "sensitive_action_failed",
            success=confirmed, address=client.address, user_agent=client.user_agent,
            metadata={"action": action, "via": client.via},
        )
    if not confirmed:
        return error_page(
            browser, ctx, f"You signed in at {label} as someone other than the account that "
            "asked for this confirmation. Nothing was confirmed.", 403,
        )
    minutes = int(reauth.CODE_TTL.total_seconds() // 60)
    return page(
        browser, ctx, "social_reauth.html", title="Identity confirmed", code=shown,
        label=label, minutes=minutes,
    )


def reauth_urls(ctx: ServerContext, user_id: str, action: str, base: str) -> list[dict[str, str]]:
    """``verificationMethods.oauthProviders``: a ``reauthUrl`` per linked, configured
    provider, each with a ticket of its own (single use, 10 minutes)."""
    configured = {p.name for p in ctx.settings.social_providers}
    found = []
    with ctx.db.write() as db:
        now = ctx.clock()
        names = dict.fromkeys(
            row.provider for row in links.list_links(db, user_id) if row.provider in configured
        )
        for name in names:
            ticket = flows.write_ticket(db, now, provider=name, user_id=user_id, action=action)
            found.append({
                "provider": name, "reauthUrl": f"{base}{SOCIAL_PATH}/{name}/reauth?ticket={ticket}",
            })
    return found


@account_router.get("/social")
def list_social(caller: FirstParty, ctx: Ctx, response: Response) -> list[SocialProviderItem]:
    """The caller's connected providers: ``[{id, provider, providerUserId, connectedAt}]``."""
    with ctx.db.read() as db:
        rows = links.list_links(db, caller.user_id)
    response.headers["Cache-Control"] = "no-store"
    return [
        SocialProviderItem(
            id=row.id, provider=row.provider, providerUserId=row.subject,
            connectedAt=row.linked_at,
        )
        for row in rows
    ]


@account_router.delete("/social/{provider}")
def disconnect_social(
    provider: str, request: Request, caller: FirstParty, ctx: Ctx
) -> Message:
    """Disconnect ``provider``; 409 when it is the last way to sign in, 404 without it."""
    links.unlink(ctx, caller.user_id, provider[:64], _client(request))
    return Message(message="The provider was disconnected")
