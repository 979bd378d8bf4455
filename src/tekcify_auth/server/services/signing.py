"""The signing service: turns access-token claims into a JWS, and verifies its own.

Everything that issues tokens goes through a :class:`Signer`; the server's own Bearer
check uses :meth:`Signer.verifier`, a verifier of the library (``tekcify_auth``), so the
server checks tokens exactly as its users do. :class:`HmacSigner` is the HS256 mode
with the shared ``JWT_ACCESS_SECRET``; :class:`KeyRingSigner` is the asymmetric mode
(RS256, ES256, EdDSA): it signs with the active key of a :class:`KeyRing`, names it in
the ``kid`` header, verifies with every key still published, and publishes their public
halves in :meth:`KeyRingSigner.jwks`.

The ring holds a snapshot of the keys table (``services/keys.py`` loads it) and
re-reads it every ``TEKCIFY_KEY_RELOAD_INTERVAL`` seconds, and at once (at most once a
second) when a token names a ``kid`` it does not know: that is how every instance
sharing the database learns of a key that ``tekcify-auth keys rotate`` added, and
accepts tokens another instance signed with it. The snapshot holds the next key and
when it takes over (:class:`Successor`), so each instance switches at that moment by
itself. A reload that finds a key withdrawn (``keys revoke``) empties the verifiers'
caches of verified tokens, and the verifiers check that a reload is due before
answering from that cache, so a revoked key's tokens are refused within the interval.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

import anyio.to_thread
from joserfc import jws
from joserfc.jwk import Key

from tekcify_auth._config import DEFAULT_CACHE_SIZE
from tekcify_auth._guard import Verifier
from tekcify_auth._keys import SignatureRegistry, load_hmac_key
from tekcify_auth._models import VerifiedToken
from tekcify_auth._verify import _INVALID, ALGORITHM_NOT_ALLOWED, BaseVerifier, TokenVerifier
from tekcify_auth._verify import _Pending as Pending

__all__ = [
    "ASYMMETRIC_SIGNING_ALGORITHMS",
    "HmacSigner",
    "HmacTransitionSigner",
    "KeyRing",
    "KeyRingSigner",
    "KeyRingVerifier",
    "KeySnapshot",
    "PublishedKey",
    "Signer",
    "Successor",
    "token_kid",
]

logger = logging.getLogger("tekcify_auth.server")

#: The asymmetric algorithms the server signs with (``TEKCIFY_SIGNING_ALG``).
ASYMMETRIC_SIGNING_ALGORITHMS: Final = frozenset({"RS256", "ES256", "EdDSA"})
#: After an unknown ``kid``, the keys are re-read at most this often (seconds).
MISS_COOLDOWN: Final = 1.0


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


@dataclass(frozen=True, slots=True)
class PublishedKey:
    """A public key of the JWKS: the verification key and its JWK (``kid``, ``alg``, ``use``).

    ``until`` is when (seconds since the epoch) a retired key stops being published and
    accepted; ``None`` while the key is active.
    """

    kid: str
    alg: str
    key: Key
    jwk: Mapping[str, Any]
    until: float | None = None

    def live(self, now: float) -> bool:
        """Whether the key is still published at ``now``."""
        return self.until is None or now < self.until


@dataclass(frozen=True, slots=True)
class Successor:
    """The next key: it signs from ``at`` (seconds since the epoch)."""

    kid: str
    alg: str
    key: Key
    at: float


@dataclass(frozen=True, slots=True)
class KeySnapshot:
    """The keys as one read of the database found them.

    ``signing_key`` is the private key of the active key ``signing_kid``; ``published``
    holds, by ``kid``, every key whose tokens may still be live (the active one first);
    ``successor`` the next key, published already, which signs from its ``at``.
    """

    signing_kid: str
    signing_alg: str
    signing_key: Key
    published: Mapping[str, PublishedKey]
    successor: Successor | None = None

    def signing_at(self, now: float) -> tuple[str, str, Key]:
        """The ``kid``, ``alg`` and private key that sign at ``now``."""
        nxt = self.successor
        if nxt is not None and now >= nxt.at:
            return nxt.kid, nxt.alg, nxt.key
        return self.signing_kid, self.signing_alg, self.signing_key


class KeyRing:
    """The current :class:`KeySnapshot`, re-read by ``loader`` when it is due.

    A reload is due ``interval`` seconds after the last one (``0``: on every use) or
    when the clock went back. Only one thread reloads; the others keep using the
    snapshot they have rather than wait. A failed reload (database down) keeps the last
    snapshot and is logged; it is tried again after ``interval``. ``loader`` runs once
    here, so a server does not start without its keys.
    """

    def __init__(
        self, loader: Callable[[], KeySnapshot], *, interval: float, clock: Callable[[], float]
    ) -> None:
        self._loader = loader
        self.interval = interval
        self.clock = clock
        self._lock = threading.Lock()
        self._snapshot = loader()
        self._loaded_at = self._attempted_at = clock()
        self._withdrawn: list[Callable[[], None]] = []

    def _due(self, now: float) -> bool:
        return not 0 <= now - self._loaded_at < self.interval

    def due(self) -> bool:
        """Whether the next :meth:`current` re-reads the keys."""
        return self._due(self.clock())

    def on_withdrawn(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` after a reload in which a published key disappeared."""
        self._withdrawn.append(callback)

    def current(self) -> KeySnapshot:
        """The snapshot, reloaded first when the interval has passed."""
        if self._due(self.clock()):
            self._reload(wait=False)
        return self._snapshot

    def published(self) -> list[PublishedKey]:
        """The keys published now, the active one first."""
        snapshot, now = self.current(), self.clock()
        return [entry for entry in snapshot.published.values() if entry.live(now)]

    def lookup(self, kid: str) -> PublishedKey | None:
        """The published key ``kid``; an unknown one triggers a reload (rate-limited)."""
        found = self.current().published.get(kid)
        if found is None and not 0 <= self.clock() - self._attempted_at < MISS_COOLDOWN:
            self._reload(wait=True)
            found = self._snapshot.published.get(kid)
        return found if found is not None and found.live(self.clock()) else None

    def has_fresh(self, kid: str) -> bool:
        """Whether :meth:`lookup` of ``kid`` would answer without touching the database."""
        return kid in self._snapshot.published and not self._due(self.clock())

    def reload(self) -> None:
        """Re-read the keys now (waits for a reload already running)."""
        self._reload(wait=True, force=True)

    def _reload(self, *, wait: bool, force: bool = False) -> None:
        if not self._lock.acquire(blocking=wait):
            return
        try:
            now = self.clock()
            if not force and not wait and not self._due(now):
                return  # another thread reloaded while this one was on its way
            self._attempted_at = now
            try:
                snapshot = self._loader()
            except Exception as exc:  # any failure: sign and verify with what we have
                first_line = (str(exc).splitlines() or [""])[0][:200]
                logger.warning(
                    "signing keys could not be reloaded (%s: %s); still signing with %s",
                    type(exc).__name__, first_line, self._snapshot.signing_kid,
                )
                self._loaded_at = now
                return
            old, self._snapshot, self._loaded_at = self._snapshot, snapshot, now
        finally:
            self._lock.release()
        if not old.published.keys() <= snapshot.published.keys():
            for callback in self._withdrawn:  # a revoked key: forget what it verified
                callback()


