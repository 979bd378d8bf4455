"""Answers of ``/api/oauth/connected-apps`` (``http-api.md``, OAuth 2.0)."""

from __future__ import annotations

from .base import IsoDateTime, ResponseModel

__all__ = ["ConnectedApp"]


class ConnectedApp(ResponseModel):
    """``{clientId, name, description, logoUrl, scopes, connectedAt, updatedAt}``."""

    clientId: str
    name: str
    description: str | None
    logoUrl: str | None
    scopes: list[str]
    connectedAt: IsoDateTime
    updatedAt: IsoDateTime
