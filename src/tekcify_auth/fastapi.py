"""FastAPI guards: `JwtAuthGuard`, `JwksAuthGuard`, `CurrentUser` and `require_scopes`.

A guard is a FastAPI dependency. Use it for the whole app, a router or one route::

    from fastapi import APIRouter, Depends, FastAPI
    from tekcify_auth.fastapi import CurrentUser, JwtAuthGuard, require_scopes

    guard = JwtAuthGuard(secret=os.environ["JWT_ACCESS_SECRET"])

    app = FastAPI(dependencies=[Depends(guard)])           # every route
    router = APIRouter(dependencies=[Depends(guard)])      # every route of a router

    @app.get("/profile", dependencies=[Depends(guard)])     # one route
    async def profile(user: CurrentUser) -> dict[str, str]:
        return {"userId": user.user_id}

    @app.get("/admin", dependencies=[Depends(guard), Depends(require_scopes("admin"))])
    async def admin() -> None: ...

On success the guard returns the caller's :class:`~tekcify_auth.UserPayload` (so
``user: Annotated[UserPayload, Depends(guard)]`` both guards a route and hands over
the user) and stores it at ``request.state.user``. On refusal it raises FastAPI's
``HTTPException`` with the Node package's text as ``detail`` (401 ``Missing or invalid
authorization header``, 401 ``Invalid or expired token``, 401 ``User not found``, 403
``Insufficient scope``) and the RFC 6750 ``WWW-Authenticate`` header; the core logs
every refusal. Unlike FastAPI's own ``HTTPBearer``, a missing header is a 401, not a 403.
On a WebSocket route the guard reads the handshake's ``Authorization`` header the same
way and refuses by closing with code 1008 (*policy violation*), which the server sends
as an HTTP 403.

The guard is a FastAPI security scheme: the OpenAPI document lists it as an HTTP
bearer scheme (``HTTPBearer`` unless you pass ``scheme_name``), every guarded route
references it, and Swagger UI's "Authorize" button sends ``Authorization: Bearer
<token>``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from typing import TYPE_CHECKING, Annotated, Any, cast

from fastapi import Depends, FastAPI, HTTPException, WebSocketException
from fastapi.openapi.models import HTTPBearer as HTTPBearerModel
from fastapi.security.base import SecurityBase
from starlette.requests import HTTPConnection

from ._config import DEFAULT_AUDIENCE, DEFAULT_ISSUER
from ._config import auth_server_url as _env_auth_server_url
from ._errors import AuthenticationError, ConfigurationError
from ._guard import GuardCore, UserInfoHook, Verifier, build_verifier
from ._keys import PublicKeyLike
from ._models import UserPayload
from .starlette import _authorization, _client, _does_no_io

if TYPE_CHECKING:
    from starlette.types import Scope

    from ._jwks import JwksLike

__all__ = ["CurrentUser", "JwksAuthGuard", "JwtAuthGuard", "require_scopes"]

#: The OpenAPI name of the guards' security scheme unless one is given.
DEFAULT_SCHEME_NAME = "HTTPBearer"


def _refusal(scope: Scope, exc: AuthenticationError) -> HTTPException | WebSocketException:
    if scope["type"] == "websocket":
        # RFC 6455 §7.4.1: 1008 is "policy violation"; before the handshake is accepted
        # the server answers it with an HTTP 403.
        return WebSocketException(1008, exc.message)
    return HTTPException(exc.status_code, exc.message, exc.headers())


class _BearerGuard(SecurityBase):
    """What both guards share: a FastAPI security scheme over a :class:`GuardCore`."""

    def __init__(
        self,
        verifier: Verifier,
        *,
        get_user_info: UserInfoHook | None,
        scopes: Iterable[str],
        scheme_name: str | None,
        description: str | None,
        clients: Iterable[str] | None = None,
        allow_first_party: bool = False,
        allow_client_tokens: bool = False,
    ) -> None:
        self.core = GuardCore(
            verifier, get_user_info=get_user_info, scopes=scopes, clients=clients,
            allow_first_party=allow_first_party, allow_client_tokens=allow_client_tokens,
        )
        # What FastAPI reads to list the scheme in OpenAPI (and Swagger's Authorize).
        self.model = HTTPBearerModel(bearerFormat="JWT", description=description)
        self.scheme_name = scheme_name or DEFAULT_SCHEME_NAME
        self._sync = _does_no_io(self.core)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(scheme_name={self.scheme_name!r})"

    async def __call__(self, request: HTTPConnection) -> UserPayload:
        """Authenticate ``request``; FastAPI calls this once per request it guards."""
        scope = request.scope
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
            raise _refusal(scope, exc) from None
        _remember(scope, user)
        return user


def _remember(scope: Scope, user: UserPayload) -> None:
    """Store ``user`` where ``request.state.user`` (and so ``CurrentUser``) finds it."""
    state: dict[str, Any] | None = scope.get("state")
    if state is None:
        scope["state"] = {"user": user}
    else:
        state["user"] = user


class JwtAuthGuard(_BearerGuard):
    """Requires a Tekcify access token signed with a shared secret or one public key.

    Give exactly one of ``secret`` (the server's ``JWT_ACCESS_SECRET``; admits HS256,
    HS384 and HS512 only), ``key`` (a public key as PEM, JWK or key object; admits
    only its own algorithms) or ``verifier`` (a ready verifier such as an
    :class:`~tekcify_auth.IntrospectionVerifier`, which asks the server about each
    token and carries its own issuer and audience). ``issuer`` and ``audience`` default
    to Tekcify's and may be ``None`` to skip the check; ``leeway`` is in seconds;
    ``algorithms`` narrows the allowed list further.

    ``get_user_info(user_id)`` may be sync (run in a worker thread) or async and
    returns ``{"email": ...}`` or ``None`` (401 ``User not found``). ``scopes`` are
    required on every route the guard protects (403 ``insufficient_scope``).
    ``scheme_name`` and ``description`` name and describe the OpenAPI security scheme.

    ``clients`` (your application's client id, or several) accepts only the tokens
    issued to those applications; without it, every application registered on the
    server can call your routes with its users' tokens. First-party tokens (from
    ``/api/auth/login``) are then refused unless ``allow_first_party=True``. Tokens
    that act for no user (``client_credentials``) are refused unless
    ``allow_client_tokens=True``. Those refusals are 401 ``Invalid or expired token``.

    Raises :class:`~tekcify_auth.ConfigurationError` for unusable settings.

    >>> from fastapi import Depends, FastAPI
    >>> guard = JwtAuthGuard(secret="change-me", clients=["my-client-id"])
    >>> app = FastAPI(dependencies=[Depends(guard)])
    """

    def __init__(
        self,
        *,
        secret: str | bytes | None = None,
        key: PublicKeyLike | None = None,
        verifier: Verifier | None = None,
        issuer: str | None = DEFAULT_ISSUER,
        audience: str | None = DEFAULT_AUDIENCE,
        algorithms: Collection[str] | None = None,
        leeway: float = 0,
        get_user_info: UserInfoHook | None = None,
        scopes: Iterable[str] = (),
        scheme_name: str | None = None,
        description: str | None = None,
        clients: Iterable[str] | None = None,
        allow_first_party: bool = False,
        allow_client_tokens: bool = False,
    ) -> None:
        if secret is None and key is None and verifier is None:
            raise ConfigurationError(
                "JwtAuthGuard needs secret= (the server's JWT_ACCESS_SECRET), key= "
                "(a public key) or verifier= (an IntrospectionVerifier); use "
                "JwksAuthGuard for keys from the server's JWKS"
            )
        super().__init__(
            build_verifier(
                verifier=verifier, secret=secret, key=key, issuer=issuer, audience=audience,
                algorithms=algorithms, leeway=leeway,
            ),
            get_user_info=get_user_info,
            scopes=scopes,
            scheme_name=scheme_name,
            description=description,
            clients=clients,
            allow_first_party=allow_first_party,
            allow_client_tokens=allow_client_tokens,
        )


class JwksAuthGuard(_BearerGuard):
    """Requires a Tekcify access token signed with an asymmetric key (RS*, PS*, ES*, EdDSA).

    The keys come from ``jwks_uri``, or from ``{auth_server_url}/api/.well-known/jwks.json``,
    or from ``$AUTH_SERVER_URL`` when neither is given; or pass ``jwks``: a ready
    :class:`~tekcify_auth.JwksVerifier` (it carries its own issuer and audience) or a
    JWKS document you hold (a dict with ``"keys"``, its JSON as str or bytes, or a
    joserfc ``KeySet``; read once, never fetched); or one static public key as ``key``.
    The other options (``clients``, ``allow_first_party`` and ``allow_client_tokens``
    among them) are those of :class:`JwtAuthGuard`.

    Raises :class:`~tekcify_auth.ConfigurationError` for unusable settings.

    >>> from tekcify_auth.testing import SigningKey
    >>> guard = JwksAuthGuard(key=SigningKey.generate("ES256").public_jwk())
    """

    def __init__(
        self,
        jwks_uri: str | None = None,
        *,
        auth_server_url: str | None = None,
        jwks: JwksLike | None = None,
        key: PublicKeyLike | None = None,
        issuer: str | None = DEFAULT_ISSUER,
        audience: str | None = DEFAULT_AUDIENCE,
        algorithms: Collection[str] | None = None,
        leeway: float = 0,
        get_user_info: UserInfoHook | None = None,
        scopes: Iterable[str] = (),
        scheme_name: str | None = None,
        description: str | None = None,
        clients: Iterable[str] | None = None,
        allow_first_party: bool = False,
        allow_client_tokens: bool = False,
    ) -> None:
        if jwks_uri is None and auth_server_url is None and jwks is None and key is None:
            auth_server_url = _env_auth_server_url()
        super().__init__(
            build_verifier(
                key=key, jwks=jwks, jwks_uri=jwks_uri, auth_server_url=auth_server_url,
                issuer=issuer, audience=audience, algorithms=algorithms, leeway=leeway,
            ),
            get_user_info=get_user_info,
            scopes=scopes,
            scheme_name=scheme_name,
            description=description,
            clients=clients,
            allow_first_party=allow_first_party,
            allow_client_tokens=allow_client_tokens,
        )


def _stored_user(scope: Scope) -> UserPayload:
    state = scope.get("state")
    user = state.get("user") if state else None
    if isinstance(user, UserPayload):
        return user
    raise ConfigurationError(
        f"no guard authenticated {scope['path']}: add Depends(guard) to the app, router or "
        "route (or AuthMiddleware to the app) before reading CurrentUser or require_scopes"
    )


async def _current_user(request: HTTPConnection) -> UserPayload:
    return _stored_user(request.scope)


CurrentUser = Annotated[UserPayload, Depends(_current_user)]
"""The user a guard authenticated, as an endpoint or dependency parameter.

