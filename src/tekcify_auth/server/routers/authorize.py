"""``GET /api/oauth/authorize`` and its pages: login, registration, consent.

The pages are server-rendered HTML forms that work without JavaScript. The
authorization request travels with them unchanged: the login and registration forms
carry it as ``next`` (a path on this server, ``/api/oauth/authorize?...``, and nothing
else: another ``next`` is refused), the consent form as ``request`` (its query), and
each POST validates it again from scratch (``services/authorize.py``).

A sign-in on these pages may also continue to the account or developer console
(``console.py``): ``next`` is then one of their paths (:class:`ConsoleReturn`).
The headers and cookies every page carries are ``pages.py``'s.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated, Final
from urllib.parse import quote, urlsplit

from fastapi import Form, Path, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from ..context import ServerContext
from ..db.models import User
from ..db.oauth import LoginSession
from ..errors import ApiError
from ..schemas.auth import RegisterRequest
from ..services import (
    accounts,
    consent,
    login_sessions,
    mfa,
    mfa_login,
    registration,
    verification,
)
from ..services.authorize import (
    AUTHORIZE_PATH,
    OFFLINE_ACCESS,
    OIDC_REDIRECTED,
    AuthorizationRequest,
    PageError,
    RedirectError,
    issue_code,
    parse_query,
    response_location,
    validate_request,
)
from ..services.emails import InvalidEmail, normalise_email
from ..services.oidc import id_tokens
from ..services.password_reset import FORGOT_PAGE
from ..services.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from ..services.social import flows as social_flows
from ..services.social import links as social_links
from ..services.tokens import DEFAULT_AMR
from .deps import Ctx, client_address, user_agent
from .images import BaseUrl, base_url_of
from .pages import (
    SERVER_DIR,
    Browser,
    again,
    cookie_name,
    elsewhere,
    error_page,
    page,
    redirect,
)
from .text import server_router

router = server_router(prefix="/api/oauth", tags=["oauth"])

LOGIN_PATH: Final = "/api/oauth/login"
#: The second step of a sign-in with MFA on: the code (or a backup code).
LOGIN_MFA_PATH: Final = "/api/oauth/login/mfa"
#: A sign-in with a passkey (``routers/passkey_pages.py``), its options and script.
LOGIN_PASSKEY_PATH: Final = "/api/oauth/login/passkey"
PASSKEY_OPTIONS_PATH: Final = "/api/auth/passkey/login/options"
PASSKEY_SCRIPT_PATH: Final = "/api/oauth/static/passkey.js"
REGISTER_PATH: Final = "/api/oauth/register"
CONSENT_PATH: Final = "/api/oauth/consent"
#: Sign-in with upstream providers (``routers/social.py``).
SOCIAL_PATH: Final = "/api/oauth/social"
#: The stylesheets of applications' primary colours (:func:`colour_stylesheet`).
COLOUR_PATH: Final = "/api/oauth/static/colour"
_COLOUR: Final = re.compile(r"#[0-9a-fA-F]{6}")
#: A cookie saying an identity at a provider waits for this browser's sign-in.
SOCIAL_PENDING_COOKIE: Final = "tekcify_social_link"

NEXT_FORBIDDEN: Final = re.compile(r"[\x00-\x20\x7f\\#]")
#: Prompts that ask for the login page even when the browser is signed in.
LOGIN_PROMPTS: Final = frozenset({"login", "select_account"})

#: What the consent page says each default scope lets the application do.
SCOPE_TEXT: Final = {
    "openid": "Know who you are on Tekcify",
    "profile": "See your name and profile picture",
    "email": "See your email address",
    "offline_access": "Keep access while you are away, until you disconnect it",
    "read:profile": "Read your profile",
    "write:profile": "Change your profile",
}

#: The console paths a sign-in may continue to: ``/account`` or ``/developer`` and their
#: pages, with a plain query (``?page=2``), nothing that could leave this server.
_CONSOLE_NEXT: Final = re.compile(
    r"/(?:account|developer)(?:/[A-Za-z0-9._~-]+)*/?(?:\?[A-Za-z0-9._~=&%+-]*)?"
)


@dataclass(frozen=True)
class ConsoleReturn:
    """A sign-in on the pages that continues to a console page, not an application."""

    target: str
    redirect_uri: None = None
    login_hint: None = None
    scopes: tuple[str, ...] = ()

    def path(self, *, without_prompts: frozenset[str] = frozenset()) -> str:
        return self.target


#: Where a sign-in on the pages continues: an authorization request, or a console page.
Destination = AuthorizationRequest | ConsoleReturn


def destination_name(destination: Destination) -> str:
    """Whom the sign-in is for, as the login and registration pages name it."""
    if isinstance(destination, ConsoleReturn):
        return "your Tekcify account"
    return destination.client.name


def render_login(
    browser: Browser,
    ctx: ServerContext,
    request: Destination,
    *,
    status: int = 200,
    error: str | None = None,
    email: str = "",
    headers: dict[str, str] | None = None,
    resend: bool = False,
    mfa_token: str | None = None,
) -> Response:
    next_path = request.path(without_prompts=LOGIN_PROMPTS)
    back = quote(next_path, safe="")
    # OIDC Core §3.1.2.1: login_hint fills in the address the application expects.
    email = email or (request.login_hint or "")[:320]
    return page(
        browser, ctx, "login.html", status=status, redirect_uri=request.redirect_uri,
        forms_here=True,
        headers=headers, title="Sign in", application_name=destination_name(request),
        action=LOGIN_PATH, csrf_token=browser.token("login"), next=next_path, email=email,
        error=error, register_url=f"{REGISTER_PATH}?next={back}",
        forgot_url=f"{FORGOT_PAGE}?next={back}",
        resend_action=verification.RESEND_PAGE if resend else None,
        resend_csrf=browser.token("resend"),
        mfa_token=mfa_token, mfa_action=LOGIN_MFA_PATH, mfa_csrf=browser.token("login-mfa"),
        restart_url=f"{LOGIN_PATH}?next={back}", scripts=True,
        passkey_action=LOGIN_PASSKEY_PATH, passkey_csrf=browser.token("login-passkey"),
        passkey_options=PASSKEY_OPTIONS_PATH, passkey_script=PASSKEY_SCRIPT_PATH,
        social=[
            {"label": f"Continue with {p.display_name}",
             "url": f"{SOCIAL_PATH}/{p.name}/start?next={back}"}
            for p in ctx.settings.social_providers
        ],
    )


def unverified(ctx: ServerContext, user: User) -> bool:
    """Whether ``TEKCIFY_REQUIRE_VERIFIED_EMAIL`` keeps ``user`` out of these pages."""
    return ctx.settings.require_verified_email and not user.email_verified


def verify_first(
    browser: Browser, ctx: ServerContext, request: Destination, user: User,
    status: int = 403, message: str = verification.NOT_VERIFIED,
) -> Response:
    """The login page saying the address needs verifying, with a resend button."""
    return render_login(
        browser, ctx, request, status=status, email=user.email, error=message, resend=True,
    )


def _register_page(
    browser: Browser,
    ctx: ServerContext,
    request: Destination,
    *,
    status: int = 200,
    error: str | None = None,
    email: str = "",
    first_name: str = "",
    last_name: str = "",
) -> Response:
    next_path = request.path(without_prompts=LOGIN_PROMPTS)
    mode = ctx.settings.registration
    if mode == "closed":  # no form to fill in vain
        status, error = 403, registration.CLOSED
    return page(
        browser, ctx, "register.html", status=status, redirect_uri=request.redirect_uri,
        forms_here=True,
        title="Create your account", application_name=destination_name(request),
        action=REGISTER_PATH, csrf_token=browser.token("register"), next=next_path,
        email=email, first_name=first_name, last_name=last_name, error=error,
        closed=mode == "closed", invite=mode == "invite",
        min_password=MIN_PASSWORD_LENGTH, max_password=MAX_PASSWORD_LENGTH,
        login_url=f"{LOGIN_PATH}?next={quote(next_path, safe='')}",
    )


def _consent_page(
    browser: Browser,
    ctx: ServerContext,
    request: AuthorizationRequest,
    login_id: str,
    user: User,
    *,
    status: int = 200,
    error: str | None = None,
) -> Response:
    client = request.client
    described = ctx.settings.scope_descriptions
    scopes = [
        {"name": name, "text": SCOPE_TEXT.get(name) or described.get(name)
         or f"Use the “{name}” permission"}
        for name in request.scopes
    ]
    query = request.path().split("?", 1)[1]
    # OIDC Core §11: only offline_access gets the application a refresh token.
    access_ends = None
    if OFFLINE_ACCESS not in request.scopes:
        access_ends = max(1, ctx.settings.access_token_ttl // 60)
    return page(
        browser, ctx, "consent.html", status=status, redirect_uri=request.redirect_uri,
        title=f"Allow {client.name}?", application_name=client.name,
        description=client.description, logo_url=client.logo_url, email=user.email,
        colour_url=colour_stylesheet(client.primary_color),
        switch_url=_with_prompt_login(request), scopes=scopes,
        destination=urlsplit(request.redirect_uri).netloc, action=CONSENT_PATH,
        csrf_token=browser.token(f"consent|{login_id}"), request_query=query, error=error,
        access_ends=access_ends,
    )


def _with_prompt_login(request: AuthorizationRequest) -> str:
    path = request.path(without_prompts=frozenset({"login", "consent", "none"}))
    return path + "&prompt=login"


def _grant(
    browser: Browser, ctx: ServerContext, request: AuthorizationRequest,
    login: LoginSession, status: int, *, remember: bool,
) -> Response:
    with ctx.db.write() as db:
        # Read again under the user's row lock: a password change since it was found
        # must not let a code through (services/login_sessions.py).
        if not login_sessions.lock_login_session(db, ctx, login.id):
            return render_login(
                browser, ctx, request, status=401,
                error="Your sign-in has ended. Sign in again to continue.",
            )
        if remember:
            consent.remember_consent(
                db, login.user_id, request.client.client_id, request.scopes, ctx.clock()
            )
        login_sessions.touch_login_session(db, login, ctx.clock())
        code = issue_code(
            db, ctx, request, login.user_id, login.amr, auth_time=login.created_at,
            browser_session_id=login.session_id,
        )
    location = response_location(
        request.redirect_uri, {"code": code}, state=request.state,
        issuer=base_url_of(browser.request),
    )
    return redirect(browser, ctx, location, status)


def _send_error(
    browser: Browser, ctx: ServerContext, error: RedirectError, status: int
) -> Response:
    return redirect(browser, ctx, error.location(base_url_of(browser.request)), status)


def _refuse(
    browser: Browser, ctx: ServerContext, error: RedirectError, status: int
) -> Response:
    """``error`` sent to the redirect URI, or shown here (RFC 9700 §4.11.2).

    Anyone may register an application with any redirect URI, so a link to this server
    could otherwise send a stranger's browser on to any host. The error goes to the
    redirect URI only when this browser is signed in as a user who has consented to
    the application before; everyone else sees it on an error page. The OpenID Connect
    answers of :data:`OIDC_REDIRECTED` (``login_required`` to a ``prompt=none``
    request...) always go to the redirect URI: the protocol has no other way to answer.
    """
    if error.error in OIDC_REDIRECTED:
        return _send_error(browser, ctx, error, status)
    with ctx.db.read() as db:
        found = login_sessions.find_login_session(db, ctx, browser.login_token)
        known = found is not None and (
            consent.find_consent(db, found[1].id, error.client_id) is not None
        )
    if not known:
        message = f"{error.description} (error: {error.error})"
        return error_page(browser, ctx, message, 400)
    return _send_error(browser, ctx, error, status)


def console_next(next_path: str) -> bool:
    """Whether ``next_path`` is a console page a sign-in may continue to."""
    if _CONSOLE_NEXT.fullmatch(next_path) is None or "//" in next_path:
        return False
    # No dot segments: a browser would resolve /account/../api to /api.
    return not {".", ".."} & set(next_path.split("?", 1)[0].split("/"))


def well_formed_next(next_path: str) -> bool:
    """Whether ``next_path`` looks like a place a sign-in may continue to (a console page,
    or an authorization request of this server, which is validated when it is used)."""
    return console_next(next_path) or (
        next_path.startswith(AUTHORIZE_PATH + "?") and not NEXT_FORBIDDEN.search(next_path)
    )


def _from_next(ctx: ServerContext, next_path: str) -> Destination:
    """Where a ``next`` address continues; ``PageError`` if nowhere a sign-in may go."""
    prefix = AUTHORIZE_PATH + "?"
    if console_next(next_path):
        return ConsoleReturn(next_path)
    if not well_formed_next(next_path):
        raise PageError(
            "The return address is not an authorization request of this server, so "
            "signing in here cannot continue to it"
        )
    with ctx.db.read() as db:
        return validate_request(db, ctx.settings, parse_query(next_path[len(prefix):]))


def continued(
    browser: Browser, ctx: ServerContext, next_path: str, redirect_status: int
) -> Destination | Response:
    """The request ``next`` continues, or the answer refusing it (error page or redirect).

    ``redirect_status`` is 302 after a GET and 303 after a form post (RFC 9700 §4.12).
    """
    try:
        return _from_next(ctx, next_path)
    except PageError as exc:
        return error_page(browser, ctx, exc.message, exc.status_code)
    except RedirectError as exc:
        return _refuse(browser, ctx, exc, redirect_status)


# -- routes ------------------------------------------------------------------------------


@router.get("/authorize", response_class=HTMLResponse)
def authorize(request: Request, ctx: Ctx) -> Response:
    """RFC 6749 §4.1.1 with PKCE: the login or consent page, or a redirect with ``code``."""
    if (moved := elsewhere(request, ctx)) is not None:
        return moved
    browser = Browser.of(request, ctx)
    try:
        with ctx.db.read() as db:
            asked = validate_request(db, ctx.settings, parse_query(request.scope["query_string"]))
            found = login_sessions.find_login_session(db, ctx, browser.login_token)
            ask_consent = found is not None and consent.needs_consent(
                db, found[1].id, asked.client.client_id, asked.scopes,
                ask_again="consent" in asked.prompt,
            )
    except PageError as exc:
        return error_page(browser, ctx, exc.message, exc.status_code)
    except RedirectError as exc:
        return _refuse(browser, ctx, exc, 302)
    try:
        hinted = _hinted_user(request, ctx, asked)
    except id_tokens.InvalidHint:
        error = asked.error(
            "invalid_request", "id_token_hint is not an id token this server issued to this "
            "application",
        )
        return _refuse(browser, ctx, error, 302)
    # OIDC Core §3.1.2.1: max_age (0: always) asks for a sign-in younger than it.
    stale = found is not None and asked.max_age is not None and (
        asked.max_age == 0
        or (ctx.clock() - found[0].created_at).total_seconds() > asked.max_age
    )
    if "none" in asked.prompt:
        if (
            found is None or unverified(ctx, found[1]) or stale
            or (hinted is not None and hinted != found[1].id)
        ):
            return _refuse(
                browser, ctx, asked.error("login_required", "The user is not signed in"), 302
            )
        if ask_consent:
            return _refuse(
                browser, ctx, asked.error("consent_required", "The user has not consented"), 302
            )
    if found is None or asked.prompt & LOGIN_PROMPTS or stale:
        return render_login(browser, ctx, asked)
    login, user = found
    if request.cookies.get(cookie_name(SOCIAL_PENDING_COOKIE, browser.secure)):
        # Signed in after a provider's identity was left waiting for this account.
        social_links.link_pending(
            ctx, browser=social_flows.binding(browser.csrf_secret), user_id=user.id,
            signed_in_at=login.created_at,
            client=accounts.Client(
                address=client_address(request), user_agent=user_agent(request), via="page"
            ),
        )
    if unverified(ctx, user):
        return verify_first(browser, ctx, asked, user, status=200)
    if ask_consent:
        return _consent_page(browser, ctx, asked, login.id, user)
    return _grant(browser, ctx, asked, login, 302, remember=False)


def _hinted_user(
    request: Request, ctx: ServerContext, asked: AuthorizationRequest
) -> str | None:
    """The user an ``id_token_hint`` names (``None``: no hint); raises
    :class:`~..services.oidc.id_tokens.InvalidHint` for one this server did not issue to
    this application (``alg: none``, another key, another issuer or audience)."""
    if asked.id_token_hint is None:
        return None
    hint = id_tokens.read_id_token_hint(
        ctx.id_token_signer, asked.id_token_hint, issuer=base_url_of(request),
        client_id=asked.client.client_id,
    )
    return hint.sub


@router.get("/login", response_class=HTMLResponse, include_in_schema=False)
def login_page(request: Request, ctx: Ctx, next: str = "") -> Response:
    """The login page for the authorization request ``next``."""
    if (moved := elsewhere(request, ctx)) is not None:
        return moved
    browser = Browser.of(request, ctx)
    asked = continued(browser, ctx, next, 302)
    if isinstance(asked, Response):
        return asked
    return render_login(browser, ctx, asked)


@router.post("/login", response_class=HTMLResponse, include_in_schema=False)
def login(
    request: Request,
    ctx: Ctx,
    csrf_token: Annotated[str, Form()] = "",
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    """Sign in with email and password, then continue the authorization request."""
    if (moved := elsewhere(request, ctx, again(LOGIN_PATH, next))) is not None:
        return moved
    browser = Browser.of(request, ctx)
    asked = continued(browser, ctx, next, 303)
    if isinstance(asked, Response):
        return asked
    shown = email.strip()[:320]
    if not browser.csrf_ok("login", csrf_token):
        return render_login(
            browser, ctx, asked, status=403, email=shown,
            error="This form had expired or did not come from this page. Please sign in again.",
        )
    problem = None
    if not password:
        problem = "Enter your password."
    elif len(password) > MAX_PASSWORD_LENGTH:
        problem = f"Passwords are at most {MAX_PASSWORD_LENGTH} characters."
    try:
        address = normalise_email(email)
    except InvalidEmail:
        problem = "Enter a valid email address."
    if problem is not None:
        return render_login(browser, ctx, asked, status=400, email=shown, error=problem)
    client = accounts.Client(
        address=client_address(request), user_agent=user_agent(request), via="page"
    )
    try:
        user = accounts.check_credentials(ctx, email=address, password=password, client=client)
    except verification.EmailNotVerified as exc:
        return render_login(
            browser, ctx, asked, status=exc.status_code, email=address, error=exc.message,
            resend=True,
        )
    except ApiError as exc:
        return render_login(
            browser, ctx, asked, status=exc.status_code, email=shown, error=exc.message,
            headers=exc.headers,
        )
    try:
        return complete_sign_in(browser, ctx, asked, user, client)
    except ApiError as exc:  # the password changed while it was checked
        return render_login(
            browser, ctx, asked, status=exc.status_code, email=shown, error=exc.message
        )


def complete_sign_in(
    browser: Browser,
    ctx: ServerContext,
    asked: Destination,
    user: User,
    client: accounts.Client,
    amr: str = DEFAULT_AMR,
) -> Response:
    """The page sign-in of ``user``, whose first factor (``amr``) was right: with MFA on,
    the second step comes first (a password's, or a provider's in ``routers/social.py``)."""
    with ctx.db.write() as db:
        fresh = accounts.lock_signed_in_user(db, user.id, user.password_hash)
        if mfa.is_enabled(db, fresh.id):
            challenge = mfa_login.start_challenge(db, ctx, fresh)
            return render_login(
                browser, ctx, asked, email=fresh.email, mfa_token=challenge.mfa_token
            )
        token, _row = login_sessions.start_login_session(
            db, ctx, user.id, password_hash=user.password_hash, replacing=browser.login_token,
            user_agent=client.user_agent, ip_address=client.address, amr=amr, via=client.via,
        )
    browser.set_login = token
    return redirect(browser, ctx, asked.path(without_prompts=LOGIN_PROMPTS), 303)


@router.post("/login/mfa", response_class=HTMLResponse, include_in_schema=False)
def login_mfa(
    request: Request,
    ctx: Ctx,
    csrf_token: Annotated[str, Form()] = "",
    mfa_token: Annotated[str, Form()] = "",
    code: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    """The second step of a sign-in with MFA on: a TOTP or backup code, then continue."""
    if (moved := elsewhere(request, ctx, again(LOGIN_PATH, next))) is not None:
        return moved
    browser = Browser.of(request, ctx)
    asked = continued(browser, ctx, next, 303)
    if isinstance(asked, Response):
        return asked
    token = mfa_token[:4096]
    if not browser.csrf_ok("login-mfa", csrf_token):
        return render_login(
            browser, ctx, asked, status=403,
            error="This form had expired or did not come from this page. Please sign in again.",
        )
    client = accounts.Client(
        address=client_address(request), user_agent=user_agent(request), via="page"
    )

    def open_session(db: Session, user: User) -> str:
        cookie, _row = login_sessions.start_login_session(
            db, ctx, user.id, password_hash=user.password_hash, replacing=browser.login_token,
            user_agent=client.user_agent, ip_address=client.address,
            amr=" ".join(mfa_login.OTP_AMR),
        )
        return cookie

    entered = code.strip()[:64]
    try:
        if not entered:
            raise ApiError(400, "Enter the code from your authenticator app or a backup code.")
        cookie = mfa_login.complete(
            ctx, token, code=entered, backup_code=None, client=client,
            open_session=open_session,
        )
    except ApiError as exc:
        if exc.message == mfa_login.EXPIRED:  # start again from the password
            return render_login(browser, ctx, asked, status=401, error=exc.message)
        return render_login(
            browser, ctx, asked, status=exc.status_code, error=exc.message,
            headers=exc.headers, mfa_token=token,
        )
    browser.set_login = cookie
    return redirect(browser, ctx, asked.path(without_prompts=LOGIN_PROMPTS), 303)


@router.get("/register", response_class=HTMLResponse, include_in_schema=False)
def register_page(request: Request, ctx: Ctx, next: str = "") -> Response:
    """The registration page for the authorization request ``next``."""
    if (moved := elsewhere(request, ctx)) is not None:
        return moved
    browser = Browser.of(request, ctx)
    asked = continued(browser, ctx, next, 302)
    if isinstance(asked, Response):
        return asked
    return _register_page(browser, ctx, asked)


def _registration_problem(exc: ValidationError) -> str:
    field = str(exc.errors()[0].get("loc", ("",))[0])
    if field == "email":
        return "Enter a valid email address."
    if field == "password":
        return (
            f"Choose a password of {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters."
        )
    label = {"firstName": "First name", "lastName": "Last name"}.get(field, field)
    return f"{label} must be at most 100 characters, without control characters."


@router.post("/register", response_class=HTMLResponse, include_in_schema=False)
def register(
    request: Request,
    ctx: Ctx,
    base: BaseUrl,
    csrf_token: Annotated[str, Form()] = "",
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    first_name: Annotated[str, Form()] = "",
    last_name: Annotated[str, Form()] = "",
    invite_code: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    """Create an account, sign in, and continue the authorization request."""
    if (moved := elsewhere(request, ctx, again(REGISTER_PATH, next))) is not None:
        return moved
    browser = Browser.of(request, ctx)
    asked = continued(browser, ctx, next, 303)
    if isinstance(asked, Response):
        return asked
    shown = {
        "email": email.strip()[:320], "first_name": first_name[:100],
        "last_name": last_name[:100],
    }
    if not browser.csrf_ok("register", csrf_token):
        return _register_page(
            browser, ctx, asked, status=403, **shown,
            error="This form had expired or did not come from this page. Please try again.",
        )
    try:
        body = RegisterRequest(
            email=email, password=password, firstName=first_name.strip() or None,
            lastName=last_name.strip() or None, inviteCode=invite_code.strip()[:128] or None,
        )
    except ValidationError as exc:
        return _register_page(
            browser, ctx, asked, status=400, error=_registration_problem(exc), **shown
        )
    try:
        signed_up = registration.sign_up(
            ctx, email=body.email, password=body.password, first_name=body.firstName,
            last_name=body.lastName, invite_code=body.inviteCode,
            address=client_address(request), base_url=base,
        )
    except ApiError as exc:
        answer = _register_page(
            browser, ctx, asked, status=exc.status_code, error=exc.message, **shown
        )
        answer.headers.update(exc.headers)  # a 429's Retry-After
        return answer
    user = signed_up.user
    if ctx.settings.hide_existing_accounts or unverified(ctx, user):
        # Hiding existing accounts, a new one is not signed in either: both are sent to
        # their mail, so the page cannot tell them apart.
        message = (
            f"Check your mail: we sent a message to {user.email}. Follow it, then sign in."
            if ctx.settings.hide_existing_accounts else
            f"Your account is created. Open the link we sent to {user.email} to verify your "
            "address, then sign in."
        )
        return verify_first(browser, ctx, asked, user, status=200, message=message)
    client = accounts.Client(address=client_address(request), user_agent=user_agent(request))
    try:
        return complete_sign_in(browser, ctx, asked, user, client)
    except ApiError:  # changed or disabled in the instant since: sign in on the login page
        return render_login(browser, ctx, asked, status=401, email=shown["email"])


@router.post("/consent", response_class=HTMLResponse, include_in_schema=False)
def decide(
    request: Request,
    ctx: Ctx,
    csrf_token: Annotated[str, Form()] = "",
    authorization: Annotated[str, Form(alias="request")] = "",
    decision: Annotated[str, Form()] = "",
) -> Response:
    """Allow or deny: back to the redirect URI with a code or ``access_denied``."""
    again = f"{AUTHORIZE_PATH}?{quote(authorization, safe='&=%+')}"
    if (moved := elsewhere(request, ctx, again)) is not None:
        return moved
    browser = Browser.of(request, ctx)
    try:
        with ctx.db.read() as db:
            asked = validate_request(db, ctx.settings, parse_query(authorization))
            found = login_sessions.find_login_session(db, ctx, browser.login_token)
    except PageError as exc:
        return error_page(browser, ctx, exc.message, exc.status_code)
    except RedirectError as exc:
        return _refuse(browser, ctx, exc, 303)
    if found is None:
        return render_login(
            browser, ctx, asked, status=401,
            error="Your sign-in has ended. Sign in again to continue.",
        )
    login_row, user = found
    if unverified(ctx, user):
        return verify_first(browser, ctx, asked, user)
    if not browser.csrf_ok(f"consent|{login_row.id}", csrf_token):
        return _consent_page(
            browser, ctx, asked, login_row.id, user, status=403,
            error="This form had expired or did not come from this page. Please choose again.",
        )
    if decision == "deny":
        # The user answered the consent form: the answer goes back to the application.
        denied = asked.error("access_denied", "The user denied the request")
        return _send_error(browser, ctx, denied, 303)
    if decision != "allow":
        return _consent_page(
            browser, ctx, asked, login_row.id, user, status=400,
            error="Choose Allow or Deny.",
        )
    return _grant(browser, ctx, asked, login_row, 303, remember=True)


def colour_stylesheet(colour: str | None) -> str | None:
    """The stylesheet giving a page an application's primary colour (``#rrggbb``).

    The pages allow no inline style (CSP ``style-src 'self'``), so the colour comes as a
    tiny stylesheet of this server, one per colour, cached for good.
    """
    if colour is None or not _COLOUR.fullmatch(colour):
        return None
    return f"{COLOUR_PATH}/{colour[1:].lower()}.css"


@router.get("/static/colour/{name}", include_in_schema=False)
def colour(name: Annotated[str, Path(max_length=16)]) -> Response:
    """``--app-colour`` set to the colour the file is named after (``1a2b3c.css``)."""
    found = re.fullmatch(r"([0-9a-f]{6})\.css", name)
    if found is None:
        return Response("Not a colour stylesheet", status_code=404, media_type="text/plain")
    return Response(
        f":root {{ --app-colour: #{found.group(1)}; }}\n", media_type="text/css; charset=utf-8",
        headers={
            "Cache-Control": "public, max-age=31536000, immutable",
            "X-Content-Type-Options": "nosniff",
        },
    )


@lru_cache(maxsize=1)
def _stylesheet() -> bytes:
    return (SERVER_DIR / "static" / "pages.css").read_bytes()


@router.get("/static/pages.css", include_in_schema=False)
def stylesheet() -> Response:
    """The pages' stylesheet."""
    return Response(
        _stylesheet(), media_type="text/css; charset=utf-8",
        headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
    )
