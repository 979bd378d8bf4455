"""Starlette variants of ``GET /hello`` for guard.py; each factory builds one app.

The secret comes from ``BENCH_SECRET``, set by guard.py for the server process.
"""

from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def hello(request: Request) -> JSONResponse:
    return JSONResponse({"message": "hello"})


def plain() -> Starlette:
    """No authentication at all: the baseline."""
    return Starlette(routes=[Route("/hello", hello)])


def guarded() -> Starlette:
    """``AuthMiddleware`` added app-wide, as the README shows it."""
    from tekcify_auth.starlette import AuthMiddleware

    app = plain()
    app.add_middleware(AuthMiddleware, secret=os.environ["BENCH_SECRET"])
    return app