def _registry(alg: str) -> SignatureRegistry:
    return SignatureRegistry(algorithms=[alg])


_REGISTRIES: Final = {alg: _registry(alg) for alg in ASYMMETRIC_SIGNING_ALGORITHMS}


class KeyRingSigner:
    """RS256, ES256 or EdDSA with the ring's active key; every header carries its ``kid``."""

    def __init__(self, ring: KeyRing) -> None:
        self.ring = ring

    @property
    def algorithm(self) -> str:
        """The ``alg`` of the active key."""
        return self.ring.current().signing_at(self.ring.clock())[1]

    @property
    def kid(self) -> str:
        """The ``kid`` new tokens carry."""
        return self.ring.current().signing_at(self.ring.clock())[0]

    def sign(self, claims: Mapping[str, Any]) -> str:
        """The JWS of ``claims`` under the active key (``{"alg", "typ": "JWT", "kid"}``);
        from the moment the next key takes over, under that one."""
        kid, alg, key = self.ring.current().signing_at(self.ring.clock())
        payload = json.dumps(dict(claims), separators=(",", ":"))
        return jws.serialize_compact(
            {"alg": alg, "typ": "JWT", "kid": kid}, payload, key, registry=_REGISTRIES[alg],
        )

    def verifier(
        self, *, issuer: str, audience: str, clock: Callable[[], float] | None = None
    ) -> Verifier:
        """A :class:`KeyRingVerifier` over this ring."""
        return KeyRingVerifier(self.ring, issuer=issuer, audience=audience, clock=clock)

    def jwks(self) -> dict[str, Any]:
        """The public keys whose tokens may still be live, the active one first."""
        return {"keys": [dict(entry.jwk) for entry in self.ring.published()]}


