"""JwksVerifier: verification against the keys the server publishes as a JWKS.

The cache rules (:class:`FetchPolicy`) and the document parsing (:func:`parse_jwks`,
:func:`parse_max_age`) do no I/O; :class:`JwksVerifier` adds two thin shells, a sync
one for :meth:`~JwksVerifier.verify` and an async one for :meth:`~JwksVerifier.averify`.
Every fetch, from any thread, task or event loop, goes through one in-flight
:class:`concurrent.futures.Future`, so concurrent callers share a single request.

:class:`StaticJwksVerifier` applies the same rules to a JWKS document the caller already
holds (a dict, its JSON or a joserfc ``KeySet``), parsed once and never fetched;
:func:`jwks_verifier` turns whatever ``jwks=`` was given into one of the two.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import threading
import time
from collections.abc import Collection, Mapping
from concurrent.futures import Future
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, ClassVar, Final

import httpx
from joserfc.jwk import Key, OctKey
from joserfc.jwk import KeySet as JoseKeySet

from ._config import DEFAULT_AUDIENCE, DEFAULT_CACHE_SIZE, DEFAULT_ISSUER, JWKS_PATH
from ._config import auth_server_url as _default_server_url
from ._errors import ConfigurationError, JwksError
from ._keys import ASYMMETRIC_ALGORITHMS, load_public_key, narrow_algorithms
from ._models import VerifiedToken
from ._verify import _INVALID, ALGORITHM_NOT_ALLOWED, JWKS_UNAVAILABLE, BaseVerifier, Clock
from ._verify import _Pending as Pending

__all__ = [
    "FetchPolicy",
    "Jwk",
    "JwksLike",
    "JwksVerifier",
    "KeySet",
    "StaticJwksVerifier",
    "create_jwks_verifier",
    "jwks_document",
    "jwks_verifier",
    "key_set_of",
    "parse_jwks",
    "parse_max_age",
]

logger = logging.getLogger("tekcify_auth.jwks")
NO_USABLE_KEY: Final = "JWKS holds no usable signature key"
_NO_KEYS_HINT: Final = (
    "the JWKS at %s holds no key this verifier can use, so every token is refused. A "
    "Tekcify Auth server that signs with a shared secret (TEKCIFY_SIGNING_ALG=HS256, the "
    "default) publishes none: verify with that secret instead (JwtAuthGuard(secret=...), "
    "JWT_ACCESS_SECRET), or switch the server to a key pair: `tekcify-auth keys switch-alg "
    "RS256`, then restart it with TEKCIFY_SIGNING_ALG=RS256 (ES256 and EdDSA work too)"
)

#: A JWKS larger than this is refused (Tekcify's holds a handful of keys, ~1 KiB each).
MAX_JWKS_BYTES: Final = 1 << 20
#: Only this many entries of a JWKS are considered, so a hostile one cannot burn CPU.
MAX_KEYS: Final = 100
_ACCEPT: Final = {"Accept": "application/jwk-set+json, application/json"}
_MAX_AGE: Final = re.compile(r"(?:^|[,\s])max-age\s*=\s*\"?(\d+)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Jwk:
    """One usable verification key and the ``alg`` its JWK pins, if any."""

    key: Key
    alg: str | None


@dataclass(frozen=True, slots=True)
class KeySet:
    """The usable keys of one JWKS document, by ``kid``."""

    by_kid: dict[str, Jwk]
    usable: tuple[Jwk, ...]

    def select(self, kid: str | None) -> Jwk | None:
        """The key for ``kid``; a token without one may use the set's only key."""
        if kid is None:
            return self.usable[0] if len(self.usable) == 1 else None
        return self.by_kid.get(kid)


