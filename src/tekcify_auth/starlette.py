"""Starlette and any ASGI app: :class:`AuthMiddleware`, a pure ASGI middleware.

It reads the ``Authorization`` header straight from the ASGI scope (no ``Request`` is
built), verifies the bearer token with the shared guard core, and either puts the
caller's :class:`~tekcify_auth.UserPayload` at ``scope["user"]`` and
``scope["state"]["user"]`` (so ``request.user`` and ``request.state.user`` work) or
answers the refusal itself: 401 or 403 with the Tekcify JSON body
``{"statusCode": 401, "error": "Unauthorized", "message": "..."}`` and the RFC 6750
``WWW-Authenticate`` header. Every refusal is logged by the core.

>>> from starlette.applications import Starlette
>>> app = Starlette()
>>> app.add_middleware(AuthMiddleware, secret="change-me", exclude_paths=("/health",))

Scopes other than ``http`` and ``websocket`` (``lifespan``) pass through untouched. A
WebSocket handshake is authenticated like a request (from its ``Authorization``
header) and refused by closing with code 1008, *policy violation* (RFC 6455 §7.4.1),
which the server turns into an HTTP 403; pass ``websockets=False`` to let every
WebSocket through and authenticate it yourself (browsers cannot set the header).

Add CORS middleware *after* this one (so that it runs first): a CORS preflight
carries no ``Authorization`` header and would otherwise be refused.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable
from typing import TYPE_CHECKING, Any

from starlette.types import ASGIApp, Receive, Scope, Send

from ._config import DEFAULT_AUDIENCE, DEFAULT_ISSUER
from ._errors import AuthenticationError
from ._guard import GuardCore, UserInfoHook, Verifier, build_verifier
from ._keys import PublicKeyLike
from ._verify import TokenVerifier

if TYPE_CHECKING:
    from ._jwks import JwksLike

__all__ = ["AuthMiddleware"]


def _authorization(scope: Scope) -> str | None:
    """The ``Authorization`` value of an ASGI scope, without building a ``Request``.

    ASGI servers lowercase header names. A repeated header is combined into one
    comma-separated value (RFC 9110 §5.3), which no single bearer credential matches,
    so a request carrying two ``Authorization`` headers is refused.
    """
    value: bytes | None = None
    for name, raw in scope["headers"]:
        if name == b"authorization":
            value = raw if value is None else value + b", " + raw
    return None if value is None else value.decode("latin-1")


def _does_no_io(core: GuardCore) -> bool:
    """Whether ``core`` may authenticate synchronously inside a coroutine.

    True for a configured key and no ``get_user_info`` hook: then nothing can block,
    and the sync path saves two coroutines per request.
    """
    return core.get_user_info is None and isinstance(core.verifier, TokenVerifier)


def _client(scope: Scope) -> str | None:
    client = scope.get("client")
    return client[0] if client else None


def _route_path(scope: Scope) -> str:
    """The path relative to the app's mount point, as Starlette's router matches it."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        return path[len(root):] or "/"
    return path


