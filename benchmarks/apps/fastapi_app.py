"""FastAPI variants of ``GET /hello`` for guard.py; each factory builds one app.

The secret comes from ``BENCH_SECRET``, set by guard.py for the server process.
"""

from __future__ import annotations

import os
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.security import HTTPBearer


async def hello() -> dict[str, str]:
    return {"message": "hello"}


def _app(dependencies: list[Any]) -> FastAPI:
    app = FastAPI()
    app.get("/hello", dependencies=dependencies)(hello)
    return app


def plain() -> FastAPI:
    """No authentication at all: the baseline."""
    return _app([])


def bearer() -> FastAPI:
    """FastAPI's own ``HTTPBearer`` dependency and nothing else: the plumbing's cost."""
    return _app([Depends(HTTPBearer())])


def guarded() -> FastAPI:
    """``JwtAuthGuard`` as a route dependency, as the README shows it."""
    from tekcify_auth.fastapi import JwtAuthGuard

    guard = JwtAuthGuard(secret=os.environ["BENCH_SECRET"])
    return _app([Depends(guard)])
