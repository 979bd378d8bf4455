"""Access-token verification: pure, no I/O.

Verification is two steps so that the JWKS verifier can fetch a key between them:
:meth:`BaseVerifier._begin` checks size, the cache, the compact form and the header
(algorithm allow-list, ``crit``), and :meth:`BaseVerifier._finish` checks the signature
with the chosen key and then each claim, as a separate named check with its own error
word. Only successful verifications are cached, and never past the token's ``exp``.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Final

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import Key
from joserfc.jwk import KeySet as JoseKeySet
from joserfc.util import urlsafe_b64decode

from ._cache import ExpiringLRU
from ._config import DEFAULT_AUDIENCE, DEFAULT_CACHE_SIZE, DEFAULT_ISSUER, MAX_TOKEN_LENGTH
from ._errors import ConfigurationError
from ._keys import (
    ASYMMETRIC_ALGORITHMS,
    HMAC_ALGORITHMS,
    PublicKeyLike,
    SignatureRegistry,
    algorithms_for_key,
    load_hmac_key,
    load_public_key,
    narrow_algorithms,
)
from ._models import VerifiedToken, freeze_payload

if TYPE_CHECKING:
    from ._jwks import JwksLike, StaticJwksVerifier

__all__ = [
    "BaseVerifier",
    "Clock",
    "TokenVerifier",
    "client_names",
    "decode_token",
    "token_client",
    "verify_access_token",
]

Clock = Callable[[], float]

# The error words of VerifiedToken.error.
TOO_LARGE: Final = "too_large"
MALFORMED: Final = "malformed"
ALGORITHM_NOT_ALLOWED: Final = "algorithm_not_allowed"
UNSUPPORTED_HEADER: Final = "unsupported_header"
UNKNOWN_KEY: Final = "unknown_key"
BAD_SIGNATURE: Final = "bad_signature"
MISSING_EXP: Final = "missing_exp"
EXPIRED: Final = "expired"
NOT_YET_VALID: Final = "not_yet_valid"
WRONG_ISSUER: Final = "wrong_issuer"
WRONG_AUDIENCE: Final = "wrong_audience"
WRONG_TYPE: Final = "wrong_type"
JWKS_UNAVAILABLE: Final = "jwks_unavailable"
WRONG_CLIENT: Final = "wrong_client"

#: Every error word a verifier can return, for documentation and tests.
ERROR_WORDS: Final = frozenset(
    {
        TOO_LARGE, MALFORMED, ALGORITHM_NOT_ALLOWED, UNSUPPORTED_HEADER, UNKNOWN_KEY,
        BAD_SIGNATURE, MISSING_EXP, EXPIRED, NOT_YET_VALID, WRONG_ISSUER, WRONG_AUDIENCE,
        WRONG_TYPE, JWKS_UNAVAILABLE, WRONG_CLIENT,
    }
)

#: Mistakes of configuration that a verifier can tell from bad tokens are logged here, once
#: per verifier and kind, at WARNING; the answer to the client stays the generic one.
logger = logging.getLogger("tekcify_auth.verify")

_HS_AT_JWKS: Final = (
    "a token signed with %s (a shared secret) reached a JWKS verifier, which admits only "
    "key-pair algorithms, so every such token is refused. The Tekcify Auth server signs with "
    "a shared secret by default (TEKCIFY_SIGNING_ALG=HS256) and then publishes no keys. "
    "Either verify with that secret (JwtAuthGuard(secret=...), TokenVerifier(secret=...), "
    "JWT_ACCESS_SECRET), or switch the server to a key pair: `tekcify-auth keys switch-alg "
    "RS256`, then restart it with TEKCIFY_SIGNING_ALG=RS256 (ES256 and EdDSA work too)"
)
_WRONG_ISSUER: Final = (
    "a correctly signed token has issuer %r, but this verifier expects %r, so every token of "
    "that server is refused: pass issuer=%r (the server's TEKCIFY_ISSUER), or issuer=None"
)
_WRONG_AUDIENCE: Final = (
    "a correctly signed token is for audience %r, but this verifier expects %r, so such "
    "tokens are refused: pass audience= the server's TEKCIFY_AUDIENCE, if that token's "
    "audience is yours"
)

# Shared by every caller, so their (empty) payloads are read-only too.
_INVALID: Final = {word: VerifiedToken(freeze_payload({}), False, word) for word in ERROR_WORDS}


@dataclass(slots=True)
class _Pending:
    """A token whose form and header passed, waiting for its key."""

    token: str
    obj: jws.CompactSignature
    alg: str
    kid: str | None


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# RFC 7519 §2 NumericDate. Bounded so that NaN and ±Infinity (which Python's json reads,
# and which would make a token never expire) and integers too large for a float (an
# OverflowError against a float leeway) are refused as malformed.
_MAX_DATE: Final = float(2**53)


def _is_date(value: object) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and -_MAX_DATE <= value <= _MAX_DATE
    )


class BaseVerifier:
    """What every verifier shares: the claim checks, the cache and the two-step verify.

    Subclasses hold the keys: :class:`TokenVerifier` one configured key,
    :class:`~tekcify_auth.JwksVerifier` a key set fetched from the server,
    :class:`~tekcify_auth._jwks.StaticJwksVerifier` a JWKS document held in memory.
    """

    #: Whether ``jwks=`` takes this verifier as it is (the two JWKS verifiers).
    _serves_jwks: ClassVar[bool] = False

    def __init__(
        self,
        *,
        algorithms: frozenset[str],
        issuer: str | None,
        audience: str | None,
        leeway: float,
        clock: Clock | None,
        cache: bool,
        cache_size: int,
    ) -> None:
        if not _is_number(leeway) or not 0 <= leeway < math.inf:
            # NaN or infinity would switch the exp and nbf checks off without a word.
            raise ConfigurationError("leeway must be a finite number of seconds, zero or more")
        for name, value in (("issuer", issuer), ("audience", audience)):
            if value is not None and not isinstance(value, str):
                raise ConfigurationError(f"{name} must be a string, or None to skip the check")
        if cache and cache_size < 1:
            raise ConfigurationError("cache_size must be at least 1 (or pass cache=False)")
        self.algorithms = algorithms
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway
        self.clock: Clock = clock or time.time
        self._registry = SignatureRegistry(algorithms=sorted(algorithms), strict_check_header=False)
        self._cache: ExpiringLRU[VerifiedToken] | None = (
            ExpiringLRU(cache_size, self.clock) if cache else None
        )
        self._warned: set[str] = set()

    def _warn_once(self, kind: str, message: str, *args: object) -> None:
        """Log a configuration mistake at WARNING, the first time this verifier sees it."""
        if kind not in self._warned:
            self._warned.add(kind)
            logger.warning(message, *args)

    def verify(self, token: str | bytes) -> VerifiedToken:
        """Verify ``token``; never raises for a bad token (see :class:`VerifiedToken`)."""
        cache = self._cache
        if cache is not None and token.__class__ is str:
            hit = cache.get(token)  # what _begin would find, without its checks first
            if hit is not None:
                return hit
        pending = self._begin(token)
        if isinstance(pending, VerifiedToken):
            return pending
        return self._conclude(pending)

    def _conclude(self, pending: _Pending) -> VerifiedToken:
        """Check a token that passed :meth:`_begin` with this verifier's key(s)."""
        raise NotImplementedError

    def clear_cache(self) -> None:
        """Forget every verified token (for example after a key was withdrawn)."""
        if self._cache is not None:
            self._cache.clear()

    def _begin(self, token: object) -> VerifiedToken | _Pending:
        if isinstance(token, bytes):
            if len(token) > MAX_TOKEN_LENGTH:
                return _INVALID[TOO_LARGE]
            try:
                token = token.decode("ascii")
            except UnicodeDecodeError:
                return _INVALID[MALFORMED]
        if not isinstance(token, str):
            return _INVALID[MALFORMED]
        if len(token) > MAX_TOKEN_LENGTH:
            return _INVALID[TOO_LARGE]
        cache = self._cache
        if cache is not None:
            hit = cache.get(token)
            if hit is not None:
                return hit
        if not token.isascii():
            return _INVALID[MALFORMED]
        try:
            obj = jws.extract_compact(token.encode("ascii"), registry=self._registry)
        except (JoseError, ValueError, TypeError, RecursionError):
            return _INVALID[MALFORMED]
        header = obj.protected
        if not isinstance(header, dict):  # joserfc lets a JSON array or string through
            return _INVALID[MALFORMED]
        alg = header.get("alg")
        if not isinstance(alg, str):
            return _INVALID[MALFORMED]
        if alg not in self.algorithms:
            # Covers "none" in any casing and HS256-with-the-public-key confusion.
            if self._serves_jwks and alg in HMAC_ALGORITHMS:
                self._warn_once("hs_at_jwks", _HS_AT_JWKS, alg)
            return _INVALID[ALGORITHM_NOT_ALLOWED]
        if "crit" in header or header.get("b64") is False:
            # RFC 7515 §4.1.11: we understand no extension, so a critical one fails.
            return _INVALID[UNSUPPORTED_HEADER]
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            return _INVALID[MALFORMED]
        try:
            # The registered parameters' types (jku, jwk, x5c...); they are never used.
            self._registry.check_header(header)
            # A signature in bad base64url is a malformed token, not a wrong signature.
            urlsafe_b64decode(obj.segments["signature"])
        except (JoseError, ValueError, TypeError):
            return _INVALID[MALFORMED]
        return _Pending(token, obj, alg, kid)

    def _finish(self, pending: _Pending, key: Key | None) -> VerifiedToken:
        if key is None:
            return _INVALID[UNKNOWN_KEY]
        if pending.alg not in algorithms_for_key(key):
            return _INVALID[ALGORITHM_NOT_ALLOWED]
        try:
            if not jws.validate_compact(pending.obj, key, registry=self._registry):
                return _INVALID[BAD_SIGNATURE]
        except (JoseError, ValueError, TypeError):
            return _INVALID[BAD_SIGNATURE]
        try:
            payload = json.loads(pending.obj.payload)
        except (ValueError, TypeError, RecursionError):
            return _INVALID[MALFORMED]
        if not isinstance(payload, dict):
            return _INVALID[MALFORMED]
        error = self._check_claims(payload)
        if error is not None:
            if error == WRONG_ISSUER:  # signed by a key we trust: the setting is wrong
                iss = str(payload.get("iss"))[:200]
                self._warn_once(error, _WRONG_ISSUER, iss, self.issuer, iss)
            elif error == WRONG_AUDIENCE:
                self._warn_once(error, _WRONG_AUDIENCE, payload.get("aud"), self.audience)
            return _INVALID[error]
        result = VerifiedToken(freeze_payload(payload), True, None)
        if self._cache is not None:
            self._cache.put(pending.token, result, float(payload["exp"]))
        return result

    def _check_claims(self, payload: dict[str, Any]) -> str | None:
        now = self.clock()
        exp = payload.get("exp")
        if exp is None:
            return MISSING_EXP
        if not _is_date(exp):
            return MALFORMED
        if now >= exp + self.leeway:
            return EXPIRED
        nbf = payload.get("nbf")
        if nbf is not None:
            if not _is_date(nbf):
                return MALFORMED
            if now + self.leeway < nbf:
                return NOT_YET_VALID
        iat = payload.get("iat")
        if iat is not None and not _is_date(iat):
            return MALFORMED
        if self.issuer is not None and payload.get("iss") != self.issuer:
            return WRONG_ISSUER
        if self.audience is not None:
            aud = payload.get("aud")
            if isinstance(aud, list):
                if self.audience not in aud:
                    return WRONG_AUDIENCE
            elif aud != self.audience:
                return WRONG_AUDIENCE
        if payload.get("type") != "access":
            return WRONG_TYPE
        sub = payload.get("sub")
        if sub is not None and not isinstance(sub, str):
            return MALFORMED
        scopes = payload.get("scopes")
        if scopes is not None and not (
            isinstance(scopes, list) and all(isinstance(s, str) for s in scopes)
        ):
            return MALFORMED
        return None


