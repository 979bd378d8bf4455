"""Keys and discovery: the JWKS and the RFC 8414 / OpenID Connect metadata documents.

Both are rendered to bytes once per distinct content (the published ``kid`` list; the
base URL) and served from there with an ``ETag``: a client revalidating with
``If-None-Match`` gets a 304 without a body. The routes are async: they read no
database, so they never take a worker thread.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Hashable
from typing import Any, Final

from fastapi import Request, Response

from ..services.discovery import metadata
from .deps import Ctx
from .images import BaseUrl, none_match
from .text import server_router

router = server_router(tags=["discovery"])

# TEKCIFY_JWKS_MAX_AGE: seconds clients may cache the JWKS; `keys rotate` publishes the
# next key that long (plus the reload interval) before it signs.

#: Seconds clients may cache the metadata documents.
METADATA_MAX_AGE: Final = 3600


class RenderedDocuments:
    """JSON documents rendered once per content key, with their ``ETag``.

    ``key`` must change whenever the document would: the published key ids (a
    rotation), the base URL. At most ``limit`` are kept (a few base URLs in practice).
    """

    def __init__(self, limit: int = 64) -> None:
        self._limit = limit
        self._documents: dict[Hashable, tuple[bytes, str]] = {}

    def get(self, key: Hashable, build: Callable[[], Any]) -> tuple[bytes, str]:
        """The bytes and ``ETag`` of the document for ``key`` (``build()`` the first time)."""
        found = self._documents.get(key)
        if found is None:
            body = json.dumps(
                build(), ensure_ascii=False, allow_nan=False, separators=(",", ":")
            ).encode()
            found = (body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')
            if len(self._documents) >= self._limit:
                self._documents.clear()
            self._documents[key] = found
        return found


def _documents(request: Request, name: str) -> RenderedDocuments:
    """The app's own :class:`RenderedDocuments` called ``name`` (made on first use)."""
    state = request.app.state
    documents: RenderedDocuments | None = getattr(state, name, None)
    if documents is None:
        documents = RenderedDocuments()
        setattr(state, name, documents)
    return documents


def _answer(request: Request, document: tuple[bytes, str], max_age: int) -> Response:
    body, etag = document
    headers = {"Cache-Control": f"public, max-age={max_age}", "ETag": etag}
    if none_match(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)


@router.get("/api/.well-known/jwks.json")
async def jwks(request: Request, ctx: Ctx) -> Response:
    """``{keys: [...]}``: the public keys whose tokens may be live (access tokens' and id
    tokens')."""
    document = ctx.jwks()
    key = tuple(str(entry.get("kid")) for entry in document["keys"])
    rendered = _documents(request, "rendered_jwks").get(key, lambda: document)
    return _answer(request, rendered, ctx.settings.jwks_max_age)


def _metadata(request: Request, base: str, ctx: Ctx) -> Response:
    alg = ctx.id_token_signer.algorithm
    document = _documents(request, "rendered_metadata").get(
        (base, alg), lambda: metadata(ctx.settings, base, alg)
    )
    return _answer(request, document, METADATA_MAX_AGE)


@router.get("/.well-known/oauth-authorization-server")
async def authorization_server_metadata(request: Request, base: BaseUrl, ctx: Ctx) -> Response:
    """RFC 8414 authorization server metadata."""
    return _metadata(request, base, ctx)


@router.get("/.well-known/openid-configuration")
async def openid_configuration(request: Request, base: BaseUrl, ctx: Ctx) -> Response:
    """The same document, where OpenID Connect clients look for it."""
    return _metadata(request, base, ctx)
