"""The one check every JSON request body passes: no lone UTF-16 surrogates.

JSON may spell half of a surrogate pair on its own (``"\\ud800"``); Python's ``json``
decodes it into a string that is not Unicode text, and UTF-8 cannot encode it: left
alone it reaches a hash, a database bind or an error message that echoes it, and the
answer is a 500. I-JSON (RFC 7493 §2.1) forbids such strings, so the server refuses
them in one place, before any route reads the body: :func:`refuse_lone_surrogates` is
a dependency of every route (the server's routers are made by :func:`server_router`,
the app's own routes get it from ``create_app``), and it raises the request-validation
error every route already renders in its own shape: ``invalid_request`` on the OAuth
protocol endpoints (``OAuthRoute``), the API's 400 elsewhere, naming the field.

Form bodies need no such check: their percent-escapes are decoded as UTF-8, which
refuses encoded surrogates (``%ED%A0%80``): strictly by the protocol endpoints' parser
(``invalid_request``), by replacement (U+FFFD) on the pages.
"""

from __future__ import annotations

import json
from typing import Any, Final

from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError

from ..services.text import lone_surrogate_path

__all__ = ["NOT_TEXT", "refuse_lone_surrogates", "server_router"]

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


def server_router(**options: Any) -> APIRouter:
    """An ``APIRouter`` (``options`` as its own) whose every route refuses lone surrogates.

    ``create_app`` adds these routers' routes to the app as they are rather than through
    ``include_router``: FastAPI builds an included route's request handler again for
    every app, at its first request (0.27 s for the server's routes, paid by every test
    that starts an app), while a route made here is built once per process. A route
    added so gets the app's dependencies (and ``app.dependency_overrides``) no more, so
    the check comes from the router: ``create_app`` refuses a route without it.
    """
    dependencies = [Depends(refuse_lone_surrogates), *options.pop("dependencies", [])]
    return APIRouter(dependencies=dependencies, **options)
