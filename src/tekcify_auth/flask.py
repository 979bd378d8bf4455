"""Flask adapter: the Express middleware of ``@tekcify/auth-backend``, in Flask's words.

>>> from flask import Flask, Blueprint
>>> from tekcify_auth.flask import create_auth_middleware, current_user
>>> auth = create_auth_middleware(secret="change-me")
>>> api = Blueprint("api", __name__, url_prefix="/api")
>>> _ = api.before_request(auth)            # every /api route needs a token
>>> @api.get("/profile")
... def profile() -> dict[str, object]:
...     return {"userId": current_user.user_id, "email": current_user.email}
>>> app = Flask(__name__)
>>> @app.get("/orders")
... @auth.required(scopes=["read:orders"])  # one view, with scopes
... def orders() -> list[str]:
...     return []
>>> app.register_blueprint(api)

A refusal is *returned* as a JSON response (``{"statusCode", "error", "message"}`` and
the RFC 6750 ``WWW-Authenticate`` header), never raised as an ``HTTPException``: an
application's ``errorhandler(401)`` that renders HTML pages cannot turn the API's answer
into something else, while ``after_request`` hooks (CORS headers...) still run on it.
"""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Callable, Collection, Iterable
from typing import Any, TypeVar, cast, overload

from flask import Response, g, request
from werkzeug.local import LocalProxy

from ._config import DEFAULT_AUDIENCE, DEFAULT_ISSUER
from ._errors import AuthenticationError
from ._guard import GuardCore, UserInfoHook, Verifier, build_verifier
from ._jwks import JwksLike
from ._keys import PublicKeyLike
from ._models import UserPayload

__all__ = ["FlaskAuth", "create_auth_middleware", "current_user", "refusal_response"]

F = TypeVar("F", bound=Callable[..., Any])

# Set only by tekcify_auth.testing.override_flask_user: the user every guard accepts.
_override: UserPayload | None = None


def _swap_override(user: UserPayload | None) -> UserPayload | None:
    global _override
    previous, _override = _override, user
    return previous


def _scope_set(scopes: Iterable[str]) -> frozenset[str]:
    """``scopes`` as a set; a single string is a space-separated list (RFC 6749 §3.3)."""
    return frozenset(scopes.split() if isinstance(scopes, str) else scopes)


def refusal_response(exc: AuthenticationError) -> Response:
    """The Flask response for a refusal: its status, JSON body and ``WWW-Authenticate``."""
    return Response(
        json.dumps(exc.body()),
        status=exc.status_code,
        headers=exc.headers(),
        mimetype="application/json",
    )


def _current_user() -> UserPayload:
    user = g.get("user")
    if not isinstance(user, UserPayload):
        # A RuntimeError lets LocalProxy answer bool(current_user) with False.
        raise RuntimeError(
            "no authenticated user: protect this view with app.before_request(auth), "
            "blueprint.before_request(auth) or @auth.required"
        )
    return user


#: The authenticated :class:`~tekcify_auth.UserPayload` of the current request (also
#: ``g.user``). ``bool(current_user)`` is false on a request no guard authenticated.
current_user: UserPayload = LocalProxy(_current_user)  # type: ignore[assignment]


