"""Ready ``get_user_info`` hooks that ask the auth server who the token's user is.

A guard's hook receives only the user id (as in the Node package), but the server's
UserInfo endpoint answers only to that user's token. The guard therefore puts the
request's bearer token in :data:`~tekcify_auth._guard.current_token` while the hook
runs, and these hooks read it there: no admin credentials, no lookup by id, and the
server answers with just what the token's scopes allow. Answers are cached per user id
for ``ttl`` seconds, so a busy user costs one request per ``ttl``; the cache keeps what
the user *is* (email, names), never whether a token is live, which is the verifier's
question (see :class:`~tekcify_auth.IntrospectionVerifier`).

The hook returns the UserInfo claims as a dict (``email``, ``name``, ``picture``...),
or ``None`` when the server refuses the token (401/403/404): the guard then answers 401
``User not found``. An unreachable server raises
:class:`~tekcify_auth.AuthServerUnavailable` (a 500, not a refusal: the user may well
exist), and any other error answer raises :class:`~tekcify_auth.AuthServerError`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Final

from ._cache import ExpiringLRU
from ._client import AsyncAuthClient, AuthClient
from ._client_models import UserInfo
from ._errors import AuthServerError, ConfigurationError
from ._guard import current_token

__all__ = ["AsyncServerUserInfo", "ServerUserInfo"]

#: Answers meaning "this token's user is not to be let in".
_REFUSED: Final = frozenset({401, 403, 404})


class _Cached:
    """What the twins share: the TTL cache and turning an answer into the hook's value."""

    def __init__(self, ttl: float, maxsize: int, clock: Callable[[], float] | None) -> None:
        if not ttl > 0:
            raise ConfigurationError("ttl must be a number of seconds greater than 0")
        self.ttl = ttl
        self.clock: Callable[[], float] = clock or time.time
        self._users: ExpiringLRU[dict[str, Any]] = ExpiringLRU(maxsize, self.clock)

    def clear(self) -> None:
        """Forget every cached user."""
        self._users.clear()

    @staticmethod
    def _token(user_id: str) -> str:
        token = current_token.get()
        if token is None:
            raise ConfigurationError(
                f"no request token for user {user_id!r}: this hook is for a guard's "
                "get_user_info=, which gives it the token of the request it authenticates"
            )
        return token

    def _keep(self, user_id: str, info: UserInfo) -> dict[str, Any] | None:
        if info.sub != user_id:  # not this user's token: never cache or trust it
            return None
        value = info.model_dump(exclude_none=True)
        self._users.put(user_id, value, self.clock() + self.ttl)
        return value


class ServerUserInfo(_Cached):
    """A sync ``get_user_info`` hook that asks the server (``GET /api/oauth/userinfo``).

    For Flask, Django and any guard running sync code; under FastAPI it runs in a worker
    thread (use :class:`AsyncServerUserInfo` there). ``client`` is the
    :class:`~tekcify_auth.AuthClient` to ask with (default: the shared default client,
    ``$AUTH_SERVER_URL``). Answers are cached per user for ``ttl`` seconds.

    >>> from tekcify_auth.flask import create_auth_middleware
    >>> auth = create_auth_middleware(secret="change-me", get_user_info=ServerUserInfo())
    """

    def __init__(
        self,
        client: AuthClient | None = None,
        *,
        ttl: float = 60.0,
        maxsize: int = 10_000,
        clock: Callable[[], float] | None = None,
    ) -> None:
        super().__init__(ttl, maxsize, clock)
        self.client = client

    def __call__(self, user_id: str) -> dict[str, Any] | None:
        """The user's claims from the server, or ``None`` when it refuses the token."""
        cached = self._users.get(user_id)
        if cached is not None:
            return cached
        token = self._token(user_id)
        if self.client is None:
            from ._default import get_default_client

            client = get_default_client()
        else:
            client = self.client
        try:
            info = client.fetch_user_info(token)
        except AuthServerError as exc:
            if exc.status_code in _REFUSED:
                return None
            raise
        return self._keep(user_id, info)


class AsyncServerUserInfo(_Cached):
    """The async twin of :class:`ServerUserInfo`, for FastAPI, Starlette and async views.

    ``client`` is an :class:`~tekcify_auth.AsyncAuthClient` (default: the running
    loop's default client from ``tekcify_auth.aio``).

    >>> from tekcify_auth.fastapi import JwtAuthGuard
    >>> guard = JwtAuthGuard(secret="change-me", get_user_info=AsyncServerUserInfo(ttl=30))
    """

    def __init__(
        self,
        client: AsyncAuthClient | None = None,
        *,
        ttl: float = 60.0,
        maxsize: int = 10_000,
        clock: Callable[[], float] | None = None,
    ) -> None:
        super().__init__(ttl, maxsize, clock)
        self.client = client

    async def __call__(self, user_id: str) -> dict[str, Any] | None:
        """The user's claims from the server, or ``None`` when it refuses the token."""
        cached = self._users.get(user_id)
        if cached is not None:
            return cached
        token = self._token(user_id)
        if self.client is None:
            from .aio import get_default_client

            client = get_default_client()
        else:
            client = self.client
        try:
            info = await client.fetch_user_info(token)
        except AuthServerError as exc:
            if exc.status_code in _REFUSED:
                return None
            raise
        return self._keep(user_id, info)
