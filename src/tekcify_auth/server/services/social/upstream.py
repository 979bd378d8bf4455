"""Talking to an upstream provider, with Authlib's OAuth 2 client.

:func:`authorization` builds the URL the browser is sent to, with a fresh ``state``,
``nonce`` and PKCE verifier (S256); :func:`identity` exchanges the code and returns who
signed in. For an OpenID Connect provider the id token is checked as Authlib's own
``parse_id_token`` does (joserfc with the provider's JWKS, then
``authlib.oidc.core.CodeIDToken``), plus what that leaves out: ``aud`` must name our
client, ``iss`` must be the discovery's issuer, ``exp`` and ``nonce`` are required, and
the algorithm must be an asymmetric one the provider lists (never ``none``, never a
MAC). GitHub (OAuth 2 only) is asked for ``/user`` and ``/user/emails``.

Discovery documents and JWKS are cached per process for :data:`CACHE_SECONDS`; an id
token naming a key the cached JWKS lacks fetches the JWKS again, once.
"""

from __future__ import annotations

import secrets
import threading
import time
import warnings
from dataclasses import dataclass
from typing import Any, Final

import httpx
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

from ...social_providers import Provider, github_endpoints

__all__ = [
    "CACHE_SECONDS", "Authorization", "Identity", "UpstreamError", "authorization", "identity",
]

CACHE_SECONDS: Final = 600.0
TIMEOUT: Final = 10.0
#: The id token algorithms accepted, whatever the provider lists: asymmetric ones only.
ALGORITHMS: Final = (
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
)
LEEWAY: Final = 60


class UpstreamError(Exception):
    """The provider could not be reached, refused the code, or its answer failed a check.

    ``message`` is for the page; ``reason`` is a short word for the log and tests.
    """

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Authorization:
    """Where to send the browser, and what to remember for the callback."""

    url: str
    state: str
    nonce: str
    code_verifier: str


@dataclass(frozen=True, slots=True)
class Identity:
    """Who signed in at the provider."""

    subject: str
    email: str | None
    email_verified: bool
    first_name: str | None
    last_name: str | None


def _client_module() -> Any:
    # Authlib 1.9 warns on import that it would rather use the httpx2 package: a note on
    # Authlib's packaging, not on this server (tests turn warnings into errors).
    from authlib.deprecate import AuthlibDeprecationWarning

    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="The httpx module is deprecated",
            category=AuthlibDeprecationWarning,
        )
        from authlib.integrations import httpx_client
    return httpx_client


class _Cache:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, dict[str, Any]]] = {}

    def get(self, url: str, *, force: bool = False) -> dict[str, Any]:
        now = time.monotonic()
        with self._lock:
            found = self._entries.get(url)
        if found is not None and not force and now - found[0] < CACHE_SECONDS:
            return found[1]
        try:
            answer = httpx.get(url, timeout=TIMEOUT, headers={"Accept": "application/json"})
            answer.raise_for_status()
            document = answer.json()
        except (httpx.HTTPError, ValueError):
            raise UpstreamError(
                "The sign-in provider could not be reached; try again later", "unreachable"
            ) from None
        if not isinstance(document, dict):
            raise UpstreamError("The sign-in provider answered nonsense", "bad_document")
        with self._lock:
            self._entries[url] = (now, document)
        return document


_cache: Final = _Cache()


def _metadata(provider: Provider) -> dict[str, Any]:
    if provider.kind == "github":
        return dict(github_endpoints(provider.discovery_url))
    metadata = _cache.get(provider.discovery_url)
    for key in ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri"):
        if not isinstance(metadata.get(key), str):
            raise UpstreamError("The sign-in provider's configuration is incomplete", "metadata")
    return metadata


