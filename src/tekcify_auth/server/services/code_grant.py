"""The ``authorization_code`` grant (RFC 6749 §4.1.3, RFC 7636 §4.5).

The client redeems a code from ``/api/oauth/authorize`` with the ``redirect_uri`` of
that request and its PKCE ``code_verifier``. A confidential client authenticates
(``client_secret_basic`` or ``client_secret_post``), a public one names itself with
``client_id``. The rules (lifetime, single use, binding, reuse revocation, one winner
among concurrent redemptions) are :func:`~.authorize.redeem_code`'s. A request missing
a parameter is ``invalid_request`` and does not spend the code: it is not a redemption.
The answer has an access token for the session the code starts, and a refresh token
only when the code's scopes include ``offline_access`` (OpenID Connect Core §11), and
an id token when they include ``openid``.
"""

from __future__ import annotations

from ..context import ServerContext
from ..errors import OAuthError
from .authorize import CodeRefused, Redemption, redeem_code
from .client_auth import invalid_client
from .grants import Grant, IssuedTokens, TokenRequest, register_grant
from .oidc import id_tokens
from .tokens import TokenPair

__all__: list[str] = []


def _authorization_code_grant(ctx: ServerContext, request: TokenRequest) -> IssuedTokens:
    if request.client is None:
        raise invalid_client("authorization_code needs the client_id (and its secret, if any)")
    asked = Redemption(
        code=request.require("code"),
        client_id=request.client.client_id,
        redirect_uri=request.require("redirect_uri"),
        verifier=request.require("code_verifier"),
        user_agent=request.user_agent,
        ip_address=request.address,
    )
    try:
        with ctx.db.write() as db:
            pair = redeem_code(db, ctx, asked)
            # OpenID Connect: with openid granted, an id token (services/oidc/id_tokens.py).
            id_token = id_tokens.id_token_for_session(
                db, ctx, issuer=request.issuer, session_id=pair.session_id,
                access_token=pair.access_token, with_nonce=True,
            )
    except CodeRefused as exc:
        raise OAuthError("invalid_grant", exc.message) from None
    refresh = pair.refresh_token if isinstance(pair, TokenPair) else None
    return IssuedTokens(pair.access_token, pair.expires_in, pair.scope, refresh, id_token)


register_grant(
    Grant(
        "authorization_code",
        frozenset({"code", "redirect_uri", "code_verifier"}),
        _authorization_code_grant,
        uses_authorization_endpoint=True,
    )
)