class AuthMiddleware:
    """Pure ASGI middleware that requires a valid Tekcify access token on every request.

    Configure it with exactly one of ``secret`` (the server's ``JWT_ACCESS_SECRET``,
    HS256/384/512), ``key`` (a public key: PEM, JWK or key object), ``jwks`` (a
    :class:`~tekcify_auth.JwksVerifier`, or a JWKS document: a dict with ``"keys"``, its
    JSON or a joserfc ``KeySet``, read once), ``jwks_uri`` / ``auth_server_url`` (keys
    from the server's JWKS) or ``verifier`` (a ready verifier such as an
    :class:`~tekcify_auth.IntrospectionVerifier`). ``issuer`` and ``audience`` default
    to Tekcify's and may be ``None`` to skip the check; ``leeway`` is in seconds.

    ``get_user_info(user_id)`` may be sync (run in a worker thread) or async and returns
    ``{"email": ...}`` or ``None`` (then the request is refused with 401
    ``User not found``). ``scopes`` are required on every protected request (403
    ``insufficient_scope`` otherwise).

    ``clients`` (your application's client id, or several) accepts only the tokens
    issued to those applications, not those of every application on the server;
    first-party tokens then pass only with ``allow_first_party=True``. Tokens that act
    for no user (``client_credentials``) are refused unless ``allow_client_tokens=True``.

    ``exclude_paths`` are paths served without authentication: an entry matches that
    exact path, and an entry ending in ``*`` matches every path that starts with what
    precedes the star (``"/public/*"``). Paths are relative to the app's ``root_path``.

    Raises :class:`~tekcify_auth.ConfigurationError` for unusable settings.

    >>> from starlette.applications import Starlette
    >>> from starlette.middleware import Middleware
    >>> app = Starlette(middleware=[Middleware(AuthMiddleware, secret="change-me")])
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        secret: str | bytes | None = None,
        key: PublicKeyLike | None = None,
        jwks: JwksLike | None = None,
        jwks_uri: str | None = None,
        auth_server_url: str | None = None,
        verifier: Verifier | None = None,
        issuer: str | None = DEFAULT_ISSUER,
        audience: str | None = DEFAULT_AUDIENCE,
        algorithms: Collection[str] | None = None,
        leeway: float = 0,
        get_user_info: UserInfoHook | None = None,
        scopes: Iterable[str] = (),
        exclude_paths: Iterable[str] = (),
        websockets: bool = True,
        clients: Iterable[str] | None = None,
        allow_first_party: bool = False,
        allow_client_tokens: bool = False,
    ) -> None:
        self.app = app
        self.core = GuardCore(
            build_verifier(
                verifier=verifier, secret=secret, key=key, jwks=jwks, jwks_uri=jwks_uri,
                auth_server_url=auth_server_url, issuer=issuer, audience=audience,
                algorithms=algorithms, leeway=leeway,
            ),
            get_user_info=get_user_info,
            scopes=scopes,
            clients=clients,
            allow_first_party=allow_first_party,
            allow_client_tokens=allow_client_tokens,
        )
        exact: set[str] = set()
        prefixes: list[str] = []
        for entry in exclude_paths:
            if entry.endswith("*"):
                prefixes.append(entry[:-1])
            else:
                exact.add(entry)
        self._exact = frozenset(exact)
        self._prefixes = tuple(prefixes)
        self._excludes = bool(exact or prefixes)
        self._types = frozenset({"http", "websocket"} if websockets else {"http"})
        self._sync = _does_no_io(self.core)

    def is_excluded(self, path: str) -> bool:
        """Whether ``path`` (relative to the app's root) is served without a token."""
        return path in self._exact or (bool(self._prefixes) and path.startswith(self._prefixes))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope_type = scope["type"]
        if scope_type not in self._types or (
            self._excludes and self.is_excluded(_route_path(scope))
        ):
            await self.app(scope, receive, send)
            return
        try:
            if self._sync:
                user = self.core.authenticate(
                    _authorization(scope), route=scope["path"], client=_client(scope)
                )
            else:
                user = await self.core.aauthenticate(
                    _authorization(scope), route=scope["path"], client=_client(scope)
                )
        except AuthenticationError as exc:
            if scope_type == "http":
                await _send_refusal(send, exc)
            else:
                await send({"type": "websocket.close", "code": 1008, "reason": exc.message})
            return
        scope["user"] = user
        state: dict[str, Any] | None = scope.get("state")
        if state is None:
            scope["state"] = {"user": user}
        else:
            state["user"] = user
        await self.app(scope, receive, send)


async def _send_refusal(send: Send, exc: AuthenticationError) -> None:
    # Encoded as Starlette's JSONResponse encodes, so the bytes match a handler's answer.
    body = json.dumps(
        exc.body(), ensure_ascii=False, allow_nan=False, separators=(",", ":")
    ).encode("utf-8")
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode("ascii")),
    ]
    headers.extend(
        (name.lower().encode("latin-1"), value.encode("latin-1"))
        for name, value in exc.headers().items()
    )
    await send({"type": "http.response.start", "status": exc.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": body})
