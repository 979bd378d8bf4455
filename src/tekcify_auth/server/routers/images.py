"""``GET /api/images/{id}.{ext}``: stored avatars and logos, public; and upload helpers.

Images are public (no token): their URLs end up in ``<img>`` tags of other sites and
in e-mails. Each answer is locked down so that the bytes can only ever be an image:
``X-Content-Type-Options: nosniff`` (no MIME sniffing into HTML) and
``Content-Security-Policy: default-src 'none'; sandbox`` (opened as a document, it
runs nothing and has no origin). A stored image never changes (a new upload is a new
URL), so the ETag is strong and the answer ``immutable``.

:func:`read_upload` and :data:`Processor` are shared by the upload routes (avatar,
application logo).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Final

from fastapi import Depends, Request, Response
from starlette.datastructures import UploadFile

from ..canonical import Canonical
from ..errors import ApiError
from ..services.image_store import (
    IMAGE_PATH,
    ImageMeta,
    image_data,
    image_meta,
)
from ..services.images import ImageProcessor
from .deps import Ctx
from .text import server_router

__all__ = [
    "BaseUrl", "Processor", "Upload", "base_url_of", "get_base_url", "get_canonical",
    "get_processor", "none_match", "read_upload", "router",
]

router = server_router(prefix=IMAGE_PATH, tags=["images"])

# A day, not a year: a deleted image (account deleted, avatar replaced) should leave
# shared caches soon; after that, revalidation is a cheap 304 that reads no bytes.
MAX_AGE: Final = 86_400

_NAME: Final = re.compile(
    r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.(png|jpg)"
)
# RFC 9110 §8.8.3: entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE
_ENTITY_TAG: Final = re.compile(r'(?:W/)?("[^"]*")')
_NOT_FOUND: Final = "Image not found"
_FIELD: Final = "file"


def _headers(meta: ImageMeta) -> dict[str, str]:
    return {
        "ETag": meta.etag,
        "Cache-Control": f"public, max-age={MAX_AGE}, immutable",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        # Avatars and logos are meant to be embedded by other sites, even isolated ones.
        "Cross-Origin-Resource-Policy": "cross-origin",
    }


def none_match(header: str | None, etag: str) -> bool:
    """Whether ``If-None-Match`` matches ``etag`` (weak comparison, RFC 9110 §13.1.2)."""
    if header is None:
        return False
    if header.strip() == "*":
        return True
    return etag in _ENTITY_TAG.findall(header)


@router.get(
    "/{name}",
    response_class=Response,
    responses={
        200: {"content": {"image/png": {}, "image/jpeg": {}}, "description": "The image"},
        304: {"description": "Not modified (If-None-Match)"},
        404: {"description": "No such image"},
    },
)
def get_image(name: str, request: Request, ctx: Ctx) -> Response:
    """An avatar or logo, as stored (PNG or JPEG); public, cacheable, never sniffed."""
    found = _NAME.fullmatch(name)
    if found is None:
        raise ApiError(404, _NOT_FOUND)
    image_id, extension = found.groups()
    with ctx.db.read() as db:
        meta = image_meta(db, image_id)
        if meta is None or meta.extension != extension:
            raise ApiError(404, _NOT_FOUND)
        headers = _headers(meta)
        if none_match(request.headers.get("if-none-match"), meta.etag):
            return Response(status_code=304, headers=headers)
        data = image_data(db, image_id)
    if data is None:  # deleted between the two reads
        raise ApiError(404, _NOT_FOUND)
    return Response(data, media_type=meta.media_type, headers=headers)


# ------------------------------------------------------------------------- uploads


def get_canonical(request: Request) -> Canonical:
    """The server's :class:`~..canonical.Canonical` (one per app)."""
    canonical: Canonical = request.app.state.canonical
    return canonical


# The two dependencies below are async: FastAPI runs a plain `def` dependency in a
# worker thread, a hop per request (UserInfo's) for an attribute lookup.
async def get_base_url(request: Request) -> str:
    """The base of the URLs in this answer (image links, discovery): ``TEKCIFY_PUBLIC_URL``,
    the canonical URL for its aliases, or the request's own base URL (``canonical.py``).
    It is also the OpenID Connect issuer (discovery's ``issuer``, RFC 9207 ``iss``, the
    id tokens' ``iss``)."""
    return base_url_of(request)


def base_url_of(request: Request) -> str:
    """:func:`get_base_url` for code that has the request at hand."""
    return get_canonical(request).base_url(
        request.headers.get("host"), request.url.scheme, str(request.base_url)
    )


#: What stored image paths are made absolute under (``image_store.image_url``).
BaseUrl = Annotated[str, Depends(get_base_url)]


async def get_processor(request: Request) -> ImageProcessor:
    """The server's :class:`ImageProcessor` (one per app, bounded worker threads)."""
    processor: ImageProcessor = request.app.state.image_processor
    return processor


Processor = Annotated[ImageProcessor, Depends(get_processor)]


@dataclass(frozen=True, slots=True)
class Upload:
    """The uploaded file: its bytes, and the name and type the client declared."""

    data: bytes
    filename: str | None
    content_type: str | None


#: OpenAPI for an upload route (the body is read by :func:`read_upload`, after the
#: caller is authenticated, so it is not a FastAPI ``File`` parameter).
UPLOAD_OPENAPI: Final = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": [_FIELD],
                    "properties": {_FIELD: {"type": "string", "format": "binary"}},
                }
            }
        },
    }
}


async def read_upload(request: Request) -> Upload:
    """The file of the ``multipart/form-data`` field ``file``; 400 when there is none.

    Call it once the caller is authenticated: the body is only read then. Its size is
    bounded by ``BodyLimitMiddleware`` (see ``image_store.upload_limit_for``).
    """
    content_type = request.headers.get("content-type", "")
    if content_type.split(";", 1)[0].strip().lower() != "multipart/form-data":
        raise ApiError(400, "Send the image as multipart/form-data, in a field named file")
    async with request.form(max_files=1, max_fields=10) as form:
        item = form.get(_FIELD)
        if item is None:
            raise ApiError(400, "Missing field: file")
        if not isinstance(item, UploadFile):
            raise ApiError(400, "The field file must be a file, not text")
        data = await item.read()
        return Upload(data=data, filename=item.filename, content_type=item.content_type)
