"""The ``TEKCIFY_AUTH`` setting, read once into the guard every Django piece shares.

The middleware, :func:`~tekcify_auth.django.auth_required` and the DRF classes all call
:func:`get_guard`, so one verifier (and its token cache, or its JWKS) serves them all.
The guard is rebuilt when ``override_settings`` changes ``TEKCIFY_AUTH``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from asgiref.sync import iscoroutinefunction, sync_to_async
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.http import HttpRequest, JsonResponse
from django.utils.module_loading import import_string

from .._config import DEFAULT_AUDIENCE, DEFAULT_ISSUER
from .._errors import AuthenticationError, ConfigurationError
from .._guard import GuardCore, UserInfoHook, build_verifier
from .._models import UserPayload

__all__ = [
    "SETTING",
    "USER_ATTRIBUTE",
    "DjangoGuard",
    "get_guard",
    "refusal_response",
    "scope_set",
]

SETTING: Final = "TEKCIFY_AUTH"
#: The request attribute that holds the authenticated :class:`~tekcify_auth.UserPayload`.
USER_ATTRIBUTE: Final = "tekcify_user"

_SOURCES: Final = ("SECRET", "PUBLIC_KEY", "JWKS", "JWKS_URI", "AUTH_SERVER_URL", "VERIFIER")
_KEYS: Final = frozenset(
    {*_SOURCES, "ISSUER", "AUDIENCE", "ALGORITHMS", "LEEWAY", "GET_USER_INFO",
     "PROTECTED_PATHS", "EXEMPT_PATHS", "CLIENTS", "ALLOW_FIRST_PARTY", "ALLOW_CLIENT_TOKENS"}
)

# Set only by tekcify_auth.testing.override_django_user: the user every guard accepts.
_override: UserPayload | None = None


def _swap_override(user: UserPayload | None) -> UserPayload | None:
    global _override
    previous, _override = _override, user
    return previous


def refusal_response(exc: AuthenticationError) -> JsonResponse:
    """The Django response for a refusal: its status, JSON body and ``WWW-Authenticate``."""
    return JsonResponse(exc.body(), status=exc.status_code, headers=exc.headers())


def scope_set(scopes: Iterable[str]) -> frozenset[str]:
    """``scopes`` as a set; a single string is a space-separated list (RFC 6749 §3.3)."""
    return frozenset(scopes.split() if isinstance(scopes, str) else scopes)


def _under(path: str, prefixes: tuple[str, ...]) -> bool:
    # Prefixes are kept without their trailing slash, so "" (from "/") matches every path
    # and "/api" matches "/api" and "/api/..." but not "/apiary".
    return any(path == p or path.startswith(p + "/") for p in prefixes)


@dataclass(frozen=True, slots=True)
class DjangoGuard:
    """The configured guard: a core for sync code, one for async code, and the paths.

    ``acore`` differs from ``core`` only when ``GET_USER_INFO`` is a sync function: under
    ASGI it then runs through ``sync_to_async(thread_sensitive=True)``, on the thread
    Django gives the ORM, so its database connection is the request's and is closed with
    it (a bare worker thread would keep its own connection open).
    """

    core: GuardCore
    acore: GuardCore
    protected: tuple[str, ...]
    exempt: tuple[str, ...]

    def guards(self, path: str) -> bool:
        """Whether the middleware requires a token on ``path`` (a ``path_info``)."""
        return _under(path, self.protected) and not _under(path, self.exempt)

    def authenticate(self, request: HttpRequest, scopes: Collection[str] = ()) -> UserPayload:
        """Authenticate ``request`` from sync code; raises :class:`AuthenticationError`."""
        if _override is not None:
            return self._stand_in(request, _override, scopes)
        meta = request.META
        return self.core.authenticate(
            meta.get("HTTP_AUTHORIZATION"),
            scopes=scopes,
            route=request.path,
            client=meta.get("REMOTE_ADDR"),
        )

    async def aauthenticate(
        self, request: HttpRequest, scopes: Collection[str] = ()
    ) -> UserPayload:
        """Authenticate ``request`` from async code; raises :class:`AuthenticationError`."""
        if _override is not None:
            return self._stand_in(request, _override, scopes)
        meta = request.META
        return await self.acore.aauthenticate(
            meta.get("HTTP_AUTHORIZATION"),
            scopes=scopes,
            route=request.path,
            client=meta.get("REMOTE_ADDR"),
        )

    def require(self, request: HttpRequest, user: UserPayload, scopes: Collection[str]) -> None:
        """Raise (and log) the 403 ``insufficient_scope`` refusal unless ``user`` has ``scopes``."""
        try:
            self.core.require(user, scopes)
        except AuthenticationError as exc:
            self.core.log_refusal(exc, request.path, request.META.get("REMOTE_ADDR"))
            raise

    def refuse(self, request: HttpRequest, exc: AuthenticationError) -> None:
        """Log a refusal decided outside the core (the DRF permission's)."""
        self.core.log_refusal(exc, request.path, request.META.get("REMOTE_ADDR"))

    def _stand_in(
        self, request: HttpRequest, user: UserPayload, scopes: Collection[str]
    ) -> UserPayload:
        try:
            self.core.admit(user.user_id, user.client_id)
        except AuthenticationError as exc:
            self.refuse(request, exc)
            raise
        needed = self.core.scopes.union(scopes)
        if needed:
            self.require(request, user, needed)
        return user


def _setting(config: Mapping[str, Any], key: str, kinds: type | tuple[type, ...]) -> Any:
    value = config.get(key)
    if value is not None and not isinstance(value, kinds):
        names = " or ".join(k.__name__ for k in (kinds if isinstance(kinds, tuple) else (kinds,)))
        raise ImproperlyConfigured(f"{SETTING}[{key!r}] must be {names}, not {value!r}")
    return value


def _paths(config: Mapping[str, Any], key: str, default: tuple[str, ...]) -> tuple[str, ...]:
    value = config.get(key)
    if value is None:
        return default
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise ImproperlyConfigured(f"{SETTING}[{key!r}] must be a list of paths such as ['/api']")
    paths = tuple(value)
    for path in paths:
        if not isinstance(path, str) or not path.startswith("/"):
            raise ImproperlyConfigured(
                f"{SETTING}[{key!r}] holds {path!r}; each entry must be a path starting with '/'"
            )
    return tuple(p.rstrip("/") for p in paths)


def _loaded(config: Mapping[str, Any], key: str) -> Any:
    """``config[key]``, or the object its dotted path names when it is a string."""
    value = config.get(key)
    if not isinstance(value, str):
        return value
    try:
        return import_string(value)
    except ImportError as exc:
        raise ImproperlyConfigured(
            f"{SETTING}[{key!r}] names {value!r}, which cannot be imported: {exc}"
        ) from exc


def _user_info_hook(config: Mapping[str, Any]) -> UserInfoHook | None:
    hook = config.get("GET_USER_INFO")
    if hook is None or callable(hook):
        return hook
    if not isinstance(hook, str):
        raise ImproperlyConfigured(
            f"{SETTING}['GET_USER_INFO'] must be a function or its dotted path, not {hook!r}"
        )
    try:
        loaded = import_string(hook)
    except ImportError as exc:
        raise ImproperlyConfigured(
            f"{SETTING}['GET_USER_INFO'] names {hook!r}, which cannot be imported: {exc}"
        ) from exc
    if not callable(loaded):
        raise ImproperlyConfigured(f"{SETTING}['GET_USER_INFO'] names {hook!r}, not a function")
    return loaded  # type: ignore[no-any-return]


def _client_policy(config: Mapping[str, Any]) -> dict[str, Any]:
    """``CLIENTS``, ``ALLOW_FIRST_PARTY`` and ``ALLOW_CLIENT_TOKENS`` as ``GuardCore`` options."""
    clients = config.get("CLIENTS")
    if clients is not None and (
        not isinstance(clients, str | list | tuple | set | frozenset)
        or not clients
        or not all(isinstance(c, str) and c for c in clients)
    ):
        raise ImproperlyConfigured(
            f"{SETTING}['CLIENTS'] must list the client ids whose tokens are accepted, "
            f"such as ['<your client id>'], not {clients!r}"
        )
    for key in ("ALLOW_FIRST_PARTY", "ALLOW_CLIENT_TOKENS"):
        _setting(config, key, bool)
    return {
        "clients": clients,
        "allow_first_party": bool(config.get("ALLOW_FIRST_PARTY")),
        "allow_client_tokens": bool(config.get("ALLOW_CLIENT_TOKENS")),
    }


def build_guard(config: object) -> DjangoGuard:
    """The guard a ``TEKCIFY_AUTH`` mapping describes; raises ``ImproperlyConfigured``."""
    if not isinstance(config, Mapping):
        raise ImproperlyConfigured(
            f"{SETTING} must be a dict such as {{'SECRET': <JWT_ACCESS_SECRET>}}; "
            f"got {config!r}"
        )
    unknown = sorted(str(k) for k in config if k not in _KEYS)
    if unknown:
        raise ImproperlyConfigured(
            f"{SETTING} has unknown keys {unknown}; known keys: {sorted(_KEYS)}"
        )
    # A JWKS document counts when given at all, so that an empty one is named as such.
    given = [k for k in _SOURCES if (config.get(k) is not None if k == "JWKS" else config.get(k))]
    if len(given) != 1:
        raise ImproperlyConfigured(
            f"{SETTING} needs exactly one of 'SECRET' (the server's JWT_ACCESS_SECRET), "
            f"'PUBLIC_KEY', 'JWKS' (a JWKS document or JwksVerifier), 'JWKS_URI', "
            f"'AUTH_SERVER_URL' (the server's JWKS) or "
            f"'VERIFIER' (an IntrospectionVerifier, say); got {given or 'none'}"
        )
    source = given[0]
    _setting(config, "SECRET", (str, bytes))
    _setting(config, "JWKS_URI", str)
    _setting(config, "AUTH_SERVER_URL", str)
    leeway = _setting(config, "LEEWAY", (int, float)) or 0
    algorithms = _setting(config, "ALGORITHMS", (list, tuple, set, frozenset))
    try:
        verifier = build_verifier(
            verifier=_loaded(config, "VERIFIER"),
            secret=config.get("SECRET"),
            key=config.get("PUBLIC_KEY"),
            jwks=config.get("JWKS"),
            jwks_uri=config.get("JWKS_URI"),
            auth_server_url=config.get("AUTH_SERVER_URL"),
            issuer=_setting(config, "ISSUER", str) if "ISSUER" in config else DEFAULT_ISSUER,
            audience=(
                _setting(config, "AUDIENCE", str) if "AUDIENCE" in config else DEFAULT_AUDIENCE
            ),
            algorithms=algorithms,
            leeway=leeway,
        )
    except ConfigurationError as exc:
        raise ImproperlyConfigured(f"{SETTING}[{source!r}]: {exc}") from exc
    hook = _user_info_hook(config)
    policy = _client_policy(config)
    core = GuardCore(verifier, get_user_info=hook, **policy)
    acore = core
    if hook is not None and not iscoroutinefunction(hook):
        acore = GuardCore(verifier, get_user_info=_thread_sensitive(hook), **policy)
    return DjangoGuard(
        core=core,
        acore=acore,
        protected=_paths(config, "PROTECTED_PATHS", ("",)),
        exempt=_paths(config, "EXEMPT_PATHS", ()),
    )


def _thread_sensitive(hook: Callable[[str], Any]) -> UserInfoHook:
    run = sync_to_async(hook, thread_sensitive=True)

    async def get_user_info(user_id: str) -> Any:
        return await run(user_id)

    return get_user_info


_guard: DjangoGuard | None = None
_lock = threading.Lock()


def get_guard() -> DjangoGuard:
    """The guard of the current ``TEKCIFY_AUTH`` setting, built on first use.

    Raises ``ImproperlyConfigured``, naming the key, when the setting is missing or bad.
    """
    guard = _guard
    if guard is None:
        guard = _load()
    return guard


def _load() -> DjangoGuard:
    global _guard
    with _lock:
        if _guard is None:
            config = getattr(settings, SETTING, None)
            if config is None:
                raise ImproperlyConfigured(
                    f"the {SETTING} setting is missing: add {SETTING} = "
                    "{'SECRET': <the server's JWT_ACCESS_SECRET>} to your settings"
                )
            _guard = build_guard(config)
        return _guard


def _reset(*, setting: str, **kwargs: object) -> None:
    global _guard
    if setting == SETTING:
        with _lock:
            _guard = None


setting_changed.connect(_reset, dispatch_uid="tekcify_auth.django.reset_guard")
