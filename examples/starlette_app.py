"""A Starlette service (or any ASGI app) behind ``AuthMiddleware``.

The middleware is pure ASGI: it answers refusals itself in the Express middleware's
shape (``{"statusCode": 401, "error": "Unauthorized", "message": ...}``) and hands the
user to the app at ``request.state.user``. With the auth server running (``make run``),
run it from the repository root on port 8002 (``PORT=...`` for another)::

    JWT_ACCESS_SECRET="$(cat .tekcify/jwt_access_secret)" python -m examples.starlette_app

Then, with a user's access token from the server (``ACCESS_TOKEN``)::

    curl http://127.0.0.1:8002/health                                         # public
    curl -H "Authorization: Bearer $ACCESS_TOKEN" http://127.0.0.1:8002/profile

The middleware asks the server (``$AUTH_SERVER_URL``, default http://localhost:7001) who
the token's user is (``AsyncServerUserInfo``): a deleted account gets 401 ``User not
found``.
"""

from __future__ import annotations

import os
import sys

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tekcify_auth import AsyncServerUserInfo, UserPayload
from tekcify_auth.starlette import AuthMiddleware

#: Where ``python -m examples.starlette_app`` listens unless ``PORT`` says otherwise.
DEFAULT_PORT = 8002
DEV_SECRET = "dev-secret-change-me"

# The auth server's JWT_ACCESS_SECRET; the default is for local development only.
JWT_ACCESS_SECRET = os.environ.get("JWT_ACCESS_SECRET") or DEV_SECRET
if JWT_ACCESS_SECRET == DEV_SECRET:
    print(
        "WARNING: JWT_ACCESS_SECRET is not set; using a development secret, so the auth "
        "server's tokens are refused. Set it to the server's JWT_ACCESS_SECRET (the server "
        "prints how when it starts).",
        file=sys.stderr,
    )


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
            get_user_info=AsyncServerUserInfo(ttl=60),  # or your own function of the user id
            exclude_paths=("/health",),
        )
    ],
)

if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=int(os.environ.get("PORT", DEFAULT_PORT)))
