"""Tekcify Auth for Python: verify access tokens, guard routes, call the auth server.

>>> from tekcify_auth import verify_access_token
>>> verify_access_token("not-a-token", secret="change-me").valid
False
"""

from ._config import AUTH_SERVER_URL
from ._errors import (
    AuthenticationError,
    AuthServerError,
    AuthServerUnavailable,
    ConfigurationError,
    JwksError,
    TekcifyAuthError,
)
from ._jwks import JwksVerifier, create_jwks_verifier
from ._models import TokenPayload, UserPayload, VerifiedToken
from ._verify import TokenVerifier, decode_token, verify_access_token
from ._version import __version__

__all__ = [
    "AUTH_SERVER_URL",
    "AuthServerError",
    "AuthServerUnavailable",
    "AuthenticationError",
    "ConfigurationError",
    "JwksError",
    "JwksVerifier",
    "TekcifyAuthError",
    "TokenPayload",
    "TokenVerifier",
    "UserPayload",
    "VerifiedToken",
    "__version__",
    "create_jwks_verifier",
    "decode_token",
    "verify_access_token",
]
