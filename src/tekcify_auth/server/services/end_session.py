"""RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): the end-session rules.

An application sends the browser to the ``end_session_endpoint`` with any of
``id_token_hint``, ``client_id``, ``post_logout_redirect_uri``, ``state`` (and
``ui_locales`` or ``logout_hint``, which are ignored). :func:`validate_logout` checks
them before anything is shown; every problem is a :class:`LogoutRefused`, shown as an
error page and **never** a redirect, so the endpoint cannot be used to send a browser
anywhere that was not registered:

- **id_token_hint** must be an ID token this server signed: its signature checks
  against a key this server publishes in its JWKS, with that key's own algorithm (the
  header's ``alg`` must agree; ``none``, HMAC and other keys are refused), its ``iss``
  is the issuer discovery announces, and it is not an access or other token of ours
  (those carry a ``type`` claim). An expired hint is accepted (§2: the hint only says
  who the application believed was signed in). Its ``aud`` names the application when
  ``client_id`` is absent; when both are given they must agree.
- **post_logout_redirect_uri** must be one of the application's registered
  ``postLogoutRedirectUris``, compared character for character (no loopback port
  exception here), and needs an application to compare with.

A browser signed in on the pages is asked to confirm (a form with a CSRF token bound
to that sign-in, as the consent form is); the confirmation ends the sign-in
(:func:`end_sign_in`: its session is revoked, so ``GET /api/auth/sessions`` no longer
lists it) and, when the checkbox asks, the user's sessions with that application
(their refresh tokens stop working). Then the browser goes to the
``post_logout_redirect_uri`` with ``state``, or sees a signed-out page. A browser that
is not signed in has nothing to confirm: it is sent on at once only when a valid
``id_token_hint`` vouches for the request (§3: the OP "MUST NOT perform post-logout
redirection unless ... other means of confirming the legitimacy"); otherwise it sees
the signed-out page with a link back to the application.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final
from urllib.parse import urlencode

from joserfc import jws
from joserfc.errors import JoseError
from sqlalchemy import update
from sqlalchemy.orm import Session

from tekcify_auth._errors import ConfigurationError
from tekcify_auth._keys import SignatureRegistry, load_public_key

from ..db.applications import Application
from ..db.models import UserSession
from ..db.oauth import LoginSession
from . import activity
from .applications import find_application
from .sessions import revoke_own_session

__all__ = [
    "CONFIRM_PATH",
    "END_SESSION_PATH",
    "MAX_HINT_LENGTH",
    "HintClaims",
    "LogoutRefused",
    "LogoutRequest",
    "end_sign_in",
    "validate_logout",
    "verify_id_token_hint",
]

#: The ``end_session_endpoint`` (GET, or POST form-encoded, §2).
END_SESSION_PATH: Final = "/api/oauth/logout"
#: Where the confirmation form posts.
CONFIRM_PATH: Final = "/api/oauth/logout/confirm"
MAX_HINT_LENGTH: Final = 8192
MAX_STATE_LENGTH: Final = 2048
MAX_URI_LENGTH: Final = 2048
#: The parameters §2 defines; any other is ignored, as in OAuth requests.
_PARAMS: Final = frozenset(
    {"id_token_hint", "client_id", "post_logout_redirect_uri", "state", "ui_locales",
     "logout_hint"}
)
_INVALID_HINT: Final = "The id_token_hint is not an ID token of this server"
_REASON: Final = "logout"


class LogoutRefused(Exception):
    """A logout request that must not redirect: shown as an error page (400)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class HintClaims:
    """What a verified ``id_token_hint`` says: its subject, audiences and sign-in."""

    sub: str
    aud: tuple[str, ...]
    sid: str | None


def _b64_json(part: str) -> Any:
    padded = part + "=" * (-len(part) % 4)
    return json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))


def verify_id_token_hint(
    token: str, keys: Sequence[Mapping[str, Any]], issuer: str
) -> HintClaims:
    """The claims of ``token`` when this server signed it as an ID token.

    ``keys`` are the JWKS's keys (public JWKs with ``kid`` and ``alg``); ``issuer`` the
    ``iss`` ID tokens carry. The algorithm is the key's, never the header's alone (RFC
    8725 §3.1). ``exp`` is not checked (an expired hint is fine). Raises
    :class:`LogoutRefused`.
    """
    if len(token) > MAX_HINT_LENGTH or token.count(".") != 2:
        raise LogoutRefused(_INVALID_HINT)
    try:
        header = _b64_json(token.split(".", 1)[0])
    except (ValueError, binascii.Error, UnicodeError):
        raise LogoutRefused(_INVALID_HINT) from None
    if not isinstance(header, dict):
        raise LogoutRefused(_INVALID_HINT)
    kid, alg = header.get("kid"), header.get("alg")
    jwk = next((k for k in keys if isinstance(kid, str) and k.get("kid") == kid), None)
    if jwk is None or not isinstance(alg, str) or jwk.get("alg") != alg:
        raise LogoutRefused(_INVALID_HINT)
    try:
        key = load_public_key(jwk)
        verified = jws.deserialize_compact(
            token, key, registry=SignatureRegistry(algorithms=[alg])
        )
        claims = json.loads(verified.payload)
    except (ConfigurationError, JoseError, ValueError, TypeError):
        raise LogoutRefused(_INVALID_HINT) from None
    if not isinstance(claims, dict) or claims.get("iss") != issuer or "type" in claims:
        raise LogoutRefused(_INVALID_HINT)
    sub, aud, sid = claims.get("sub"), claims.get("aud"), claims.get("sid")
    audiences = (aud,) if isinstance(aud, str) else tuple(aud) if isinstance(aud, list) else ()
    if (
        not isinstance(sub, str) or not sub or not audiences
        or not all(isinstance(a, str) and a for a in audiences)
    ):
        raise LogoutRefused(_INVALID_HINT)
    return HintClaims(sub=sub, aud=audiences, sid=sid if isinstance(sid, str) else None)


