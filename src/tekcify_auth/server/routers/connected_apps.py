"""``/api/oauth/connected-apps``: the applications the caller consented to, and withdrawing.

Only the user's own (first-party) sessions manage this list: a token issued to an OAuth
application is refused with 403 ``insufficient_scope`` (``deps.first_party_or``), so no
application can see or withdraw the others.
"""

from __future__ import annotations

from fastapi import Request, Response

from ..schemas.connected_apps import ConnectedApp, ConnectedApps, Withdrawn
from ..services import consent
from ..services.image_store import image_url
from .deps import Ctx, FirstParty, client_address, user_agent
from .images import BaseUrl
from .text import server_router

router = server_router(prefix="/api/oauth/connected-apps", tags=["oauth"])

_NO_STORE = {"Cache-Control": "no-store"}


@router.get("")
def list_connected_apps(
    caller: FirstParty, ctx: Ctx, response: Response, base: BaseUrl
) -> ConnectedApps:
    """The applications the caller has consented to, most recently granted first.

    ``{success: true, data: [...]}`` (2.2.12 ``ListConnectedAppsResponse``).
    """
    user_id = caller.user_id
    with ctx.db.read() as db:
        rows = consent.connected_apps(db, user_id)
    response.headers.update(_NO_STORE)
    return ConnectedApps(data=[
        ConnectedApp(
            id=row.id, clientId=application.client_id, name=application.name,
            description=application.description,
            logoUrl=image_url(base, application.logo_url),
            scopes=row.scopes.split(), connectedAt=row.created_at, updatedAt=row.updated_at,
        )
        for row, application in rows
    ])


@router.delete("/{client_id}")
def withdraw(client_id: str, request: Request, caller: FirstParty, ctx: Ctx) -> Withdrawn:
    """Withdraw the consent to ``client_id`` and revoke its tokens for the caller (404 if none)."""
    user_id = caller.user_id
    with ctx.db.write() as db:
        consent.withdraw_consent(
            db, user_id, client_id, ctx.clock(), address=client_address(request),
            user_agent=user_agent(request),
        )
    return Withdrawn(message="Access withdrawn; the application's tokens have been revoked")
