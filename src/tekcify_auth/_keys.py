"""Key loading and the algorithm allow-lists that follow from each key's type.

The algorithms a verifier accepts come from the key the caller configured, never from
the token's header (RFC 8725 §3.1): a shared secret admits HMAC only, a public key
admits only the signature algorithms of its own type and curve.
"""

from __future__ import annotations

import warnings
from collections.abc import Collection, Mapping
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from joserfc import jws
from joserfc.errors import JoseError, SecurityWarning, UnsupportedAlgorithmError
from joserfc.jwa import JWSAlgModel
from joserfc.jwk import ECKey, JWKRegistry, Key, OctKey, OKPKey, RSAKey

from ._errors import ConfigurationError

__all__ = [
    "ASYMMETRIC_ALGORITHMS",
    "HMAC_ALGORITHMS",
    "PublicKeyLike",
    "SignatureRegistry",
    "algorithms_for_key",
    "load_hmac_key",
    "load_public_key",
    "narrow_algorithms",
]

HMAC_ALGORITHMS: Final = frozenset({"HS256", "HS384", "HS512"})
RSA_ALGORITHMS: Final = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
_EC_ALGORITHMS: Final = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}
_OKP_ALGORITHMS: Final = {
    "Ed25519": frozenset({"EdDSA", "Ed25519"}),
    "Ed448": frozenset({"EdDSA", "Ed448"}),
}
ASYMMETRIC_ALGORITHMS: Final = (
    RSA_ALGORITHMS
    | frozenset(_EC_ALGORITHMS.values())
    | frozenset({"EdDSA", "Ed25519", "Ed448"})
)

#: What ``key=`` accepts: a PEM (str or bytes), a JWK mapping, a ``cryptography`` key
#: object or a ``joserfc`` key.
PublicKeyLike = str | bytes | Mapping[str, Any] | Key | Any

_CRYPTOGRAPHY_TYPES: Final[tuple[tuple[tuple[type, ...], Any], ...]] = (
    ((rsa.RSAPublicKey, rsa.RSAPrivateKey), RSAKey),
    ((ec.EllipticCurvePublicKey, ec.EllipticCurvePrivateKey), ECKey),
    (
        (
            ed25519.Ed25519PublicKey,
            ed25519.Ed25519PrivateKey,
            ed448.Ed448PublicKey,
            ed448.Ed448PrivateKey,
        ),
        OKPKey,
    ),
)


class SignatureRegistry(jws.JWSRegistry):
    """joserfc's JWS registry without its per-call ``SecurityWarning``.

    Our allow-lists already decided which algorithms are acceptable. RFC 9864 deprecates
    the polymorphic ``EdDSA`` name in favour of ``Ed25519``, yet tokens carry it, and a
    warning on every verification is noise (and an exception under ``-W error``).
    """

    def get_alg(self, name: str) -> JWSAlgModel:
        """The algorithm ``name`` if it is in this registry's allow-list."""
        if name not in self.algorithms or name not in (self.allowed or ()):
            raise UnsupportedAlgorithmError(f"Algorithm of '{name}' is not allowed")
        alg: JWSAlgModel = self.algorithms[name]
        return alg


# What a public key looks like in text (PEM, RFC 4716 and OpenSSH forms). A verifier
# that took one as an HMAC secret would accept tokens anyone can forge with the public
# key (RFC 8725 §2.1), so such a secret is refused even when it does not parse as a key.
_KEY_MARKERS: Final = (
    b"-----BEGIN", b"---- BEGIN", b"ssh-rsa ", b"ssh-dss ", b"ssh-ed25519 ", b"ecdsa-sha2-",
)


