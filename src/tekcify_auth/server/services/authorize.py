"""The authorization request (RFC 6749 §4.1.1), PKCE (RFC 7636) and authorization codes.

**Two kinds of bad request** (§4.1.2.1). Until the client and its redirect URI are
known to be genuine, nothing may be sent to the redirect URI: an unknown ``client_id``,
a missing, repeated or unregistered ``redirect_uri`` is a :class:`PageError` (an HTML
page, 400, never a redirect). Every later problem is a :class:`RedirectError`, which
may go to the validated redirect URI as ``error=...`` with the ``state`` and ``iss``.
Anyone can register an application with any redirect URI, so a registered URI alone
does not make it safe to send a browser there (RFC 9700 §4.11.2): the pages send a
:class:`RedirectError` only to a signed-in user who has consented to that application
before (or has just answered its consent form), and show it as an error page to
everyone else (``routers/authorize.py``).

**Redirect URIs** are compared character for character with the registered ones (RFC
9700 §4.1.3): no normalisation, so a changed case, an added slash, query, fragment,
port or user information does not match. The one exception is RFC 8252 §7.3: for a
registered ``http`` URI on a loopback host (``127.0.0.1``, ``[::1]``, ``localhost``),
any port matches, since native apps get their port from the system when they start;
the rest of the URI must still be identical.

**PKCE** is required, ``S256`` only (RFC 9700 §2.1.1): a request without
``code_challenge``, with ``code_challenge_method`` absent (which RFC 7636 §4.3 reads as
``plain``) or ``plain``, or with a challenge that is not the 43-character base64url of
a SHA-256, is ``invalid_request``.

**Scopes** requested must all be among the application's; without ``scope`` the
application's scopes are requested (RFC 6749 §3.3 allows such a default).
``offline_access`` is what gets the application a refresh token (OpenID Connect Core
§11): a code whose scopes lack it is exchanged for an access token alone, whose
session ends when that token expires. (First-party logins, ``/api/auth/login``,
always get a refresh token: the Node contract.)

**OpenID Connect** (``services/oidc/``): ``nonce`` is kept with the code and returned in
the id token exactly; ``max_age``, ``login_hint`` and ``id_token_hint`` are read here and
acted on by the pages. ``request`` and ``request_uri`` are not supported and answered
``request_not_supported`` / ``request_uri_not_supported`` (OIDC Core §6). The errors of
:data:`OIDC_REDIRECTED` go to the validated redirect URI whoever the browser is (OIDC
Core §3.1.2.6: a ``prompt=none`` request must get its answer there).

**Codes** are 256-bit random strings, stored as their SHA-256, living
``TEKCIFY_AUTHORIZATION_CODE_TTL`` seconds (60 at most), bound to the client, the exact
redirect URI of the request and the challenge. :func:`redeem_code` spends a code with
one conditional UPDATE (``... WHERE used_at IS NULL``): of concurrent redemptions
exactly one wins. Any failed redemption by the code's own client (wrong redirect URI
or verifier, or too late) spends it as well. That client presenting a spent code again
revokes the session its successful redemption started (RFC 6749 §4.1.2, RFC 9700
§4.5), committed before the refusal is raised. Another client presenting it, spent or
not, gets the answer of an unknown code and changes nothing: it can neither learn that
the code was used, nor revoke the victim's session, nor burn the victim's code.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from ..context import ServerContext
from ..db.applications import Application
from ..db.models import User, UserSession
from ..db.oauth import AuthorizationCode
from ..settings import Settings
from .applications import find_application
from .tokens import (
    DEFAULT_AMR,
    AccessGrant,
    TokenPair,
    start_access_session,
    start_session,
)

__all__ = [
    "AUTHORIZE_PATH",
    "OFFLINE_ACCESS",
    "OIDC_REDIRECTED",
    "AuthorizationRequest",
    "CodeRefused",
    "PageError",
    "Redemption",
    "RedirectError",
    "issue_code",
    "parse_query",
    "pkce_challenge",
    "redeem_code",
    "redirect_uri_matches",
    "response_location",
    "validate_request",
]

AUTHORIZE_PATH: Final = "/api/oauth/authorize"
#: The scope that gets an application a refresh token (OpenID Connect Core §11).
OFFLINE_ACCESS: Final = "offline_access"
MAX_QUERY_PARAMS: Final = 30
MAX_STATE_LENGTH: Final = 2048
MAX_CODE_LENGTH: Final = 256
#: Spent and expired codes are kept this long for reuse detection, then deleted.
CODE_RETENTION: Final = timedelta(days=1)
#: RFC 7636 §4.2: BASE64URL(SHA256(verifier)) without padding is always 43 characters.
_CHALLENGE: Final = re.compile(r"[A-Za-z0-9_-]{43}")
#: RFC 7636 §4.1: 43 to 128 unreserved characters.
_VERIFIER: Final = re.compile(r"[A-Za-z0-9._~-]{43,128}")
_LOOPBACK: Final = re.compile(
    r"http://(?P<host>127\.0\.0\.1|\[::1\]|localhost)(?::(?P<port>[1-9][0-9]{0,4}))?"
    r"(?P<rest>[/?][^#]*)?"
)
_PROMPTS: Final = frozenset({"none", "login", "consent", "select_account"})
MAX_NONCE_LENGTH: Final = 2048
MAX_HINT_LENGTH: Final = 8192
#: Errors sent to the redirect URI even to a browser that never consented (OIDC Core
#: §3.1.2.6, §6): the application asked a question only that answer settles.
OIDC_REDIRECTED: Final = frozenset({
    "login_required", "consent_required", "interaction_required",
    "account_selection_required", "request_not_supported", "request_uri_not_supported",
})
_REVOKED_REUSE: Final = "authorization_code_reuse"


class PageError(Exception):
    """A request that must not be redirected: shown as an error page (``status``)."""

    def __init__(self, message: str, status_code: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code


class RedirectError(Exception):
    """An RFC 6749 §4.1.2.1 error, sent to the validated ``redirect_uri``."""

    def __init__(
        self, error: str, description: str, *, client_id: str, redirect_uri: str,
        state: str | None,
    ) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.client_id = client_id
        self.redirect_uri = redirect_uri
        self.state = state

    def location(self, issuer: str) -> str:
        """Where the browser is sent: the redirect URI with the error, state and ``iss``."""
        return response_location(
            self.redirect_uri,
            {"error": self.error, "error_description": self.description},
            state=self.state, issuer=issuer,
        )


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    """A validated authorization request.

    ``query`` is the parsed query as it came (used to continue the same request after
    the login page); ``prompt`` the OIDC ``prompt`` values; ``scopes`` in request order.
    """

    client: Application
    redirect_uri: str
    scopes: tuple[str, ...]
    state: str | None
    code_challenge: str
    prompt: frozenset[str]
    query: tuple[tuple[str, str], ...]
    nonce: str | None = None
    max_age: int | None = None
    login_hint: str | None = None
    id_token_hint: str | None = None

    def error(self, error: str, description: str) -> RedirectError:
        """A :class:`RedirectError` to this request's redirect URI."""
        return RedirectError(
            error, description, client_id=self.client.client_id,
            redirect_uri=self.redirect_uri, state=self.state,
        )

    def path(self, *, without_prompts: frozenset[str] = frozenset()) -> str:
        """This request as a path on this server (``/api/oauth/authorize?...``).

        ``without_prompts`` are dropped from ``prompt``, so a request asking for
        ``prompt=login`` does not ask again once the user has signed in; ``max_age``
        goes with them, for the same reason (``max_age=0`` would ask for ever).
        """
        pairs: list[tuple[str, str]] = []
        for name, value in self.query:
            if name == "max_age" and without_prompts:
                continue
            if name == "prompt" and without_prompts:
                value = " ".join(p for p in value.split() if p not in without_prompts)
                if not value:
                    continue
            pairs.append((name, value))
        return f"{AUTHORIZE_PATH}?{urlencode(pairs)}"