class FlaskAuth:
    """A Tekcify guard for Flask; build it with :func:`create_auth_middleware`.

    Call it as a ``before_request`` function (``app.before_request(auth)``,
    ``blueprint.before_request(auth)``): it returns the refusal response, or ``None``
    after putting the user on ``g.user``. Or decorate single views with
    :meth:`required`.
    """

    def __init__(self, core: GuardCore) -> None:
        self.core = core

    def __call__(self) -> Response | None:
        """Authenticate the current request; the refusal response, or ``None``."""
        try:
            if _override is None:
                user = self.core.authenticate(
                    request.headers.get("Authorization"),
                    route=request.path,
                    client=request.remote_addr,
                )
            else:
                user = self._stand_in(_override, frozenset())
        except AuthenticationError as exc:
            return refusal_response(exc)
        g.user = user
        g._tekcify_guard = self
        return None

    @overload
    def required(self, view: F, /) -> F: ...

    @overload
    def required(self, view: None = None, /, *, scopes: Iterable[str] = ()) -> Callable[[F], F]: ...

    def required(
        self, view: F | None = None, /, *, scopes: Iterable[str] = ()
    ) -> F | Callable[[F], F]:
        """Protect one view: ``@auth.required`` or ``@auth.required(scopes=[...])``.

        ``scopes`` is a list, or one space-separated string (RFC 6749 §3.3). A token
        without every scope in ``scopes`` gets 403 ``insufficient_scope``. When
        this guard already authenticated the request as a ``before_request`` function,
        only the scopes are checked. ``async def`` views are authenticated with the
        guard's coroutine twin.
        """
        needed = _scope_set(scopes)

        def decorate(fn: F) -> F:
            if inspect.iscoroutinefunction(fn):

                @functools.wraps(fn)
                async def async_view(*args: Any, **kwargs: Any) -> Any:
                    refusal = await self._acheck(needed)
                    if refusal is not None:
                        return refusal
                    return await fn(*args, **kwargs)

                return cast(F, async_view)

            @functools.wraps(fn)
            def sync_view(*args: Any, **kwargs: Any) -> Any:
                refusal = self._check(needed)
                if refusal is not None:
                    return refusal
                return fn(*args, **kwargs)

            return cast(F, sync_view)

        return decorate if view is None else decorate(view)

    def _check(self, needed: frozenset[str]) -> Response | None:
        try:
            if g.get("_tekcify_guard") is self:
                user: UserPayload = g.user
                if needed:
                    self._require(user, needed)
            elif _override is not None:
                user = self._stand_in(_override, needed)
            else:
                user = self.core.authenticate(
                    request.headers.get("Authorization"),
                    scopes=needed,
                    route=request.path,
                    client=request.remote_addr,
                )
        except AuthenticationError as exc:
            return refusal_response(exc)
        g.user = user
        g._tekcify_guard = self
        return None

    async def _acheck(self, needed: frozenset[str]) -> Response | None:
        if g.get("_tekcify_guard") is self or _override is not None:
            return self._check(needed)  # no verification left to await
        try:
            user = await self.core.aauthenticate(
                request.headers.get("Authorization"),
                scopes=needed,
                route=request.path,
                client=request.remote_addr,
            )
        except AuthenticationError as exc:
            return refusal_response(exc)
        g.user = user
        g._tekcify_guard = self
        return None

    def _stand_in(self, user: UserPayload, needed: Collection[str]) -> UserPayload:
        try:
            self.core.admit(user.user_id, user.client_id)
        except AuthenticationError as exc:
            self.core.log_refusal(exc, request.path, request.remote_addr)
            raise
        scopes = self.core.scopes.union(needed)
        if scopes:
            self._require(user, scopes)
        return user

    def _require(self, user: UserPayload, scopes: Collection[str]) -> None:
        try:
            self.core.require(user, scopes)
        except AuthenticationError as exc:
            self.core.log_refusal(exc, request.path, request.remote_addr)
            raise


def create_auth_middleware(
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
    clients: Iterable[str] | None = None,
    allow_first_party: bool = False,
    allow_client_tokens: bool = False,
) -> FlaskAuth:
    """A Flask guard, as ``createAuthMiddleware`` builds the Express one.

    Give exactly one key source: ``secret`` (the server's ``JWT_ACCESS_SECRET``,
    HS256/384/512), ``key`` (a public key), ``jwks`` (a
    :class:`~tekcify_auth.JwksVerifier`, or a JWKS document: a dict with ``"keys"``, its
    JSON or a joserfc ``KeySet``, read once), ``jwks_uri`` / ``auth_server_url`` (the
    server's published keys), or ``verifier`` (a ready verifier such as an
    :class:`~tekcify_auth.IntrospectionVerifier`, which asks the server about each
    token). ``issuer`` and ``audience`` default to Tekcify's.
    ``get_user_info(user_id)``, sync or async, returns ``{"email": ...}`` or ``None``
    (then 401 ``User not found``). ``scopes`` are required on every request the guard
    sees.

    ``clients`` (your application's client id, or several) accepts only the tokens
    issued to those applications, not those of every application on the server;
    first-party tokens then pass only with ``allow_first_party=True``. Tokens that act
    for no user (``client_credentials``) are refused unless ``allow_client_tokens=True``.

    Raises :class:`~tekcify_auth.ConfigurationError` for unusable settings.

    >>> auth = create_auth_middleware(secret="change-me", scopes=["read:profile"])
    >>> sorted(auth.core.scopes)
    ['read:profile']
    """
    checker = build_verifier(
        verifier=verifier,
        secret=secret,
        key=key,
        jwks=jwks,
        jwks_uri=jwks_uri,
        auth_server_url=auth_server_url,
        issuer=issuer,
        audience=audience,
        algorithms=algorithms,
        leeway=leeway,
    )
    return FlaskAuth(
        GuardCore(
            checker, get_user_info=get_user_info, scopes=scopes, clients=clients,
            allow_first_party=allow_first_party, allow_client_tokens=allow_client_tokens,
        )
    )