class KeyRingVerifier(BaseVerifier):
    """Verifies this server's asymmetric tokens with the key their ``kid`` names.

    The library's checks (:class:`~tekcify_auth._verify.BaseVerifier`) with the ring as
    the key source, as :class:`~tekcify_auth.JwksVerifier` has the JWKS: a token
    without a ``kid``, or with one the ring does not publish, is ``unknown_key``, and
    the token's ``alg`` must be the key's own.
    """

    def __init__(
        self,
        ring: KeyRing,
        *,
        issuer: str | None,
        audience: str | None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        super().__init__(
            algorithms=ASYMMETRIC_SIGNING_ALGORITHMS, issuer=issuer, audience=audience,
            leeway=0, clock=clock, cache=True, cache_size=DEFAULT_CACHE_SIZE,
        )
        self.ring = ring
        ring.on_withdrawn(self.clear_cache)

    def verify(self, token: str | bytes) -> VerifiedToken:
        """BaseVerifier's (the token cache, then :meth:`_conclude`), after a reload of
        the keys when one is due, so the cache never outlives a revoked key's reload."""
        if self.ring.due():
            self.ring.current()
        return super().verify(token)

    async def averify(self, token: str | bytes) -> VerifiedToken:
        """The coroutine twin of :meth:`verify`; a key reload runs in a worker thread."""
        if self.ring.due():
            await anyio.to_thread.run_sync(self.ring.current)
        pending = self._begin(token)
        if isinstance(pending, VerifiedToken):
            return pending
        if pending.kid is not None and self.ring.has_fresh(pending.kid):
            return self._conclude(pending)
        return await anyio.to_thread.run_sync(self._conclude, pending)

    def _conclude(self, pending: Pending) -> VerifiedToken:
        entry = self.ring.lookup(pending.kid) if pending.kid is not None else None
        if entry is not None and entry.alg != pending.alg:
            return _INVALID[ALGORITHM_NOT_ALLOWED]
        return self._finish(pending, None if entry is None else entry.key)


def _header(token: str | bytes) -> dict[str, Any] | None:
    """The header of a compact JWS (``None`` when it cannot be read)."""
    try:
        text = token.decode("ascii") if isinstance(token, bytes) else token
        head = text.split(".", 1)[0]
        if len(head) > 4096:
            return None
        header = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    except (UnicodeDecodeError, binascii.Error, ValueError):
        return None
    return header if isinstance(header, dict) else None


def _header_alg(token: str | bytes) -> object:
    """The ``alg`` a compact JWS header names (``None`` when it cannot be read)."""
    header = _header(token)
    return None if header is None else header.get("alg")


def token_kid(token: str) -> str | None:
    """The ``kid`` in the header of a token this server signed (``None``: HS256)."""
    header = _header(token)
    kid = None if header is None else header.get("kid")
    return kid if isinstance(kid, str) else None


class _ByAlgorithm:
    """Hands an HS256 token to the secret's verifier and any other to the key ring's.

    The choice only picks a verifier: each one admits its own algorithms alone (the
    secret HS256, the ring the key's own), so a token cannot cross between them.
    """

    def __init__(self, secret: Verifier, keys: Verifier) -> None:
        self._secret = secret
        self._keys = keys

    def _pick(self, token: str) -> Verifier:
        alg = _header_alg(token)
        return self._keys if alg in ASYMMETRIC_SIGNING_ALGORITHMS else self._secret

    def verify(self, token: str) -> VerifiedToken:
        return self._pick(token).verify(token)

    async def averify(self, token: str) -> VerifiedToken:
        return await self._pick(token).averify(token)


class HmacTransitionSigner(HmacSigner):
    """HS256 right after ``tekcify-auth keys switch-alg HS256``.

    Signs with the shared secret, and keeps publishing (and accepting) the keys that the
    switch retired until their retention ends, as a rotation would: their tokens stay
    good until they expire. ``ring`` holds those keys (its signing key is unused).
    """

    def __init__(self, secret: str, ring: KeyRing) -> None:
        super().__init__(secret)
        self.ring = ring

    def verifier(
        self, *, issuer: str, audience: str, clock: Callable[[], float] | None = None
    ) -> Verifier:
        """The secret's verifier for HS256 tokens, the ring's for the retired keys'."""
        return _ByAlgorithm(
            super().verifier(issuer=issuer, audience=audience, clock=clock),
            KeyRingVerifier(self.ring, issuer=issuer, audience=audience, clock=clock),
        )

    def jwks(self) -> dict[str, Any]:
        """The retired keys still published (none once their tokens have expired)."""
        return {"keys": [dict(entry.jwk) for entry in self.ring.published()]}