def parse_jwks(body: bytes, algorithms: Collection[str] = ASYMMETRIC_ALGORITHMS) -> KeySet:
    """The usable signature keys in a JWKS document.

    Entries that are not asymmetric signature keys for ``algorithms`` (``kty: oct``,
    ``use`` other than ``sig``, an unknown ``alg``, unreadable) are skipped; a body that
    is not ``{"keys": [...]}`` or holds no usable key raises :class:`JwksError`.
    """
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise JwksError(f"JWKS is not JSON: {exc}") from None
    return key_set_of(document, algorithms)


def key_set_of(document: object, algorithms: Collection[str] = ASYMMETRIC_ALGORITHMS) -> KeySet:
    """The usable signature keys of a parsed JWKS ``document``; as :func:`parse_jwks`."""
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise JwksError('JWKS is not a JSON object with a "keys" list')
    by_kid: dict[str, Jwk] = {}
    usable: list[Jwk] = []
    for entry in entries[:MAX_KEYS]:
        jwk = _load_entry(entry, algorithms)
        if jwk is None:
            continue
        kid = entry.get("kid")
        if kid is not None:
            if kid in by_kid:  # an ambiguous kid: the first entry wins
                continue
            by_kid[kid] = jwk
        usable.append(jwk)
    if not usable:
        raise JwksError(NO_USABLE_KEY)
    return KeySet(by_kid, tuple(usable))


def _load_entry(entry: object, algorithms: Collection[str]) -> Jwk | None:
    if not isinstance(entry, dict):
        return None
    kid, use, alg, ops = (entry.get(n) for n in ("kid", "use", "alg", "key_ops"))
    # RFC 8725 §3.1: a JWKS never supplies an HMAC secret, whatever the token asks for.
    if entry.get("kty") == "oct" or (kid is not None and not isinstance(kid, str)):
        return None
    if (use is not None and use != "sig") or (alg is not None and alg not in algorithms):
        return None
    if ops is not None and not (isinstance(ops, list) and "verify" in ops):
        return None
    try:
        return Jwk(load_public_key(entry), alg)
    except Exception:  # one bad entry must not cost the whole set
        return None


def parse_max_age(cache_control: str | None) -> float | None:
    """The ``max-age`` of a ``Cache-Control`` header, in seconds, or ``None``."""
    match = _MAX_AGE.search(cache_control or "")
    return float(match.group(1)) if match else None


class FetchPolicy:
    """When to fetch the JWKS: pure rules over the times the caller passes in.

    The set is fresh for ``min(ttl, max-age)`` after a successful fetch. Any fetch but
    the first waits ``cooldown`` seconds after the previous attempt, so neither unknown
    ``kid`` values nor a failing server can cause more than one request per cooldown.
    """

    def __init__(self, ttl: float, cooldown: float) -> None:
        self.ttl = ttl
        self.cooldown = cooldown
        self.expires_at = -math.inf
        self.last_attempt: float | None = None

    def fresh(self, now: float) -> bool:
        """Whether the loaded set is still within its lifetime."""
        return now < self.expires_at

    def should_fetch(self, now: float, missing: bool) -> bool:
        """Whether to fetch, given that the wanted key is ``missing`` from the set."""
        last = self.last_attempt
        # A clock set back (now < last) ends the cooldown rather than prolonging it.
        cooled = last is None or not 0 <= now - last < self.cooldown
        return (missing or not self.fresh(now)) and cooled

    def attempted(self, now: float) -> None:
        """Record that a fetch starts at ``now``."""
        self.last_attempt = now

    def loaded(self, now: float, max_age: float | None) -> None:
        """Record a successful fetch completed at ``now``."""
        self.expires_at = now + (self.ttl if max_age is None else min(self.ttl, max_age))


def _conclude_with(verifier: BaseVerifier, keys: KeySet, pending: Pending) -> VerifiedToken:
    """Check ``pending`` with the key its ``kid`` picks from ``keys`` (none: ``unknown_key``)."""
    jwk = keys.select(pending.kid)
    if jwk is not None and jwk.alg is not None and jwk.alg != pending.alg:
        return _INVALID[ALGORITHM_NOT_ALLOWED]  # RFC 7517 §4.4: the JWK pins its algorithm
    return verifier._finish(pending, None if jwk is None else jwk.key)