class TokenVerifier(BaseVerifier):
    """Verifies access tokens against one configured key; reuse one per configuration.

    Pass exactly one of ``secret`` (the server's ``JWT_ACCESS_SECRET``; admits HS256,
    HS384 and HS512 only) or ``key`` (a public key as PEM, JWK, ``cryptography`` or
    joserfc object; admits only the algorithms of its type). ``issuer`` and
    ``audience`` may be ``None`` to skip that check. ``clock`` returns the time in
    seconds (``time.time`` by default) and is injectable for tests.

    Raises :class:`~tekcify_auth.ConfigurationError` for unusable settings.

    >>> verifier = TokenVerifier(secret="change-me")
    >>> verifier.verify("not a token").error
    'malformed'
    """

    def __init__(
        self,
        *,
        secret: str | bytes | None = None,
        key: PublicKeyLike | None = None,
        issuer: str | None = DEFAULT_ISSUER,
        audience: str | None = DEFAULT_AUDIENCE,
        algorithms: Collection[str] | None = None,
        leeway: float = 0,
        clock: Clock | None = None,
        cache: bool = True,
        cache_size: int = DEFAULT_CACHE_SIZE,
    ) -> None:
        if (secret is None) == (key is None):
            raise ConfigurationError(
                "pass exactly one of secret= (JWT_ACCESS_SECRET, HS256) or key= (a public key)"
            )
        self._key: Key
        if secret is not None:
            self._key = load_hmac_key(secret)
            allowed = narrow_algorithms(HMAC_ALGORITHMS, algorithms, "a shared secret")
        else:
            self._key = load_public_key(key)
            admitted = algorithms_for_key(self._key) & ASYMMETRIC_ALGORITHMS
            pinned = self._key.alg  # RFC 7517 §4.4: a JWK's "alg" names its one algorithm
            if pinned is not None:
                admitted &= {pinned}
                if not admitted:
                    raise ConfigurationError(f"the JWK's alg {pinned!r} does not fit its key type")
            allowed = narrow_algorithms(admitted, algorithms, "this key")
        super().__init__(
            algorithms=allowed,
            issuer=issuer,
            audience=audience,
            leeway=leeway,
            clock=clock,
            cache=cache,
            cache_size=cache_size,
        )

    def _conclude(self, pending: _Pending) -> VerifiedToken:
        return self._finish(pending, self._key)

    async def averify(self, token: str | bytes) -> VerifiedToken:
        """The coroutine twin of :meth:`verify` (no I/O is involved)."""
        return self.verify(token)