def _client(provider: Provider, metadata: dict[str, Any], redirect_uri: str) -> Any:
    methods = metadata.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    method = "client_secret_basic"
    # GitHub documents the secret in the form (client_secret_post).
    if provider.kind == "github" or (
        "client_secret_basic" not in methods and "client_secret_post" in methods
    ):
        method = "client_secret_post"
    return _client_module().OAuth2Client(
        client_id=provider.client_id, client_secret=provider.client_secret,
        scope=" ".join(provider.scopes), redirect_uri=redirect_uri,
        code_challenge_method="S256", token_endpoint_auth_method=method, timeout=TIMEOUT,
    )


def authorization(provider: Provider, redirect_uri: str, *, reauth: bool = False) -> Authorization:
    """The authorization URL for ``provider`` with fresh state, nonce and PKCE verifier.

    ``reauth`` asks the provider to sign the user in again (``prompt=login``,
    ``max_age=0``) rather than reuse its own session.
    """
    metadata = _metadata(provider)
    state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(64)
    extra: dict[str, Any] = {}
    if provider.kind == "oidc":
        extra["nonce"] = nonce
        if reauth:
            extra.update(prompt="login", max_age=0)
    elif reauth:
        extra["prompt"] = "select_account"
    with _client(provider, metadata, redirect_uri) as client:
        url, _ = client.create_authorization_url(
            metadata["authorization_endpoint"], state=state, code_verifier=verifier, **extra
        )
    return Authorization(str(url), state, nonce, verifier)


def _names(claims: dict[str, Any]) -> tuple[str | None, str | None]:
    first, last = claims.get("given_name"), claims.get("family_name")
    if not isinstance(first, str) and isinstance(claims.get("name"), str):
        first, _, last = str(claims["name"]).strip().partition(" ")
    clean = [(v.strip()[:100] or None) if isinstance(v, str) else None for v in (first, last)]
    return clean[0], clean[1]


def _verified(value: object) -> bool:
    # Some providers send the JSON string "true" rather than the boolean.
    return value is True or value == "true"


def _keys(document: Any) -> KeySet:
    return KeySet.import_key_set(document)


def _id_token(
    provider: Provider, metadata: dict[str, Any], token: dict[str, Any], nonce: str
) -> dict[str, Any]:
    from authlib.oidc.core import CodeIDToken

    raw = token.get("id_token")
    if not isinstance(raw, str):
        raise UpstreamError("The sign-in provider sent no id token", "no_id_token")
    listed = metadata.get("id_token_signing_alg_values_supported") or ["RS256"]
    algorithms = [alg for alg in listed if alg in ALGORITHMS]
    registry = JWSRegistry(algorithms=algorithms, strict_check_header=False)
    try:
        try:
            keys = _keys(_cache.get(metadata["jwks_uri"]))
            decoded = jwt.decode(raw, keys, registry=registry)
        except InvalidKeyIdError:  # a key the cached JWKS predates
            keys = _keys(_cache.get(metadata["jwks_uri"], force=True))
            decoded = jwt.decode(raw, keys, registry=registry)
    except (JoseError, ValueError) as exc:
        raise UpstreamError(
            "The sign-in provider's answer could not be verified", "bad_signature"
        ) from exc
    issuer = str(metadata["issuer"])
    if provider.multi_tenant and "{tenantid}" in issuer:
        issuer = issuer.replace("{tenantid}", str(decoded.claims.get("tid", "")))
    options: dict[str, Any] = {
        "iss": {"essential": True, "value": issuer},
        "aud": {"essential": True, "value": provider.client_id},
        "exp": {"essential": True},
        "nonce": {"essential": True, "value": nonce},
    }
    claims = CodeIDToken(
        decoded.claims, decoded.header, options,
        {"nonce": nonce, "client_id": provider.client_id,
         "access_token": token.get("access_token")},
    )
    try:
        claims.validate(leeway=LEEWAY)
    except JoseError as exc:
        claim = getattr(exc, "claim", None) or type(exc).__name__
        raise UpstreamError(
            "The sign-in provider's answer could not be verified", f"claim:{claim}"
        ) from exc
    return dict(claims)


