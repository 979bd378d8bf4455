"""Answers of ``/api/oauth/connected-apps`` (``http-api.md``, OAuth 2.0)."""

from __future__ import annotations

from .base import IsoDateTime, ResponseModel

__all__ = ["ConnectedApp", "ConnectedApps", "Withdrawn"]


class ConnectedApp(ResponseModel):
    """2.2.12 ``ConnectedApp {id, clientId, name, description, logoUrl, scopes,
    connectedAt, updatedAt}``; ``id`` is the consent's."""

    id: str
    clientId: str
    name: str
    description: str | None
    logoUrl: str | None
    scopes: list[str]
    connectedAt: IsoDateTime
    updatedAt: IsoDateTime


class ConnectedApps(ResponseModel):
    """2.2.12 ``ListConnectedAppsResponse``: ``{success: true, data}``."""

    success: bool = True
    data: list[ConnectedApp]


class Withdrawn(ResponseModel):
    """``{success: true, message}``: the answer of a withdrawal (2.2.12)."""

    success: bool = True
    message: str
