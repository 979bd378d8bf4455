"""Keys and discovery: the JWKS and the RFC 8414 / OpenID Connect metadata documents."""

from __future__ import annotations

from typing import Final

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from ..services.discovery import metadata
from .deps import Ctx
from .images import BaseUrl

router = APIRouter(tags=["discovery"])

#: Seconds clients may cache the JWKS: short, so a rotation reaches them soon (they also
#: refetch at once for a ``kid`` they do not know).
JWKS_MAX_AGE: Final = 300
#: Seconds clients may cache the metadata documents.
METADATA_MAX_AGE: Final = 3600


@router.get("/api/.well-known/jwks.json")
def jwks(ctx: Ctx) -> JSONResponse:
    """``{keys: [...]}``: the public keys whose tokens may be live (none with HS256)."""
    return JSONResponse(
        ctx.signer.jwks(), headers={"Cache-Control": f"public, max-age={JWKS_MAX_AGE}"}
    )


def _metadata(base: str, ctx: Ctx) -> JSONResponse:
    return JSONResponse(
        metadata(ctx.settings, base),
        headers={"Cache-Control": f"public, max-age={METADATA_MAX_AGE}"},
    )


@router.get("/.well-known/oauth-authorization-server")
def authorization_server_metadata(base: BaseUrl, ctx: Ctx) -> JSONResponse:
    """RFC 8414 authorization server metadata."""
    return _metadata(base, ctx)


@router.get("/.well-known/openid-configuration")
def openid_configuration(base: BaseUrl, ctx: Ctx) -> JSONResponse:
    """The same document, where OpenID Connect clients look for it."""
    return _metadata(base, ctx)
