"""ID token validation for the OAuth client's OpenID Connect mode: pure, no I/O.

:func:`validate_id_token` checks an id token the way OIDC Core §3.1.3.7 asks a relying
party to: the signature by a key of the server's JWKS whose own algorithm is the
token's (``none``, HMAC and a key's token under another algorithm are refused), ``iss``
(the discovery document's issuer), ``aud`` (this client), ``azp``, ``exp`` and ``iat``,
the ``nonce`` the application sent, and ``at_hash`` against the access token answered
with it. Each check fails with its own :class:`~tekcify_auth.IdTokenError` reason. The
clients (``oauth.py``) fetch the discovery document and the JWKS and call it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any, Final

from joserfc import jws
from joserfc.errors import JoseError

from ._errors import ConfigurationError, IdTokenError
from ._keys import SignatureRegistry, load_public_key

__all__ = ["ID_TOKEN_ALGORITHMS", "at_hash", "validate_id_token"]

#: The algorithms an id token may be signed with.
ID_TOKEN_ALGORITHMS: Final = frozenset({"RS256", "ES256", "EdDSA"})
#: The hash of ``at_hash`` per algorithm (OIDC Core §3.1.3.6; Ed25519: SHA-512).
_HASHES: Final = {"RS256": hashlib.sha256, "ES256": hashlib.sha256, "EdDSA": hashlib.sha512}
_MAX_TOKEN: Final = 16_384


def at_hash(access_token: str, alg: str) -> str:
    """The ``at_hash`` an id token signed with ``alg`` carries for ``access_token``."""
    digest = _HASHES[alg](access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode("ascii")


def _header(token: str) -> dict[str, Any]:
    head = token.split(".", 1)[0]
    try:
        header = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    except (ValueError, UnicodeDecodeError):
        raise IdTokenError("malformed") from None
    if not isinstance(header, dict):
        raise IdTokenError("malformed")
    return header


def _key(jwks: Mapping[str, Any], kid: object, alg: str) -> Any:
    for jwk in jwks.get("keys") or ():
        if isinstance(jwk, Mapping) and jwk.get("kid") == kid:
            if jwk.get("alg") not in (None, alg):
                raise IdTokenError("algorithm")
            try:
                return load_public_key(jwk)
            except ConfigurationError:
                raise IdTokenError("unknown_key") from None
    raise IdTokenError("unknown_key")


def validate_id_token(
    id_token: str,
    *,
    jwks: Mapping[str, Any],
    issuer: str,
    client_id: str,
    now: float,
    nonce: str | None = None,
    access_token: str | None = None,
    leeway: float = 60,
) -> dict[str, Any]:
    """The claims of ``id_token`` once every check passed; raises
    :class:`~tekcify_auth.IdTokenError` whose ``reason`` names the first that failed.

    ``nonce``: the value sent in the authorization request (the claim must equal it; on a
    refresh pass ``None``). ``access_token``: the one answered with the id token, checked
    against ``at_hash`` when the token has one. ``leeway``: seconds of clock skew allowed
    for ``exp`` and ``iat``.
    """
    if not isinstance(id_token, str) or not id_token or len(id_token) > _MAX_TOKEN:
        raise IdTokenError("malformed")
    header = _header(id_token)
    alg = header.get("alg")
    if alg not in ID_TOKEN_ALGORITHMS:
        raise IdTokenError("algorithm")
    key = _key(jwks, header.get("kid"), str(alg))
    try:
        compact = jws.deserialize_compact(
            id_token, key, registry=SignatureRegistry(algorithms=[str(alg)])
        )
        claims = json.loads(compact.payload)
    except (JoseError, ValueError):
        raise IdTokenError("signature") from None
    if not isinstance(claims, dict):
        raise IdTokenError("malformed")
    _check_claims(claims, issuer, client_id, now, leeway)
    if nonce is not None and not (
        isinstance(claims.get("nonce"), str) and hmac.compare_digest(claims["nonce"], nonce)
    ):
        raise IdTokenError("nonce")
    if access_token is not None and "at_hash" in claims and not hmac.compare_digest(
        str(claims["at_hash"]), at_hash(access_token, str(alg))
    ):
        raise IdTokenError("at_hash")
    return claims


def _check_claims(
    claims: Mapping[str, Any], issuer: str, client_id: str, now: float, leeway: float
) -> None:
    if claims.get("iss") != issuer:
        raise IdTokenError("issuer")
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    if client_id not in audiences:
        raise IdTokenError("audience")
    azp = claims.get("azp")
    if (azp is not None or len(audiences) > 1) and azp != client_id:
        raise IdTokenError("azp")
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise IdTokenError("malformed")
    exp, iat = claims.get("exp"), claims.get("iat")
    if not isinstance(exp, int | float) or isinstance(exp, bool) or exp + leeway <= now:
        raise IdTokenError("expired")
    if not isinstance(iat, int | float) or isinstance(iat, bool) or iat - leeway > now:
        raise IdTokenError("issued_in_the_future")