``CurrentUser`` does not authenticate on its own: it reads what the guard of the app,
router or route (or :class:`~tekcify_auth.starlette.AuthMiddleware`) stored at
``request.state.user``, since only the guard knows the secret or keys. Used on a route
no guard protects, it fails closed with :class:`~tekcify_auth.ConfigurationError` (a
500, a programming error) rather than serve the route unauthenticated. To guard a route
and receive the user in one parameter, write
``user: Annotated[UserPayload, Depends(guard)]``.
"""

# require_scopes() checks users a guard already verified: it needs only the core's
# scope check and refusal log, never a verifier.
_scope_core = GuardCore(cast("Verifier", None))


class _ScopeRequirement:
    """The dependency :func:`require_scopes` returns."""

    def __init__(self, scopes: frozenset[str]) -> None:
        self.scopes = scopes

    def __repr__(self) -> str:
        return f"require_scopes({', '.join(map(repr, sorted(self.scopes)))})"

    async def __call__(self, request: HTTPConnection) -> UserPayload:
        scope = request.scope
        user = _stored_user(scope)
        try:
            _scope_core.require(user, self.scopes)
        except AuthenticationError as exc:
            _scope_core.log_refusal(exc, scope["path"], _client(scope))
            raise _refusal(scope, exc) from None
        return user


def require_scopes(*scopes: str) -> _ScopeRequirement:
    """A dependency that requires every one of ``scopes`` on the authenticated user.

    Put it after a guard (the app's, the router's or the route's own). A user without
    them gets 403 with ``detail`` ``Insufficient scope`` and ``WWW-Authenticate: Bearer
    error="insufficient_scope", scope="..."``. The dependency returns the user. (The
    guards do not read FastAPI's ``Security(guard, scopes=[...])``: declaring a
    ``SecurityScopes`` parameter would cost every request; use this instead.)

    >>> from fastapi import Depends, FastAPI
    >>> guard = JwtAuthGuard(secret="change-me")
    >>> app = FastAPI(dependencies=[Depends(guard)])
    >>> @app.delete("/applications/{client_id}",
    ...             dependencies=[Depends(require_scopes("applications:write"))])
    ... async def delete_application(client_id: str) -> None: ...
    """
    if not scopes:
        raise ConfigurationError("require_scopes needs at least one scope")
    return _ScopeRequirement(frozenset(scopes))


class _StandIn:
    """What :func:`tekcify_auth.testing.override_guard` puts in a guard's place.

    It hands over a fixed user without any token; the guard's own ``scopes``, ``clients``
    and ``allow_client_tokens`` still hold, so a test can prove a 403 or a 401.
    """

    def __init__(self, guard: _BearerGuard, user: UserPayload) -> None:
        self.guard = guard
        self.user = user

    async def __call__(self, request: HTTPConnection) -> UserPayload:
        scope = request.scope
        core = self.guard.core
        try:
            core.admit(self.user.user_id, self.user.client_id)
            if core.scopes:
                core.require(self.user, core.scopes)
        except AuthenticationError as exc:
            core.log_refusal(exc, scope["path"], _client(scope))
            raise _refusal(scope, exc) from None
        _remember(scope, self.user)
        return self.user


def _override_swap(
    app: FastAPI, guard: _BearerGuard
) -> Callable[[UserPayload | None], UserPayload | None]:
    """A function that puts a stand-in for ``user`` in ``guard``'s place (``None``: none).

    It returns the user of the stand-in it replaced, so overrides nest.
    """
    if not isinstance(guard, _BearerGuard):
        raise ConfigurationError(f"{guard!r} is not a tekcify_auth.fastapi guard")

    def swap(user: UserPayload | None) -> UserPayload | None:
        overrides = app.dependency_overrides
        previous = overrides.get(guard)
        if previous is not None and not isinstance(previous, _StandIn):
            raise ConfigurationError(
                f"app.dependency_overrides already replaces {guard!r} with {previous!r}"
            )
        if user is None:
            overrides.pop(guard, None)
        else:
            overrides[guard] = _StandIn(guard, user)
        return None if previous is None else previous.user

    return swap
