"""JwksVerifier: verification against the server's published keys (placeholder)."""

from __future__ import annotations

from typing import Any

from ._config import JWKS_PATH, auth_server_url
from ._errors import ConfigurationError
from ._models import VerifiedToken

__all__ = ["JwksVerifier", "create_jwks_verifier"]


class JwksVerifier:
    """Verifies tokens with the keys at ``{auth_server_url}/api/.well-known/jwks.json``."""

    def __init__(self, jwks_uri: str | None = None, *, auth_server_url: str | None = None,
                 **options: Any) -> None:
        self.jwks_uri = jwks_uri or (auth_server_url or _default()).rstrip("/") + JWKS_PATH
        raise ConfigurationError("JwksVerifier is not implemented yet")

    def verify(self, token: str | bytes) -> VerifiedToken:
        raise NotImplementedError

    async def averify(self, token: str | bytes) -> VerifiedToken:
        raise NotImplementedError


def _default() -> str:
    return auth_server_url()


def create_jwks_verifier(jwks_uri: str | None = None, **options: Any) -> JwksVerifier:
    """Build a :class:`JwksVerifier`; the Node package's ``createJwksVerifier``."""
    return JwksVerifier(jwks_uri, **options)
