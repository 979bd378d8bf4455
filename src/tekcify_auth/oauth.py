"""OAuth 2.0 for applications of Tekcify Auth: PKCE, the authorization-code flow,
refresh, client credentials and revocation.

:class:`OAuthClient` and :class:`AsyncOAuthClient` are twins over the request builders
of ``_requests.py``, sending through an :class:`~tekcify_auth.AuthClient` (or its async
twin), so timeouts, retries and errors are the same as for every other call. PKCE is
``S256`` only (RFC 7636 §4.2, as the server requires): ``plain`` is refused.

**OpenID Connect.** With the ``openid`` scope the server answers an id token; the
clients validate every one they receive (``exchange_code`` with the ``nonce`` the
authorization URL carried, ``refresh`` without one) against the discovery document's
issuer and the JWKS (``_oidc.py``: signature, ``iss``, ``aud``, ``azp``, expiry,
``nonce``, ``at_hash``), and expose its claims as ``TokenSet.id_token_claims``. A token
that fails raises :class:`~tekcify_auth.IdTokenError`. Discovery is read once per client,
the JWKS again when an id token names a key it does not hold.

>>> verifier = generate_code_verifier()
>>> challenge = generate_code_challenge(verifier)
>>> client = OAuthClient("my-app", redirect_uri="https://app.example.com/callback",
...                      scopes=["openid", "profile"], auth_server_url="https://auth.example.com")
>>> url = client.build_authorize_url(state="xyz", code_challenge=challenge)
>>> url.startswith("https://auth.example.com/api/oauth/authorize?response_type=code")
True
>>> client.close()
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import Any, Final, Literal
from urllib.parse import quote, urlencode, urlsplit

import httpx

from . import _requests
from ._client import (
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUT,
    AsyncAuthClient,
    AuthClient,
    check_base_url,
)
from ._client_models import TokenSet
from ._errors import ConfigurationError, IdTokenError
from ._oidc import validate_id_token
from ._requests import ApiRequest, ClientAuth
from ._retry import RetryPolicy

__all__ = [
    "AsyncOAuthClient",
    "OAuthClient",
    "TokenSet",
    "generate_code_challenge",
    "generate_code_verifier",
]

AuthMethod = Literal["client_secret_basic", "client_secret_post"]

# RFC 7636 §4.1: code-verifier = 43*128unreserved.
_UNRESERVED: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
_VERIFIER: Final = re.compile(r"[A-Za-z0-9\-._~]{43,128}")


def generate_code_verifier(length: int = 64) -> str:
    """A new PKCE code verifier: ``length`` (43 to 128) random unreserved characters.

    >>> len(generate_code_verifier())
    64
    """
    if not 43 <= length <= 128:
        raise ValueError("a code verifier has 43 to 128 characters (RFC 7636 §4.1)")
    return "".join(secrets.choice(_UNRESERVED) for _ in range(length))


def generate_code_challenge(verifier: str, method: str = "S256") -> str:
    """The PKCE code challenge of ``verifier``: ``BASE64URL(SHA256(verifier))``.

    Only ``S256`` is accepted; ``plain`` sends the verifier itself and protects nothing
    against an attacker who can read the authorization request (RFC 7636 §7.2), and
    Tekcify Auth refuses it. Raises :class:`~tekcify_auth.ConfigurationError` for any
    other method and ``ValueError`` for a verifier that is not 43 to 128 unreserved
    characters.

    >>> generate_code_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")  # RFC 7636 B
    'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM'
    """
    _check_method(method)
    if not isinstance(verifier, str) or not _VERIFIER.fullmatch(verifier):
        raise ValueError("a code verifier is 43 to 128 unreserved characters (RFC 7636 §4.1)")
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _check_method(method: str) -> None:
    if method != "S256":
        raise ConfigurationError(
            f"PKCE method {method!r} is refused: Tekcify Auth accepts only 'S256' "
            "(RFC 7636 §4.2; 'plain' protects nothing if the request is seen)"
        )


def _scope_tuple(scopes: Iterable[str] | str | None) -> tuple[str, ...]:
    if scopes is None:
        return ()
    # RFC 6749 §3.3: one string is a space-separated list.
    return tuple(scopes.split()) if isinstance(scopes, str) else tuple(scopes)


class _OAuthBase:
    """What the twins share: the client's identity and the requests it builds."""

    def __init__(
        self,
        client_id: str,
        client_secret: str | None,
        redirect_uri: str | None,
        scopes: Iterable[str] | str,
        token_endpoint_auth_method: AuthMethod,
    ) -> None:
        if not client_id:
            raise ConfigurationError("client_id must be a non-empty string")
        if token_endpoint_auth_method not in ("client_secret_basic", "client_secret_post"):
            raise ConfigurationError(
                "token_endpoint_auth_method must be 'client_secret_basic' or "
                "'client_secret_post'"
            )
        self.client_id = client_id
        self.redirect_uri = redirect_uri
        self.scopes = _scope_tuple(scopes)
        self._auth = ClientAuth(client_id, client_secret, token_endpoint_auth_method)
        self.base_url = ""
        #: OpenID Connect: the discovery document and the JWKS, once fetched.
        self._discovery: dict[str, Any] | None = None
        self._jwks: dict[str, Any] | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.client_id!r}, base_url={self.base_url!r})"

    def _redirect(self, redirect_uri: str | None) -> str:
        uri = redirect_uri or self.redirect_uri
        if not uri:
            raise ConfigurationError("this call needs a redirect_uri (none was configured)")
        return uri

    def build_authorize_url(
        self,
        state: str,
        code_challenge: str,
        code_challenge_method: str = "S256",
        nonce: str | None = None,
        *,
        scopes: Iterable[str] | str | None = None,
        redirect_uri: str | None = None,
        extra_params: Mapping[str, str] | None = None,
    ) -> str:
        """The URL to send the user's browser to (RFC 6749 §4.1.1, RFC 7636 §4.3).

        ``state`` is the value to check on return (against CSRF, §10.12);
        ``nonce`` (OpenID Connect) a random value to pass to :meth:`exchange_code` too;
        ``scopes`` and ``redirect_uri`` default to the client's. Raises
        :class:`~tekcify_auth.ConfigurationError` for a method other than ``S256``.
        """
        _check_method(code_challenge_method)
        if not state:
            raise ValueError("state must be a non-empty string (RFC 6749 §10.12)")
        if not code_challenge:
            raise ValueError("code_challenge must be a non-empty string")
        params = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self._redirect(redirect_uri),
            "scope": " ".join(_scope_tuple(scopes) if scopes is not None else self.scopes),
            "state": state,
            "code_challenge": code_challenge,
            "code_challenge_method": code_challenge_method,
            **({"nonce": nonce} if nonce else {}),
            **(extra_params or {}),
        }
        if not params["scope"]:
            del params["scope"]
        return f"{self.base_url}/api/oauth/authorize?{urlencode(params, quote_via=quote)}"

    def _code_request(
        self, code: str, code_verifier: str, redirect_uri: str | None, clock: Callable[[], float]
    ) -> ApiRequest[TokenSet]:
        if not code or not code_verifier:
            raise ValueError("code and code_verifier must be non-empty strings")
        grant = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self._redirect(redirect_uri),
            "code_verifier": code_verifier,
        }
        return _requests.oauth_token(grant, self._auth, clock)

    def _refresh_request(
        self, refresh_token: str, scopes: Iterable[str] | str | None, clock: Callable[[], float]
    ) -> ApiRequest[TokenSet]:
        if not refresh_token:
            raise ValueError("refresh_token must be a non-empty string")
        grant = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        if scopes is not None:
            grant["scope"] = " ".join(_scope_tuple(scopes))
        return _requests.oauth_token(grant, self._auth, clock, refresh_token)

    def _credentials_request(
        self, scopes: Iterable[str] | str | None, clock: Callable[[], float]
    ) -> ApiRequest[TokenSet]:
        if self._auth.client_secret is None:
            raise ConfigurationError("the client_credentials grant needs a client_secret")
        grant = {"grant_type": "client_credentials"}
        wanted = _scope_tuple(scopes) if scopes is not None else self.scopes
        if wanted:
            grant["scope"] = " ".join(wanted)
        return _requests.oauth_token(grant, self._auth, clock)


    def _jwks_path(self) -> str:
        """The path of the discovery document's ``jwks_uri`` (requests go to our base URL)."""
        assert self._discovery is not None
        uri = self._discovery.get("jwks_uri")
        path = urlsplit(uri).path if isinstance(uri, str) else ""
        return path or "/api/.well-known/jwks.json"

    def _claims(self, tokens: TokenSet, nonce: str | None, now: float) -> TokenSet:
        """``tokens`` with their id token's validated claims (see the module docstring)."""
        assert tokens.id_token is not None
        assert self._discovery is not None
        assert self._jwks is not None
        claims = validate_id_token(
            tokens.id_token, jwks=self._jwks, issuer=str(self._discovery.get("issuer")),
            client_id=self.client_id, now=now, nonce=nonce, access_token=tokens.access_token,
        )
        return tokens.model_copy(update={"id_token_claims": claims})


