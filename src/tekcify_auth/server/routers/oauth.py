"""``/api/oauth``: token, introspection, revocation and UserInfo endpoints.

Thin: each reads its parameters (form-encoded or JSON, ``services/client_auth.py``),
authenticates the client when it names one, and calls its service. Errors are RFC 6749
§5.2 (:class:`~..errors.OAuthError`), but UserInfo's, which are the Bearer guard's
(RFC 6750 §3). Answers carrying tokens are never cached.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Final

import anyio.to_thread
from fastapi import Depends, Request
from fastapi.responses import JSONResponse

from ..cors import allow_client_origins
from ..errors import OAuthError, OAuthRoute
from ..services import grants, introspection
from ..services.applications import ClientFacts
from ..services.client_auth import authenticate_client, parse_params, read_client_credentials
from ..services.userinfo import userinfo_claims
from .deps import CallerWithUser, Ctx, client_address, user_agent
from .images import BaseUrl, base_url_of
from .text import server_router

router = server_router(prefix="/api/oauth", tags=["oauth"], route_class=OAuthRoute)

NO_STORE: Final = {"Cache-Control": "no-store", "Pragma": "no-cache"}


@dataclass(frozen=True, slots=True)
class ProtocolRequest:
    """The parameters of a protocol request and its ``Authorization`` header."""

    params: dict[str, str]
    authorization: str | None

    def require(self, name: str) -> str:
        """The parameter ``name``; raises ``invalid_request`` when it is missing."""
        value = self.params.get(name)
        if value is None:
            raise OAuthError("invalid_request", f"Missing parameter: {name}")
        return value


def _reader(
    json_fields: Callable[[], Mapping[str, str]],
) -> Callable[[Request], Awaitable[ProtocolRequest]]:
    async def read(request: Request) -> ProtocolRequest:
        params = parse_params(
            request.headers.get("content-type"), await request.body(), json_fields()
        )
        return ProtocolRequest(params, request.headers.get("authorization"))

    return read


#: The token endpoint's parameters (every registered grant's names in JSON).
read_token_params = _reader(grants.json_fields)
#: Introspection's and revocation's parameters.
read_status_params = _reader(lambda: introspection.JSON_FIELDS)
TokenParams = Annotated[ProtocolRequest, Depends(read_token_params)]
TokenStatusParams = Annotated[ProtocolRequest, Depends(read_status_params)]


def _client(ctx: Ctx, form: ProtocolRequest, request: Request) -> ClientFacts | None:
    # Failed client authentications are limited per address and per client id
    # (ratelimit.ClientAuthLimiter): past a limit, 429 invalid_client, right secret or not.
    limits, address = ctx.client_auth_limits, client_address(request)
    try:
        credentials = read_client_credentials(form.authorization, form.params)
    except OAuthError as exc:
        if exc.error == "invalid_client":  # malformed Basic credentials
            limits.failed(None, address)
        raise
    if credentials is None:
        return None
    trusted = limits.check(credentials.client_id, address)
    try:
        application = authenticate_client(ctx.db.lookups, credentials)
    except OAuthError:
        limits.failed(credentials.client_id, address)
        raise
    limits.succeeded(credentials.client_id, address, trusted=trusted)
    allow_client_origins(request.scope, application)  # its origins may read the answer
    return application


def _exchange(ctx: Ctx, form: ProtocolRequest, request: Request) -> grants.IssuedTokens:
    grant_type = form.require("grant_type")
    client = _client(ctx, form, request)
    return grants.exchange(
        ctx,
        grants.TokenRequest(
            grant_type, form.params, client, client_address(request), user_agent(request),
            issuer=base_url_of(request),
        ),
    )


@router.post("/token")
async def token(form: TokenParams, request: Request, ctx: Ctx) -> JSONResponse:
    """RFC 6749 token endpoint: ``{access_token, token_type, expires_in, refresh_token, scope}``."""
    if grants.is_read_only(form.params.get("grant_type")):
        # client_credentials writes nothing: no worker thread on SQLite (run_read).
        issued = await ctx.db.run_read(_exchange, ctx, form, request)
    else:
        issued = await anyio.to_thread.run_sync(_exchange, ctx, form, request)
    return JSONResponse(issued.body(), headers=NO_STORE)


def _introspect(ctx: Ctx, form: ProtocolRequest, request: Request) -> dict[str, Any]:
    token_value = form.require("token")
    client = _client(ctx, form, request)
    return introspection.introspect(ctx, token_value, form.params.get("token_type_hint"), client)


@router.post("/token/introspect")
async def introspect(form: TokenStatusParams, request: Request, ctx: Ctx) -> JSONResponse:
    """RFC 7662: ``{active: true, sub, scope, clientId, ...}`` or ``{active: false}``."""
    answer = await ctx.db.run_read(_introspect, ctx, form, request)
    return JSONResponse(answer, headers=NO_STORE)


@router.post("/revoke")
def revoke(form: TokenStatusParams, request: Request, ctx: Ctx) -> JSONResponse:
    """RFC 7009: ends the token's session; 200 whether or not the token was known."""
    token_value = form.require("token")
    client = _client(ctx, form, request)
    introspection.revoke(ctx, token_value, form.params.get("token_type_hint"), client)
    return JSONResponse({"message": "Token revoked"}, headers=NO_STORE)


@router.get("/userinfo")
async def userinfo(found: CallerWithUser, base: BaseUrl) -> JSONResponse:
    """OIDC UserInfo: the caller's claims, as far as the token's scopes allow."""
    caller, user = found
    return JSONResponse(userinfo_claims(user, caller.scopes, base_url=base), headers=NO_STORE)


@router.post("/userinfo")
async def userinfo_post(found: CallerWithUser, base: BaseUrl) -> JSONResponse:
    """OIDC UserInfo by POST (OIDC Core §5.3.1); the token still comes in the header."""
    caller, user = found
    return JSONResponse(userinfo_claims(user, caller.scopes, base_url=base), headers=NO_STORE)
