"""``/api/user``: the caller's profile, picture, data export and account deletion.

Scopes: reading the profile needs ``read:profile``, changing it or the picture
``write:profile`` (a first-party login has both). The data export and the account
deletion are for the user's own first-party session only: a token issued to a
third-party application (one with a ``clientId``) gets 403 whatever its scopes. Each
route declares its rule through ``deps.first_party_or``.
"""

from __future__ import annotations

from typing import Any, Final

import anyio.to_thread
from fastapi import Request
from fastapi.responses import JSONResponse

from ..schemas.auth import UserProfile
from ..schemas.base import Message
from ..schemas.user import AvatarResponse, DeleteAccountRequest, ProfileUpdate
from ..services import profile
from ..services.accounts import Client
from ..services.image_store import image_url
from .auth import profile as user_profile
from .deps import Ctx, FirstParty, ProfileReader, ProfileWriter, client_address, user_agent
from .images import UPLOAD_OPENAPI, BaseUrl, Processor, read_upload
from .text import server_router

router = server_router(prefix="/api/user", tags=["user"])

_NO_STORE: Final = {"Cache-Control": "no-store"}
_COLUMNS: Final = {"firstName": "first_name", "lastName": "last_name"}


@router.get("/profile")
def get_profile(caller: ProfileReader, ctx: Ctx, base: BaseUrl) -> UserProfile:
    """The caller's ``UserProfile``."""
    with ctx.db.read() as db:
        return user_profile(profile.get_user(db, caller.user_id), base)


@router.put("/profile")
def update_profile(
    body: ProfileUpdate, caller: ProfileWriter, ctx: Ctx, base: BaseUrl
) -> UserProfile:
    """Change ``firstName`` and/or ``lastName``; fields left out stay as they are."""
    changes = {_COLUMNS[field]: getattr(body, field) for field in body.model_fields_set}
    with ctx.db.write() as db:
        updated = profile.update_profile(db, caller.user_id, changes, ctx.clock())
        return user_profile(updated, base)


@router.post("/profile/picture", openapi_extra=UPLOAD_OPENAPI)
async def upload_picture(
    request: Request, caller: ProfileWriter, ctx: Ctx, processor: Processor, base: BaseUrl
) -> AvatarResponse:
    """Replace the caller's picture (``multipart/form-data``, field ``file``).

    PNG, JPEG, WebP or GIF, at most 5 MiB and 4096x4096; stored re-encoded. 400 for
    anything else, 413 when too large.
    """
    upload = await read_upload(request)
    processed = await processor.aprocess(
        upload.data, filename=upload.filename, content_type=upload.content_type
    )

    def save() -> str:
        with ctx.db.write() as db:
            return profile.set_avatar(db, caller.user_id, processed, now=ctx.clock())

    path = await anyio.to_thread.run_sync(save)
    return AvatarResponse(avatarUrl=image_url(base, path) or "")


@router.get("/export-data")
def export_data(caller: FirstParty, ctx: Ctx, base: BaseUrl) -> JSONResponse:
    """Every record the server holds on the caller, as one JSON document."""
    with ctx.db.read() as db:
        data: dict[str, Any] = profile.export_data(
            db, caller.user_id, ctx.clock(), base_url=base
        )
    return JSONResponse(
        data,
        headers={
            **_NO_STORE,
            "Content-Disposition": 'attachment; filename="tekcify-data-export.json"',
        },
    )


@router.delete("/account")
def delete_account(
    body: DeleteAccountRequest, request: Request, caller: FirstParty, ctx: Ctx
) -> Message:
    """Delete the caller's account and everything it owns, after checking the password
    or a sensitive-action token (action ``delete_account``): exactly one of the two.

    ``confirmDelete``, when sent, must be true; ``mfaCode`` (TOTP or backup code) is
    required while MFA is on.
    """
    profile.delete_account(
        ctx, user_id=caller.user_id, password=body.password,
        sensitive_action_token=body.sensitiveActionToken, mfa_code=body.mfaCode,
        client=Client(address=client_address(request), user_agent=user_agent(request)),
    )
    return Message(message="Your account and all its data have been deleted")
