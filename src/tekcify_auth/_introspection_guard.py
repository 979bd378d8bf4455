"""IntrospectionVerifier: a guard mode that asks the auth server about each token.

A guard normally verifies a Tekcify access token itself (a shared secret or the JWKS):
no network call, but a token stays good until its ``exp`` even after its session was
logged out. Given an :class:`IntrospectionVerifier` instead (``verifier=`` on every
guard), the guard asks the server (RFC 7662): opaque or foreign tokens the resource
server cannot check itself are accepted when the server says they are active, and a
revoked session is refused at once, or within ``cache_ttl`` seconds when the
introspection cache is on.

The answer becomes the :class:`~tekcify_auth.VerifiedToken` a local verifier would give:
``sub``, ``scopes`` (from ``scope``), ``clientId``, ``email`` (the ``username``, when it
is an address), ``exp``, ``iat``, ``iss``, ``aud``, ``type: "access"`` and any other
field the server adds. Refused: an inactive token (``inactive``), a refresh token
(``wrong_type``), one past its ``exp`` (``expired``), another issuer or audience than
configured (``wrong_issuer``, ``wrong_audience``). When the server cannot be asked the
token is refused too, with ``introspection_unavailable`` (unreachable) or
``introspection_failed`` (an error answer: wrong client credentials, say), and the
reason is logged: a guard fails closed.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any, Final

import httpx

from ._client import (
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUT,
    AsyncAuthClient,
    AuthClient,
    check_base_url,
)
from ._client_models import IntrospectResult
from ._config import DEFAULT_AUDIENCE, DEFAULT_ISSUER, MAX_TOKEN_LENGTH
from ._errors import (
    AuthServerError,
    AuthServerInvalidResponse,
    AuthServerUnavailable,
    ConfigurationError,
)
from ._models import VerifiedToken, freeze_payload
from ._retry import RetryPolicy

__all__ = ["INTROSPECTION_ERRORS", "IntrospectionVerifier"]

logger = logging.getLogger("tekcify_auth")

INACTIVE: Final = "inactive"
INTROSPECTION_UNAVAILABLE: Final = "introspection_unavailable"
INTROSPECTION_FAILED: Final = "introspection_failed"
#: The error words an :class:`IntrospectionVerifier` may return.
INTROSPECTION_ERRORS: Final = frozenset(
    {
        INACTIVE, INTROSPECTION_UNAVAILABLE, INTROSPECTION_FAILED, "wrong_type", "expired",
        "wrong_issuer", "wrong_audience", "malformed", "too_large",
    }
)
_INVALID: Final = {
    word: VerifiedToken(freeze_payload({}), False, word) for word in INTROSPECTION_ERRORS
}
# RFC 7662 §2.2 token_type values that are never access tokens (Tekcify answers the
# token_type_hint names: access_token or refresh_token).
_NOT_ACCESS: Final = frozenset({"refresh_token"})


class IntrospectionVerifier:
    """Verifies bearer tokens by introspection at the auth server, for any guard.

    ``auth_server_url`` defaults to ``$AUTH_SERVER_URL``. ``client_id`` and
    ``client_secret`` are the resource server's own OAuth client credentials, sent with
    every question (optional: Tekcify Auth introspects access tokens for anyone).
    ``cache_ttl`` seconds turns on the client's introspection cache (off by default:
    every request asks, so a logout is seen at once); with it on, an active answer is
    reused until the earlier of the token's ``exp`` and ``cache_ttl``, so a revoked token
    may pass for that long. ``issuer`` and ``audience`` are checked against the answer's
    ``iss`` and ``aud`` (``None`` skips the check); ``leeway`` and ``clock`` are for
    ``exp``.

    Requests go through ``client`` (an :class:`~tekcify_auth.AuthClient`) when given,
    else through one built here with ``timeout`` and ``retries`` (close it with
    :meth:`close`). :meth:`averify` sends through ``async_client`` (an
    :class:`~tekcify_auth.AsyncAuthClient`, which belongs to one event loop) when given,
    else through that same sync client in a worker thread: it then works from any event
    loop, including the short-lived ones of Flask and Django async views, and shares
    the sync client's connections and introspection cache.

    Never raises for a bad token: the result's ``valid`` is false and ``error`` says
    why (see the module's docstring). Raises
    :class:`~tekcify_auth.ConfigurationError` for unusable settings.

    >>> verifier = IntrospectionVerifier("https://auth.example.com", cache_ttl=5)
    >>> from tekcify_auth.fastapi import JwtAuthGuard
    >>> guard = JwtAuthGuard(verifier=verifier)
    >>> verifier.verify("x" * 9000).error
    'too_large'
    """

    def __init__(
        self,
        auth_server_url: str | None = None,
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        cache_ttl: float | None = None,
        issuer: str | None = DEFAULT_ISSUER,
        audience: str | None = DEFAULT_AUDIENCE,
        leeway: float = 0,
        client: AuthClient | None = None,
        async_client: AsyncAuthClient | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        retries: int | RetryPolicy = DEFAULT_RETRIES,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if client_secret is not None and not client_id:
            raise ConfigurationError("client_secret needs its client_id")
        if not isinstance(leeway, int | float) or not 0 <= leeway < math.inf:
            raise ConfigurationError("leeway must be a finite number of seconds, zero or more")
        if cache_ttl is not None and not cache_ttl > 0:
            raise ConfigurationError("cache_ttl must be > 0 seconds (None turns the cache off)")
        if cache_ttl is not None and (client is not None or async_client is not None):
            raise ConfigurationError(
                "cache_ttl is for the clients built here; give your own clients "
                "introspection_cache_ttl= instead"
            )
        self.client_id = client_id
        self._client_secret = client_secret
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway
        self.clock: Callable[[], float] = clock or time.time
        self._options: dict[str, Any] = {
            "timeout": timeout, "retries": retries, "introspection_cache_ttl": cache_ttl,
            "clock": self.clock,
        }
        given = {c.base_url for c in (client, async_client) if c is not None}
        if auth_server_url is not None or not given:
            # Checked now: a URL without a scheme fails here rather than on a request.
            given.add(check_base_url(auth_server_url))
        if len(given) > 1:
            raise ConfigurationError(
                "auth_server_url, client and async_client name different servers"
            )
        self.base_url = given.pop()
        self._given_client = client
        self.async_client = async_client
        self._client: AuthClient | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"IntrospectionVerifier({self.base_url!r}, client_id={self.client_id!r})"

    # -- the clients -----------------------------------------------------------------------

    def _sync_client(self) -> AuthClient:
        if self._given_client is not None:
            return self._given_client
        client = self._client
        if client is None:
            with self._lock:
                client = self._client
                if client is None:
                    client = self._client = AuthClient(self.base_url, **self._options)
        return client

    def close(self) -> None:
        """Close the client built here (not one that was passed in)."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def __enter__(self) -> IntrospectionVerifier:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- verification ------------------------------------------------------------------------

    def verify(self, token: str | bytes) -> VerifiedToken:
        """Ask the server whether ``token`` is an active access token (sync code)."""
        checked = _checked_token(token)
        if isinstance(checked, VerifiedToken):
            return checked
        try:
            result = self._sync_client().introspect_token(
                checked, self.client_id, self._client_secret
            )
        except (AuthServerUnavailable, AuthServerError, AuthServerInvalidResponse) as exc:
            return self._failure(exc)
        return self.result(result)

    async def averify(self, token: str | bytes) -> VerifiedToken:
        """The coroutine twin of :meth:`verify`, for async guards."""
        checked = _checked_token(token)
        if isinstance(checked, VerifiedToken):
            return checked
        if self.async_client is None:
            import anyio.to_thread

            return await anyio.to_thread.run_sync(self.verify, checked)
        try:
            result = await self.async_client.introspect_token(
                checked, self.client_id, self._client_secret
            )
        except (AuthServerUnavailable, AuthServerError, AuthServerInvalidResponse) as exc:
            return self._failure(exc)
        return self.result(result)

    def result(self, answer: IntrospectResult) -> VerifiedToken:
        """The :class:`~tekcify_auth.VerifiedToken` an introspection answer means."""
        if not answer.active:
            return _INVALID[INACTIVE]
        if answer.token_type in _NOT_ACCESS:
            return _INVALID["wrong_type"]
        if not answer.sub:
            return _INVALID["malformed"]
        if answer.exp is not None and self.clock() >= answer.exp + self.leeway:
            return _INVALID["expired"]
        if self.issuer is not None and answer.iss != self.issuer:
            return _INVALID["wrong_issuer"]
        if self.audience is not None:
            aud = answer.aud
            if not (aud == self.audience or (isinstance(aud, tuple) and self.audience in aud)):
                return _INVALID["wrong_audience"]
        return VerifiedToken(freeze_payload(_claims(answer)), True, None)

    def _failure(self, exc: Exception) -> VerifiedToken:
        if isinstance(exc, AuthServerUnavailable):
            logger.warning("token introspection unavailable: %s", exc)
            return _INVALID[INTROSPECTION_UNAVAILABLE]
        # Wrong client credentials or a broken server: every request will fail the same
        # way until someone fixes it, so say it loudly.
        code = getattr(exc, "error", None)
        logger.error(
            "token introspection failed at %s: %s%s", self.base_url, exc,
            f" ({code})" if code else "",
        )
        return _INVALID[INTROSPECTION_FAILED]


def _checked_token(token: object) -> str | VerifiedToken:
    if isinstance(token, bytes):
        try:
            token = token.decode("ascii")
        except UnicodeDecodeError:
            return _INVALID["malformed"]
    if not isinstance(token, str) or not token.strip() or not token.isascii():
        return _INVALID["malformed"]
    if len(token) > MAX_TOKEN_LENGTH:
        # Refused here: a megabyte of junk is not worth a request to the server.
        return _INVALID["too_large"]
    return token


def _claims(answer: IntrospectResult) -> dict[str, Any]:
    """The answer as the claims of a Tekcify access token (``TokenPayload``)."""
    claims: dict[str, Any] = dict(answer.model_extra or {})
    # The Tekcify camelCase duplicates of RFC fields are not claims.
    for alias in ("clientId", "tokenType"):
        claims.pop(alias, None)
    claims.update(sub=answer.sub, type="access", scopes=list(answer.scopes), active=True)
    if answer.scope is not None:
        claims["scope"] = answer.scope
    if answer.client_id is not None:
        claims["clientId"] = answer.client_id
    if answer.username is not None and "@" in answer.username:
        claims["email"] = answer.username
    for name in ("username", "token_type", "exp", "iat", "nbf", "iss", "jti"):
        value = getattr(answer, name)
        if value is not None:
            claims[name] = value
    if answer.aud is not None:
        claims["aud"] = answer.aud if isinstance(answer.aud, str) else list(answer.aud)
    return claims
