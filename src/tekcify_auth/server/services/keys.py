"""Key material kept in the data folder: the generated HS256 secret.

With nothing configured the server makes a secret on first start and keeps it in
``TEKCIFY_DATA_DIR/jwt_access_secret`` (mode 0600), so tokens survive restarts and a
resource server can be given the same value as ``JWT_ACCESS_SECRET``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from ..db.engine import Database
from ..settings import Settings, SettingsError
from .signing import HmacSigner, Signer

__all__ = ["build_signer", "load_or_create_secret", "secure_dir"]


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


def build_signer(
    settings: Settings, db: Database, clock: Callable[[], datetime]
) -> tuple[Signer, str]:
    """The signer ``settings`` ask for, and a sentence saying where its key lives.

    HS256: ``JWT_ACCESS_SECRET`` when set, else the secret file in the data folder.
    """
    if settings.signing_alg == "HS256":
        if settings.jwt_access_secret is not None:
            return HmacSigner(settings.jwt_access_secret.get_secret_value()), (
                "HS256 with the secret from JWT_ACCESS_SECRET"
            )
        path = settings.secret_file
        return HmacSigner(load_or_create_secret(path)), f"HS256 with the secret in {path.resolve()}"
    raise SettingsError(
        [
            f"TEKCIFY_SIGNING_ALG={settings.signing_alg} is not valid: expected HS256 "
            "(asymmetric signing is not available in this build yet)"
        ]
    )
