"""The fast lane: the endpoints resource servers call all day, without FastAPI's
routing and dependency solving.

Introspection, the token endpoint, UserInfo, the JWKS and the discovery documents are
FastAPI routes like every other: each route function is their one implementation, and
``/openapi.json`` documents them. But for these small answers FastAPI's router walk,
dependency solving, exit stack and exception middleware cost more than the endpoint's
own work (the issue 12 profile of introspection: about twice as much).
:class:`FastLane`, the last step of the server's front layer (``middleware.py``: the
access log, the body limit, the ``Host`` check and CORS apply as to any request), calls
those route functions directly with their dependencies resolved by hand, and turns
their errors into answers with the app's own exception handlers. Any other request goes
to the app unchanged.

``tests/server/test_fastlane.py`` checks that each route's dependencies are exactly the
ones resolved here: a dependency added to one of these routes cannot be skipped.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.types import ASGIApp, Receive, Scope, Send

from .context import ServerContext
from .errors import OAuthError, validation_message
from .routers import oauth, well_known
from .routers.deps import _bearer, current_user_with_row, get_ctx
from .routers.images import get_base_url
from .routers.text import refuse_lone_surrogates

__all__ = ["FAST_ROUTES", "FastLane", "FastRoute"]

Handler = Callable[[Request, ServerContext], Awaitable[Response]]
ExceptionHandler = Callable[[Request, Any], Any]


@dataclass(frozen=True, slots=True)
class FastRoute:
    """A route served by the fast lane: the FastAPI route's ``endpoint`` and every
    dependency it declares (``dependencies``, the app's global ones included), which
    ``handle`` resolves by hand before calling ``endpoint``."""

    method: str
    path: str
    endpoint: Callable[..., Awaitable[Response]]
    dependencies: frozenset[Callable[..., Any]]
    handle: Handler
    oauth_errors: bool = False


async def _token(request: Request, ctx: ServerContext) -> Response:
    return await oauth.token(await oauth.read_token_params(request), request, ctx)


async def _introspect(request: Request, ctx: ServerContext) -> Response:
    return await oauth.introspect(await oauth.read_status_params(request), request, ctx)


async def _userinfo(request: Request, ctx: ServerContext) -> Response:
    found = await current_user_with_row(request, ctx, None)
    return await oauth.userinfo(found, await get_base_url(request))


async def _userinfo_post(request: Request, ctx: ServerContext) -> Response:
    found = await current_user_with_row(request, ctx, None)
    return await oauth.userinfo_post(found, await get_base_url(request))


async def _jwks(request: Request, ctx: ServerContext) -> Response:
    return await well_known.jwks(request, ctx)


async def _oauth_metadata(request: Request, ctx: ServerContext) -> Response:
    base = await get_base_url(request)
    return await well_known.authorization_server_metadata(request, base, ctx)


async def _openid_metadata(request: Request, ctx: ServerContext) -> Response:
    base = await get_base_url(request)
    return await well_known.openid_configuration(request, base, ctx)


_Dependencies = frozenset[Callable[..., Any]]
_GLOBAL: Final[_Dependencies] = frozenset({refuse_lone_surrogates, get_ctx})
_CALLER: Final[_Dependencies] = frozenset(
    {current_user_with_row, get_ctx, _bearer, get_base_url}
)
_TOKEN: Final[_Dependencies] = frozenset({oauth.read_token_params})
_STATUS: Final[_Dependencies] = frozenset({oauth.read_status_params})
_BASE: Final[_Dependencies] = frozenset({get_base_url})

#: The routes of the fast lane.
FAST_ROUTES: Final = (
    FastRoute("POST", "/api/oauth/token", oauth.token,
              _GLOBAL | _TOKEN, _token, oauth_errors=True),
    FastRoute("POST", "/api/oauth/token/introspect", oauth.introspect,
              _GLOBAL | _STATUS, _introspect, oauth_errors=True),
    FastRoute("GET", "/api/oauth/userinfo", oauth.userinfo, _GLOBAL | _CALLER, _userinfo,
              oauth_errors=True),
    FastRoute("POST", "/api/oauth/userinfo", oauth.userinfo_post, _GLOBAL | _CALLER,
              _userinfo_post, oauth_errors=True),
    FastRoute("GET", "/api/.well-known/jwks.json", well_known.jwks, _GLOBAL, _jwks),
    FastRoute("GET", "/.well-known/oauth-authorization-server",
              well_known.authorization_server_metadata, _GLOBAL | _BASE,
              _oauth_metadata),
    FastRoute("GET", "/.well-known/openid-configuration", well_known.openid_configuration,
              _GLOBAL | _BASE, _openid_metadata),
)


class FastLane:
    """Serves :data:`FAST_ROUTES` itself; everything else goes to ``app``.

    ``handlers`` is the FastAPI app's ``exception_handlers`` (by exception class): an
    error is answered as the app would answer it; one without a handler propagates.
    """

    def __init__(
        self, app: ASGIApp, *, ctx: ServerContext,
        handlers: Mapping[Any, ExceptionHandler],
    ) -> None:
        self.app = app
        self.ctx = ctx
        self.handlers = handlers
        self.routes = {(route.method, route.path): route for route in FAST_ROUTES}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = (
            self.routes.get((scope["method"], scope["path"]))
            if scope["type"] == "http" else None
        )
        if route is None:
            await self.app(scope, receive, send)
            return
        scope["tekcify.route"] = route.path  # the route template metrics and traces name
        request = Request(scope, receive)
        try:
            try:
                await refuse_lone_surrogates(request)
                response = await route.handle(request, self.ctx)
            except RequestValidationError as exc:
                if not route.oauth_errors:
                    raise
                # As OAuthRoute does for the protocol endpoints.
                raise OAuthError("invalid_request", validation_message(exc.errors())) from exc
        except Exception as exc:
            handler = self._handler(exc)
            if handler is None:
                raise
            response = await handler(request, exc)
        await response(scope, receive, send)

    def _handler(self, exc: Exception) -> ExceptionHandler | None:
        for kind in type(exc).__mro__:
            handler = self.handlers.get(kind)
            if handler is not None:
                return handler
        return None
