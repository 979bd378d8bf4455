"""The token endpoint's grants (RFC 6749 §4 to §6): a registry and the ``refresh_token`` grant.

``POST /api/oauth/token`` authenticates the client (``services/client_auth.py``) and
hands a :class:`TokenRequest` to :func:`exchange`, which looks the ``grant_type`` up in
:data:`GRANTS`. A grant is a :class:`Grant`: its name, the parameters it reads (which a
JSON body may therefore carry) and its handler. More grants plug in with
:func:`register_grant`; discovery lists what is registered.

The ``refresh_token`` grant (§6) is the rotation of ``services/tokens.py``: a token
belongs to the client it was issued to (``None``: a first-party session), and a
``scope`` parameter must name exactly the granted scopes, since this server does not
issue narrowed tokens on refresh (``invalid_scope`` otherwise; §6 allows no wider).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from .. import metrics
from ..context import ServerContext
from ..errors import OAuthError
from . import tokens
from .applications import ClientFacts
from .oidc import id_tokens

__all__ = [
    "COMMON_PARAMS",
    "GRANTS",
    "Grant",
    "IssuedTokens",
    "TokenRequest",
    "exchange",
    "json_fields",
    "register_grant",
]

#: Parameters of every token request, whatever the grant.
COMMON_PARAMS: Final = frozenset({"grant_type", "client_id", "client_secret", "scope"})


@dataclass(frozen=True, slots=True)
class TokenRequest:
    """A token request after client authentication.

    ``client`` is the authenticated application, ``None`` when the request named no
    client (first-party). ``params`` are the request's parameters.
    """

    grant_type: str
    params: dict[str, str]
    client: ClientFacts | None
    address: str | None = None
    user_agent: str | None = None
    #: The OpenID Connect issuer (the base URL the request came to): id tokens' ``iss``.
    issuer: str = ""

    def require(self, name: str) -> str:
        """The parameter ``name``; raises ``invalid_request`` when it is missing."""
        value = self.params.get(name)
        if value is None:
            raise OAuthError("invalid_request", f"Missing parameter: {name}")
        return value


@dataclass(frozen=True, slots=True)
class IssuedTokens:
    """What a grant issues: RFC 6749 §5.1 without the constant ``token_type``."""

    access_token: str
    expires_in: int
    scope: str
    refresh_token: str | None = None
    id_token: str | None = None

    def body(self) -> dict[str, str | int]:
        """``{access_token, token_type, expires_in, refresh_token?, scope, id_token?}``."""
        body: dict[str, str | int] = {
            "access_token": self.access_token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
        }
        if self.refresh_token is not None:
            body["refresh_token"] = self.refresh_token
        body["scope"] = self.scope
        if self.id_token is not None:
            body["id_token"] = self.id_token
        return body


GrantHandler = Callable[[ServerContext, TokenRequest], IssuedTokens]


@dataclass(frozen=True, slots=True)
class Grant:
    """A grant type: ``name`` (``grant_type``), the ``params`` it reads, its handler.

    ``uses_authorization_endpoint`` marks grants that start at ``/api/oauth/authorize``
    (discovery then advertises that endpoint and the ``code`` response type).
    ``read_only`` marks grants that write nothing (``client_credentials``): the token
    endpoint runs them with ``Database.run_read``, without a worker thread on SQLite.
    """

    name: str
    params: frozenset[str]
    handler: GrantHandler
    uses_authorization_endpoint: bool = False
    read_only: bool = False


#: The grants the token endpoint accepts, by ``grant_type``.
GRANTS: dict[str, Grant] = {}


def register_grant(grant: Grant) -> None:
    """Make the token endpoint accept ``grant`` (replacing one of the same name)."""
    GRANTS[grant.name] = grant


def is_read_only(grant_type: str | None) -> bool:
    """Whether the grant ``grant_type`` writes nothing (see :class:`Grant`)."""
    grant = GRANTS.get(grant_type or "")
    return grant is not None and grant.read_only


def json_fields() -> dict[str, str]:
    """The JSON fields a token request may carry: RFC names, every registered grant's."""
    names = set(COMMON_PARAMS).union(*(grant.params for grant in GRANTS.values()))
    return {name: name for name in names}


def exchange(ctx: ServerContext, request: TokenRequest) -> IssuedTokens:
    """Run the request's grant; raises :class:`OAuthError` (``unsupported_grant_type``...)."""
    grant = GRANTS.get(request.grant_type)
    if grant is None:
        raise OAuthError(
            "unsupported_grant_type", f"Unsupported grant_type: {request.grant_type[:64]}"
        )
    issued = grant.handler(ctx, request)
    metrics.token_issued(request.grant_type)
    return issued


def _refresh_token_grant(ctx: ServerContext, request: TokenRequest) -> IssuedTokens:
    presented = request.require("refresh_token")
    requested = request.params.get("scope")
    client_id = request.client.client_id if request.client is not None else None
    try:
        with ctx.db.write() as db:
            pair = tokens.rotate_refresh_token(
                db, ctx, presented, client_id=client_id, address=request.address,
                user_agent=request.user_agent,
            )
            if requested is not None and set(requested.split()) != set(pair.scope.split()):
                # Raised inside the transaction: the rotation is rolled back.
                raise OAuthError(
                    "invalid_scope",
                    "scope must be the scope granted to this refresh token (or be omitted)",
                )
            # OIDC Core §12.2: a session opened with openid gets a new id token.
            id_token = None
            if client_id is not None and id_tokens.OPENID in pair.scope.split():
                id_token = id_tokens.id_token_for_session(
                    db, ctx, issuer=request.issuer, session_id=pair.session_id,
                    access_token=pair.access_token, with_nonce=False,
                )
    except tokens.RefreshRefused as exc:
        raise OAuthError("invalid_grant", exc.message) from None
    return IssuedTokens(
        pair.access_token, pair.expires_in, pair.scope, pair.refresh_token, id_token
    )


register_grant(Grant("refresh_token", frozenset({"refresh_token"}), _refresh_token_grant))

# The other grants live in modules of their own and register themselves on import.
from . import client_credentials, code_grant  # noqa: E402, F401  (after GRANTS exists)
