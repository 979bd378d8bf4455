"""CORS for the OAuth endpoints browsers call: token, introspection, revocation, UserInfo.

A single-page application calls these endpoints from its own origin; the browser lets
its script read the answer only when the answer names that origin in
``Access-Control-Allow-Origin``. Which origins are named:

* **token, introspection, revocation** — the origins registered (``authorizedOrigins``)
  for the client that authenticated in the request; the route tells this middleware
  which client that was (:func:`allow_client_origins`). A request naming no client, or
  whose client fails to authenticate, gets no CORS header.
* **UserInfo** — the origins of any registered application (the access token, not the
  origin, says what may be read).
* **preflight** (``OPTIONS`` with ``Access-Control-Request-Method``) — the origins of
  any registered application: a preflight carries no credentials, so the client is not
  known yet; the real request is then held to its client's origins.

Every answer of these paths carries ``Vary: Origin``. No other origin, ``null``
included, ever gets a CORS header, and credentials (cookies) are never allowed: these
endpoints take their credentials in headers and bodies.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Final

import anyio.to_thread
from sqlalchemy import Text, cast, select
from starlette.types import Scope

from .context import ServerContext
from .db.applications import Application
from .services.applications import ClientFacts

__all__ = [
    "CORS_PATHS", "allow_client_origins", "any_application_allows", "origin_headers",
    "preflight_headers",
]

#: The paths answered with CORS headers, and their methods.
CORS_PATHS: Final = {
    "/api/oauth/token": "POST",
    "/api/oauth/token/introspect": "POST",
    "/api/oauth/revoke": "POST",
    "/api/oauth/userinfo": "GET, POST",
}
_ANY_APPLICATION_PATHS: Final = frozenset({"/api/oauth/userinfo"})
_STATE_KEY: Final = "cors_client_origins"
_ALLOWED_HEADERS: Final = "Authorization, Content-Type, X-Request-ID"
_EXPOSED_HEADERS: Final = "WWW-Authenticate, Retry-After, X-Request-ID"
_PREFLIGHT_MAX_AGE: Final = "600"
# What a serialised origin can look like (RFC 6454 §6.2); anything else is never allowed.
_ORIGIN: Final = re.compile(r"https?://(?:[a-z0-9.\-]+|\[[0-9a-f:.]+\])(?::[0-9]{1,5})?")


def allow_client_origins(scope: Scope, application: ClientFacts) -> None:
    """Record that ``application`` authenticated in this request (its origins may read)."""
    scope.setdefault("state", {})[_STATE_KEY] = tuple(application.authorized_origins)


def any_application_allows(ctx: ServerContext, origin: str) -> bool:
    """Whether some registered application lists ``origin`` among its authorized origins."""
    if len(origin) > 2048 or not _ORIGIN.fullmatch(origin):
        return False
    # The JSON list is searched as text first (the origin holds no LIKE wildcards), then
    # the candidates are checked exactly.
    with ctx.db.read() as db:
        candidates = db.execute(
            select(Application.authorized_origins).where(
                cast(Application.authorized_origins, Text).like(f'%"{origin}"%')
            )
        ).scalars()
        return any(origin in list(origins) for origins in candidates)


async def origin_headers(
    scope: Scope, ctx: ServerContext, path: str, origin: str | None
) -> Callable[[], list[tuple[bytes, bytes]]]:
    """The CORS headers of the answer to a request of ``path`` (one of :data:`CORS_PATHS`),
    made when the answer starts: by then the route has said which client authenticated
    (:func:`allow_client_origins`). ``Vary: Origin`` always; the origin only when allowed.
    """
    allowed_anyway: bool | None = None
    if origin is not None and path in _ANY_APPLICATION_PATHS:
        allowed_anyway = await anyio.to_thread.run_sync(any_application_allows, ctx, origin)
    state = scope.setdefault("state", {})

    def headers() -> list[tuple[bytes, bytes]]:
        found: list[tuple[bytes, bytes]] = [(b"vary", b"Origin")]
        client_origins: Sequence[str] = state.get(_STATE_KEY, ())
        allowed = allowed_anyway if allowed_anyway is not None else origin in client_origins
        if origin is not None and allowed:
            found.append((b"access-control-allow-origin", origin.encode("latin-1")))
            found.append((b"access-control-expose-headers", _EXPOSED_HEADERS.encode()))
        return found

    return headers


def preflight_headers(path: str, origin: str, allowed: bool) -> list[tuple[bytes, bytes]]:
    """The headers of the 204 answering a preflight of ``path`` from ``origin``; ``allowed``:
    whether some application lists the origin (:func:`any_application_allows`)."""
    headers = [
        (b"vary", b"Origin, Access-Control-Request-Method, Access-Control-Request-Headers"),
        (b"content-length", b"0"),
    ]
    if allowed:
        headers += [
            (b"access-control-allow-origin", origin.encode("latin-1")),
            (b"access-control-allow-methods", CORS_PATHS[path].encode()),
            (b"access-control-allow-headers", _ALLOWED_HEADERS.encode()),
            (b"access-control-max-age", _PREFLIGHT_MAX_AGE.encode()),
        ]
    return headers