def _oidc_identity(
    provider: Provider, metadata: dict[str, Any], client: Any, token: dict[str, Any],
    nonce: str,
) -> Identity:
    claims = _id_token(provider, metadata, token, nonce)
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject or len(subject) > 255:
        raise UpstreamError("The sign-in provider named nobody", "no_subject")
    userinfo_url = metadata.get("userinfo_endpoint")
    if "email" not in claims and isinstance(userinfo_url, str):
        answer = client.get(userinfo_url)
        if answer.status_code == 200:
            info = answer.json()
            # OIDC Core §5.3.4: userinfo about someone else is not to be used.
            if isinstance(info, dict) and info.get("sub") == subject:
                claims = {**info, **claims}
    email = claims.get("email")
    first, last = _names(claims)
    return Identity(
        subject=subject, email=email if isinstance(email, str) and email else None,
        email_verified=_verified(claims.get("email_verified")), first_name=first,
        last_name=last,
    )


def _github_identity(client: Any, metadata: dict[str, Any]) -> Identity:
    headers = {"Accept": "application/vnd.github+json"}
    user = client.get(metadata["user_endpoint"], headers=headers)
    emails = client.get(metadata["emails_endpoint"], headers=headers)
    if user.status_code != 200:
        raise UpstreamError("GitHub did not say who signed in", "github_user")
    profile = user.json()
    subject = str(profile.get("id") or "")
    if not subject:
        raise UpstreamError("GitHub did not say who signed in", "github_user")
    email, verified = None, False
    if emails.status_code == 200 and isinstance(listed := emails.json(), list):
        primary = [e for e in listed if isinstance(e, dict) and e.get("primary")]
        if primary and isinstance(primary[0].get("email"), str):
            email, verified = primary[0]["email"], primary[0].get("verified") is True
    first, last = _names({"name": profile.get("name")})
    return Identity(subject, email, verified, first, last)


def _check_response_issuer(provider: Provider, metadata: dict[str, Any], iss: str | None) -> None:
    # RFC 9207 §2.4: the authorization response's iss must be the provider's issuer, and
    # must be there when its metadata says it sends one (a mix-up attack otherwise).
    if provider.kind != "oidc" or provider.multi_tenant:
        return
    promised = metadata.get("authorization_response_iss_parameter_supported") is True
    if (iss is None and promised) or (iss is not None and iss != metadata["issuer"]):
        raise UpstreamError(
            "The sign-in answer did not come from the provider it was sent to", "mix_up"
        )


def identity(
    provider: Provider, *, code: str, code_verifier: str, nonce: str, redirect_uri: str,
    iss: str | None = None,
) -> Identity:
    """Exchange ``code`` (with the PKCE verifier) and say who signed in.

    ``iss`` is the authorization response's ``iss`` parameter (RFC 9207), if any. Raises
    :class:`UpstreamError` when it names another issuer, when the provider refuses the
    code or cannot be reached, or when its id token fails a check.
    """
    metadata = _metadata(provider)
    _check_response_issuer(provider, metadata, iss)
    from authlib.integrations.base_client import OAuthError

    with _client(provider, metadata, redirect_uri) as client:
        try:
            token = client.fetch_token(
                metadata["token_endpoint"], code=code, code_verifier=code_verifier,
                headers={"Accept": "application/json"},
            )
        except OAuthError as exc:
            raise UpstreamError(
                "The sign-in provider refused to complete the sign-in; start again",
                f"token:{exc.error}",
            ) from None
        except (httpx.HTTPError, ValueError):
            raise UpstreamError(
                "The sign-in provider could not be reached; try again later", "unreachable"
            ) from None
        token = dict(token)
        try:
            if provider.kind == "github":
                return _github_identity(client, metadata)
            return _oidc_identity(provider, metadata, client, token, nonce)
        except (httpx.HTTPError, ValueError) as exc:
            raise UpstreamError(
                "The sign-in provider could not be reached; try again later", "unreachable"
            ) from exc
