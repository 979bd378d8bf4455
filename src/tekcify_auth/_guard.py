"""The framework-free guard core that every adapter (FastAPI, Starlette, Flask, Django) uses.

An adapter reads the ``Authorization`` header, the route and the client address, calls
:meth:`GuardCore.authenticate` (or :meth:`GuardCore.aauthenticate` under asyncio), and
either attaches the returned :class:`~tekcify_auth.UserPayload` to the request or turns
the raised :class:`~tekcify_auth.AuthenticationError` into its response: status, JSON
body and ``WWW-Authenticate`` header are all decided here, so every framework answers
exactly as the Node package's NestJS guard and Express middleware do.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
import re
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final, Protocol, cast

from ._config import DEFAULT_AUDIENCE, DEFAULT_ISSUER
from ._errors import AuthenticationError, ConfigurationError
from ._keys import PublicKeyLike
from ._models import UserPayload, VerifiedToken
from ._verify import TokenVerifier, client_names, token_client

if TYPE_CHECKING:
    from ._jwks import JwksLike

__all__ = [
    "INSUFFICIENT_SCOPE",
    "INVALID_TOKEN",
    "MISSING_HEADER",
    "USER_NOT_FOUND",
    "GuardCore",
    "UserInfoHook",
    "Verifier",
    "build_verifier",
    "current_token",
    "extract_bearer",
    "logger",
]

logger = logging.getLogger("tekcify_auth")

# The Node package's exact texts.
MISSING_HEADER: Final = "Missing or invalid authorization header"
INVALID_TOKEN: Final = "Invalid or expired token"
USER_NOT_FOUND: Final = "User not found"
INSUFFICIENT_SCOPE: Final = "Insufficient scope"

# RFC 6750 §2.1: credentials = "Bearer" 1*SP b64token. Matched against the whole value,
# so two tokens, a comma list or junk around the token are refused.
_BEARER: Final = re.compile(r"[Bb][Ee][Aa][Rr][Ee][Rr] +([A-Za-z0-9\-._~+/]+=*)")

#: How many Authorization headers a guard remembers the user of (see authenticate).
_MEMO_SIZE: Final = 4096

UserInfo = Mapping[str, Any] | None
#: ``get_user_info(user_id)``: sync or async, returns ``{"email": ...}`` or ``None``.
UserInfoHook = Callable[[str], UserInfo | Awaitable[UserInfo]]

#: The bearer token of the request whose ``get_user_info`` hook is running (``None``
#: elsewhere). The hook receives only the user id, as in the Node package; a hook that
#: must call the auth server for the user (``ServerUserInfo``) reads the token here.
current_token: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "tekcify_auth_current_token", default=None
)


class Verifier(Protocol):
    """Anything that verifies tokens from sync and async code."""

    def verify(self, token: str) -> VerifiedToken: ...

    async def averify(self, token: str) -> VerifiedToken: ...


def build_verifier(
    *,
    verifier: Verifier | None = None,
    secret: str | bytes | None = None,
    key: PublicKeyLike | None = None,
    jwks: JwksLike | None = None,
    jwks_uri: str | None = None,
    auth_server_url: str | None = None,
    issuer: str | None = DEFAULT_ISSUER,
    audience: str | None = DEFAULT_AUDIENCE,
    algorithms: Collection[str] | None = None,
    leeway: float = 0,
) -> Verifier:
    """The verifier a guard's options describe: a shared secret, a key, a JWKS, or a
    ready ``verifier`` (an :class:`~tekcify_auth.IntrospectionVerifier`, or anything with
    ``verify`` and ``averify``), which carries its own issuer and audience.

    ``jwks`` is a :class:`~tekcify_auth.JwksVerifier` (used as it is), or a JWKS document
    (a dict with ``"keys"``, its JSON, a joserfc ``KeySet``) read here, once, and checked
    with these ``issuer``, ``audience``, ``algorithms`` and ``leeway``; anything else
    raises :class:`~tekcify_auth.ConfigurationError` now, not on the first request."""
    given = sum(x is not None for x in (verifier, secret, key, jwks)) + bool(
        jwks_uri or auth_server_url
    )
    if given != 1:
        raise ConfigurationError(
            "configure the guard with exactly one of secret= (JWT_ACCESS_SECRET), key=, "
            "jwks=, jwks_uri=/auth_server_url= (asymmetric keys from the server's JWKS), "
            "or verifier= (an IntrospectionVerifier, say)"
        )
    if verifier is not None:
        if not (callable(getattr(verifier, "verify", None))
                and callable(getattr(verifier, "averify", None))):
            raise ConfigurationError("verifier= needs verify(token) and averify(token) methods")
        return verifier
    if jwks is not None:
        from ._jwks import jwks_verifier

        return jwks_verifier(
            jwks, issuer=issuer, audience=audience, algorithms=algorithms, leeway=leeway
        )
    if jwks_uri or auth_server_url:
        from ._jwks import JwksVerifier

        return JwksVerifier(
            jwks_uri,
            auth_server_url=auth_server_url,
            issuer=issuer,
            audience=audience,
            algorithms=algorithms,
            leeway=leeway,
        )
    return TokenVerifier(
        secret=secret, key=key, issuer=issuer, audience=audience,
        algorithms=algorithms, leeway=leeway,
    )


def extract_bearer(authorization: str | None) -> str:
    """The token in an ``Authorization: Bearer <token>`` value.

    Raises :class:`AuthenticationError` (401 ``Missing or invalid authorization
    header``) when the header is absent, uses another scheme or is not exactly one
    token.
    """
    value = authorization.strip(" \t") if authorization else ""
    if not value:
        raise AuthenticationError(401, MISSING_HEADER, reason="missing_header")
    match = _BEARER.fullmatch(value)
    if match is None:
        # RFC 6750 §3.1: another scheme (Basic...) counts as no credentials, so no error
        # code; a Bearer header that is not exactly one token is an invalid_request.
        bearer = value[:7].lower() in ("bearer", "bearer ", "bearer\t")
        raise AuthenticationError(
            401,
            MISSING_HEADER,
            reason="invalid_header",
            error="invalid_request" if bearer else None,
            description="Authorization must be 'Bearer <token>'" if bearer else None,
        )
    return match.group(1)


def _scope_names(scopes: Iterable[str]) -> frozenset[str]:
    # A single string is an RFC 6749 §3.3 scope list ("read write"), never its letters.
    return frozenset(scopes.split() if isinstance(scopes, str) else scopes)


def _loggable(text: str) -> str:
    # Route and client come from the request: escape control characters so that one
    # refusal stays one log line (CWE-117), and cap the length.
    if not text.isprintable():
        text = text.encode("unicode_escape").decode("ascii")
    return text if len(text) <= 200 else text[:200] + "..."


def _is_async_callable(fn: object) -> bool:
    while hasattr(fn, "func"):  # functools.partial
        fn = fn.func
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)  # noqa: B004 - async __call__ on an object
    )


def _scopes_of(payload: Mapping[str, Any]) -> tuple[str, ...]:
    scopes = payload.get("scopes")
    if isinstance(scopes, list):
        return tuple(scopes)
    scope = payload.get("scope")  # RFC 8693 / 9068 style, for foreign tokens
    if isinstance(scope, str):
        return tuple(scope.split())
    return ()


class GuardCore:
    """Authenticates one request: header, verification, user hook, scopes.

    ``verifier`` is a :class:`~tekcify_auth._verify.TokenVerifier`, a
    :class:`~tekcify_auth.JwksVerifier` or an :class:`~tekcify_auth.IntrospectionVerifier`.
    ``get_user_info(user_id)`` may be sync or async; it is detected once here, and a
    sync hook runs in a worker thread when called from async code (either way it can
    read the request's token from :data:`current_token`). ``scopes`` are required on
    every request this guard sees.

    ``clients`` (client ids) accepts only the tokens issued to those applications
    (their ``clientId``; the server also puts it in ``aud``); a first-party token (no
    ``clientId``) then passes only with ``allow_first_party``. A token that acts for no
    user (``client_credentials``: ``sub`` is its ``clientId``) is refused unless
    ``allow_client_tokens``. Both refusals are 401 ``Invalid or expired token``
    (``invalid_token``), logged with the reason ``wrong_client`` or ``client_token``,
    and checked before ``get_user_info`` runs.
    """

    def __init__(
        self,
        verifier: Verifier,
        *,
        get_user_info: UserInfoHook | None = None,
        scopes: Iterable[str] = (),
        log: logging.Logger | None = None,
        clients: Iterable[str] | None = None,
        allow_first_party: bool = False,
        allow_client_tokens: bool = False,
    ) -> None:
        if get_user_info is not None and not callable(get_user_info):
            raise ConfigurationError("get_user_info must be a function of the user id")
        self.clients = client_names(clients)
        self.allow_first_party = allow_first_party
        self.allow_client_tokens = allow_client_tokens
        self.verifier = verifier
        self.get_user_info = get_user_info
        self._hook_is_async = get_user_info is not None and _is_async_callable(get_user_info)
        self.scopes = _scope_names(scopes)
        self.logger = log or logger
        # Header value -> (token, the verifier's cached result, the user built from it):
        # only without a hook (it runs on every request, as in the Node package) and over
        # a caching verifier, whose cache is what keeps an entry honest (authenticate).
        self._memo: dict[str, tuple[str, VerifiedToken, UserPayload]] | None = (
            {} if get_user_info is None and getattr(verifier, "_cache", None) is not None
            else None
        )

    def authenticate(
        self,
        authorization: str | None,
        *,
        scopes: Collection[str] = (),
        route: str = "",
        client: str | None = None,
    ) -> UserPayload:
        """Authenticate from sync code; raises :class:`AuthenticationError` on refusal."""
        memo = self._memo if not scopes else None
        if memo is not None and authorization is not None:
            entry = memo.get(authorization)
            # The verifier hands back the very object it cached only while its cache
            # holds the token as valid (unexpired, not cleared, not evicted): then the
            # user built from it stands, and header parsing and the user build, most of
            # a guarded request's cost (benchmarks/guard.py), are skipped.
            if entry is not None and self.verifier.verify(entry[0]) is entry[1]:
                return entry[2]
        try:
            token = extract_bearer(authorization)
            result = self.verifier.verify(token)
            payload = self._payload(result)
            self.admit(payload["sub"], token_client(payload))
            info: UserInfo = None
            if self.get_user_info is not None:
                reset = current_token.set(token)
                try:
                    info = self._call_hook_sync(payload)
                finally:
                    current_token.reset(reset)
            user = self._user(payload, info, scopes)
        except AuthenticationError as exc:
            self.log_refusal(exc, route, client)
            raise
        if memo is not None and authorization is not None:
            if len(memo) >= _MEMO_SIZE:
                memo.clear()
            memo[authorization] = (token, result, user)
        return user

    async def aauthenticate(
        self,
        authorization: str | None,
        *,
        scopes: Collection[str] = (),
        route: str = "",
        client: str | None = None,
    ) -> UserPayload:
        """Authenticate from async code; raises :class:`AuthenticationError` on refusal."""
        try:
            token = extract_bearer(authorization)
            payload = self._payload(await self.verifier.averify(token))
            self.admit(payload["sub"], token_client(payload))
            info: UserInfo = None
            if self.get_user_info is not None:
                reset = current_token.set(token)
                try:
                    info = await self._call_hook_async(payload)
                finally:
                    current_token.reset(reset)
            return self._user(payload, info, scopes)
        except AuthenticationError as exc:
            self.log_refusal(exc, route, client)
            raise

    def require(self, user: UserPayload, scopes: Collection[str]) -> None:
        """Raise the 403 ``insufficient_scope`` refusal unless ``user`` has ``scopes``."""
        scopes = _scope_names(scopes)
        if not user.has_scopes(*scopes):
            needed = " ".join(sorted(scopes))
            raise AuthenticationError(
                403,
                INSUFFICIENT_SCOPE,
                reason="insufficient_scope",
                error="insufficient_scope",
                description=f"The token lacks the scopes: {needed}",
                scope=needed,
            )

    def admit(self, user_id: str, client_id: str | None) -> None:
        """Raise the 401 refusal unless this guard accepts a token of ``client_id``.

        ``client_id`` is the application the token was issued to (``None``: first-party);
        a token whose ``user_id`` is its ``client_id`` acts for no user.
        """
        clients = self.clients
        if clients is not None and not (
            client_id in clients if client_id is not None else self.allow_first_party
        ):
            raise AuthenticationError(
                401, INVALID_TOKEN, reason="wrong_client", error="invalid_token",
                description="The access token was not issued to this application",
            )
        if client_id is not None and user_id == client_id and not self.allow_client_tokens:
            raise AuthenticationError(
                401, INVALID_TOKEN, reason="client_token", error="invalid_token",
                description="The access token acts for no user (client credentials)",
            )

    def log_refusal(self, exc: AuthenticationError, route: str, client: str | None) -> None:
        """One WARNING line per refusal: the reason word, route and client; never the token."""
        self.logger.warning(
            "authentication refused: reason=%s status=%d route=%s client=%s",
            exc.reason, exc.status_code, _loggable(route or "-"), _loggable(client or "-"),
        )

    @staticmethod
    def _payload(result: VerifiedToken) -> Mapping[str, Any]:
        if not result.valid:
            raise AuthenticationError(
                401,
                INVALID_TOKEN,
                reason=result.error or "invalid_token",
                error="invalid_token",
                description="The access token is invalid or expired",
            )
        sub = result.payload.get("sub")
        if not isinstance(sub, str) or not sub:
            raise AuthenticationError(
                401, INVALID_TOKEN, reason="missing_sub", error="invalid_token",
                description="The access token names no subject",
            )
        return result.payload

    def _call_hook_sync(self, payload: Mapping[str, Any]) -> UserInfo:
        hook = cast(UserInfoHook, self.get_user_info)
        result = hook(payload["sub"])
        if inspect.isawaitable(result):
            result = _run_coroutine(result)
        return result

    async def _call_hook_async(self, payload: Mapping[str, Any]) -> UserInfo:
        hook = cast(UserInfoHook, self.get_user_info)
        if self._hook_is_async:
            result = hook(payload["sub"])
        else:
            import anyio.to_thread

            result = await anyio.to_thread.run_sync(hook, payload["sub"])
        if inspect.isawaitable(result):
            result = await result
        return result

    def _user(
        self, payload: Mapping[str, Any], info: UserInfo, scopes: Collection[str]
    ) -> UserPayload:
        email: object = None
        if self.get_user_info is not None:
            # As the Node package's `if (!userInfo)`: only None means "no such user"; an
            # empty mapping is a user the hook knows nothing more about.
            if info is None:
                raise AuthenticationError(
                    401, USER_NOT_FOUND, reason="user_not_found", error="invalid_token",
                    description="The token's user does not exist",
                )
            email = info.get("email") if isinstance(info, Mapping) else getattr(info, "email", None)
        if not isinstance(email, str):
            email = payload.get("email")
        role = payload.get("role")
        client_id = payload.get("clientId")
        sid = payload.get("sid")
        user = UserPayload(
            user_id=payload["sub"],
            email=email if isinstance(email, str) else None,
            scopes=_scopes_of(payload),
            role=role if isinstance(role, str) else None,
            client_id=client_id if isinstance(client_id, str) else None,
            session_id=sid if isinstance(sid, str) else None,
            claims=payload,
        )
        needed = self.scopes.union(_scope_names(scopes)) if scopes else self.scopes
        if needed:
            self.require(user, needed)
        return user


def _run_coroutine(awaitable: Awaitable[UserInfo]) -> UserInfo:
    """Run an async hook to completion from sync code (Flask, Django, WSGI)."""

    async def wrap() -> UserInfo:
        return await awaitable

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(wrap())
    # A loop already runs in this thread (sync code called from async): use another.
    import concurrent.futures

    # The worker runs in this thread's context, so the hook sees current_token.
    context = contextvars.copy_context()
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(context.run, asyncio.run, wrap()).result()
