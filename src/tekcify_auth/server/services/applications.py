"""Applications (OAuth clients): create them, hash and check their secrets.

Client secrets are generated here, never chosen by people: 32 random bytes (256
bits). For a secret like that a fast hash is enough: SHA-256 cannot be reversed and
there is nothing to guess, whereas argon2 exists to slow down guessing of *low-entropy*
passwords, and would only add tens of milliseconds and memory to every token request.
The hash is compared in constant time all the same.

The applications API (``/api/applications``, with its validation of redirect URIs,
origins and scopes) builds on :func:`create_application`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db.applications import Application

__all__ = [
    "DEFAULT_SCOPES",
    "create_application",
    "find_application",
    "hash_client_secret",
    "new_client_id",
    "new_client_secret",
    "secret_matches",
]

#: The scopes the server knows by default (``http-api.md``, Applications).
DEFAULT_SCOPES: Final = (
    "openid", "profile", "email", "offline_access", "read:profile", "write:profile",
)

# Compared against when the client is unknown, so both failures do the same work.
_DUMMY_HASH: Final = hashlib.sha256(b"tekcify-auth: no such client").hexdigest()


def new_client_id() -> str:
    """A fresh client id: 128 random bits, 32 hex characters."""
    return secrets.token_hex(16)


def new_client_secret() -> str:
    """A fresh client secret: 256 random bits, base64url (43 characters)."""
    return secrets.token_urlsafe(32)


def hash_client_secret(secret: str) -> str:
    """The stored form of a client secret: its SHA-256, hex."""
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(stored_hash: str | None, presented: str) -> bool:
    """Whether ``presented`` is the secret of ``stored_hash``, in constant time.

    ``None`` (an unknown or public client) never matches, after the same work.
    """
    expected = stored_hash if stored_hash is not None else _DUMMY_HASH
    same = hmac.compare_digest(expected, hash_client_secret(presented))
    return same and stored_hash is not None


def find_application(db: Session, client_id: str) -> Application | None:
    """The application ``client_id``, if any."""
    return db.execute(
        select(Application).where(Application.client_id == client_id)
    ).scalar_one_or_none()


def create_application(
    db: Session,
    *,
    owner_id: str,
    name: str,
    redirect_uris: Sequence[str],
    scopes: Sequence[str],
    now: datetime,
    description: str | None = None,
    authorized_origins: Sequence[str] = (),
    confidential: bool = True,
) -> tuple[Application, str | None]:
    """Insert an application; returns it and its secret (``None`` for a public client).

    The secret is returned only here: the database keeps its hash. The arguments are
    stored as given; the applications API validates them first.
    """
    secret = new_client_secret() if confidential else None
    application = Application(
        client_id=new_client_id(), owner_id=owner_id, name=name, description=description,
        redirect_uris=list(redirect_uris), authorized_origins=list(authorized_origins),
        scopes=list(scopes),
        client_secret_hash=hash_client_secret(secret) if secret is not None else None,
        logo_url=None, created_at=now, updated_at=now,
    )
    db.add(application)
    db.flush()
    return application, secret
