"""Key material: the generated HS256 secret, and the asymmetric signing keys.

**HS256** (the default): with ``JWT_ACCESS_SECRET`` unset the server makes a secret on
first start and keeps it in ``TEKCIFY_DATA_DIR/jwt_access_secret`` (mode 0600), so
tokens survive restarts and a resource server can be given the same value.

**RS256, ES256, EdDSA**: the keys live in the database (``signing_keys``), because every
instance sharing the database must sign and verify with the same ones; the keys table
itself is in ``services/keystore.py``. Private keys are stored encrypted (AES-256-GCM)
under a key-encryption secret that never enters the database: ``TEKCIFY_KEY_ENCRYPTION_SECRET``
or, unset, a secret generated in ``TEKCIFY_DATA_DIR/key_encryption_secret`` (mode 0600).
A database dump or backup alone therefore holds no usable signing key. Instances on
several hosts must share that secret (set the variable, or copy the file); an instance
with another one refuses to start, naming the key it cannot decrypt.

**ID tokens** are always signed asymmetrically (:func:`build_id_token_signer`): by the
access key when there is one, else (HS256) by an RS256 key of their own in the same
table, sealed with the same secret (so an HS256 server needs the key-encryption secret
too, shared by its instances as it already is for the TOTP secrets).
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Final

from tekcify_auth._keys import load_hmac_key

from ..db.engine import Database
from ..settings import Settings
from .keystore import (
    ID_TOKEN,
    KeyCache,
    KeyCipher,
    load_published,
    load_snapshot,
    settle_id_token_key,
    settle_signing_alg,
)
from .signing import (
    HmacSigner,
    HmacTransitionSigner,
    KeyRing,
    KeyRingSigner,
    KeySnapshot,
    Signer,
)

__all__ = [
    "KEK_FILE_NAME",
    "build_id_token_signer",
    "build_signer",
    "key_cipher",
    "load_or_create_secret",
    "secure_dir",
]

#: The file, in the data folder, of the generated key-encryption secret.
KEK_FILE_NAME: Final = "key_encryption_secret"


def secure_dir(path: Path) -> Path:
    """Create ``path`` (mode 0700) if missing; return it."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def load_or_create_secret(path: Path) -> str:
    """The secret in ``path``, made on first use: 64 random bytes, base64url (512 bits).

    Safe when several workers start at once: the secret is written to a private
    temporary file and linked into place, which fails if another process won, in which
    case its secret is read instead.
    """
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    secure_dir(path.parent)
    value = secrets.token_urlsafe(64)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(value + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return _read(path)


def _read(path: Path) -> str:
    value = path.read_text(encoding="ascii").strip()
    if not value:
        raise ValueError(f"{path} is empty; delete it to have a new secret generated")
    return value


def key_cipher(settings: Settings) -> tuple[KeyCipher, str]:
    """The cipher of the private signing keys, and a phrase saying where its secret is."""
    if settings.key_encryption_secret is not None:
        return KeyCipher(settings.key_encryption_secret.get_secret_value()), (
            "TEKCIFY_KEY_ENCRYPTION_SECRET"
        )
    path = settings.data_dir / KEK_FILE_NAME
    return KeyCipher(load_or_create_secret(path)), f"the secret in {path.resolve()}"


def _hmac_signer(
    settings: Settings, db: Database, clock: Callable[[], datetime]
) -> tuple[Signer, str]:
    """HS256; after ``keys switch-alg HS256`` also the retired keys, until they expire."""
    if settings.jwt_access_secret is not None:
        secret = settings.jwt_access_secret.get_secret_value()
        source = "HS256 with the secret from JWT_ACCESS_SECRET"
    else:
        path = settings.secret_file
        secret = load_or_create_secret(path)
        source = f"HS256 with the secret in {path.resolve()}"
    cache = KeyCache(None)
    hmac_key = load_hmac_key(secret)

    def load() -> KeySnapshot:  # the ring never signs here: the secret does
        with db.read() as session:
            published = load_published(session, settings, cache, clock())
        return KeySnapshot("", "HS256", hmac_key, published)

    ring = KeyRing(load, interval=settings.key_reload_interval, clock=lambda: clock().timestamp())
    if not ring.published():
        return HmacSigner(secret), source
    return HmacTransitionSigner(secret, ring), (
        f"{source} (the keys retired by the switch to HS256 stay published until their "
        "tokens expire)"
    )


def build_signer(
    settings: Settings, db: Database, clock: Callable[[], datetime]
) -> tuple[Signer, str]:
    """The signer of the recorded algorithm, and a sentence saying where its key lives.

    The algorithm is settled first (:func:`~.keystore.settle_signing_alg`): recorded in
    the database at the first start, and a ``TEKCIFY_SIGNING_ALG`` that differs from it
    raises :class:`~tekcify_auth.server.settings.SettingsError` with the explanation and
    the command that switches; unset, the recorded one is used.

    HS256: ``JWT_ACCESS_SECRET`` when set, else the secret file in the data folder.
    Asymmetric: the active key in the database (made at the first start); the signer
    re-reads the keys every ``TEKCIFY_KEY_RELOAD_INTERVAL`` seconds. Raises
    :class:`~tekcify_auth.server.settings.SettingsError` when a stored key cannot be
    decrypted with this server's key-encryption secret.
    """
    ciphers: list[tuple[KeyCipher, str]] = []

    def cipher() -> KeyCipher:  # made (and its secret file) only for an asymmetric key
        if not ciphers:
            ciphers.append(key_cipher(settings))
        return ciphers[0][0]

    with db.write() as session:
        alg = settle_signing_alg(session, settings.signing_alg, cipher, clock())
    adopted = (
        " (TEKCIFY_SIGNING_ALG unset: the algorithm recorded in the database)"
        if settings.signing_alg is None and alg != "HS256" else ""
    )
    if alg == "HS256":
        return _hmac_signer(settings, db, clock)
    cipher()
    where = ciphers[0][1]
    cache = KeyCache(ciphers[0][0])

    def load() -> KeySnapshot:
        with db.read() as session:
            return load_snapshot(session, settings, cache, clock())

    ring = KeyRing(load, interval=settings.key_reload_interval, clock=lambda: clock().timestamp())
    snapshot = ring.current()
    return KeyRingSigner(ring), (
        f"{snapshot.signing_alg}{adopted} with key {snapshot.signing_kid} from the database "
        f"(private keys encrypted with {where}; rotate with `tekcify-auth keys rotate`)"
    )


def build_id_token_signer(
    settings: Settings, db: Database, clock: Callable[[], datetime], access: Signer
) -> KeyRingSigner:
    """The signer of id tokens: ``access`` when it has keys (RS256, ES256, EdDSA), else
    a ring over the ``id_token`` RS256 keys (:func:`~.keystore.settle_id_token_key`).

    Raises :class:`~tekcify_auth.server.settings.SettingsError` when a stored key cannot
    be decrypted with this server's key-encryption secret.
    """
    with db.write() as session:
        own = settle_id_token_key(
            session, access.algorithm, lambda: key_cipher(settings)[0], clock()
        )
    if not own and isinstance(access, KeyRingSigner):
        return access
    cache = KeyCache(key_cipher(settings)[0])

    def load() -> KeySnapshot:
        with db.read() as session:
            return load_snapshot(session, settings, cache, clock(), ID_TOKEN)

    ring = KeyRing(load, interval=settings.key_reload_interval, clock=lambda: clock().timestamp())
    return KeyRingSigner(ring)