# verify_access_token's verifiers, one per configuration. By value: the arguments as
# given when they are hashable (a secret, a PEM, a JWKS as JSON text), and a key's or a
# document's normalised content, so that equal ones share a verifier and its cache.
_verifiers: dict[tuple[Any, ...], TokenVerifier | StaticJwksVerifier] = {}
# By identity: a key or document that is not hashable (a JWK or JWKS dict, a joserfc key
# or KeySet, a cryptography key), with a private snapshot of it; an entry is used only
# while the object still equals its snapshot, so a dict changed in place is read again.
_by_identity: dict[tuple[Any, ...], tuple[object, object, TokenVerifier | StaticJwksVerifier]] = {}
_verifiers_lock = threading.Lock()
_MAX_VERIFIERS: Final = 64


def _by_value(source: object) -> bool:
    """Whether ``source`` (a key= or jwks= value) is looked up by value, not identity."""
    return source is None or source.__class__ is str or source.__class__ is bytes


def _snapshot(source: object) -> object:
    """A private copy of ``source`` that equals it until it is changed in place."""
    if isinstance(source, Mapping):
        return copy.deepcopy(source)
    if isinstance(source, JoseKeySet):
        return JoseKeySet(list(source.keys))
    return source  # keys are not changed in place: the object itself is its snapshot


