"""The exceptions of tekcify_auth, one tree with a single root.

```text
TekcifyAuthError                 anything this package raises on purpose
├── ConfigurationError           a verifier, guard or client was set up wrongly
├── JwksError                    the JWKS could not be fetched or parsed
├── IdTokenError                 an OpenID Connect id token failed validation
├── AuthenticationError          a guard refused a request (renders its own 401/403)
├── AuthServerError              the auth server answered with a non-2xx status
├── AuthServerInvalidResponse    a 2xx answer that is not the documented shape, or too big
└── AuthServerUnavailable        the auth server could not be reached in time
```

Token verification itself never raises for a bad token: it returns a
:class:`~tekcify_auth.VerifiedToken` whose ``error`` names the reason.
"""

from __future__ import annotations

__all__ = [
    "AuthServerError",
    "AuthServerInvalidResponse",
    "AuthServerUnavailable",
    "AuthenticationError",
    "ConfigurationError",
    "IdTokenError",
    "JwksError",
    "TekcifyAuthError",
]


class TekcifyAuthError(Exception):
    """Base class of every exception this package raises on purpose."""


class ConfigurationError(TekcifyAuthError, ValueError):
    """Raised at construction when a verifier, guard or client is given bad settings.

    For example: neither ``secret`` nor ``key`` given, a public key passed as an HMAC
    secret, an algorithm list that does not fit the key, or a URL without a scheme.
    """


class JwksError(TekcifyAuthError):
    """Raised when the JWKS cannot be fetched or does not hold a usable key set.

    The verifier keeps serving the last good key set when a refresh fails, so this is
    seen only when no key set was ever loaded.
    """


class IdTokenError(TekcifyAuthError):
    """Raised by the OAuth client when an id token fails validation (OIDC Core §3.1.3.7).

    ``reason`` names the check: ``missing`` (a nonce was sent, no id token came),
    ``malformed``, ``algorithm``, ``unknown_key``,
    ``signature``, ``issuer``, ``audience``, ``azp``, ``expired``,
    ``issued_in_the_future``, ``nonce`` or ``at_hash``.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(f"the id token is not valid: {reason}")
        self.reason = reason


class AuthServerError(TekcifyAuthError):
    """Raised when the auth server answers with a non-2xx status.

    ``message`` is the server's human-readable ``message``; ``error`` is the OAuth error
    code (``invalid_grant``...) when the endpoint is an OAuth protocol endpoint.
    """

    def __init__(self, status_code: int, message: str, error: str | None = None) -> None:
        super().__init__(f"{status_code}: {message}")
        self.status_code = status_code
        self.message = message
        self.error = error


class AuthServerInvalidResponse(TekcifyAuthError):
    """Raised when the auth server answers 2xx with a body the client cannot use.

    Not JSON (an HTML page from a proxy, an empty body), JSON of another shape than
    ``http-api.md`` documents for the endpoint, or a body larger than the client's
    ``max_response_bytes``. It is not an :class:`AuthServerError`: the server did not
    refuse the call, so code that turns ``AuthServerError`` into an error answer of its
    own must not pass a 200 on. ``status_code`` is the status the body came with.
    """

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(f"{status_code}: {message}")
        self.status_code = status_code
        self.message = message


class AuthServerUnavailable(TekcifyAuthError):
    """Raised when the auth server cannot be reached: connection refused, DNS, timeout."""


class AuthenticationError(TekcifyAuthError):
    """Raised by a guard when it refuses a request; it knows its own wire form.

    ``status_code`` is 401 or 403, ``message`` the text the Node package answers with,
    ``reason`` the short machine word that is logged (``expired``, ``missing_header``...),
    and :meth:`headers` gives the RFC 6750 ``WWW-Authenticate`` header.
    """

    def __init__(
        self,
        status_code: int,
        message: str,
        *,
        reason: str,
        error: str | None = None,
        description: str | None = None,
        scope: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.reason = reason
        self.error = error
        self.description = description
        self.scope = scope

    @property
    def www_authenticate(self) -> str:
        """The ``WWW-Authenticate`` value (RFC 6750 §3)."""
        # §3.1: a request without credentials gets no error code at all.
        if self.error is None:
            return "Bearer"
        parts = [f'error="{self.error}"']
        if self.description:
            parts.append(f'error_description="{self.description}"')
        if self.scope is not None:
            parts.append(f'scope="{self.scope}"')
        return "Bearer " + ", ".join(parts)

    def headers(self) -> dict[str, str]:
        """The response headers this refusal carries."""
        return {"WWW-Authenticate": self.www_authenticate}

    def body(self) -> dict[str, object]:
        """The JSON body: the Tekcify error shape, ``message`` being the Node text."""
        return {
            "statusCode": self.status_code,
            "error": "Forbidden" if self.status_code == 403 else "Unauthorized",
            "message": self.message,
        }
