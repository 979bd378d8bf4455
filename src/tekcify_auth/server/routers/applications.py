"""``/api/applications``: the caller's OAuth clients, and the public lookup of one.

Managing applications takes the account holder's own first-party session: a token
issued to a third-party application (one with a ``clientId``) gets 403
``insufficient_scope`` whatever its scopes (``deps.first_party_or``), since a consent to
read a profile must not let an app register clients or read secrets. An application
someone else owns answers 404 on every route, as one that does not exist
(``http-api.md``, Conventions).
"""

from __future__ import annotations

from typing import Annotated, Any, Final

import anyio.to_thread
from fastapi import Query, Request, Response

from ..db.applications import Application
from ..errors import ApiError
from ..schemas.applications import (
    ApplicationList,
    ApplicationResponse,
    ApplicationStats,
    CreateApplicationRequest,
    CreatedApplication,
    LogoResponse,
    Pagination,
    PublicApplication,
    RegeneratedSecret,
    UpdateApplicationRequest,
)
from ..schemas.base import Message
from ..services import applications
from ..services.image_store import image_url
from .deps import Ctx, FirstParty, client_address, user_agent
from .images import UPLOAD_OPENAPI, BaseUrl, Processor, read_upload
from .text import server_router

router = server_router(prefix="/api/applications", tags=["applications"])

MAX_LIMIT: Final = 100
DEFAULT_LIMIT: Final = 20
# Far past any real list; keeps OFFSET within every database's integer range.
MAX_PAGE: Final = 1_000_000

_NO_STORE: Final = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_FIELDS: Final = {
    "name": "name", "description": "description", "redirectUris": "redirect_uris",
    "authorizedOrigins": "authorized_origins", "scopes": "scopes",
    "primaryColor": "primary_color", "isActive": "is_active",
    "postLogoutRedirectUris": "post_logout_redirect_uris",
}


def _fields(application: Application, base_url: str) -> dict[str, Any]:
    return {
        "clientId": application.client_id, "name": application.name,
        "description": application.description,
        "logoUrl": image_url(base_url, application.logo_url),
        "redirectUris": application.redirect_uris,
        "authorizedOrigins": application.authorized_origins, "scopes": application.scopes,
        "primaryColor": application.primary_color,
        "tokenEndpointAuthMethod": (
            "none" if application.client_secret_hash is None else "client_secret_basic"
        ),
    }


def _public(application: Application, base_url: str) -> PublicApplication:
    return PublicApplication(
        **_fields(application, base_url),
        clientIdObfuscated=applications.obfuscate_client_id(application.client_id),
    )


def _owned(application: Application, base_url: str) -> ApplicationResponse:
    return ApplicationResponse(
        **_fields(application, base_url),
        isActive=application.is_active,
        createdAt=application.created_at, updatedAt=application.updated_at,
        postLogoutRedirectUris=application.post_logout_redirect_uris,
    )