def parse_query(raw: str | bytes) -> list[tuple[str, str]]:
    """The pairs of a query string, decoded (UTF-8, strict); ``PageError`` if unreadable."""
    try:
        text = raw.decode("ascii") if isinstance(raw, bytes) else raw
        return parse_qsl(
            text, keep_blank_values=True, max_num_fields=MAX_QUERY_PARAMS, errors="strict",
            strict_parsing=False,
        )
    except (UnicodeDecodeError, ValueError):
        raise PageError("The authorization request cannot be read") from None


def _loopback_parts(uri: str) -> tuple[str, str] | None:
    match = _LOOPBACK.fullmatch(uri)
    if match is None or (match.group("port") and int(match.group("port")) > 65535):
        return None
    return match.group("host"), match.group("rest") or ""


def redirect_uri_matches(registered: list[str], requested: str) -> bool:
    """Whether ``requested`` is one of ``registered`` (see the module docstring).

    >>> redirect_uri_matches(["http://127.0.0.1/cb"], "http://127.0.0.1:53412/cb")
    True
    >>> redirect_uri_matches(["https://app.example.com/cb"], "https://app.example.com/cb/")
    False
    """
    if requested in registered:
        return True
    asked = _loopback_parts(requested)
    if asked is None:
        return False
    return any(_loopback_parts(uri) == asked for uri in registered)


