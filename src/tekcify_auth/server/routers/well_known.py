"""Keys and discovery: the JWKS and the RFC 8414 / OpenID Connect metadata documents."""

from __future__ import annotations

from typing import Final

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ..services.discovery import metadata
from .deps import Ctx

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


def _metadata(request: Request, ctx: Ctx) -> JSONResponse:
    return JSONResponse(
        metadata(ctx.settings, str(request.base_url)),
        headers={"Cache-Control": f"public, max-age={METADATA_MAX_AGE}"},
    )


@router.get("/.well-known/oauth-authorization-server")
def authorization_server_metadata(request: Request, ctx: Ctx) -> JSONResponse:
    """RFC 8414 authorization server metadata."""
    return _metadata(request, ctx)


@router.get("/.well-known/openid-configuration")
def openid_configuration(request: Request, ctx: Ctx) -> JSONResponse:
    """The same document, where OpenID Connect clients look for it."""
    return _metadata(request, ctx)