class JwksVerifier(BaseVerifier):
    """Verifies access tokens with the keys at ``{auth_server_url}/api/.well-known/jwks.json``.

    ``jwks_uri`` overrides that address; ``auth_server_url`` defaults to
    ``$AUTH_SERVER_URL``. Only asymmetric algorithms are admitted (narrowed by
    ``algorithms``), and a JWK's own ``alg`` must match the token's. Nothing is fetched
    until the first token needs a key. The set is kept ``cache_ttl`` seconds (less when
    the server's ``Cache-Control: max-age`` says so) and refetched once for an unknown
    ``kid``, at most once per ``refetch_cooldown`` seconds. When a refresh fails the
    last good set stays in use; with no set at all, verification answers
    ``error="jwks_unavailable"``. ``timeout`` bounds each fetch, in seconds.
    ``http_client`` / ``async_http_client`` are optional httpx clients to fetch with.

    :meth:`verify` and :meth:`averify` never raise for a bad token or an unreachable
    server; :meth:`refresh` and :meth:`arefresh` raise :class:`JwksError`, for warming
    up at start-up. A URL without ``http``/``https`` raises :class:`ConfigurationError`.

    >>> verifier = JwksVerifier("https://auth.example.com/api/.well-known/jwks.json")
    >>> verifier.verify("not a token").error
    'malformed'
    """

    _serves_jwks: ClassVar[bool] = True

    def __init__(
        self,
        jwks_uri: str | None = None,
        *,
        auth_server_url: str | None = None,
        issuer: str | None = DEFAULT_ISSUER,
        audience: str | None = DEFAULT_AUDIENCE,
        algorithms: Collection[str] | None = None,
        leeway: float = 0,
        cache_ttl: float = 3600,
        refetch_cooldown: float = 30.0,
        timeout: float = 5.0,
        clock: Clock | None = None,
        cache: bool = True,
        cache_size: int = DEFAULT_CACHE_SIZE,
        http_client: httpx.Client | None = None,
        async_http_client: httpx.AsyncClient | None = None,
    ) -> None:
        if jwks_uri is None:
            jwks_uri = (auth_server_url or _default_server_url()).rstrip("/") + JWKS_PATH
        try:
            url = httpx.URL(jwks_uri)
        except (httpx.InvalidURL, TypeError) as exc:
            raise ConfigurationError(f"JWKS URL {jwks_uri!r} is not a URL: {exc}") from None
        if url.scheme not in ("http", "https") or not url.host:
            raise ConfigurationError(f"JWKS URL {jwks_uri!r} needs http:// or https:// and a host")
        if cache_ttl <= 0 or refetch_cooldown < 0 or timeout <= 0:
            raise ConfigurationError("cache_ttl and timeout must be > 0, refetch_cooldown >= 0")
        super().__init__(
            algorithms=narrow_algorithms(ASYMMETRIC_ALGORITHMS, algorithms, "a JWKS verifier"),
            issuer=issuer, audience=audience, leeway=leeway, clock=clock, cache=cache,
            cache_size=cache_size,
        )
        self.jwks_uri = jwks_uri
        self.timeout = timeout
        self._http_client = http_client
        self._async_http_client = async_http_client
        self._options: dict[str, Any] = {"timeout": httpx.Timeout(timeout), "headers": _ACCEPT}
        self._policy = FetchPolicy(cache_ttl, refetch_cooldown)
        self._keys: KeySet | None = None
        self._lock = threading.Lock()
        self._inflight: Future[JwksError | None] | None = None

    # -- verification ----------------------------------------------------------------

    # verify() is BaseVerifier's: the token cache, then _conclude, which fetches when due.

    def _conclude(self, pending: Pending) -> VerifiedToken:
        if self._wants_fetch(pending):
            self._fetch(pending.kid)
        return self._with_keys(pending)

    async def averify(self, token: str | bytes) -> VerifiedToken:
        """The coroutine twin of :meth:`verify`: fetches with httpx's async client."""
        pending = self._begin(token)
        if isinstance(pending, VerifiedToken):
            return pending
        if self._wants_fetch(pending):
            await self._afetch(pending.kid)
        return self._with_keys(pending)

    def refresh(self) -> None:
        """Fetch the JWKS now, whatever the cache says; raises :class:`JwksError`."""
        error = self._fetch(None, force=True)
        if error is not None:
            raise JwksError(str(error)) from error

    async def arefresh(self) -> None:
        """The coroutine twin of :meth:`refresh`."""
        error = await self._afetch(None, force=True)
        if error is not None:
            raise JwksError(str(error)) from error

    def _wants_fetch(self, pending: Pending) -> bool:
        keys, fresh = self._keys, self._policy.fresh(self.clock())
        return keys is None or keys.select(pending.kid) is None or not fresh

    def _with_keys(self, pending: Pending) -> VerifiedToken:
        keys = self._keys
        if keys is None:
            return _INVALID[JWKS_UNAVAILABLE]
        return _conclude_with(self, keys, pending)

    # -- single flight -----------------------------------------------------------------

    def _claim(self, kid: str | None, force: bool) -> tuple[Future[JwksError | None], bool] | None:
        """Join the fetch in flight, start one (``True``), or ``None`` when none is due."""
        with self._lock:
            if self._inflight is not None:
                return self._inflight, False
            now, keys = self.clock(), self._keys
            missing = keys is None or keys.select(kid) is None
            if not force and not self._policy.should_fetch(now, missing):
                return None
            self._policy.attempted(now)
            future: Future[JwksError | None] = Future()
            # A running future cannot be cancelled by one waiter on behalf of all.
            future.set_running_or_notify_cancel()
            self._inflight = future
            return future, True

    def _install(self, body: bytes, cache_control: str | None) -> None:
        keys = parse_jwks(body, self.algorithms)
        with self._lock:
            old, self._keys = self._keys, keys
            self._policy.loaded(self.clock(), parse_max_age(cache_control))
        if old is not None and not old.by_kid.keys() <= keys.by_kid.keys():
            self.clear_cache()  # a withdrawn key may be a compromised one

    def _settle(self, future: Future[JwksError | None], error: JwksError | None) -> None:
        with self._lock:
            self._inflight = None
        if error is not None:
            kept = "keeping the last good key set" if self._keys else "no key set loaded"
            logger.warning("JWKS fetch from %s failed (%s); %s", self.jwks_uri, error, kept)
            if str(error) == NO_USABLE_KEY:
                self._warn_once("empty_jwks", _NO_KEYS_HINT, self.jwks_uri)
        future.set_result(error)

    def _fetch(self, kid: str | None, force: bool = False) -> JwksError | None:
        ticket = self._claim(kid, force)
        if ticket is None:
            return None
        future, owner = ticket
        if not owner:
            try:
                # Bounded: the owner may be a task on this very thread's event loop.
                return future.result(timeout=2 * self.timeout)
            except TimeoutError:
                return JwksError("timed out waiting for the JWKS fetch in flight")
        error: JwksError | None = JwksError("JWKS fetch interrupted")
        try:
            error = self._get()
        finally:
            self._settle(future, error)
        return error

    async def _afetch(self, kid: str | None, force: bool = False) -> JwksError | None:
        ticket = self._claim(kid, force)
        if ticket is None:
            return None
        future, owner = ticket
        if not owner:
            return await asyncio.wrap_future(future)
        error: JwksError | None = JwksError("JWKS fetch interrupted")
        try:
            error = await self._aget()
        finally:
            self._settle(future, error)
        return error

    # -- HTTP, the two thin shells -------------------------------------------------------

    def _get(self) -> JwksError | None:
        deadline = time.monotonic() + self.timeout
        client = nullcontext(self._http_client) if self._http_client else httpx.Client()
        try:
            with client as c, c.stream("GET", self.jwks_uri, **self._options) as response:
                if response.status_code != 200:
                    raise JwksError(f"JWKS endpoint answered HTTP {response.status_code}")
                body = bytearray()
                for chunk in response.iter_bytes():
                    _append(body, chunk, deadline)
            self._install(bytes(body), response.headers.get("cache-control"))
        except JwksError as exc:
            return exc
        except _NETWORK_ERRORS as exc:
            return JwksError(f"JWKS could not be fetched: {exc!r}")
        return None

    async def _aget(self) -> JwksError | None:
        deadline = time.monotonic() + self.timeout
        client = nullcontext(self._async_http_client) if self._async_http_client else (
            httpx.AsyncClient()
        )
        try:
            async with client as c, c.stream("GET", self.jwks_uri, **self._options) as response:
                if response.status_code != 200:
                    raise JwksError(f"JWKS endpoint answered HTTP {response.status_code}")
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    _append(body, chunk, deadline)
            self._install(bytes(body), response.headers.get("cache-control"))
        except JwksError as exc:
            return exc
        except _NETWORK_ERRORS as exc:
            return JwksError(f"JWKS could not be fetched: {exc!r}")
        return None


