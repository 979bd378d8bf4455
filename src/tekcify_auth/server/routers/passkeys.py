"""``/api/auth/passkey*``: register, list, rename and remove passkeys, and sign in with one.

The management routes are for the account holder's own (first-party) session only
(``deps.FirstParty``); the sign-in routes take no token. The rules are in
``services/passkeys.py``; the relying party is the server's public URL.
"""

from __future__ import annotations

from typing import Final

from fastapi import Request, Response

from ..db.passkeys import Passkey
from ..schemas.auth import TokenResponse
from ..schemas.base import Message
from ..schemas.passkeys import (
    PasskeyLoginOptionsRequest,
    PasskeyLoginRequest,
    PasskeyOptions,
    PasskeyOut,
    RegisterPasskeyRequest,
    RenamePasskeyRequest,
)
from ..services import passkeys
from ..services.accounts import Client
from .deps import Ctx, FirstParty, client_address, user_agent
from .images import BaseUrl
from .text import server_router

router = server_router(prefix="/api/auth/passkey", tags=["passkeys"])

_NO_STORE: Final = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _client(request: Request) -> Client:
    return Client(address=client_address(request), user_agent=user_agent(request))


def passkey_out(row: Passkey) -> PasskeyOut:
    """The ``Passkey`` of a stored row."""
    return PasskeyOut(
        id=row.id, credentialId=row.credential_id, name=row.name, createdAt=row.created_at,
        lastUsedAt=row.last_used_at,
    )


@router.post("/register/options")
def registration_options(
    caller: FirstParty, ctx: Ctx, base: BaseUrl, response: Response
) -> PasskeyOptions:
    """Options for ``navigator.credentials.create`` and their challenge (5 minutes, once)."""
    found = passkeys.registration_options(
        ctx, caller.user_id, passkeys.RelyingParty.of(base)
    )
    response.headers.update(_NO_STORE)
    return PasskeyOptions.model_validate(found)


@router.post("/register")
def register(
    body: RegisterPasskeyRequest, request: Request, caller: FirstParty, ctx: Ctx, base: BaseUrl
) -> PasskeyOut:
    """Verify the new credential against its challenge and keep it: the ``Passkey``."""
    row = passkeys.register(
        ctx, caller.user_id, credential=body.credential, challenge=body.challenge,
        name=body.name, rp=passkeys.RelyingParty.of(base), client=_client(request),
    )
    return passkey_out(row)


@router.get("")
def list_passkeys(caller: FirstParty, ctx: Ctx, response: Response) -> list[PasskeyOut]:
    """The caller's passkeys, oldest first."""
    with ctx.db.read() as db:
        rows = passkeys.list_passkeys(db, caller.user_id)
        found = [passkey_out(row) for row in rows]
    response.headers.update(_NO_STORE)
    return found


@router.delete("/{credential_id}")
def delete_passkey(
    credential_id: str, request: Request, caller: FirstParty, ctx: Ctx
) -> Message:
    """Remove a passkey (404 when not the caller's; 409 when it is their last way in)."""
    passkeys.delete_passkey(ctx, caller.user_id, credential_id, _client(request))
    return Message(message="Passkey removed")


@router.put("/{credential_id}/rename")
def rename_passkey(
    credential_id: str, body: RenamePasskeyRequest, request: Request, caller: FirstParty,
    ctx: Ctx,
) -> PasskeyOut:
    """Rename a passkey: the ``Passkey`` (404 when not the caller's)."""
    row = passkeys.rename_passkey(ctx, caller.user_id, credential_id, body.name, _client(request))
    return passkey_out(row)


@router.post("/login/options")
def login_options(
    ctx: Ctx, base: BaseUrl, response: Response, body: PasskeyLoginOptionsRequest | None = None
) -> PasskeyOptions:
    """Options for ``navigator.credentials.get`` (discoverable credentials, user
    verification required) and their challenge (5 minutes, once); with ``{mfaToken}``, for
    the second factor of that password sign-in (the user's passkeys only)."""
    found = passkeys.login_options(
        ctx, passkeys.RelyingParty.of(base), mfa_token=body.mfaToken if body else None
    )
    response.headers.update(_NO_STORE)
    return PasskeyOptions.model_validate(found)


@router.post("/login")
def login(
    body: PasskeyLoginRequest, request: Request, response: Response, ctx: Ctx, base: BaseUrl
) -> TokenResponse:
    """Sign in with a passkey: the token pair of ``/api/auth/login`` (``amr: ["hwk","user"]``);
    with ``mfaToken``, the second factor of that password sign-in (``["pwd","hwk","user"]``)."""
    pair = passkeys.login(
        ctx, credential=body.credential, challenge=body.challenge,
        rp=passkeys.RelyingParty.of(base), client=_client(request), mfa_token=body.mfaToken,
    )
    response.headers.update(_NO_STORE)
    return TokenResponse(
        accessToken=pair.access_token, refreshToken=pair.refresh_token, expiresIn=pair.expires_in
    )
