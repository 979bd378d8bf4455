"""A Starlette service (or any ASGI app) behind ``AuthMiddleware``.

The middleware is pure ASGI: it answers refusals itself in the Express middleware's
shape (``{"statusCode": 401, "error": "Unauthorized", "message": ...}``) and hands the
user to the app at ``request.state.user``. Run it from the repository root::

    JWT_ACCESS_SECRET=... uvicorn examples.starlette_app:app --port 3001

Then::

    curl http://127.0.0.1:3001/health                                   # public
    curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:3001/profile
"""

from __future__ import annotations

import os
import sys
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tekcify_auth import UserPayload
from tekcify_auth.starlette import AuthMiddleware

DEV_SECRET = "dev-secret-change-me"

# The auth server's JWT_ACCESS_SECRET; the default is for local development only.
JWT_ACCESS_SECRET = os.environ.get("JWT_ACCESS_SECRET") or DEV_SECRET
if JWT_ACCESS_SECRET == DEV_SECRET:
    print(
        "WARNING: JWT_ACCESS_SECRET is not set; using a development secret. "
        "Set it to your Tekcify Auth server's JWT_ACCESS_SECRET.",
        file=sys.stderr,
    )

# Stands in for your user table.
USERS = {"user-1": {"email": "ada@example.com"}}


async def get_user_info(user_id: str) -> dict[str, Any] | None:
    """The user's details, or ``None`` for an unknown user (answered 401 User not found)."""
    return USERS.get(user_id)


async def health(request: Request) -> JSONResponse:
    """A public route (listed in ``exclude_paths``)."""
    return JSONResponse({"status": "ok"})


async def profile(request: Request) -> JSONResponse:
    """The authenticated user, as the Express example's ``req.user``."""
    user: UserPayload = request.state.user
    return JSONResponse(
        {"userId": user.user_id, "email": user.email, "scopes": list(user.scopes),
         "role": user.role}
    )


app = Starlette(
    routes=[Route("/health", health), Route("/profile", profile)],
    middleware=[
        Middleware(
            AuthMiddleware,
            secret=JWT_ACCESS_SECRET,
            get_user_info=get_user_info,
            exclude_paths=("/health",),
        )
    ],
)
