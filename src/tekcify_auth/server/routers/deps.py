"""Dependencies: the server context and the authenticated caller.

The Bearer check is the library's :class:`~tekcify_auth._guard.GuardCore` (the same
verifier users get), followed by :func:`~tekcify_auth.server.services.sessions.ensure_live`
(session not revoked, account not disabled). ``HTTPBearer`` is declared only so the
routes show their security scheme in OpenAPI; it never answers by itself.

The verifier keeps the tokens it verified (signature and claims only) until their
``exp``; ``ensure_live`` asks the database on every request, never a cache, so a session
revoked through any instance sharing the database is refused by all of them at once.

**Who may call which route.** The account's own routes (``/api/auth/*``, ``/api/user/*``,
``/api/applications/*``, ``/api/oauth/connected-apps``) take a Bearer token through
:func:`first_party_or`, declared once per route with the scope that route needs
(README's "Which tokens reach which routes" has the whole matrix). A **first-party**
token (``/api/auth/login`` and its refresh: no ``clientId`` claim) may call them all; a
token issued to an **application** only a route whose scope it was granted
(``read:profile``, ``write:profile``); a ``client_credentials`` token (no user: ``sub``
is the client id) none. A refusal is the guard's 403 ``insufficient_scope`` (RFC 6750
§3.1), checked from the verified claims once the session is known to be live (a revoked
one stays 401). The OAuth endpoints (UserInfo, introspection, revocation) have their
own rules and use :data:`CallerWithUser`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Final, TypeVar

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from tekcify_auth._errors import AuthenticationError
from tekcify_auth._guard import INSUFFICIENT_SCOPE
from tekcify_auth._models import UserPayload

from ..context import ServerContext
from ..db.lookups import Lookups
from ..services.admin import check_admin
from ..services.client_credentials import is_client_token, live_client_token
from ..services.sessions import UserRow, ensure_live, live_user, refuse_caller

__all__ = [
    "ACCESS_RULE", "AccessRule", "Admin", "CallerWithUser", "Ctx", "FirstParty", "ProfileReader",
    "ProfileWriter", "client_address", "current_user_with_row", "first_party_or", "get_ctx",
    "user_agent",
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


@dataclass(frozen=True, slots=True)
class AccessRule:
    """Which tokens may call a route: first-party ones, and app tokens granted ``scope``.

    ``scope`` ``None`` means first-party tokens only. A scoped route asks every token for
    its scope: a first-party session holds them all (``accounts.DEFAULT_FIRST_PARTY_SCOPES``),
    so in practice it passes, and an application's token passes only if it was granted it.
    """

    scope: str | None = None

    def admits(self, caller: UserPayload) -> bool:
        """Whether ``caller`` (a verified token's user) may call the route."""
        if is_client_token(caller.claims):
            return False  # acts for no user, whatever scopes its application has
        if self.scope is None:
            return caller.client_id is None
        return self.scope in caller.scopes

    def check(self, caller: UserPayload) -> None:
        """Raise the 403 ``insufficient_scope`` refusal unless :meth:`admits`."""
        if self.admits(caller):
            return
        if self.scope is None:
            description = "Only the account holder's own Tekcify session may do this"
        elif is_client_token(caller.claims):
            description = f"A client token acts for no user; this needs a user's {self.scope}"
        else:
            description = f"The token lacks the scope {self.scope}"
        raise AuthenticationError(
            403, INSUFFICIENT_SCOPE, reason="insufficient_scope", error="insufficient_scope",
            description=description, scope=self.scope,
        )


#: The attribute of a :func:`first_party_or` dependency holding its :class:`AccessRule`.
ACCESS_RULE: Final = "access_rule"


def _authenticated(
    ctx: ServerContext,
    authorization: str | None,
    route: str,
    client: str | None,
    check: Callable[[Lookups, UserPayload], _T],
    rule: AccessRule | None,
) -> tuple[UserPayload, _T]:
    caller = ctx.guard.authenticate(authorization, route=route, client=client)
    try:
        if is_client_token(caller.claims):
            # No user and no session: a dead client token (its application suspended,
            # its allowance withdrawn, its secret changed) is 401, a live one is refused
            # by the route's rule (403); no account route serves client tokens.
            if live_client_token(ctx.db.lookups, caller.claims) is None:
                raise refuse_caller("client_token_inactive")
            if rule is not None:
                rule.check(caller)
            raise refuse_caller("client_token")
        found = check(ctx.db.lookups, caller)
        # After the liveness check: a revoked session is 401 whatever its scopes.
        if rule is not None:
            rule.check(caller)
    except AuthenticationError as exc:
        ctx.guard.log_refusal(exc, route, client)
        raise
    return caller, found


async def _authenticate(
    request: Request,
    ctx: ServerContext,
    check: Callable[[Lookups, UserPayload], _T],
    rule: AccessRule | None = None,
) -> tuple[UserPayload, _T]:
    # It only reads (the session's state; the verifier may reload keys): inline on SQLite,
    # one worker-thread hop on PostgreSQL (Database.run_read).
    return await ctx.db.run_read(
        _authenticated, ctx, request.headers.get("authorization"), request.url.path,
        client_address(request), check, rule,
    )


def first_party_or(scope: str | None = None) -> Callable[..., Awaitable[UserPayload]]:
    """The dependency of an account route: the live caller, if :class:`AccessRule` admits it.

    ``first_party_or("read:profile")``: first-party tokens and app tokens granted
    ``read:profile``; ``first_party_or()``: first-party tokens only. Raises the guard's 401
    (no valid token, revoked session) or 403 ``insufficient_scope``.
    """
    rule = AccessRule(scope)

    async def caller(
        request: Request,
        ctx: Ctx,
        _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> UserPayload:
        found, _ = await _authenticate(request, ctx, ensure_live, rule)
        return found

    setattr(caller, ACCESS_RULE, rule)
    return caller


async def current_user_with_row(
    request: Request,
    ctx: Ctx,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> tuple[UserPayload, UserRow]:
    """The caller and its user's row (:func:`~..services.sessions.live_user`), in one query."""
    return await _authenticate(request, ctx, live_user)


FirstParty = Annotated[UserPayload, Depends(first_party_or())]
"""The caller of a route for the account holder's own (first-party) session only."""
ProfileReader = Annotated[UserPayload, Depends(first_party_or("read:profile"))]
"""The caller of a profile read: first-party, or an app token granted ``read:profile``."""
ProfileWriter = Annotated[UserPayload, Depends(first_party_or("write:profile"))]
"""The caller of a profile write: first-party, or an app token granted ``write:profile``."""
CallerWithUser = Annotated[tuple[UserPayload, UserRow], Depends(current_user_with_row)]


def _live_admin(lookups: Lookups, caller: UserPayload) -> None:
    ensure_live(lookups, caller)  # 401 first: a disabled admin or revoked session
    check_admin(lookups, caller.user_id)  # 403 unless the account is an admin now


async def admin_caller(
    request: Request,
    ctx: Ctx,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> UserPayload:
    """The caller of an ``/api/admin/*`` route: a live first-party session of an account
    whose role is ``admin`` in the database. No token 401; another role's token 403
    (``services.admin.NOT_ADMIN``); an application's or client token 403 (the first-party
    :class:`AccessRule`)."""
    found, _ = await _authenticate(request, ctx, _live_admin, _ADMIN_RULE)
    return found


_ADMIN_RULE: Final = AccessRule()
setattr(admin_caller, ACCESS_RULE, _ADMIN_RULE)

Admin = Annotated[UserPayload, Depends(admin_caller)]
"""The caller of an admin route: an administrator's own first-party session."""
