"""A software WebAuthn authenticator for tests (never shipped): an EC P-256 key that
answers ``navigator.credentials.create`` with a ``none`` attestation and
``navigator.credentials.get`` with a signed assertion, as JSON the way browsers send it.

Everything a hostile test needs to bend is a parameter: the origin and RP ID it claims,
the challenge, the signature counter, the flags.

>>> key = SoftAuthenticator()
>>> credential = key.register(options["options"], origin="http://tekcify.test")
>>> assertion = key.get(login_options["options"], origin="http://tekcify.test")
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

__all__ = ["SoftAuthenticator", "b64url", "unb64url"]

UP = 0x01  # user present
UV = 0x04  # user verified
AT = 0x40  # attested credential data included


def b64url(data: bytes) -> str:
    """Base64url without padding, as WebAuthn's JSON writes bytes."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    """The bytes of a base64url string (padding optional)."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SoftAuthenticator:
    """One credential on a P-256 key; ``sign_count`` goes up by one per assertion."""

    def __init__(self, *, sign_count: int = 0, aaguid: bytes = bytes(16)) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = os.urandom(32)
        self.sign_count = sign_count
        self.aaguid = aaguid
        self.user_handle: str | None = None
        self.rp_id: str | None = None

    @property
    def id(self) -> str:
        """The credential id, base64url (``Passkey.credentialId``)."""
        return b64url(self.credential_id)

    def _cose_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        return cbor2.dumps({
            1: 2, 3: -7, -1: 1,
            -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big"),
        })

    @staticmethod
    def _client_data(kind: str, challenge: str, origin: str) -> bytes:
        return json.dumps(
            {"type": kind, "challenge": challenge, "origin": origin, "crossOrigin": False},
            separators=(",", ":"),
        ).encode()

    def register(
        self,
        options: dict[str, Any],
        *,
        origin: str,
        rp_id: str | None = None,
        challenge: str | None = None,
        flags: int = UP | UV | AT,
    ) -> dict[str, Any]:
        """The ``PublicKeyCredential`` JSON answering registration ``options``."""
        self.rp_id = rp_id or options["rp"]["id"]
        self.user_handle = options["user"]["id"]
        client_data = self._client_data(
            "webauthn.create", challenge or options["challenge"], origin
        )
        auth_data = (
            hashlib.sha256(self.rp_id.encode()).digest()
            + bytes([flags])
            + struct.pack(">I", self.sign_count)
            + self.aaguid
            + struct.pack(">H", len(self.credential_id))
            + self.credential_id
            + self._cose_key()
        )
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return {
            "id": self.id, "rawId": self.id, "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "attestationObject": b64url(attestation),
                "transports": ["internal"],
            },
            "clientExtensionResults": {}, "authenticatorAttachment": "platform",
        }

    def get(
        self,
        options: dict[str, Any],
        *,
        origin: str,
        rp_id: str | None = None,
        challenge: str | None = None,
        sign_count: int | None = None,
        flags: int = UP | UV,
        user_handle: str | None = None,
    ) -> dict[str, Any]:
        """The ``PublicKeyCredential`` JSON answering sign-in ``options``.

        The counter goes up by one unless ``sign_count`` says what to claim.
        """
        if sign_count is None:
            self.sign_count += 1
            sign_count = self.sign_count
        client_data = self._client_data(
            "webauthn.get", challenge or options["challenge"], origin
        )
        auth_data = (
            hashlib.sha256((rp_id or options.get("rpId") or self.rp_id or "").encode()).digest()
            + bytes([flags])
            + struct.pack(">I", sign_count)
        )
        signature = self.key.sign(
            auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
        )
        return {
            "id": self.id, "rawId": self.id, "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "authenticatorData": b64url(auth_data),
                "signature": b64url(signature),
                "userHandle": user_handle or self.user_handle,
            },
            "clientExtensionResults": {}, "authenticatorAttachment": "platform",
        }
