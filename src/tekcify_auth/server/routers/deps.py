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

from collections.abc import Callable
from typing import Annotated, TypeVar

import anyio.to_thread
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from tekcify_auth._errors import AuthenticationError
from tekcify_auth._models import UserPayload

from ..context import ServerContext
from ..services.sessions import UserRow, ensure_live, live_user

__all__ = [
    "Caller", "CallerWithUser", "Ctx", "client_address", "current_user",
    "current_user_with_row", "get_ctx", "user_agent",
]

_T = TypeVar("_T")

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


def _authenticated(
    ctx: ServerContext,
    authorization: str | None,
    route: str,
    client: str | None,
    check: Callable[[Session, UserPayload], _T],
) -> tuple[UserPayload, _T]:
    caller = ctx.guard.authenticate(authorization, route=route, client=client)
    try:
        with ctx.db.read() as session:
            found = check(session, caller)
    except AuthenticationError as exc:
        ctx.guard.log_refusal(exc, route, client)
        raise
    return caller, found


async def _authenticate(
    request: Request, ctx: ServerContext, check: Callable[[Session, UserPayload], _T]
) -> tuple[UserPayload, _T]:
    # One worker-thread hop for the whole check: the verifier may reload keys from the
    # database, and the session is read there (a hop costs about three bare requests).
    return await anyio.to_thread.run_sync(
        _authenticated, ctx, request.headers.get("authorization"), request.url.path,
        client_address(request), check,
    )


async def current_user(
    request: Request,
    ctx: Ctx,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> UserPayload:
    """The caller of a Bearer-protected route; raises the guard's 401 otherwise."""
    caller, _ = await _authenticate(request, ctx, ensure_live)
    return caller


async def current_user_with_row(
    request: Request,
    ctx: Ctx,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> tuple[UserPayload, UserRow]:
    """The caller and its user's row (:func:`~..services.sessions.live_user`), in one query."""
    return await _authenticate(request, ctx, live_user)


Caller = Annotated[UserPayload, Depends(current_user)]
CallerWithUser = Annotated[tuple[UserPayload, UserRow], Depends(current_user_with_row)]
