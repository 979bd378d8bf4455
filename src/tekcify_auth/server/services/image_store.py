"""Stored images: keep processed avatars and logos in the database, build their URLs.

The upload routes process the bytes with :mod:`.images` (``ImageProcessor.aprocess``)
and hand the :class:`~.images.ProcessedImage` to :func:`replace_image` (or
:func:`store_image`), which inserts a row of ``images`` and returns the **path** the
image is served under, ``/api/images/{id}.{png|jpg}``. The caller saves that path in its
own column (``users.avatar_url``, ``applications.logo_url``), and answers turn it into
an absolute URL with :func:`image_url`, under the server's base URL for the request
(``canonical.py``: ``TEKCIFY_PUBLIC_URL``, the canonical URL, or the request's own base
URL, whose host ``hosts.py`` has checked). A stored host would be whatever ``Host`` the
uploader sent, served to everyone after (issue 10); a path follows the server when its URL
changes.

A stored image never changes: a new upload gets a new id, hence a new URL, so the
image can be served as ``immutable``, and the replaced one is deleted in the same
transaction. To keep two concurrent uploads from both keeping their image, read the
old URL with the row locked (``SELECT ... FOR UPDATE``; SQLite's write transactions
are serialised already), as :func:`replace_image`'s callers do.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal
from urllib.parse import urlsplit

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ..db.images import StoredImage
from ..db.types import new_id
from .images import ImageLimits, ProcessedImage

__all__ = [
    "AVATAR",
    "IMAGE_PATH",
    "LOGO",
    "UPLOAD_PATHS",
    "ImageKind",
    "ImageMeta",
    "delete_image_at",
    "image_data",
    "image_id_from_url",
    "image_meta",
    "image_path",
    "image_url",
    "replace_image",
    "store_image",
    "upload_body_limit",
    "upload_limit_for",
]

ImageKind = Literal["avatar", "logo"]
AVATAR: Final = "avatar"
LOGO: Final = "logo"

#: Where images are served: ``GET /api/images/{id}.{ext}`` (``routers/images.py``).
IMAGE_PATH: Final = "/api/images"

#: The routes that take an image upload, and so a larger request body than the rest.
UPLOAD_PATHS: Final = (
    re.compile(r"/api/user/profile/picture"),
    re.compile(r"/account/avatar"),
    re.compile(r"/api/applications/[^/]+/logo"),
    re.compile(r"/developer/apps/[^/]+/logo"),
)

# Room for the multipart framing around the file: boundaries, part headers, a long
# file name. Past it the body-limit middleware answers 413 before the body is read.
_MULTIPART_ALLOWANCE: Final = 64 * 1024

_EXTENSIONS: Final = {"image/png": "png", "image/jpeg": "jpg"}
_URL_TAIL: Final = re.compile(
    re.escape(IMAGE_PATH) + r"/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
    r"\.(?:png|jpg)\Z"
)


@dataclass(frozen=True, slots=True)
class ImageMeta:
    """What serving an image needs to know before reading its bytes."""

    id: str
    media_type: str
    etag: str
    extension: str


def upload_body_limit(limits: ImageLimits) -> int:
    """The request-body limit of an upload route: the largest image plus the framing."""
    return limits.max_bytes + _MULTIPART_ALLOWANCE


def upload_limit_for(limits: ImageLimits) -> Callable[[Mapping[str, Any]], int | None]:
    """A ``limit_for(scope)`` hook for ``BodyLimitMiddleware``: uploads get more room.

    ``POST`` to one of :data:`UPLOAD_PATHS` may send :func:`upload_body_limit` bytes;
    every other request keeps the middleware's default limit (``None`` here).
    """
    upload_limit = upload_body_limit(limits)

    def limit_for(scope: Mapping[str, Any]) -> int | None:
        if scope.get("method") != "POST":
            return None
        path = scope.get("path", "")
        if any(pattern.fullmatch(path) for pattern in UPLOAD_PATHS):
            return upload_limit
        return None

    return limit_for


def image_path(image_id: str, media_type: str) -> str:
    """The path an image is served under, as stored: ``/api/images/{id}.{png|jpg}``."""
    return f"{IMAGE_PATH}/{image_id}.{_EXTENSIONS[media_type]}"


def image_url(base_url: str, stored: str | None) -> str | None:
    """The absolute URL of a stored avatar or logo (a path under ``base_url``).

    A stored absolute URL (another site's picture) is returned as it is.

    >>> image_url("https://auth.example.com", "/api/images/1.png")
    'https://auth.example.com/api/images/1.png'
    >>> image_url("https://auth.example.com", None) is None
    True
    """
    if not stored:
        return None
    if stored.startswith("/"):
        return base_url.rstrip("/") + stored
    return stored


def image_id_from_url(url: str | None) -> str | None:
    """The image id in a path of :func:`image_path`, or a URL ending in one; else ``None``.

    >>> image_id_from_url("https://auth.example.com/api/images/"
    ...                   "0b9c2a6e-7f1d-4c55-9d7a-2f6f0b1e9a10.png")
    '0b9c2a6e-7f1d-4c55-9d7a-2f6f0b1e9a10'
    >>> image_id_from_url("https://cdn.example.com/me.png") is None
    True
    """
    if not url:
        return None
    found = _URL_TAIL.search(urlsplit(url).path)
    return found.group(1) if found else None


def store_image(
    db: Session,
    owner_id: str,
    kind: ImageKind,
    processed: ProcessedImage,
    *,
    now: datetime,
) -> str:
    """Insert ``processed`` as an image of ``owner_id``; returns its path (:func:`image_path`).

    :param kind: ``"avatar"`` or ``"logo"``.
    :param now: the creation time (``ctx.clock()``).
    """
    row = StoredImage(
        id=new_id(), owner_id=owner_id, kind=kind, media_type=processed.media_type,
        data=processed.data, width=processed.width, height=processed.height,
        etag=processed.etag, created_at=now,
    )
    db.add(row)
    db.flush()
    return image_path(row.id, row.media_type)


def delete_image_at(db: Session, owner_id: str, kind: ImageKind, url: str | None) -> bool:
    """Delete the image ``url`` points to, if it is ``owner_id``'s ``kind``; whether one was.

    A URL that is not one of ours (``None``, an external picture) deletes nothing.
    """
    image_id = image_id_from_url(url)
    if image_id is None:
        return False
    result = db.execute(
        delete(StoredImage).where(
            StoredImage.id == image_id, StoredImage.owner_id == owner_id,
            StoredImage.kind == kind,
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def replace_image(
    db: Session,
    owner_id: str,
    kind: ImageKind,
    processed: ProcessedImage,
    *,
    old_url: str | None,
    now: datetime,
) -> str:
    """Store ``processed`` and delete the image at ``old_url``; returns the new path.

    Call it in the transaction that saves the new URL, with the row that holds
    ``old_url`` read ``FOR UPDATE``, so the old image goes exactly when the new one
    takes its place.
    """
    url = store_image(db, owner_id, kind, processed, now=now)
    delete_image_at(db, owner_id, kind, old_url)
    return url


def image_meta(db: Session, image_id: str) -> ImageMeta | None:
    """The type and ETag of image ``image_id`` (its bytes are not read), if it exists."""
    row = db.execute(
        select(StoredImage.id, StoredImage.media_type, StoredImage.etag).where(
            StoredImage.id == image_id
        )
    ).first()
    if row is None:
        return None
    return ImageMeta(
        id=row.id, media_type=row.media_type, etag=row.etag,
        extension=_EXTENSIONS.get(row.media_type, ""),
    )


def image_data(db: Session, image_id: str) -> bytes | None:
    """The bytes of image ``image_id``, if it (still) exists."""
    data: bytes | None = db.execute(
        select(StoredImage.data).where(StoredImage.id == image_id)
    ).scalar_one_or_none()
    return data

