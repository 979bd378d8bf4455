"""Attack vectors as data: hostile (and a few honest) tokens with the answer each must get.

``tokens.json`` is written by ``generate.py`` from the fixed test keys in ``keys.json``
and the fixed time :data:`NOW`, so it is byte-for-byte reproducible (a test checks
that). Each vector names the verifier it is sent to (:data:`VERIFIERS`) and the error
word it must give, ``None`` for a token that must verify. Run
``python tests/vectors/generate.py`` after changing the generator.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

__all__ = ["HERE", "NOW", "Clock", "Vector", "keys", "load_vectors", "private_key", "public_pem",
           "verifier_options"]

HERE = Path(__file__).parent
#: The time every vector is minted at and verified at (2025-06-15T15:06:40Z).
NOW = 1_750_000_000

#: The verifier each vector is sent to: its name -> which key in keys.json configures it.
VERIFIERS = {"hs": "hs_secret", "rsa": "rsa", "ec": "ec_p256", "ed25519": "ed25519"}


class Clock:
    """A clock the test moves by hand (verifiers take it as ``clock=``); starts at NOW."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass(frozen=True)
class Vector:
    """One token, the verifier it is sent to and the error word it must give."""

    id: str
    verifier: str
    token: str | bytes
    error: str | None
    why: str

    def __str__(self) -> str:
        return self.id


@cache
def keys() -> dict[str, str]:
    """The raw contents of keys.json (PEM private keys and the HMAC secrets)."""
    data: dict[str, str] = json.loads((HERE / "keys.json").read_text())
    return data


@cache
def private_key(name: str) -> PrivateKeyTypes:
    """A private key of keys.json as a ``cryptography`` object."""
    return serialization.load_pem_private_key(keys()[name].encode(), password=None)


def public_pem(name: str) -> bytes:
    """The SubjectPublicKeyInfo PEM of a key in keys.json, as a server would publish it."""
    public = private_key(name).public_key()
    pem: bytes = public.public_bytes(  # type: ignore[union-attr]
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem


def verifier_options(name: str) -> dict[str, Any]:
    """The ``secret=`` or ``key=`` option of the verifier a vector names."""
    if name == "hs":
        return {"secret": keys()["hs_secret"]}
    return {"key": public_pem(VERIFIERS[name])}


def load_vectors(name: str = "tokens.json") -> list[Vector]:
    """Every vector in a data file; a bytes token is stored as ``token_hex``."""
    raw = json.loads((HERE / name).read_text())
    vectors = []
    for entry in raw["vectors"]:
        token = entry["token"] if "token" in entry else bytes.fromhex(entry["token_hex"])
        vectors.append(Vector(entry["id"], entry["verifier"], token, entry["error"], entry["why"]))
    return vectors
