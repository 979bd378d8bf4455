"""Token introspection (RFC 7662) and revocation (RFC 7009).

**Access tokens** are checked as the server's own Bearer guard checks them: the
library verifier of the :class:`~.signing.Signer` (signature, ``exp``, ``iss``,
``aud``, ``type``), then the session named by ``sid`` must be live and the account not
disabled, so a revoked session introspects inactive at once. Any caller but a public
client may introspect an access token: resource servers do, and the answer tells
nothing its holder could not decode from the token itself. ``username`` (the email) is
given for an application's token only when ``email`` or ``read:profile`` was granted
(``userinfo.email_granted``).

**Refresh tokens** are looked up by their hash. A refresh token belongs to the client
it was issued to, as in rotation (``services/tokens.py``): only that client sees it
active or may revoke it, and a first-party token only a caller naming no client.
A rotated, expired or revoked one is inactive.

Revoking either kind revokes its whole **session**: the refresh-token family and every
access token issued in it (access tokens are checked against their session). An access
token without a session, or one that no longer verifies, is left alone. Client-credentials
access tokens have neither user nor session: ``services/client_credentials.py`` says
when they are live, and revokes one by its ``jti``. As RFC 7009
§2.2 asks, the answer is the same 200 whether anything was revoked or not, so the
endpoint never confirms that a token exists; a token of another client counts as
unknown to the caller.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from sqlalchemy import bindparam, select

from tekcify_auth._errors import AuthenticationError
from tekcify_auth._models import UserPayload

from ..context import ServerContext
from ..db.lookups import Lookup
from ..db.models import RefreshToken, User, UserSession
from ..errors import ApiError
from . import client_credentials, sessions, tokens
from .applications import ClientFacts
from .client_auth import invalid_client
from .userinfo import email_granted

__all__ = ["INACTIVE", "JSON_FIELDS", "TokenFacts", "find_token", "introspect", "revoke"]

TokenKind = Literal["access_token", "refresh_token"]

#: The whole answer for a token that is not active (RFC 7662 §2.2).
INACTIVE: Final[dict[str, Any]] = {"active": False}
_REVOKED_REASON: Final = "token_revoked"
#: The Tekcify JSON form of both endpoints, ``{token, clientId?, clientSecret?,
#: tokenTypeHint?}``, mapped to the RFC parameter names of the form-encoded one.
JSON_FIELDS: Final = {
    "token": "token", "clientId": "client_id", "clientSecret": "client_secret",
    "tokenTypeHint": "token_type_hint",
}


@dataclass(frozen=True, slots=True)
class TokenFacts:
    """What is known of a live token, for the introspection answer."""

    kind: TokenKind
    sub: str
    scope: str
    client_id: str | None
    username: str | None
    exp: int
    iat: int | None
    iss: str
    aud: str | None
    session_id: str | None
    user_id: str | None

    def body(self) -> dict[str, Any]:
        """The RFC 7662 answer with the Tekcify camelCase aliases; absent values omitted."""
        body: dict[str, Any] = {
            "active": True, "sub": self.sub, "scope": self.scope,
            "clientId": self.client_id, "client_id": self.client_id,
            "username": self.username, "exp": self.exp, "iat": self.iat, "iss": self.iss,
            "aud": self.aud, "tokenType": self.kind, "token_type": self.kind,
        }
        return {key: value for key, value in body.items() if value is not None}


def _order(hint: str | None) -> tuple[TokenKind, TokenKind]:
    # RFC 7662 §2.1: the hint only decides which kind is looked up first.
    if hint == "refresh_token":
        return ("refresh_token", "access_token")
    return ("access_token", "refresh_token")


def _access_facts(
    ctx: ServerContext, token: str, caller: ClientFacts | None = None
) -> TokenFacts | None:
    result = ctx.guard.verifier.verify(token)
    if not result.valid:
        return None
    claims: Mapping[str, Any] = result.payload
    sub, sid = claims.get("sub"), claims.get("sid")
    if not isinstance(sub, str) or not sub or (sid is not None and not isinstance(sid, str)):
        return None
    if client_credentials.is_client_token(claims):
        # No user and no session: live while its client and secret are (see the module).
        if client_credentials.live_client_token(ctx.db.lookups, claims, known=caller) is None:
            return None
    else:
        try:
            sessions.ensure_live(ctx.db.lookups, UserPayload(user_id=sub, session_id=sid))
        except AuthenticationError:
            return None
    scopes = claims.get("scopes") or []
    client_id, email, iat = claims.get("clientId"), claims.get("email"), claims.get("iat")
    client_id = client_id if isinstance(client_id, str) else None
    return TokenFacts(
        kind="access_token", sub=sub, scope=" ".join(scopes), client_id=client_id,
        username=email if isinstance(email, str) and email_granted(scopes, client_id) else None,
        exp=int(claims["exp"]), iat=int(iat) if isinstance(iat, int | float) else None,
        iss=ctx.settings.issuer, aud=ctx.settings.audience, session_id=sid,
        user_id=None if client_credentials.is_client_token(claims) else sub,
    )


# A refresh token by its hash, with its session's and user's state (db/lookups.py).
_REFRESH = Lookup(
    select(
        RefreshToken.created_at, RefreshToken.expires_at, RefreshToken.rotated_at,
        UserSession.id.label("session_id"), UserSession.client_id, UserSession.scopes,
        UserSession.revoked_at, User.id.label("user_id"), User.email, User.disabled_at,
    )
    .join(UserSession, RefreshToken.session_id == UserSession.id)
    .join(User, UserSession.user_id == User.id)
    .where(RefreshToken.token_hash == bindparam("token_hash"))
)


def _refresh_row(ctx: ServerContext, token: str) -> Any:
    """The :data:`_REFRESH` row of ``token``, or ``None``."""
    if len(token) > tokens.MAX_REFRESH_TOKEN_LENGTH:
        return None
    return ctx.db.lookups.one(_REFRESH, token_hash=tokens.hash_token(token))


def _refresh_facts(ctx: ServerContext, token: str, client_id: str | None) -> TokenFacts | None:
    found = _refresh_row(ctx, token)
    if (
        found is None
        or found.client_id != client_id
        or found.rotated_at is not None
        or found.expires_at <= ctx.clock()
        or found.revoked_at is not None
        or found.disabled_at is not None
    ):
        return None
    return TokenFacts(
        kind="refresh_token", sub=found.user_id, scope=found.scopes, client_id=found.client_id,
        username=found.email if email_granted(found.scopes.split(), found.client_id) else None,
        exp=int(found.expires_at.timestamp()),
        iat=int(found.created_at.timestamp()), iss=ctx.settings.issuer, aud=None,
        session_id=found.session_id, user_id=found.user_id,
    )


def find_token(
    ctx: ServerContext, token: str, hint: str | None, client: ClientFacts | None
) -> TokenFacts | None:
    """The facts of ``token`` if it is live and ``client`` may see it, else ``None``."""
    client_id = client.client_id if client is not None else None
    for kind in _order(hint):
        if kind == "access_token":
            facts = _access_facts(ctx, token, client)
        else:
            facts = _refresh_facts(ctx, token, client_id)
        if facts is not None:
            return facts
    return None


def introspect(
    ctx: ServerContext, token: str, hint: str | None, client: ClientFacts | None
) -> dict[str, Any]:
    """The RFC 7662 answer for ``token`` asked by ``client`` (``None``: no client).

    A public client is refused (``invalid_client``): introspection is for resource
    servers and confidential clients (RFC 7662 §2.1), and a client anyone can name has
    nothing to prove who is asking. It only reads: async routes run it with
    ``Database.run_read``.
    """
    if client is not None and client.client_secret_hash is None:
        raise invalid_client("A public client cannot introspect tokens")
    facts = find_token(ctx, token, hint, client)
    return dict(INACTIVE) if facts is None else facts.body()


def _session_to_revoke(
    ctx: ServerContext, token: str, hint: str | None, client_id: str | None
) -> tuple[str, str] | None:
    for kind in _order(hint):
        if kind == "refresh_token":
            # Any refresh token of the family, rotated or expired too: its holder wants
            # the session ended, and ending it is always safe.
            found = _refresh_row(ctx, token)
            if found is not None:
                return (
                    (found.user_id, found.session_id) if found.client_id == client_id else None
                )
        else:
            facts = _access_facts(ctx, token)
            if facts is not None:
                if facts.client_id != client_id or facts.session_id is None:
                    return None
                return (facts.sub, facts.session_id)
    return None


def revoke(ctx: ServerContext, token: str, hint: str | None, client: ClientFacts | None) -> None:
    """Revoke the session of ``token`` when ``client`` may; nothing otherwise (no error)."""
    client_id = client.client_id if client is not None else None
    if client_credentials.revoke_client_token(ctx, token, client_id):
        return
    target = _session_to_revoke(ctx, token, hint, client_id)
    if target is None:
        return
    user_id, session_id = target
    # ApiError here means "already revoked": the outcome the caller asked for.
    with ctx.db.write() as db, contextlib.suppress(ApiError):
        sessions.revoke_session(db, user_id, session_id, ctx.clock(), _REVOKED_REASON)
