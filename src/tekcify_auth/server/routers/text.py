"""The one check every JSON request body passes: no lone UTF-16 surrogates.

JSON may spell half of a surrogate pair on its own (``"\\ud800"``); Python's ``json``
decodes it into a string that is not Unicode text, and UTF-8 cannot encode it: left
alone it reaches a hash, a database bind or an error message that echoes it, and the
answer is a 500. I-JSON (RFC 7493 §2.1) forbids such strings, so the server refuses
them in one place, before any route reads the body: :func:`refuse_lone_surrogates` is
a dependency of the whole app (``create_app``), and it raises the request-validation
error every route already renders in its own shape: ``invalid_request`` on the OAuth
protocol endpoints (``OAuthRoute``), the API's 400 elsewhere, naming the field.

Form bodies need no such check: their percent-escapes are decoded as UTF-8, which
refuses encoded surrogates (``%ED%A0%80``): strictly by the protocol endpoints' parser
(``invalid_request``), by replacement (U+FFFD) on the pages.
"""

from __future__ import annotations

import json
from typing import Final

from fastapi import Request
from fastapi.exceptions import RequestValidationError

from ..services.text import lone_surrogate_path

__all__ = ["NOT_TEXT", "refuse_lone_surrogates"]

#: What the 400 says of the field.
NOT_TEXT: Final = (
    "must be Unicode text: it holds a lone UTF-16 surrogate (\\ud800-\\udfff without "
    "its other half)"
)


def _json_media(content_type: str | None) -> bool:
    # No Content-Type at all is read as JSON by FastAPI, so it is checked too.
    media = (content_type or "application/json").split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


async def refuse_lone_surrogates(request: Request) -> None:
    """Raise a request-validation error naming the first key or string of the JSON body
    that holds a lone surrogate; return for any other body (the route judges it)."""
    headers = request.headers
    if "content-length" not in headers and "transfer-encoding" not in headers:
        return  # no body (a GET): nothing to read
    if not _json_media(headers.get("content-type")):
        return
    body = await request.body()  # cached: the route reads the same bytes
    if b"\\u" not in body:  # a surrogate can only arrive as an escape (UTF-8 refuses one)
        return
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return  # malformed: the route's own parsing says so
    path = lone_surrogate_path(data)
    if path is None:
        return
    raise RequestValidationError(
        [{"type": "string_unicode", "loc": ("body", *path), "msg": NOT_TEXT, "input": None}]
    )
