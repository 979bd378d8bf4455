"""Defaults shared by the verifiers, guards and clients."""

from __future__ import annotations

import os
from typing import Final

__all__ = [
    "AUTH_SERVER_URL",
    "DEFAULT_AUDIENCE",
    "DEFAULT_CACHE_SIZE",
    "DEFAULT_ISSUER",
    "JWKS_PATH",
    "MAX_TOKEN_LENGTH",
    "auth_server_url",
]

#: The issuer (``iss``) Tekcify Auth puts in its access tokens.
DEFAULT_ISSUER: Final = "tekcify-auth"
#: The audience (``aud``) Tekcify Auth puts in its access tokens.
DEFAULT_AUDIENCE: Final = "tekcify-api"
#: Tokens longer than this are refused before any parsing (a Tekcify token is < 1 KiB).
MAX_TOKEN_LENGTH: Final = 8192
#: How many verified tokens each verifier remembers.
DEFAULT_CACHE_SIZE: Final = 10_000
#: Where the server publishes its public keys, relative to its base URL.
JWKS_PATH: Final = "/api/.well-known/jwks.json"


def auth_server_url() -> str:
    """The server's base URL: ``$AUTH_SERVER_URL``, default ``http://localhost:7001``."""
    return os.environ.get("AUTH_SERVER_URL", "").strip() or "http://localhost:7001"


#: The server's base URL, read from the environment when the package is imported.
AUTH_SERVER_URL: Final = auth_server_url()
