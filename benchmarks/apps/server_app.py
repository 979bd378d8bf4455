"""The Tekcify Auth server with a bare FastAPI endpoint beside it, for server.py.

``GET /bench/bare`` (``{"ok": true}``) is served by a separate, empty FastAPI app in the
same process, under the same uvicorn: the baseline the server's endpoints are compared
with. Every other request, and the lifespan, go to the server exactly as
``create_app(settings)`` builds it (middleware included), with its settings from the
environment as ``tekcify-auth serve`` reads them. The product has no such route.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from tekcify_auth.server import create_app, load_settings

BARE_PATH = "/bench/bare"


async def bare() -> dict[str, bool]:
    return {"ok": True}


def app() -> ASGIApp:
    """The server and the bare endpoint, split on the path (for ``uvicorn --factory``)."""
    # The server's access log is one INFO line per request (tekcify-auth serve always
    # prints it); here it stays below the level logged, so no line is built or written.
    logging.getLogger("tekcify_auth.server.access").setLevel(logging.WARNING)
    server = create_app(load_settings())
    baseline = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    baseline.get(BARE_PATH)(bare)

    async def split(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == BARE_PATH:
            await baseline(scope, receive, send)
        else:
            await server(scope, receive, send)

    return split