@router.get("")
def list_applications(
    response: Response,
    caller: FirstParty,
    ctx: Ctx,
    base: BaseUrl,
    page: Annotated[int | None, Query(ge=1, le=MAX_PAGE)] = None,
    limit: Annotated[int | None, Query(ge=1, le=MAX_LIMIT)] = None,
) -> list[ApplicationResponse] | ApplicationList:
    """The caller's applications, newest first: page ``page`` of ``limit`` (at most 100).

    Without ``page`` and ``limit`` (the 2.0.4 client): a bare array of the first
    ``limit`` (20), the total in ``X-Total-Count``. With either (2.2.12): the envelope
    ``{success, stats: {total, active, inactive}, data, pagination: {page, limit, total,
    totalPages}}``, and ``X-Total-Count`` too.
    """
    owner_id = caller.user_id
    envelope = page is not None or limit is not None
    page = page or 1
    limit = limit or DEFAULT_LIMIT
    with ctx.db.read() as db:
        rows, stats = applications.list_applications(db, owner_id, page=page, limit=limit)
        data = [_owned(row, base) for row in rows]
    response.headers["X-Total-Count"] = str(stats.total)
    if not envelope:
        return data
    return ApplicationList(
        stats=ApplicationStats(total=stats.total, active=stats.active, inactive=stats.inactive),
        data=data,
        pagination=Pagination(
            page=page, limit=limit, total=stats.total, totalPages=-(-stats.total // limit),
        ),
    )


@router.post("", status_code=201)
def create_application(
    body: CreateApplicationRequest, request: Request, response: Response, caller: FirstParty,
    ctx: Ctx, base: BaseUrl,
) -> CreatedApplication | ApplicationResponse:
    """Register an application; its ``clientSecret`` is in this answer and never again.

    ``tokenEndpointAuthMethod: "none"`` registers a public client: no secret, so the
    answer has no ``clientSecret``.
    """
    owner_id = caller.user_id
    scopes = applications.check_scopes(body.scopes, ctx.settings.scopes)
    with ctx.db.write() as db:
        application, secret = applications.create_application(
            db, owner_id=owner_id, name=body.name, description=body.description,
            redirect_uris=body.redirectUris, authorized_origins=body.authorizedOrigins or [],
            scopes=scopes, now=ctx.clock(), primary_color=body.primaryColor,
            confidential=body.confidential,
            post_logout_redirect_uris=body.postLogoutRedirectUris or [],
            address=client_address(request),
            user_agent=user_agent(request),
        )
        created = _owned(application, base)
    response.headers.update(_NO_STORE)
    if secret is None:
        return created
    return CreatedApplication(**created.model_dump(), clientSecret=secret)


@router.get("/public/{client_id}")
def get_public_application(client_id: str, ctx: Ctx, base: BaseUrl) -> PublicApplication:
    """Any usable application's public face (no authentication): no timestamps, no
    secret; an inactive or suspended one is a 404."""
    with ctx.db.read() as db:
        application = applications.find_application(db, client_id)
        if application is None:
            raise ApiError(404, applications.NOT_FOUND)
        return _public(application, base)


@router.put("/{client_id}")
def update_application(
    client_id: str, body: UpdateApplicationRequest, caller: FirstParty, ctx: Ctx
) -> Message:
    """Change any of the create fields, or ``isActive``; those left out stay as they are."""
    owner_id = caller.user_id
    if body.scopes is not None:
        applications.check_scopes(body.scopes, ctx.settings.scopes)
    changes = applications.Changes(
        fields=frozenset(_FIELDS[name] for name in body.model_fields_set),
        name=body.name, description=body.description,
        redirect_uris=body.redirectUris or (), authorized_origins=body.authorizedOrigins or (),
        scopes=body.scopes or (), primary_color=body.primaryColor,
        is_active=body.isActive if body.isActive is not None else True,
        post_logout_redirect_uris=body.postLogoutRedirectUris or (),
    )
    with ctx.db.write() as db:
        applications.update_application(db, owner_id, client_id, changes, ctx.clock())
    return Message(message="Application updated")


@router.delete("/{client_id}")
def delete_application(
    client_id: str, request: Request, caller: FirstParty, ctx: Ctx
) -> Message:
    """Delete the application; every token issued to it is revoked."""
    owner_id = caller.user_id
    with ctx.db.write() as db:
        applications.delete_application(
            db, owner_id, client_id, ctx.clock(), address=client_address(request),
            user_agent=user_agent(request),
        )
    return Message(message="Application deleted; its tokens have been revoked")


@router.post("/{client_id}/logo", openapi_extra=UPLOAD_OPENAPI)
async def upload_logo(
    client_id: str, request: Request, caller: FirstParty, ctx: Ctx, processor: Processor,
    base: BaseUrl,
) -> LogoResponse:
    """Replace the application's logo (``multipart/form-data``, field ``file``).

    PNG, JPEG, WebP or GIF, at most 5 MiB and 4096x4096; stored re-encoded. 400 for
    anything else, 413 when too large.
    """
    owner_id = caller.user_id

    def check_owner() -> None:
        with ctx.db.read() as db:
            applications.owned_application(db, owner_id, client_id)

    # Someone else's application is a 404 before the upload is even read.
    await anyio.to_thread.run_sync(check_owner)
    upload = await read_upload(request)
    processed = await processor.aprocess(
        upload.data, filename=upload.filename, content_type=upload.content_type
    )

    def save() -> str:
        with ctx.db.write() as db:
            return applications.set_logo(db, owner_id, client_id, processed, now=ctx.clock())

    path = await anyio.to_thread.run_sync(save)
    return LogoResponse(logoUrl=image_url(base, path) or "")


@router.post("/{client_id}/regenerate-secret")
def regenerate_secret(
    client_id: str, request: Request, response: Response, caller: FirstParty, ctx: Ctx
) -> RegeneratedSecret:
    """A new client secret, shown this once; the old one stops working at once."""
    owner_id = caller.user_id
    with ctx.db.write() as db:
        secret = applications.regenerate_secret(
            db, owner_id, client_id, ctx.clock(), address=client_address(request),
            user_agent=user_agent(request),
        )
    response.headers.update(_NO_STORE)
    return RegeneratedSecret(
        clientId=client_id, clientSecret=secret,
        message="Client secret regenerated; the previous secret no longer works",
    )
