"""The ``images`` table: uploaded avatars and application logos, re-encoded.

Images live in the database, not on a local disk, so every server instance behind a
load balancer serves the same ones. Only what ``services/images.py`` produced is
stored: the re-encoded PNG or JPEG bytes, never the upload. Each row belongs to a
user (the avatar's owner, or the owner of the application whose logo it is); deleting
the user deletes the images. ``services/image_store.py`` stores, replaces and finds them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from .models import Base
from .types import UTCDateTime, new_id

__all__ = ["StoredImage"]


class StoredImage(Base):
    """One stored image; its id (a UUID4) is part of the URL it is served under.

    ``kind`` is ``"avatar"`` or ``"logo"``; ``media_type`` ``"image/png"`` or
    ``"image/jpeg"``; ``etag`` the strong, quoted ETag of ``data``. A row never
    changes: a new upload is a new row (and a new URL), and the old row is deleted.
    """

    __tablename__ = "images"
    __table_args__ = (CheckConstraint("kind IN ('avatar', 'logo')", name="kind"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    media_type: Mapped[str] = mapped_column(String(32))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    etag: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