def load_hmac_key(secret: str | bytes) -> OctKey:
    """The HMAC key for a shared secret such as ``JWT_ACCESS_SECRET``.

    Raises :class:`ConfigurationError` for an empty secret or one that is really an
    asymmetric key (the algorithm-confusion trap: pass those as ``key=``).
    """
    if not isinstance(secret, str | bytes):
        raise ConfigurationError("secret must be a str or bytes (the JWT_ACCESS_SECRET value)")
    if not secret:
        raise ConfigurationError("secret is empty: set it to the server's JWT_ACCESS_SECRET")
    raw = secret.encode() if isinstance(secret, str) else secret
    if any(marker in raw for marker in _KEY_MARKERS):
        raise ConfigurationError(
            "secret looks like a PEM or SSH key; pass public keys as key=..., never as an "
            "HMAC secret"
        )
    # joserfc warns about secrets under 112 bits; Tekcify deployments choose their own
    # JWT_ACCESS_SECRET, so we accept it as the Node package does and say nothing here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SecurityWarning)
        try:
            return OctKey.import_key(raw)
        except (JoseError, ValueError) as exc:
            raise ConfigurationError(f"secret cannot be used as an HMAC key: {exc}") from exc


def load_public_key(key: PublicKeyLike) -> Key:
    """A verification key from a PEM, a JWK mapping, a ``cryptography`` key or a joserfc key.

    Raises :class:`ConfigurationError` for symmetric keys and anything unreadable.
    """
    loaded: Key
    if isinstance(key, RSAKey | ECKey | OKPKey):
        loaded = key
    elif isinstance(key, Key):
        raise ConfigurationError("key must be an asymmetric key; pass shared secrets as secret=")
    elif isinstance(key, Mapping):
        if key.get("kty") == "oct":
            raise ConfigurationError("key must be asymmetric; pass shared secrets as secret=")
        use, ops = key.get("use"), key.get("key_ops")
        if (use is not None and use != "sig") or (
            ops is not None and not (isinstance(ops, list) and "verify" in ops)
        ):
            raise ConfigurationError("the JWK is not meant for signatures (its use or key_ops)")
        try:
            loaded = JWKRegistry.import_key(dict(key))
        except (JoseError, ValueError, KeyError, TypeError) as exc:
            raise ConfigurationError(f"key is not a usable JWK: {exc}") from exc
    elif isinstance(key, str | bytes):
        loaded = _load_pem(key.encode() if isinstance(key, str) else key)
    else:
        for types, key_class in _CRYPTOGRAPHY_TYPES:
            if isinstance(key, types):
                loaded = key_class.import_key(key)
                break
        else:
            raise ConfigurationError(f"unsupported key type {type(key).__name__}")
    if isinstance(loaded, OctKey) or not algorithms_for_key(loaded):
        raise ConfigurationError("key must be an RSA, EC (P-256/384/521) or Ed25519/Ed448 key")
    return loaded


def _load_pem(pem: bytes) -> Key:
    for key_class in (RSAKey, ECKey, OKPKey):
        try:
            return key_class.import_key(pem)
        except (JoseError, ValueError, TypeError):
            continue
    raise ConfigurationError("key is not a PEM-encoded RSA, EC or Ed25519 public key")


def algorithms_for_key(key: Key) -> frozenset[str]:
    """Every signature algorithm the key's type (and curve) can verify."""
    if isinstance(key, OctKey):
        return HMAC_ALGORITHMS
    if isinstance(key, RSAKey):
        return RSA_ALGORITHMS
    if isinstance(key, ECKey):
        try:
            alg = _EC_ALGORITHMS.get(key.curve_name)
        except KeyError:  # a curve joserfc has no name for (secp192r1, brainpool...)
            return frozenset()
        return frozenset({alg}) if alg else frozenset()
    if isinstance(key, OKPKey):
        return _OKP_ALGORITHMS.get(key.curve_name, frozenset())
    return frozenset()


def narrow_algorithms(
    allowed: frozenset[str], requested: Collection[str] | None, what: str
) -> frozenset[str]:
    """The caller's ``algorithms`` within what the key admits; ``none`` never."""
    if requested is None:
        return allowed
    if isinstance(requested, str):
        requested = [requested]
    narrowed = allowed & frozenset(requested)
    if not narrowed:
        raise ConfigurationError(
            f"algorithms {sorted(requested)} do not fit {what}; it admits {sorted(allowed)}"
        )
    return narrowed