def _without_id_token(tokens: TokenSet, nonce: str | None) -> TokenSet | None:
    """``tokens`` when there is no id token to validate; raises when one was expected."""
    if tokens.id_token is not None:
        return None
    if nonce is not None:
        raise IdTokenError("missing")
    return tokens


def _transport_options(
    auth_client: object | None, auth_server_url: str | None, **options: object
) -> None:
    if auth_client is None:
        return
    given = sorted(name for name, value in options.items() if value is not None)
    if given:
        raise ConfigurationError(f"{', '.join(given)}: set these on the auth_client instead")
    base_url: str = getattr(auth_client, "base_url", "")
    if auth_server_url is not None and check_base_url(auth_server_url) != base_url:
        raise ConfigurationError("auth_server_url differs from the auth_client's base_url")


class OAuthClient(_OAuthBase):
    """An OAuth client of Tekcify Auth: a registered application, for sync code.

    ``client_secret`` is ``None`` for a public client (PKCE only); with one, the client
    authenticates by ``client_secret_basic`` (default) or ``client_secret_post``.
    ``auth_server_url`` defaults to ``$AUTH_SERVER_URL``. The requests go through
    ``auth_client`` when given (sharing its connection pool and settings), else through
    an :class:`~tekcify_auth.AuthClient` built with ``timeout``, ``retries``,
    ``transport`` and ``clock``. Token requests are never tried again (a code is single
    use, a refresh token rotates); revocation is. Errors are
    :class:`~tekcify_auth.AuthServerError` with the RFC 6749 §5.2 code in ``error``
    (``invalid_grant``...), and :class:`~tekcify_auth.AuthServerUnavailable`.

    >>> client = OAuthClient("my-app", "secret", redirect_uri="https://app.example.com/cb",
    ...                      auth_server_url="https://auth.example.com")
    >>> tokens = client.exchange_code(code, verifier)  # doctest: +SKIP
    >>> tokens.access_token, tokens.expires_at  # doctest: +SKIP
    >>> client.close()
    """

    def __init__(
        self,
        client_id: str,
        client_secret: str | None = None,
        redirect_uri: str | None = None,
        scopes: Iterable[str] | str = (),
        auth_server_url: str | None = None,
        *,
        token_endpoint_auth_method: AuthMethod = "client_secret_basic",
        auth_client: AuthClient | None = None,
        timeout: float | httpx.Timeout | None = None,
        retries: int | RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        super().__init__(
            client_id, client_secret, redirect_uri, scopes, token_endpoint_auth_method
        )
        _transport_options(
            auth_client, auth_server_url, timeout=timeout, retries=retries,
            transport=transport, clock=clock,
        )
        self._owns_client = auth_client is None
        if auth_client is None:
            auth_client = AuthClient(
                auth_server_url, transport=transport, clock=clock,
                timeout=DEFAULT_TIMEOUT if timeout is None else timeout,
                retries=DEFAULT_RETRIES if retries is None else retries,
            )
        self.auth_client = auth_client
        self.base_url = auth_client.base_url

    def close(self) -> None:
        """Close the connections (not those of an ``auth_client`` that was passed in)."""
        if self._owns_client:
            self.auth_client.close()

    def __enter__(self) -> OAuthClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def exchange_code(
        self, code: str, code_verifier: str, *, redirect_uri: str | None = None,
        nonce: str | None = None,
    ) -> TokenSet:
        """Exchange an authorization code and its PKCE verifier for tokens (§4.1.3).

        An id token in the answer is validated (``nonce``: the authorization URL's) and
        its claims set on ``id_token_claims``; raises
        :class:`~tekcify_auth.IdTokenError` when it fails, or is missing though a
        ``nonce`` was given.
        """
        clock = self.auth_client.clock
        tokens = self.auth_client._send(
            self._code_request(code, code_verifier, redirect_uri, clock)
        )
        return self._openid(tokens, nonce)

    def refresh(
        self, refresh_token: str, *, scopes: Iterable[str] | str | None = None
    ) -> TokenSet:
        """New tokens for a refresh token (§6); it keeps the old refresh token when the
        server sends no new one. A new id token is validated as in :meth:`exchange_code`
        (without a nonce)."""
        clock = self.auth_client.clock
        tokens = self.auth_client._send(self._refresh_request(refresh_token, scopes, clock))
        return self._openid(tokens, None)

    def _openid(self, tokens: TokenSet, nonce: str | None) -> TokenSet:
        plain = _without_id_token(tokens, nonce)
        if plain is not None:
            return plain
        if self._discovery is None:
            self._discovery = self.auth_client._send(_requests.openid_configuration())
        if self._jwks is None:
            self._jwks = self.auth_client._send(_requests.fetch_jwks(self._jwks_path()))
        try:
            return self._claims(tokens, nonce, self.auth_client.clock())
        except IdTokenError as exc:
            if exc.reason != "unknown_key":
                raise
        # A key rotated since the JWKS was read: read it again, once.
        self._jwks = self.auth_client._send(_requests.fetch_jwks(self._jwks_path()))
        return self._claims(tokens, nonce, self.auth_client.clock())

    def client_credentials(self, scopes: Iterable[str] | str | None = None) -> TokenSet:
        """A token for the application itself (§4.4); needs the client secret."""
        clock = self.auth_client.clock
        return self.auth_client._send(self._credentials_request(scopes, clock))

    def revoke(self, token: str, token_type_hint: str | None = None) -> None:
        """Revoke an access or refresh token (RFC 7009); unknown tokens are no error."""
        self.auth_client._send(_requests.oauth_revoke(token, self._auth, token_type_hint))


class AsyncOAuthClient(_OAuthBase):
    """The async twin of :class:`OAuthClient`: the same arguments and methods, as
    coroutines, over an :class:`~tekcify_auth.AsyncAuthClient`. Close it with
    :meth:`aclose` or ``async with``."""

    def __init__(
        self,
        client_id: str,
        client_secret: str | None = None,
        redirect_uri: str | None = None,
        scopes: Iterable[str] | str = (),
        auth_server_url: str | None = None,
        *,
        token_endpoint_auth_method: AuthMethod = "client_secret_basic",
        auth_client: AsyncAuthClient | None = None,
        timeout: float | httpx.Timeout | None = None,
        retries: int | RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        super().__init__(
            client_id, client_secret, redirect_uri, scopes, token_endpoint_auth_method
        )
        _transport_options(
            auth_client, auth_server_url, timeout=timeout, retries=retries,
            transport=transport, clock=clock,
        )
        self._owns_client = auth_client is None
        if auth_client is None:
            auth_client = AsyncAuthClient(
                auth_server_url, transport=transport, clock=clock,
                timeout=DEFAULT_TIMEOUT if timeout is None else timeout,
                retries=DEFAULT_RETRIES if retries is None else retries,
            )
        self.auth_client = auth_client
        self.base_url = auth_client.base_url

    async def aclose(self) -> None:
        """Close the connections (not those of an ``auth_client`` that was passed in)."""
        if self._owns_client:
            await self.auth_client.aclose()

    async def __aenter__(self) -> AsyncOAuthClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def exchange_code(
        self, code: str, code_verifier: str, *, redirect_uri: str | None = None,
        nonce: str | None = None,
    ) -> TokenSet:
        """The coroutine twin of :meth:`OAuthClient.exchange_code`."""
        clock = self.auth_client.clock
        tokens = await self.auth_client._send(
            self._code_request(code, code_verifier, redirect_uri, clock)
        )
        return await self._openid(tokens, nonce)

    async def refresh(
        self, refresh_token: str, *, scopes: Iterable[str] | str | None = None
    ) -> TokenSet:
        """The coroutine twin of :meth:`OAuthClient.refresh`."""
        clock = self.auth_client.clock
        tokens = await self.auth_client._send(
            self._refresh_request(refresh_token, scopes, clock)
        )
        return await self._openid(tokens, None)

    async def _openid(self, tokens: TokenSet, nonce: str | None) -> TokenSet:
        plain = _without_id_token(tokens, nonce)
        if plain is not None:
            return plain
        if self._discovery is None:
            self._discovery = await self.auth_client._send(_requests.openid_configuration())
        if self._jwks is None:
            self._jwks = await self.auth_client._send(_requests.fetch_jwks(self._jwks_path()))
        try:
            return self._claims(tokens, nonce, self.auth_client.clock())
        except IdTokenError as exc:
            if exc.reason != "unknown_key":
                raise
        self._jwks = await self.auth_client._send(_requests.fetch_jwks(self._jwks_path()))
        return self._claims(tokens, nonce, self.auth_client.clock())

    async def client_credentials(self, scopes: Iterable[str] | str | None = None) -> TokenSet:
        """The coroutine twin of :meth:`OAuthClient.client_credentials`."""
        clock = self.auth_client.clock
        return await self.auth_client._send(self._credentials_request(scopes, clock))

    async def revoke(self, token: str, token_type_hint: str | None = None) -> None:
        """The coroutine twin of :meth:`OAuthClient.revoke`."""
        await self.auth_client._send(_requests.oauth_revoke(token, self._auth, token_type_hint))
