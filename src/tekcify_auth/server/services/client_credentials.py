"""The ``client_credentials`` grant (RFC 6749 §4.4) and the life of its tokens.

Only a **confidential** client may use it (a public client has nothing to prove it is
itself: ``unauthorized_client``), and only once an administrator allowed it (``tekcify-auth
apps allow-client-credentials CLIENT_ID --scopes "..."``; until then, or after ``apps
deny-client-credentials``, it is ``unauthorized_client``, RFC 6749 §5.2): anyone may
register an application, but a token that acts for no user is the operator's to give.
It gets an access token for the allowed scopes that the application also registered
(or the subset it asks for; anything else is ``invalid_scope``) and no refresh token
(§4.4.3).
The token's ``sub`` and ``clientId`` are the client id and its ``aud`` is
``[audience, client id]``, as every application's token; it has no ``sid`` and no
``email``: it acts for no user, so the user endpoints refuse it, and so do the library's
guards unless told ``allow_client_tokens=True``.

**Revocation.** The token belongs to no session, so it is checked on its own
(introspection, ``services/introspection.py``): it is live while

* its application exists (deleting the application revokes its tokens),
* its ``cfp`` claim, a digest of the client secret's stored hash, still matches
  (regenerating the secret revokes every token got with the old one),
* the application still has every scope of the token, and the administrator's allowance
  still covers them (``deny-client-credentials`` revokes every client token at once), and
* its ``jti`` is not in ``revoked_client_tokens``: RFC 7009 revocation by the client
  lists it there until it expires.

``cfp`` reveals nothing usable: the secret is 256 random bits and the claim is a
truncated SHA-256 of its SHA-256.
"""

from __future__ import annotations

import contextlib
import hashlib
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import bindparam, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..context import ServerContext
from ..db.lookups import Lookup, Lookups
from ..db.oauth import ClientCredentialsAllowance, RevokedClientToken
from ..errors import OAuthError
from .applications import ClientFacts, find_application, find_client
from .client_auth import invalid_client
from .grants import Grant, IssuedTokens, TokenRequest, register_grant

__all__ = [
    "FINGERPRINT_CLAIM",
    "AllowanceRefused",
    "allow_client_credentials",
    "allowed_scopes",
    "client_token_claims",
    "deny_client_credentials",
    "is_client_token",
    "live_client_token",
    "revoke_client_token",
]

#: The claim binding a client token to the client secret it was got with.
FINGERPRINT_CLAIM: Final = "cfp"
_FINGERPRINT_INFO: Final = b"tekcify-auth client token v1|"


def _fingerprint(secret_hash: str) -> str:
    return hashlib.sha256(_FINGERPRINT_INFO + secret_hash.encode()).hexdigest()[:32]


def client_token_claims(
    ctx: ServerContext, application: ClientFacts, scopes: list[str], now: datetime
) -> dict[str, Any]:
    """The claims of a client-credentials access token of ``application``."""
    if application.client_secret_hash is None:
        raise ValueError("a public client has no client-credentials tokens")
    issued = int(now.timestamp())
    return {
        "iss": ctx.settings.issuer,
        "aud": [ctx.settings.audience, application.client_id],
        "sub": application.client_id,
        "type": "access",
        "scopes": scopes,
        "clientId": application.client_id,
        FINGERPRINT_CLAIM: _fingerprint(application.client_secret_hash),
        "jti": str(uuid.uuid4()),
        "iat": issued,
        "exp": issued + ctx.settings.access_token_ttl,
    }


class AllowanceRefused(Exception):
    """An allowance cannot be changed as asked (no such application, a public client...)."""


_NEVER_TO_CLIENTS: Final = frozenset({"offline_access"})


def allowed_scopes(application: ClientFacts) -> list[str] | None:
    """The scopes ``application`` may get by ``client_credentials``; ``None``: not allowed.

    The administrator's allowance narrowed to what the application registered, in the
    application's order.
    """
    if application.client_credentials_scopes is None:
        return None
    allowance = set(application.client_credentials_scopes.split())
    # offline_access asks for refresh tokens, which this grant never issues (RFC 6749
    # §4.4.3): it is never granted here, whatever the allowance says.
    return [
        scope for scope in application.scopes
        if scope in allowance and scope not in _NEVER_TO_CLIENTS
    ]


def allow_client_credentials(
    db: Session, client_id: str, scopes: list[str], now: datetime
) -> tuple[list[str], list[str]]:
    """Allow ``client_id`` to get client tokens for ``scopes`` (replacing any allowance).

    Returns the scopes granted now (those the application registered) and the rest,
    granted once the application registers them. Raises :class:`AllowanceRefused`.
    """
    application = find_application(db, client_id)
    if application is None:
        raise AllowanceRefused(f"no application {client_id!r}")
    if application.client_secret_hash is None:
        raise AllowanceRefused(
            f"{client_id} is a public client: it has no secret, so no client_credentials"
        )
    wanted = sorted({scope for scope in scopes if scope})
    if not wanted:
        raise AllowanceRefused("give at least one scope")
    text = " ".join(wanted)
    row = db.get(ClientCredentialsAllowance, client_id, with_for_update=True)
    if row is None:
        db.add(ClientCredentialsAllowance(client_id=client_id, scopes=text, allowed_at=now))
    else:
        row.scopes, row.allowed_at = text, now
    db.flush()
    registered = set(application.scopes)
    return (
        [scope for scope in wanted if scope in registered],
        [scope for scope in wanted if scope not in registered],
    )