# RuntimeError: httpx raises it for a closed client, and verify never raises.
_NETWORK_ERRORS: Final = (httpx.HTTPError, httpx.InvalidURL, RuntimeError, OSError)


def _append(body: bytearray, chunk: bytes, deadline: float) -> None:
    body += chunk
    if len(body) > MAX_JWKS_BYTES:
        raise JwksError(f"JWKS is larger than {MAX_JWKS_BYTES} bytes")
    # The read timeout is per chunk; this bounds a server that trickles bytes.
    if time.monotonic() > deadline:
        raise JwksError("JWKS fetch took longer than its timeout")


_JWKS_TYPES: Final = (
    "jwks= takes a JwksVerifier, a JWKS document (dict with 'keys', or its JSON) or a "
    "joserfc KeySet"
)


def jwks_document(jwks: object) -> tuple[str, dict[str, Any]]:
    """A JWKS document given as a dict, its JSON or a joserfc ``KeySet``: its canonical
    JSON text (to know a document by its content) and a private parsed copy.

    Raises :class:`ConfigurationError` for any other type, JSON that does not parse,
    and a document that is not an object with a ``"keys"`` list.
    """
    document: object
    if isinstance(jwks, JoseKeySet):
        # Public halves only, and never a symmetric key (a JWKS supplies no HMAC secret).
        document = {
            "keys": [k.as_dict(private=False) for k in jwks.keys if not isinstance(k, OctKey)]
        }
    elif isinstance(jwks, str | bytes):
        if len(jwks) > MAX_JWKS_BYTES:
            raise ConfigurationError(f"jwks= is larger than {MAX_JWKS_BYTES} bytes")
        try:
            document = json.loads(jwks)
        except (ValueError, RecursionError) as exc:
            raise ConfigurationError(
                f"{_JWKS_TYPES}; got a {type(jwks).__name__} that is not JSON ({exc})"
            ) from None
    elif isinstance(jwks, Mapping):
        document = dict(jwks)
    else:
        raise ConfigurationError(f"{_JWKS_TYPES}; got {type(jwks).__name__}")
    if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
        raise ConfigurationError(
            f'{_JWKS_TYPES}; got a document without a "keys" list (a JWKS is {{"keys": [...]}})'
        )
    try:
        canonical = json.dumps(document, sort_keys=True, separators=(",", ":"))
        parsed: dict[str, Any] = json.loads(canonical)
    except (TypeError, ValueError, RecursionError) as exc:
        raise ConfigurationError(f"jwks= document is not plain JSON data: {exc}") from None
    return canonical, parsed