@dataclass(frozen=True, slots=True)
class LogoutRequest:
    """A validated end-session request.

    ``client`` is the application it names (by ``client_id`` or the hint's ``aud``),
    if any; ``post_logout_redirect_uri`` is one of its registered ones, or ``None``;
    ``hint`` the verified ``id_token_hint``; ``query`` the parameters as they came
    (what the confirmation form carries, to be validated again).
    """

    client: Application | None
    post_logout_redirect_uri: str | None
    state: str | None
    hint: HintClaims | None
    query: tuple[tuple[str, str], ...]

    def location(self) -> str | None:
        """Where the browser goes after signing out: the URI with ``state``, or ``None``."""
        uri = self.post_logout_redirect_uri
        if uri is None:
            return None
        if self.state is None:
            return uri
        return uri + ("&" if "?" in uri else "?") + urlencode({"state": self.state})

    @property
    def encoded(self) -> str:
        """The request's parameters, form-encoded."""
        return urlencode(self.query)


def _client_from(db: Session, client_id: str | None, hint: HintClaims | None) -> Application | None:
    if client_id is not None:
        if hint is not None and client_id not in hint.aud:
            raise LogoutRefused(
                "The client_id is not the application the id_token_hint was issued to"
            )
        client = find_application(db, client_id) if len(client_id) <= 64 else None
        if client is None:
            raise LogoutRefused("Unknown application: the client_id is not registered here")
        return client
    if hint is None or len(hint.aud) != 1:
        return None  # several audiences: the application must say which with client_id
    return find_application(db, hint.aud[0]) if len(hint.aud[0]) <= 64 else None


def validate_logout(
    db: Session,
    pairs: Sequence[tuple[str, str]],
    *,
    keys: Sequence[Mapping[str, Any]],
    issuer: str,
) -> LogoutRequest:
    """Validate an end-session request (see the module); raises :class:`LogoutRefused`."""
    params: dict[str, str] = {}
    kept: list[tuple[str, str]] = []
    for name, value in pairs:
        if name not in _PARAMS or value == "":
            continue
        if name in params:
            raise LogoutRefused(f"{name} is given more than once")
        params[name] = value
        kept.append((name, value))
    raw_hint = params.get("id_token_hint")
    hint = verify_id_token_hint(raw_hint, keys, issuer) if raw_hint is not None else None
    client = _client_from(db, params.get("client_id"), hint)
    uri = params.get("post_logout_redirect_uri")
    state = params.get("state")
    if state is not None and len(state) > MAX_STATE_LENGTH:
        raise LogoutRefused(f"state must be at most {MAX_STATE_LENGTH} characters")
    if uri is not None:
        if client is None:
            raise LogoutRefused(
                "The post_logout_redirect_uri names no application: send client_id or "
                "id_token_hint with it"
            )
        if len(uri) > MAX_URI_LENGTH or uri not in client.post_logout_redirect_uris:
            raise LogoutRefused(
                f"The post_logout_redirect_uri is not registered for {client.name}; the "
                "application must send exactly one of its registered post-logout "
                "redirect URIs"
            )
    return LogoutRequest(
        client=client, post_logout_redirect_uri=uri, state=state, hint=hint,
        query=tuple(kept),
    )


def end_sign_in(
    db: Session,
    login: LoginSession,
    now: datetime,
    *,
    client_id: str | None,
    end_app_sessions: bool,
    address: str | None,
    user_agent: str | None,
) -> int:
    """End the page sign-in ``login`` (logged as ``logout``); with ``end_app_sessions``,
    also the user's live sessions with ``client_id`` (logged as ``sessions_revoked``).

    Returns how many application sessions were ended.
    """
    revoke_own_session(
        db, login.user_id, login.session_id, now, reason=_REASON, address=address,
        user_agent=user_agent,
    )
    if not end_app_sessions or client_id is None:
        return 0
    result = db.execute(
        update(UserSession)
        .where(
            UserSession.user_id == login.user_id, UserSession.client_id == client_id,
            UserSession.revoked_at.is_(None),
        )
        .values(revoked_at=now, revoked_reason=_REASON)
        .execution_options(synchronize_session=False)
    )
    count = int(result.rowcount)  # type: ignore[attr-defined]
    activity.record(
        db, now, user_id=login.user_id, activity_type="sessions_revoked", address=address,
        user_agent=user_agent, metadata={"count": count, "clientId": client_id},
    )
    return count
