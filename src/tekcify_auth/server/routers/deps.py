"""Dependencies: the server context and the authenticated caller.

The Bearer check is the library's :class:`~tekcify_auth._guard.GuardCore` (the same
verifier users get), followed by :func:`~tekcify_auth.server.services.sessions.ensure_live`
(session not revoked, account not disabled). ``HTTPBearer`` is declared only so the
routes show their security scheme in OpenAPI; it never answers by itself.

The verifier keeps the tokens it verified (signature and claims only) until their
``exp``; ``ensure_live`` asks the database on every request, never a cache, so a session
revoked through any instance sharing the database is refused by all of them at once.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from tekcify_auth._errors import AuthenticationError
from tekcify_auth._models import UserPayload

from ..context import ServerContext
from ..services.sessions import ensure_live

__all__ = ["Caller", "Ctx", "client_address", "current_user", "get_ctx", "user_agent"]

_bearer = HTTPBearer(auto_error=False, description="A Tekcify access token")


async def get_ctx(request: Request) -> ServerContext:
    """The running server's :class:`ServerContext`."""
    # async: FastAPI runs a sync dependency in the threadpool, a hop per request for a
    # lookup (benchmarks/server.py measured it at about a quarter of the JWKS route's CPU).
    ctx: ServerContext = request.app.state.ctx
    return ctx


Ctx = Annotated[ServerContext, Depends(get_ctx)]


def client_address(request: Request) -> str | None:
    """The client's address as the ASGI server saw it (after trusted proxy headers)."""
    return request.client.host if request.client else None


def user_agent(request: Request) -> str | None:
    """The ``User-Agent`` header, cut to what a session row keeps."""
    value = request.headers.get("user-agent")
    return value[:512] if value else None


def current_user(
    request: Request,
    ctx: Ctx,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> UserPayload:
    """The caller of a Bearer-protected route; raises the guard's 401 otherwise."""
    route = request.url.path
    client = client_address(request)
    caller = ctx.guard.authenticate(
        request.headers.get("authorization"), route=route, client=client
    )
    try:
        with ctx.db.read() as session:
            ensure_live(session, caller)
    except AuthenticationError as exc:
        ctx.guard.log_refusal(exc, route, client)
        raise
    return caller


Caller = Annotated[UserPayload, Depends(current_user)]