def _remember(cache: dict[tuple[Any, ...], Any], config: tuple[Any, ...], value: object) -> None:
    while len(cache) >= _MAX_VERIFIERS:
        cache.pop(next(iter(cache)), None)
    cache[config] = value


def _verifier_for(
    secret: str | bytes | None,
    key: PublicKeyLike | None,
    jwks: JwksLike | None,
    issuer: str | None,
    audience: str | None,
    algorithms: Collection[str] | None,
    leeway: float,
) -> TokenVerifier | StaticJwksVerifier:
    algs: tuple[str, ...] | None = None
    if isinstance(algorithms, str):  # one name, not its letters
        algs = (algorithms,)
    elif algorithms is not None:
        algs = tuple(sorted(algorithms))
    source: object = key if jwks is None else jwks
    identified = secret is None and not _by_value(source)
    snapshot: object = None
    if identified:
        try:
            # Taken first, and the verifier built from it, so that a change made meanwhile
            # (by another thread) can never pair one content with another's verifier.
            snapshot = _snapshot(source)
        except Exception:  # not plain data: no identity entry, the verifier says what is wrong
            identified = False
        else:
            source = snapshot
    source_id: object = source
    if jwks is not None:
        from ._jwks import jwks_document  # ConfigurationError for anything else

        source_id = ("jwks", jwks_document(source)[0])
    elif isinstance(source, Mapping):
        source_id = ("jwk", json.dumps(source, sort_keys=True, default=str))

    def build() -> TokenVerifier | StaticJwksVerifier:
        if jwks is not None:
            from ._jwks import StaticJwksVerifier

            return StaticJwksVerifier(
                source,  # type: ignore[arg-type]  # jwks_document accepted it above
                issuer=issuer, audience=audience, algorithms=algorithms, leeway=leeway,
            )
        return TokenVerifier(
            secret=secret, key=source, issuer=issuer, audience=audience,
            algorithms=algorithms, leeway=leeway,
        )

    by_content = (secret, source_id, issuer, audience, algs, leeway)
    config: tuple[Any, ...] | None = by_content
    verifier = None
    try:
        verifier = _verifiers.get(by_content)
    except TypeError:  # a key object (known by identity only), or an unusable secret or leeway
        config = None
    if verifier is None:
        verifier = build()  # ConfigurationError for unusable settings
    # Also under the arguments as given, so that the next call finds it in one lookup.
    given = key if jwks is None else jwks
    place: tuple[Any, ...]
    if identified:
        # The entry holds the object, so its id cannot be reused while the entry lives.
        place = (id(given), jwks is None, issuer, audience, algorithms, leeway)
        entry: object = (given, snapshot, verifier)
    else:
        place = (secret, key, jwks, issuer, audience, algorithms, leeway)
        entry = verifier
    try:
        hash(place)
    except TypeError:  # unhashable algorithms, say: this call's arguments are not remembered
        place = ()
    with _verifiers_lock:
        if config is not None:
            _remember(_verifiers, config, verifier)
        if place and identified:
            _remember(_by_identity, place, entry)
        elif place and _by_value(given):
            _remember(_verifiers, place, entry)
    return verifier