def _single(params: Mapping[str, list[str]], name: str) -> str | None:
    values = params.get(name)
    if not values:
        return None
    return values[0] if len(values) == 1 else None


def validate_request(
    db: Session, settings: Settings, pairs: list[tuple[str, str]]
) -> AuthorizationRequest:
    """Validate an authorization request; raises :class:`PageError` or :class:`RedirectError`."""
    params: dict[str, list[str]] = {}
    for name, value in pairs:
        params.setdefault(name, []).append(value)
    client_ids = params.get("client_id", [])
    if len(client_ids) != 1 or not client_ids[0]:
        raise PageError(
            "The authorization request names no application (client_id)"
            if not client_ids or not client_ids[0] else "client_id is given more than once"
        )
    client = find_application(db, client_ids[0]) if len(client_ids[0]) <= 64 else None
    if client is None:
        raise PageError("Unknown application: the client_id is not registered here")
    redirect_uris = params.get("redirect_uri", [])
    if len(redirect_uris) != 1 or not redirect_uris[0]:
        raise PageError(
            "The authorization request has no redirect_uri"
            if not redirect_uris or not redirect_uris[0]
            else "redirect_uri is given more than once"
        )
    redirect_uri = redirect_uris[0]
    if not redirect_uri_matches(list(client.redirect_uris), redirect_uri):
        raise PageError(
            f"The redirect_uri is not registered for {client.name}; the application must "
            "send exactly one of its registered redirect URIs"
        )
    states = params.get("state", [])
    state = states[0] if len(states) == 1 and len(states[0]) <= MAX_STATE_LENGTH else None

    def fail(error: str, description: str) -> RedirectError:
        return RedirectError(
            error, description, client_id=client.client_id, redirect_uri=redirect_uri,
            state=state,
        )

    for name, values in params.items():
        if len(values) > 1:
            raise fail("invalid_request", f"Parameter {name} is given more than once")
    if states and state is None:
        raise fail("invalid_request", f"state must be at most {MAX_STATE_LENGTH} characters")
    response_type = _single(params, "response_type")
    if not response_type:
        raise fail("invalid_request", "Missing parameter: response_type")
    if response_type != "code":
        raise fail("unsupported_response_type", "Only response_type=code is supported")
    challenge = _single(params, "code_challenge")
    method = _single(params, "code_challenge_method")
    if not challenge:
        raise fail("invalid_request", "PKCE is required: send code_challenge (S256)")
    if method != "S256":
        raise fail(
            "invalid_request",
            "code_challenge_method must be S256 (plain is not accepted)"
            if method else "Missing parameter: code_challenge_method (S256)",
        )
    if not _CHALLENGE.fullmatch(challenge):
        raise fail(
            "invalid_request",
            "code_challenge must be the base64url SHA-256 of the verifier (43 characters)",
        )
    try:
        scopes = _requested_scopes(params, client)
    except ValueError as exc:
        raise fail("invalid_scope", str(exc)) from None
    prompt = frozenset((_single(params, "prompt") or "").split())
    if not prompt <= _PROMPTS or ("none" in prompt and len(prompt) > 1):
        raise fail(
            "invalid_request", "prompt must be none, or any of login, select_account, consent"
        )
    return AuthorizationRequest(
        client=client, redirect_uri=redirect_uri, scopes=scopes, state=state,
        code_challenge=challenge, prompt=prompt, query=tuple(pairs),
        **_oidc_parameters(params, fail),
    )