def deny_client_credentials(db: Session, client_id: str) -> bool:
    """Withdraw ``client_id``'s allowance; its live client tokens stop being active.

    Returns whether there was one. Raises :class:`AllowanceRefused` for an unknown client.
    """
    if find_application(db, client_id) is None:
        raise AllowanceRefused(f"no application {client_id!r}")
    row = db.get(ClientCredentialsAllowance, client_id)
    if row is None:
        return False
    db.delete(row)
    db.flush()
    return True


def _requested(request: TokenRequest, allowed: list[str]) -> list[str]:
    raw = request.params.get("scope")
    if raw is None:
        return allowed
    # offline_access is left out quietly (RFC 6749 §3.3 lets the server narrow the scope;
    # the answer's "scope" says what was granted): a client that sends every scope it is
    # configured with still gets its token.
    requested = [
        scope for scope in dict.fromkeys(raw.split(" "))
        if scope and scope not in _NEVER_TO_CLIENTS
    ]
    for scope in requested:
        if scope not in allowed:
            raise OAuthError(
                "invalid_scope",
                f"This client may not ask for {scope[:64]}; it may ask for {' '.join(allowed)}",
            )
    return requested or allowed


def _client_credentials_grant(ctx: ServerContext, request: TokenRequest) -> IssuedTokens:
    application = request.client
    if application is None:
        raise invalid_client("client_credentials needs client authentication")
    if application.client_secret_hash is None:
        raise OAuthError(
            "unauthorized_client",
            "A public client cannot use client_credentials: it has no secret to prove "
            "who it is",
        )
    allowed = allowed_scopes(application)
    if allowed is None:
        raise OAuthError(
            "unauthorized_client",
            "This client may not use client_credentials: an administrator has not allowed it",
        )
    if not allowed:
        raise OAuthError("invalid_scope", "This client may get no scope by client_credentials")
    scopes = _requested(request, allowed)
    claims = client_token_claims(ctx, application, scopes, ctx.clock())
    return IssuedTokens(
        ctx.signer.sign(claims), ctx.settings.access_token_ttl, " ".join(scopes)
    )


def is_client_token(claims: Mapping[str, Any]) -> bool:
    """Whether verified ``claims`` are a client-credentials token's (no user, no session)."""
    sub = claims.get("sub")
    return (
        isinstance(sub, str)
        and claims.get("clientId") == sub
        and claims.get("sid") is None
        and claims.get("email") is None
    )


_REVOKED = Lookup(
    select(RevokedClientToken.jti).where(RevokedClientToken.jti == bindparam("jti"))
)


def live_client_token(
    lookups: Lookups, claims: Mapping[str, Any], *, known: ClientFacts | None = None
) -> ClientFacts | None:
    """The application of a verified client token, if the token is still live.

    Asked of the database each time (two indexed lookups), never cached, so revocation,
    a new secret or a withdrawn allowance holds from the next request on, on every
    instance. ``known``: the client this very request authenticated, read a moment ago;
    when the token is its own it is not read again (a client introspecting its tokens).
    """
    client_id, jti = claims.get("sub"), claims.get("jti")
    if (
        not isinstance(client_id, str) or not isinstance(jti, str)
        or len(client_id) > 64 or len(jti) > 64
    ):
        return None
    application = (
        known if known is not None and known.client_id == client_id
        else find_client(lookups, client_id)
    )
    if application is None or application.client_secret_hash is None:
        return None
    if claims.get(FINGERPRINT_CLAIM) != _fingerprint(application.client_secret_hash):
        return None
    scopes = claims.get("scopes")
    allowed = allowed_scopes(application)
    if not isinstance(scopes, list) or allowed is None or not set(scopes) <= set(allowed):
        return None
    revoked = lookups.one(_REVOKED, jti=jti)
    return None if revoked is not None else application


def revoke_client_token(ctx: ServerContext, token: str, client_id: str | None) -> bool:
    """Revoke ``token`` if it is a live client token of ``client_id``.

    Returns whether ``token`` is a client token at all (then the caller has nothing
    more to do: another client's token is left alone, RFC 7009 §2.1).
    """
    result = ctx.guard.verifier.verify(token)
    if not result.valid or not is_client_token(result.payload):
        return False
    claims = result.payload
    if claims.get("sub") != client_id:
        return True
    application = live_client_token(ctx.db.lookups, claims)
    if application is None:
        return True
    with ctx.db.write() as db:
        now = ctx.clock()
        db.execute(delete(RevokedClientToken).where(RevokedClientToken.expires_at < now))
        row = RevokedClientToken(
            jti=claims["jti"], client_id=application.client_id,
            expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC),
        )
        # A concurrent revocation of the same token may have listed it first: done too.
        with contextlib.suppress(IntegrityError), db.begin_nested():
            db.add(row)
    return True


register_grant(
    Grant("client_credentials", frozenset(), _client_credentials_grant, read_only=True)
)