class StaticJwksVerifier(BaseVerifier):
    """Verifies access tokens with the keys of a JWKS document held in memory; never fetches.

    ``jwks`` is the document as a dict with ``"keys"``, its JSON (str or bytes) or a
    joserfc ``KeySet``; it is parsed once, here, and later changes to the object passed
    in are not seen. The rules are :class:`JwksVerifier`'s: asymmetric algorithms only
    (narrowed by ``algorithms``), entries that are not asymmetric signature keys are
    skipped, a JWK's own ``alg`` must match the token's, a ``kid`` not in the document
    is ``unknown_key``, and ``jku``, ``x5u`` and ``jwk`` headers are never followed.

    Raises :class:`ConfigurationError` when ``jwks`` is not such a document or holds no
    usable key.

    >>> from tekcify_auth.testing import SigningKey
    >>> key = SigningKey.generate("ES256")
    >>> StaticJwksVerifier(key.jwks()).verify(key.mint("user-1")).valid
    True
    """

    _serves_jwks: ClassVar[bool] = True

    def __init__(
        self,
        jwks: Mapping[str, Any] | str | bytes | JoseKeySet,
        *,
        issuer: str | None = DEFAULT_ISSUER,
        audience: str | None = DEFAULT_AUDIENCE,
        algorithms: Collection[str] | None = None,
        leeway: float = 0,
        clock: Clock | None = None,
        cache: bool = True,
        cache_size: int = DEFAULT_CACHE_SIZE,
    ) -> None:
        super().__init__(
            algorithms=narrow_algorithms(ASYMMETRIC_ALGORITHMS, algorithms, "a JWKS"),
            issuer=issuer, audience=audience, leeway=leeway, clock=clock, cache=cache,
            cache_size=cache_size,
        )
        _, document = jwks_document(jwks)
        try:
            self.keys = key_set_of(document, self.algorithms)
        except JwksError:
            raise ConfigurationError(
                "jwks= holds no usable signature key: only RSA, EC (P-256/384/521) and "
                "Ed25519/Ed448 keys for signatures are used, never 'oct' (symmetric) keys"
            ) from None

    def _conclude(self, pending: Pending) -> VerifiedToken:
        return _conclude_with(self, self.keys, pending)

    async def averify(self, token: str | bytes) -> VerifiedToken:
        """The coroutine twin of :meth:`verify` (no I/O is involved)."""
        return self.verify(token)