def _oidc_parameters(
    params: Mapping[str, list[str]], fail: Callable[[str, str], RedirectError]
) -> dict[str, Any]:
    """``nonce``, ``max_age``, ``login_hint``, ``id_token_hint`` (OIDC Core §3.1.2.1);
    ``request`` and ``request_uri`` refused (§6.1, §6.2)."""
    if "request" in params:
        raise fail("request_not_supported", "Request objects (request) are not supported")
    if "request_uri" in params:
        raise fail("request_uri_not_supported", "request_uri is not supported")
    if _single(params, "response_mode") not in (None, "query"):
        # Discovery lists query alone; another mode would answer where the client is
        # not listening (OAuth 2.0 Multiple Response Types §2.1).
        raise fail("invalid_request", "Only response_mode=query is supported")
    nonce = _single(params, "nonce")
    if nonce is not None and not 0 < len(nonce) <= MAX_NONCE_LENGTH:
        raise fail("invalid_request", f"nonce must be 1 to {MAX_NONCE_LENGTH} characters")
    raw_age = _single(params, "max_age")
    max_age = None
    if raw_age is not None:
        if not raw_age.isascii() or not raw_age.isdigit() or len(raw_age) > 10:
            raise fail("invalid_request", "max_age must be a whole number of seconds")
        max_age = int(raw_age)
    hints = {name: _single(params, name) or None for name in ("login_hint", "id_token_hint")}
    for name, value in hints.items():
        if value is not None and len(value) > MAX_HINT_LENGTH:
            raise fail("invalid_request", f"{name} is too long")
    return {"nonce": nonce, "max_age": max_age, **hints}


def _requested_scopes(params: Mapping[str, list[str]], client: Application) -> tuple[str, ...]:
    """The scopes asked for, in order, without repeats; ``ValueError`` naming a foreign one."""
    raw = _single(params, "scope") or ""
    allowed = list(client.scopes)
    requested = [scope for scope in dict.fromkeys(raw.split(" ")) if scope] or allowed
    for scope in requested:
        if scope not in allowed:
            raise ValueError(
                f"The application may not ask for {scope[:64]}; it may ask for "
                + " ".join(allowed)
            )
    return tuple(requested)


def response_location(
    redirect_uri: str, params: Mapping[str, str], *, state: str | None, issuer: str
) -> str:
    """``redirect_uri`` with ``params``, ``state`` (when given) and ``iss`` (RFC 9207) added.

    A query the registered URI already has is kept (RFC 6749 §3.1.2).
    """
    pairs = dict(params)
    if state is not None:
        pairs["state"] = state
    pairs["iss"] = issuer
    separator = "&" if "?" in redirect_uri else "?"
    return redirect_uri + separator + urlencode(pairs)


