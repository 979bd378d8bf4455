"""The ``applications`` table: OAuth clients registered by users (``http-api.md``).

The applications API (``/api/applications``) manages these rows; the OAuth endpoints
authenticate clients against them (``services/client_auth.py``). A row without a
``client_secret_hash`` is a public client (a single-page or native app, RFC 6749 §2.1).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, String, true
from sqlalchemy.orm import Mapped, mapped_column

from .models import Base
from .types import UTCDateTime

__all__ = ["Application"]


class Application(Base):
    """An OAuth client. ``client_secret_hash`` is the SHA-256 (hex) of the secret.

    ``redirect_uris``, ``post_logout_redirect_uris``, ``authorized_origins`` and
    ``scopes`` are JSON lists of strings;
    ``logo_url`` refers to the uploaded logo, when there is one. Deleting the owner
    deletes the application. An inactive application (``is_active`` false, set by its
    owner) cannot be used: every protocol lookup treats it as unknown.
    ``primary_color`` is ``#rrggbb`` in lower case, or ``None``.
    """

    __tablename__ = "applications"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(String(1000))
    redirect_uris: Mapped[list[str]] = mapped_column(JSON)
    # Where RP-initiated logout may send the browser back (matched exactly); old rows: [].
    post_logout_redirect_uris: Mapped[list[str]] = mapped_column(
        JSON, default=list, server_default="[]"
    )
    authorized_origins: Mapped[list[str]] = mapped_column(JSON)
    scopes: Mapped[list[str]] = mapped_column(JSON)
    client_secret_hash: Mapped[str | None] = mapped_column(String(64))
    logo_url: Mapped[str | None] = mapped_column(String(2048))
    is_active: Mapped[bool] = mapped_column(Boolean, server_default=true())
    primary_color: Mapped[str | None] = mapped_column(String(7))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
