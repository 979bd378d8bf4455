"""The signing service: turns access-token claims into a JWS, and verifies its own.

Everything that issues tokens goes through a :class:`Signer`; the server's own Bearer
check uses :meth:`Signer.verifier`, a verifier of the library (``tekcify_auth``), so the
server checks tokens exactly as its users do. :class:`HmacSigner` is the HS256 mode
with the shared ``JWT_ACCESS_SECRET``; asymmetric modes (RS256, ES256, EdDSA, with key
rotation) implement the same protocol and publish their public keys in :meth:`jwks`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from joserfc import jws

from tekcify_auth._guard import Verifier
from tekcify_auth._keys import load_hmac_key
from tekcify_auth._verify import TokenVerifier

__all__ = ["HmacSigner", "Signer"]


class Signer(Protocol):
    """Signs access tokens and verifies them; one per running server."""

    @property
    def algorithm(self) -> str:
        """The ``alg`` of new tokens."""
        ...

    def sign(self, claims: Mapping[str, Any]) -> str:
        """The compact JWS of ``claims``."""
        ...

    def verifier(
        self, *, issuer: str, audience: str, clock: Callable[[], float] | None = None
    ) -> Verifier:
        """A library verifier that accepts this server's tokens (every live key)."""
        ...

    def jwks(self) -> dict[str, Any]:
        """The public key set (``{"keys": []}`` for a shared secret)."""
        ...


class HmacSigner:
    """HS256 with the shared secret, the Tekcify default (``JWT_ACCESS_SECRET``)."""

    algorithm = "HS256"

    def __init__(self, secret: str) -> None:
        self._secret = secret
        self._key = load_hmac_key(secret)

    def sign(self, claims: Mapping[str, Any]) -> str:
        """The HS256 JWS of ``claims`` (header ``{"alg": "HS256", "typ": "JWT"}``)."""
        payload = json.dumps(dict(claims), separators=(",", ":"))
        return jws.serialize_compact(
            {"alg": "HS256", "typ": "JWT"}, payload, self._key, algorithms=["HS256"]
        )

    def verifier(
        self, *, issuer: str, audience: str, clock: Callable[[], float] | None = None
    ) -> Verifier:
        """A :class:`~tekcify_auth.TokenVerifier` for the secret, HS256 only."""
        return TokenVerifier(
            secret=self._secret, issuer=issuer, audience=audience,
            algorithms=["HS256"], clock=clock,
        )

    def jwks(self) -> dict[str, Any]:
        """No public keys: a shared secret is never published."""
        return {"keys": []}