def pkce_challenge(verifier: str) -> str:
    """The S256 challenge of ``verifier`` (RFC 7636 §4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def issue_code(
    db: Session,
    ctx: ServerContext,
    request: AuthorizationRequest,
    user_id: str,
    amr: str = DEFAULT_AMR,
    *,
    auth_time: datetime | None = None,
    browser_session_id: str | None = None,
) -> str:
    """Store a new code for ``user_id`` bound to ``request``; returns the code itself.

    ``amr`` is how the user signed in on the pages (space-separated RFC 8176 values): the
    session the code opens, and its access tokens, carry it. ``auth_time`` (when) and
    ``browser_session_id`` (the sign-in's session) go to the id tokens, with the
    request's ``nonce``.
    """
    now = ctx.clock()
    code = secrets.token_urlsafe(32)
    db.execute(delete(AuthorizationCode).where(AuthorizationCode.expires_at < now - CODE_RETENTION))
    db.add(
        AuthorizationCode(
            code_hash=_hash(code), client_id=request.client.client_id, user_id=user_id,
            redirect_uri=request.redirect_uri, code_challenge=request.code_challenge,
            scopes=" ".join(request.scopes), created_at=now,
            expires_at=now + timedelta(seconds=ctx.settings.authorization_code_ttl), amr=amr,
            nonce=request.nonce, auth_time=auth_time, browser_session_id=browser_session_id,
        )
    )
    db.flush()
    return code


class CodeRefused(Exception):
    """A code was not redeemed; ``reason`` is a machine word, ``message`` prose.

    Reasons: ``unknown``, ``reused`` (its tokens have now been revoked), ``expired``,
    ``foreign`` (another client's: answered as ``unknown``), ``redirect_uri``,
    ``verifier_malformed``, ``verifier`` (does not match the challenge), ``revoked``
    (the account is disabled).
    """

    MESSAGES: Final = {
        "unknown": "Invalid authorization code",
        "reused": "Authorization code already used; the tokens issued with it have been revoked",
        "expired": "Authorization code expired",
        "foreign": "Invalid authorization code",
        "redirect_uri": "redirect_uri differs from the one of the authorization request",
        "verifier_malformed": (
            "code_verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~ (RFC 7636 §4.1)"
        ),
        "verifier": "code_verifier does not match the code_challenge",
        "revoked": "The account of this authorization code is disabled",
    }

    def __init__(self, reason: str) -> None:
        self.reason = reason
        self.message = self.MESSAGES[reason]
        super().__init__(self.message)


@dataclass(frozen=True, slots=True)
class Redemption:
    """What a client presents at the token endpoint with a code."""

    code: str
    client_id: str
    redirect_uri: str
    verifier: str
    user_agent: str | None = None
    ip_address: str | None = None


def _problem(row: AuthorizationCode, asked: Redemption, now: datetime) -> str | None:
    if row.expires_at <= now:
        return "expired"
    if row.redirect_uri != asked.redirect_uri:
        return "redirect_uri"
    if not _VERIFIER.fullmatch(asked.verifier):
        return "verifier_malformed"
    if not hmac.compare_digest(pkce_challenge(asked.verifier), row.code_challenge):
        return "verifier"
    return None


def _reuse(db: Session, row: AuthorizationCode, now: datetime) -> CodeRefused:
    if row.session_id is not None:
        db.execute(
            update(UserSession)
            .where(UserSession.id == row.session_id, UserSession.revoked_at.is_(None))
            .values(revoked_at=now, revoked_reason=_REVOKED_REUSE)
        )
    db.commit()
    return CodeRefused("reused")


def redeem_code(
    db: Session, ctx: ServerContext, asked: Redemption
) -> TokenPair | AccessGrant:
    """Spend a code and start its session; ``db`` must be a write session.

    The answer has a refresh token (a :class:`TokenPair`) only when ``offline_access``
    was granted; otherwise an :class:`AccessGrant`, whose session ends with its token.

    Raises :class:`CodeRefused`; a spent code and its revocation (reuse) are committed
    before raising, so the caller's rollback cannot undo them.
    """
    if not asked.code or len(asked.code) > MAX_CODE_LENGTH:
        raise CodeRefused("unknown")
    row = db.execute(
        select(AuthorizationCode).where(AuthorizationCode.code_hash == _hash(asked.code))
    ).scalar_one_or_none()
    if row is None:
        raise CodeRefused("unknown")
    if row.client_id != asked.client_id:
        # Another client's code: nothing is written (no burn, no reuse revocation).
        raise CodeRefused("foreign")
    now = ctx.clock()
    if row.used_at is not None:
        raise _reuse(db, row, now)
    problem = _problem(row, asked, now)
    won = db.execute(
        update(AuthorizationCode)
        .where(AuthorizationCode.id == row.id, AuthorizationCode.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if won.rowcount != 1:  # type: ignore[attr-defined]
        # Another redemption spent it since we read it (PostgreSQL waited for its commit).
        db.expire(row)
        db.refresh(row)
        raise _reuse(db, row, now)
    if problem is not None:
        db.commit()
        raise CodeRefused(problem)
    user = db.get(User, row.user_id)
    if user is None or user.disabled_at is not None:
        db.commit()
        raise CodeRefused("revoked")
    scopes = row.scopes.split()
    start = start_session if OFFLINE_ACCESS in scopes else start_access_session
    pair = start(
        db, ctx, user, scopes=scopes, client_id=row.client_id,
        user_agent=asked.user_agent, ip_address=asked.ip_address, amr=row.amr.split(),
    )
    db.execute(
        update(AuthorizationCode)
        .where(AuthorizationCode.id == row.id)
        .values(session_id=pair.session_id)
        .execution_options(synchronize_session=False)
    )
    # OpenID Connect: id tokens of this session, refreshed ones too, say when and in which
    # sign-in the user authenticated (auth_time, sid).
    db.execute(
        update(UserSession)
        .where(UserSession.id == pair.session_id)
        .values(auth_time=row.auth_time, browser_session_id=row.browser_session_id)
        .execution_options(synchronize_session=False)
    )
    return pair