#: What ``jwks=`` accepts (:func:`jwks_verifier`).
JwksLike = JwksVerifier | StaticJwksVerifier | Mapping[str, Any] | str | bytes | JoseKeySet


def jwks_verifier(
    jwks: JwksLike,
    *,
    issuer: str | None = DEFAULT_ISSUER,
    audience: str | None = DEFAULT_AUDIENCE,
    algorithms: Collection[str] | None = None,
    leeway: float = 0,
) -> JwksVerifier | StaticJwksVerifier:
    """The verifier ``jwks=`` describes: a ready one as it is (it carries its own issuer
    and audience), a JWKS document as a :class:`StaticJwksVerifier` with these options.

    Raises :class:`ConfigurationError` for anything else, naming what is accepted.
    """
    if isinstance(jwks, JwksVerifier | StaticJwksVerifier):
        return jwks
    return StaticJwksVerifier(
        jwks, issuer=issuer, audience=audience, algorithms=algorithms, leeway=leeway
    )


def create_jwks_verifier(jwks_uri: str | None = None, **options: Any) -> JwksVerifier:
    """Build a :class:`JwksVerifier`; the Node package's ``createJwksVerifier``.

    Takes the same arguments as :class:`JwksVerifier`.

    >>> create_jwks_verifier(auth_server_url="https://auth.example.com").jwks_uri
    'https://auth.example.com/api/.well-known/jwks.json'
    """
    return JwksVerifier(jwks_uri, **options)
