"""The asymmetric signing keys in the database: create, rotate, revoke, list, load.

A key's **state** is derived from its timestamps and the time of asking, never stored,
so every instance sharing the database moves on by itself when the time comes:

- **next**: published (in the JWKS) but not signing yet: ``activates_at`` is ahead;
- **active**: signs every new token (from ``activates_at``, or ``created_at`` for a key
  from before 0011, until ``retired_at``);
- **retired**: signs no more, still published for :func:`retention` after
  ``retired_at`` (its tokens may still be live);
- **revoked**: withdrawn at once by ``tekcify-auth keys revoke`` (out of the JWKS, its
  tokens refused everywhere);
- **expired**: its retention has ended; the next rotation deletes it (and revoked keys
  once their retention has ended too).

``tekcify-auth keys rotate`` adds the next key and sets the active one to retire when
it activates, :func:`publication_delay` later: the JWKS ``max-age`` (resource servers
may cache the key set that long), the reload interval (instances may serve the old set
that long) and a margin for clocks that run ahead. A resource server therefore never
sees a token of a key it could not have fetched. ``--now`` (``immediate=True``) makes
the new key sign at once, for emergencies. Rotations and revocations run under a lock
(``BEGIN IMMEDIATE`` on SQLite, an advisory lock on PostgreSQL), so concurrent ones never
leave two keys signing.

Retention covers the last token a retired key can have signed: instances that have not
yet re-read the keys go on signing with it for up to ``TEKCIFY_KEY_RELOAD_INTERVAL``
seconds, that token lives ``TEKCIFY_ACCESS_TOKEN_TTL`` seconds, and resource servers
may allow some clock skew (:data:`RETENTION_MARGIN`).

``kid`` is the key's RFC 7638 thumbprint. The private key is stored as PKCS#8 DER,
sealed by :class:`KeyCipher` with the ``kid`` and ``alg`` as associated data, so a
sealed key cannot be moved to another row.

The **signing algorithm** is recorded in ``server_state`` at the first start
(:func:`settle_signing_alg`): ``HS256`` (no key row: the shared secret signs) or the
algorithm of the active key. Every later start compares ``TEKCIFY_SIGNING_ALG`` with it
and refuses a different one, explaining what resource servers would see, so a restart
with a forgotten or mistyped variable never changes what the tokens are signed with. An
unset variable means the recorded algorithm. :func:`switch_signing_alg` (``tekcify-auth
keys switch-alg``) changes it on purpose.

**ID tokens** (OpenID Connect) are always signed asymmetrically. When access tokens
are (RS256, ES256, EdDSA) the same key signs both; with HS256 a key of purpose
``id_token``, RS256 (the algorithm every OIDC client accepts), does
(:func:`settle_id_token_key`, made at start-up), with the same states, published in the
same JWKS, rotated by the same ``keys rotate`` and revoked by ``keys revoke``. Every
function here takes the ``purpose`` it acts on (``access`` unless said otherwise).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from joserfc.jwk import ECKey, Key, OKPKey, RSAKey
from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from tekcify_auth._keys import load_public_key

from ..db import locks
from ..db.models import ServerState, SigningKey, UserSession
from ..settings import Settings, SettingsError
from .signing import KeySnapshot, PublishedKey, Successor

__all__ = [
    "ACCESS",
    "ACTIVATION_MARGIN",
    "ID_TOKEN",
    "ID_TOKEN_ALG",
    "RETENTION_MARGIN",
    "KeyCache",
    "KeyCipher",
    "KeyInfo",
    "KeyPending",
    "Revocation",
    "RevokeRefused",
    "Rotation",
    "Switch",
    "UnknownKey",
    "check_signing_alg",
    "generate_key",
    "list_keys",
    "load_published",
    "load_snapshot",
    "publication_delay",
    "recorded_signing_alg",
    "retention",
    "revoke_key",
    "rotate_key",
    "settle_id_token_key",
    "settle_signing_alg",
    "switch_signing_alg",
]

#: Seconds a retired key stays published beyond the longest-lived token it can have
#: signed, for resource servers whose clocks run behind (their verifier ``leeway``).
RETENTION_MARGIN: Final = 60
#: Seconds a next key waits beyond the JWKS ``max-age`` and the reload interval, for
#: instances whose clocks run ahead of the one that rotated.
ACTIVATION_MARGIN: Final = 10
#: The ``revoked_reason`` of sessions revoked with their signing key.
SESSION_REVOKED_REASON: Final = "signing_key_revoked"
#: RSA modulus size of generated RS256 keys.
RSA_KEY_SIZE: Final = 2048

#: The key purposes: access tokens, and id tokens when access tokens are not RS256.
ACCESS: Final = "access"
ID_TOKEN: Final = "id_token"
#: The algorithm of the id tokens' own key, with HS256 access tokens (OIDC Discovery 1.0
#: §3: RS256 must be supported).
ID_TOKEN_ALG: Final = "RS256"

#: The ``server_state`` row holding the recorded signing algorithm.
SIGNING_ALG_STATE: Final = "signing_alg"
_SEAL_VERSION: Final = b"\x01"
_HKDF_INFO: Final = b"tekcify-auth signing-key encryption v1"
_KEY_CLASSES: Final[dict[str, type[RSAKey] | type[ECKey] | type[OKPKey]]] = {
    "RS256": RSAKey, "ES256": ECKey, "EdDSA": OKPKey,
}


def generate_key(alg: str) -> RSAKey | ECKey | OKPKey:
    """A new private key for ``alg``: RSA 2048 (RS256), P-256 (ES256) or Ed25519 (EdDSA)."""
    if alg == "RS256":
        return RSAKey.generate_key(RSA_KEY_SIZE)
    if alg == "ES256":
        return ECKey.generate_key("P-256")
    if alg == "EdDSA":
        return OKPKey.generate_key("Ed25519")
    raise ValueError(f"no asymmetric signing algorithm {alg!r}")


class KeyCipher:
    """Seals private keys with AES-256-GCM under a key derived (HKDF) from ``secret``."""

    def __init__(self, secret: str) -> None:
        derived = HKDF(hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(
            secret.encode()
        )
        self._aead = AESGCM(derived)

    def seal(self, private_der: bytes, kid: str, alg: str) -> bytes:
        """The stored form of a private key: version byte, nonce, ciphertext and tag."""
        nonce = os.urandom(12)
        return _SEAL_VERSION + nonce + self._aead.encrypt(nonce, private_der, _aad(kid, alg))

    def open(self, sealed: bytes, kid: str, alg: str) -> bytes:
        """The private key DER; raises :class:`SettingsError` when it does not open."""
        if sealed[:1] != _SEAL_VERSION:
            raise _cannot_open(kid)
        try:
            return self._aead.decrypt(sealed[1:13], sealed[13:], _aad(kid, alg))
        except (InvalidTag, ValueError):
            raise _cannot_open(kid) from None


def _aad(kid: str, alg: str) -> bytes:
    return f"{kid}\n{alg}".encode()


def _cannot_open(kid: str) -> SettingsError:
    return SettingsError(
        [
            f"TEKCIFY_KEY_ENCRYPTION_SECRET does not decrypt signing key {kid} stored in the "
            "database: every instance sharing the database needs the same secret (set the "
            "variable, or copy key_encryption_secret from the data folder of the instance "
            "that created the key)"
        ]
    )


def retention(settings: Settings) -> timedelta:
    """How long a retired key stays published (see the module docstring)."""
    return timedelta(
        seconds=settings.access_token_ttl + settings.key_reload_interval + RETENTION_MARGIN
    )


def publication_delay(settings: Settings) -> timedelta:
    """How long ``keys rotate`` publishes the next key before it signs (module docstring)."""
    return timedelta(
        seconds=settings.jwks_max_age + settings.key_reload_interval + ACTIVATION_MARGIN
    )


def _activates(row: SigningKey) -> datetime:
    return row.activates_at if row.activates_at is not None else row.created_at


def key_state(row: SigningKey, settings: Settings, now: datetime) -> str:
    """``next``, ``active``, ``retired``, ``revoked`` or ``expired`` at ``now``."""
    if row.revoked_at is not None:
        return "revoked"
    if row.retired_at is not None and row.retired_at <= now:
        return "retired" if now < row.retired_at + retention(settings) else "expired"
    return "next" if _activates(row) > now else "active"


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """What ``tekcify-auth keys list`` shows of a key.

    ``state``: see :func:`key_state`. ``activates_at``: when it signs (or signed) from;
    ``retired_at``: when it stops (or stopped) signing, ``None`` while no successor is
    set; ``published_until``: when a retiring key leaves the JWKS.
    """

    kid: str
    alg: str
    created_at: datetime
    retired_at: datetime | None
    published_until: datetime | None
    state: str
    activates_at: datetime | None = None
    revoked_at: datetime | None = None
    purpose: str = ACCESS

    def age(self, now: datetime) -> timedelta:
        """Time since the key was made."""
        return now - self.created_at


@dataclass(frozen=True, slots=True)
class Rotation:
    """The outcome of :func:`rotate_key`.

    ``active`` is the new key (state ``next`` until ``switch_at``, when ``retired``
    stop signing); ``deleted`` the expired keys removed.
    """

    active: KeyInfo
    retired: tuple[str, ...]
    deleted: tuple[str, ...]
    switch_at: datetime | None = None


class KeyPending(ValueError):
    """``keys rotate`` while a next key already waits to sign (``rotate --now`` may)."""

    def __init__(self, pending: KeyInfo) -> None:
        self.pending = pending
        super().__init__(f"key {pending.kid} is already next")


class UnknownKey(LookupError):
    """No stored key has this ``kid``."""


class RevokeRefused(ValueError):
    """Revoking the signing key without ``replace=True``: nothing would sign."""

    def __init__(self, kid: str) -> None:
        self.kid = kid
        super().__init__(f"key {kid} is the signing key")


def _info(row: SigningKey, settings: Settings, now: datetime) -> KeyInfo:
    state = key_state(row, settings, now)
    until = None
    if row.retired_at is not None and state != "revoked":
        until = row.retired_at + retention(settings)
    return KeyInfo(
        row.kid, row.alg, row.created_at, row.retired_at, until, state,
        _activates(row), row.revoked_at, row.purpose,
    )


def _lock(db: Session) -> None:
    # SQLite: the write transaction began IMMEDIATE and already excludes other writers.
    if db.get_bind().dialect.name == "postgresql":
        locks.xact_lock(db, locks.KEYSTORE)


def _unretired(at: datetime, purpose: str = ACCESS) -> Any:
    """The SQL condition of ``purpose``'s keys not revoked and not retired at ``at``
    (active or next)."""
    return (
        (SigningKey.purpose == purpose)
        & SigningKey.revoked_at.is_(None)
        & or_(SigningKey.retired_at.is_(None), SigningKey.retired_at > at)
    )


def _active(db: Session, now: datetime, purpose: str = ACCESS) -> list[SigningKey]:
    """The keys that sign at ``now`` or will (active, next), latest activation first."""
    rows = db.execute(select(SigningKey).where(_unretired(now, purpose))).scalars()
    return sorted(rows, key=lambda row: (_activates(row), row.created_at), reverse=True)


def _add_key(
    db: Session, cipher: KeyCipher, alg: str, now: datetime, at: datetime | None = None,
    purpose: str = ACCESS,
) -> SigningKey:
    """A new key that signs from ``at`` (``None``: now); every other one of its
    ``purpose`` retires then."""
    at = now if at is None else at
    key = generate_key(alg)
    kid = key.thumbprint()
    public = {**key.as_dict(private=False), "kid": kid, "alg": alg, "use": "sig"}
    row = SigningKey(
        kid=kid, alg=alg, public_jwk=json.dumps(public, sort_keys=True),
        private_key=cipher.seal(key.as_der(private=True), kid, alg),
        created_at=now, activates_at=at, retired_at=None, revoked_at=None, purpose=purpose,
    )
    # Retire first: the new row must be the only one left that signs after ``at``.
    db.execute(update(SigningKey).where(_unretired(at, purpose)).values(retired_at=at))
    db.add(row)
    db.flush()
    return row


def _delete_expired(db: Session, settings: Settings, now: datetime) -> tuple[str, ...]:
    cutoff = now - retention(settings)
    expired = tuple(
        db.execute(
            select(SigningKey.kid).where(
                or_(
                    SigningKey.retired_at <= cutoff,
                    SigningKey.revoked_at <= cutoff,
                )
            )
        ).scalars()
    )
    if expired:
        db.execute(delete(SigningKey).where(SigningKey.kid.in_(expired)))
    return expired


def _rotatable_alg(db: Session, settings: Settings, purpose: str = ACCESS) -> str:
    if purpose == ID_TOKEN:
        return ID_TOKEN_ALG
    alg = recorded_signing_alg(db) or settings.signing_alg or "HS256"
    if alg not in _KEY_CLASSES:
        raise ValueError(f"the server signs with {alg}, which has no key to rotate")
    return alg


def rotate_key(
    db: Session, settings: Settings, cipher: KeyCipher, now: datetime, *, immediate: bool = False,
    purpose: str = ACCESS,
) -> Rotation:
    """Add the next key of the recorded algorithm (``id_token``: RS256); it signs
    :func:`publication_delay` from ``now`` (``immediate``: at once), when the active key
    of its ``purpose`` retires.

    ``db`` must be a write session. Keys whose retention has ended are deleted. Raises
    :class:`ValueError` when the recorded algorithm is HS256 (no access key to rotate),
    and :class:`KeyPending` when a next key already waits (unless ``immediate``: then the
    waiting key retires unused with the active one).
    """
    _lock(db)
    alg = _rotatable_alg(db, settings, purpose)
    waiting = [
        row for row in _active(db, now, purpose) if key_state(row, settings, now) == "next"
    ]
    if waiting and not immediate:
        raise KeyPending(_info(waiting[0], settings, now))
    retired = tuple(row.kid for row in _active(db, now, purpose))
    expired = _delete_expired(db, settings, now)
    at = now if immediate else now + publication_delay(settings)
    row = _add_key(db, cipher, alg, now, at, purpose)
    return Rotation(_info(row, settings, now), retired, expired, at)


@dataclass(frozen=True, slots=True)
class Revocation:
    """The outcome of :func:`revoke_key`.

    ``replacement``: the key made to sign at once (the revoked one was signing);
    ``restored``: the key that goes on signing because the next key it was to hand over
    to was revoked; ``sessions``: how many live sessions were revoked with it.
    """

    revoked: KeyInfo
    already: bool
    replacement: KeyInfo | None
    restored: tuple[str, ...]
    sessions: int


def revoke_key(
    db: Session,
    settings: Settings,
    kid: str,
    now: datetime,
    *,
    cipher: Callable[[], KeyCipher],
    replace: bool = False,
    revoke_sessions: bool = False,
) -> Revocation:
    """Withdraw key ``kid`` at once: out of the JWKS, its tokens refused by every instance
    within the reload interval, and (``revoke_sessions``) the live sessions whose latest
    access token it signed revoked.

    The signing key itself is revoked only with ``replace``: a new key (sealed by
    ``cipher()``) then signs at once, else :class:`RevokeRefused`. A next key revoked
    leaves the active one signing. Raises :class:`UnknownKey` for a ``kid`` not stored.
    ``db`` must be a write session.
    """
    _lock(db)
    row = db.get(SigningKey, kid)
    if row is None:
        raise UnknownKey(kid)
    state = key_state(row, settings, now)
    replacement: SigningKey | None = None
    restored: tuple[str, ...] = ()
    if state == "active":
        if not replace:
            raise RevokeRefused(kid)
        replacement = _add_key(
            db, cipher(), _rotatable_alg(db, settings, row.purpose), now, purpose=row.purpose
        )
    elif state == "next":
        # The active key was to retire when this one took over: it goes on signing.
        handing = [
            other for other in _active(db, now, row.purpose)
            if other.kid != kid and other.retired_at is not None
        ]
        restored = tuple(other.kid for other in handing)
        for other in handing:
            other.retired_at = None
    already = row.revoked_at is not None
    if not already:
        row.revoked_at = now
    sessions = 0
    if revoke_sessions:
        result = db.execute(
            update(UserSession)
            .where(UserSession.signing_kid == kid, UserSession.revoked_at.is_(None))
            .values(revoked_at=now, revoked_reason=SESSION_REVOKED_REASON)
        )
        sessions = int(getattr(result, "rowcount", 0) or 0)
    db.flush()
    return Revocation(
        _info(row, settings, now), already,
        None if replacement is None else _info(replacement, settings, now), restored,
        sessions,
    )


# -- the recorded signing algorithm -------------------------------------------------------


def recorded_signing_alg(db: Session) -> str | None:
    """The signing algorithm recorded in the database, or ``None`` before the first start."""
    row = db.get(ServerState, SIGNING_ALG_STATE)
    return None if row is None else row.value


def _record(db: Session, alg: str, now: datetime) -> None:
    row = db.get(ServerState, SIGNING_ALG_STATE)
    if row is None:
        db.add(ServerState(name=SIGNING_ALG_STATE, value=alg, updated_at=now))
    else:
        row.value, row.updated_at = alg, now
    db.flush()


def _consequence(configured: str, recorded: str) -> str:
    """What resource servers would see if the server signed with ``configured`` now."""
    if configured == "HS256":
        return (
            "new tokens would be signed with the shared secret (JWT_ACCESS_SECRET) and the "
            "JWKS would publish no key for them, so resource servers that verify with the "
            "JWKS (JwksVerifier, JwksAuthGuard) would refuse every one"
        )
    if recorded == "HS256":
        return (
            f"new tokens would be signed with a new {configured} key, so resource servers "
            "that verify with the shared secret (JWT_ACCESS_SECRET) would refuse every one"
        )
    return (
        f"new tokens would be signed with a new {configured} key, so resource servers "
        f"that allow only {recorded} (algorithms=[\"{recorded}\"]) would refuse every one"
    )


def _mismatch(configured: str, recorded: str) -> SettingsError:
    return SettingsError([
        f"TEKCIFY_SIGNING_ALG={configured}, but this database signs with {recorded} (the "
        "algorithm recorded at its first start or by `tekcify-auth keys switch-alg`)",
        f"starting with {configured}: {_consequence(configured, recorded)}",
        f"to keep {recorded}: set TEKCIFY_SIGNING_ALG={recorded}, or unset it (an unset "
        "variable means the recorded algorithm)",
        f"to switch on purpose: run `tekcify-auth keys switch-alg {configured}` once, then "
        f"start every instance with TEKCIFY_SIGNING_ALG={configured}",
    ])


def _unrecorded(active: str) -> SettingsError:
    return SettingsError([
        f"TEKCIFY_SIGNING_ALG is unset and this database has an active {active} signing key "
        "but no recorded signing algorithm (it was last started by an earlier version, "
        "which did not record it), so whether it signed with that key or with HS256 is "
        "unknown",
        f"set TEKCIFY_SIGNING_ALG={active} to go on signing with that key (resource servers "
        "on the JWKS), or TEKCIFY_SIGNING_ALG=HS256 to go on signing with the shared secret "
        "(resource servers with JWT_ACCESS_SECRET); this start records the choice",
    ])


def check_signing_alg(db: Session, configured: str | None) -> None:
    """Raise :class:`SettingsError` when ``configured`` is not the recorded algorithm.

    Reads only: ``serve`` asks before it migrates or writes anything;
    :func:`settle_signing_alg` decides again under the lock.
    """
    recorded = recorded_signing_alg(db)
    if recorded is not None and configured is not None and configured != recorded:
        raise _mismatch(configured, recorded)


def settle_signing_alg(
    db: Session, configured: str | None, cipher: Callable[[], KeyCipher], now: datetime
) -> str:
    """The algorithm this server signs with: recorded at the first start, checked after.

    ``configured`` is ``TEKCIFY_SIGNING_ALG`` (``None``: unset). The first start records
    it (unset: HS256); a later start with another value raises :class:`SettingsError`
    explaining the mismatch and the command that switches; an unset variable takes the
    recorded algorithm. For an asymmetric algorithm an active key of it is made when
    there is none (``cipher`` is called only then). ``db`` must be a write session: the
    lock makes concurrent first starts agree on one algorithm and one key.
    """
    _lock(db)
    recorded = recorded_signing_alg(db)
    active = _active(db, now)
    if recorded is None:
        if configured is None and active:
            raise _unrecorded(active[0].alg)
        alg = configured or "HS256"
        _record(db, alg, now)
        if alg == "HS256" and active:
            # An earlier version left a key active while it signed HS256: retire it, so
            # that keys list shows what signs (it stays published for its retention).
            db.execute(update(SigningKey).where(_unretired(now)).values(retired_at=now))
    elif configured is not None and configured != recorded:
        raise _mismatch(configured, recorded)
    else:
        alg = recorded
    if alg != "HS256" and not (active and active[0].alg == alg):
        _add_key(db, cipher(), alg, now)
    return alg


def settle_id_token_key(
    db: Session, access_alg: str, cipher: Callable[[], KeyCipher], now: datetime
) -> bool:
    """Whether id tokens have keys of their own (``access_alg`` is HS256).

    Then an active ``id_token`` key is made when there is none (``cipher`` is called
    only then); with asymmetric access tokens, the access key signs id tokens too and
    any ``id_token`` key still signing retires (published until its tokens expire).
    ``db`` must be a write session.
    """
    _lock(db)
    if access_alg != "HS256":
        db.execute(
            update(SigningKey).where(_unretired(now, ID_TOKEN)).values(retired_at=now)
        )
        return False
    if not _active(db, now, ID_TOKEN):
        _add_key(db, cipher(), ID_TOKEN_ALG, now, purpose=ID_TOKEN)
    return True


@dataclass(frozen=True, slots=True)
class Switch:
    """The outcome of :func:`switch_signing_alg`.

    ``active`` is the new key (``None`` for HS256, or when nothing changed).
    """

    previous: str | None
    alg: str
    active: KeyInfo | None
    retired: tuple[str, ...]
    deleted: tuple[str, ...]

    @property
    def changed(self) -> bool:
        """Whether the recorded algorithm changed."""
        return self.previous != self.alg


def switch_signing_alg(
    db: Session, settings: Settings, alg: str, cipher: Callable[[], KeyCipher], now: datetime
) -> Switch:
    """Record ``alg`` as the signing algorithm, on purpose.

    To an asymmetric algorithm: a new key of it becomes active and the others are
    retired (published until their tokens have expired). To HS256: the keys are retired
    the same way. Switching to the recorded algorithm changes nothing. ``cipher`` must
    open the active key (the instances' key-encryption secret), else
    :class:`SettingsError`. ``db`` must be a write session.
    """
    if alg not in ("HS256", *_KEY_CLASSES):
        raise ValueError(f"no signing algorithm {alg!r}")
    _lock(db)
    previous = recorded_signing_alg(db)
    active = _active(db, now)
    if previous == alg and (alg == "HS256" or (active and active[0].alg == alg)):
        return Switch(previous, alg, None, (), ())
    retired = tuple(row.kid for row in active)
    deleted = _delete_expired(db, settings, now)
    info = None
    if alg == "HS256":
        db.execute(update(SigningKey).where(_unretired(now)).values(retired_at=now))
    else:
        sealer = cipher()
        if active:  # a new key sealed with another secret would not open on the instances
            sealer.open(active[0].private_key, active[0].kid, active[0].alg)
        info = _info(_add_key(db, sealer, alg, now), settings, now)
    _record(db, alg, now)
    return Switch(previous, alg, info, retired, deleted)


_STATE_ORDER: Final = {"active": 0, "next": 1, "retired": 2, "expired": 3, "revoked": 4}


def _newest_first(
    rows: Iterable[SigningKey], settings: Settings, now: datetime
) -> list[tuple[SigningKey, str]]:
    """Each row and its state: active first, then next, then the others by retirement
    (or revocation), most recent first (creation times may tie)."""

    def order(item: tuple[SigningKey, str]) -> tuple[int, float, float, float]:
        row, state = item
        ended = row.revoked_at or row.retired_at
        return (
            _STATE_ORDER[state], -(ended.timestamp() if ended is not None else 0.0),
            -_activates(row).timestamp(), -row.created_at.timestamp(),
        )

    return sorted(((row, key_state(row, settings, now)) for row in rows), key=order)


def list_keys(db: Session, settings: Settings, now: datetime) -> list[KeyInfo]:
    """Every stored key: the active one, the next one, then the others, latest first."""
    rows = db.execute(select(SigningKey)).scalars()
    return [_info(row, settings, now) for row, _ in _newest_first(rows, settings, now)]


def _import_private(alg: str, der: bytes) -> Key:
    """The private key of a sealed DER blob (:func:`KeyCache.private`).

    An RSA key skips OpenSSL's consistency check of its parameters (40 ms a key, paid at
    every start and by every reload that meets a new key): the blob is one this server
    generated, and AES-GCM under the key-encryption secret has just proven it unchanged.
    """
    if alg == "RS256":
        loaded = serialization.load_der_private_key(
            der, password=None, unsafe_skip_rsa_key_validation=True
        )
        if not isinstance(loaded, rsa.RSAPrivateKey):
            raise SettingsError([f"the stored {alg} key is not an RSA key"])
        return RSAKey.import_key(loaded)
    return _KEY_CLASSES[alg].import_key(der)


class KeyCache:
    """Keys already decrypted or parsed, by ``kid``, so that reloads only query."""

    def __init__(self, cipher: KeyCipher | None) -> None:
        self.cipher = cipher  # None: public keys only (HS256 publishing retired keys)
        self._private: dict[str, Key] = {}
        self._public: dict[str, tuple[Key, dict[str, Any]]] = {}

    def private(self, row: SigningKey) -> Key:
        """The private key of ``row``; raises :class:`SettingsError` if it does not open."""
        key = self._private.get(row.kid)
        if key is None:
            if self.cipher is None:
                raise RuntimeError("this key cache holds public keys only")
            der = self.cipher.open(row.private_key, row.kid, row.alg)
            key = _import_private(row.alg, der)
            self._private[row.kid] = key
        return key

    def public(self, row: SigningKey, settings: Settings) -> PublishedKey:
        """The published form of ``row``."""
        parsed = self._public.get(row.kid)
        if parsed is None:
            jwk = json.loads(row.public_jwk)
            parsed = self._public[row.kid] = (load_public_key(jwk), jwk)
        until = None
        if row.retired_at is not None:
            until = (row.retired_at + retention(settings)).timestamp()
        return PublishedKey(row.kid, row.alg, parsed[0], parsed[1], until)


def _live_rows(
    db: Session, settings: Settings, now: datetime, purpose: str = ACCESS
) -> list[tuple[SigningKey, str]]:
    """The published keys of ``purpose`` (active, next, retired) and their states."""
    rows = db.execute(
        select(SigningKey).where(
            SigningKey.purpose == purpose,
            SigningKey.revoked_at.is_(None),
            or_(SigningKey.retired_at.is_(None), SigningKey.retired_at > now - retention(settings)),
        )
    ).scalars()
    return [item for item in _newest_first(rows, settings, now) if item[1] != "expired"]


def load_published(
    db: Session, settings: Settings, cache: KeyCache, now: datetime
) -> dict[str, PublishedKey]:
    """Every key still published, by ``kid``: with HS256 recorded, the keys that
    ``keys switch-alg HS256`` retired, until their retention ends."""
    return {row.kid: cache.public(row, settings) for row, _ in _live_rows(db, settings, now)}


class NoActiveKey(RuntimeError):
    """The keys table holds no active key (it was emptied while the server ran)."""


def load_snapshot(
    db: Session, settings: Settings, cache: KeyCache, now: datetime, purpose: str = ACCESS
) -> KeySnapshot:
    """The active key, the next one and every published one of ``purpose``, as they are
    in the database.

    Raises :class:`NoActiveKey` when no key is active, :class:`SettingsError` when the
    active or the next key does not decrypt.
    """
    rows = _live_rows(db, settings, now, purpose)
    waiting = sorted((row for row, state in rows if state == "next"), key=_activates)
    if rows and rows[0][1] == "active":
        signing = rows[0][0]
    elif waiting:
        # Nothing active by this instance's clock, which runs behind the one of a
        # `--now` rotation or revocation: the key made to sign at once signs.
        signing = waiting.pop(0)
    else:
        raise NoActiveKey("no active signing key in the database")
    successor = None
    if waiting:
        row = waiting[0]
        successor = Successor(row.kid, row.alg, cache.private(row), _activates(row).timestamp())
    return KeySnapshot(
        signing_kid=signing.kid,
        signing_alg=signing.alg,
        signing_key=cache.private(signing),
        published={row.kid: cache.public(row, settings) for row, _ in rows},
        successor=successor,
    )