def client_names(clients: Iterable[str] | None) -> frozenset[str] | None:
    """``clients=`` as a set of client ids (one string is one id); ``None`` stays ``None``.

    Raises :class:`~tekcify_auth.ConfigurationError` for an empty set, which would refuse
    every token: pass ``None`` to skip the check.
    """
    if clients is None:
        return None
    names = frozenset((clients,) if isinstance(clients, str) else clients)
    if not names or not all(isinstance(name, str) and name for name in names):
        raise ConfigurationError(
            "clients= takes the client ids whose tokens are accepted (at least one), or None"
        )
    return names


def token_client(payload: Mapping[str, Any]) -> str | None:
    """The application a verified token was issued to (its ``clientId``), ``None`` if first-party.

    The server also names the application in ``aud`` (``["tekcify-api", client id]``).
    """
    client_id = payload.get("clientId")
    return client_id if isinstance(client_id, str) and client_id else None


def verify_access_token(
    token: str | bytes,
    *,
    secret: str | bytes | None = None,
    key: PublicKeyLike | None = None,
    jwks: JwksLike | None = None,
    issuer: str | None = DEFAULT_ISSUER,
    audience: str | None = DEFAULT_AUDIENCE,
    algorithms: Collection[str] | None = None,
    leeway: float = 0,
    clients: Iterable[str] | None = None,
    allow_first_party: bool = False,
) -> VerifiedToken:
    """Verify a Tekcify access token, as ``verifyAccessToken`` does in the Node package.

    Never raises for a bad token: the result's ``valid`` is true only when the
    signature, ``exp`` (required), ``nbf``, ``iss``, ``aud`` and ``type == "access"``
    all hold; otherwise ``error`` names the first check that failed. Give one of
    ``secret`` (HS256/384/512 only), ``key`` (a public key as PEM, JWK dict, joserfc or
    ``cryptography`` key: its own algorithms only) or ``jwks``: a
    :class:`~tekcify_auth.JwksVerifier` (which carries its own issuer and audience), or
    a JWKS document you hold, as a dict with ``"keys"``, its JSON (str or bytes) or a
    joserfc ``KeySet``, never fetched and checked by the ``JwksVerifier`` rules
    (asymmetric keys only, a JWK's ``alg`` pins it, an unknown ``kid`` is
    ``unknown_key``). Keys and documents are read once, not per call (a dict changed in
    place is read again), and verified tokens are cached per configuration until they
    expire.

    ``clients`` (client ids; one string is one id) accepts only the tokens issued to
    those applications: every application's token carries ``aud: ["tekcify-api",
    client id]`` and the ``clientId`` claim, so without ``clients`` a backend accepts
    the tokens of *every* application registered on the server. Any other token is
    ``wrong_client``, a first-party token (from ``/api/auth/login``, no ``clientId``)
    included unless ``allow_first_party`` is true. A ``client_credentials`` token of one
    of ``clients`` passes: it acts for no user (``sub`` is the client id), which the
    guards refuse unless told ``allow_client_tokens=True``.

    Raises :class:`~tekcify_auth.ConfigurationError` when the settings are unusable,
    ``jwks`` of any other type included.

    >>> from tekcify_auth.testing import mint_access_token
    >>> token = mint_access_token("user-1", secret="change-me")
    >>> verify_access_token(token, secret="change-me").payload["sub"]
    'user-1'
    >>> verify_access_token(token, secret="wrong").error
    'bad_signature'
    >>> from tekcify_auth.testing import SigningKey
    >>> signer = SigningKey.generate("ES256")
    >>> verify_access_token(signer.mint("user-1"), jwks=signer.jwks()).valid
    True
    >>> app_token = mint_access_token("user-1", secret="change-me", client_id="app-b")
    >>> verify_access_token(app_token, secret="change-me", clients=["app-a"]).error
    'wrong_client'
    """
    if clients is not None:
        names = client_names(clients)
        result = verify_access_token(
            token, secret=secret, key=key, jwks=jwks, issuer=issuer, audience=audience,
            algorithms=algorithms, leeway=leeway,
        )
        if not result.valid:
            return result
        client_id = token_client(result.payload)
        if (client_id is None and allow_first_party) or (names and client_id in names):
            return result
        return _INVALID[WRONG_CLIENT]
    source: object = key
    if jwks is not None:
        if secret is not None or key is not None:
            raise ConfigurationError("pass only one of secret=, key= or jwks=")
        if isinstance(jwks, BaseVerifier) and jwks._serves_jwks:
            return jwks.verify(token)
        source = jwks
    verifier: TokenVerifier | StaticJwksVerifier | None = None
    try:
        if source is None or source.__class__ is str or source.__class__ is bytes:  # _by_value
            verifier = _verifiers.get((secret, key, jwks, issuer, audience, algorithms, leeway))
        elif secret is None:
            entry = _by_identity.get((id(source), jwks is None, issuer, audience, algorithms,
                                      leeway))
            if entry is not None and (entry[1] is source or entry[1] == source):
                verifier = entry[2]
    except (TypeError, ValueError):  # unhashable algorithms, say: take the normalising path
        verifier = None
    if verifier is None:
        verifier = _verifier_for(secret, key, jwks, issuer, audience, algorithms, leeway)
    return verifier.verify(token)


def decode_token(token: str | bytes) -> dict[str, Any] | None:
    """The payload of ``token`` without any verification, or ``None`` if unreadable.

    For logging and debugging only: never trust what it returns.

    >>> decode_token("not.a.token") is None
    True
    """
    if not isinstance(token, str | bytes) or len(token) > MAX_TOKEN_LENGTH:
        return None
    try:
        raw = token if isinstance(token, bytes) else token.encode("ascii")
        payload = json.loads(jws.extract_compact(raw).payload)
    except (JoseError, ValueError, TypeError, RecursionError):
        return None
    return payload if isinstance(payload, dict) else None
