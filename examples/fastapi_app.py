"""The NestJS example of ``@tekcify/auth-backend``'s README, in FastAPI.

``JwtAuthGuard`` plays the NestJS guard: on a router it is ``@UseGuards(JwtAuthGuard)``
on a controller, and ``CurrentUser`` is ``@Request() req`` / ``req.user``. With the auth
server running (``make run``, http://localhost:7001), run it from the repository root on
port 8000 (``PORT=...`` for another)::

    JWT_ACCESS_SECRET="$(cat .tekcify/jwt_access_secret)" python -m examples.fastapi_app

Then, with a user's access token from the server (``ACCESS_TOKEN``: the README's curl
block logs in and sets it)::

    curl http://127.0.0.1:8000/health                                        # public
    curl -H "Authorization: Bearer $ACCESS_TOKEN" http://127.0.0.1:8000/profile
    curl -H "Authorization: Bearer $ACCESS_TOKEN" http://127.0.0.1:8000/orders  # read:orders

or open http://127.0.0.1:8000/docs, press "Authorize" and paste the token. The guard
asks the server who the token's user is (``AsyncServerUserInfo``, at
``$AUTH_SERVER_URL``, default http://localhost:7001): a user the server no longer knows
(a deleted account) gets 401 ``User not found``. ``/orders`` needs the ``read:orders``
scope, which only an application's token can carry (the server lists it in
``TEKCIFY_EXTRA_SCOPES``); a first-party login gets 403 there.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from fastapi import APIRouter, Depends, FastAPI
from pydantic import BaseModel

from tekcify_auth import AsyncServerUserInfo
from tekcify_auth.fastapi import CurrentUser, JwtAuthGuard, require_scopes

#: Where ``python -m examples.fastapi_app`` listens unless ``PORT`` says otherwise.
DEFAULT_PORT = 8000
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

# Who the token's user is, asked of the auth server (cached per user for 60 s); your own
# user table would do as well: any function of the user id returning a dict, or None
# for "401 User not found".
guard = JwtAuthGuard(secret=JWT_ACCESS_SECRET, get_user_info=AsyncServerUserInfo(ttl=60))


class Profile(BaseModel):
    """The authenticated user, with the Node package's field names."""

    userId: str
    email: str | None
    scopes: list[str]
    role: str | None


class Orders(BaseModel):
    """The user's orders."""

    userId: str
    orders: list[dict[str, Any]]


app = FastAPI(title="Tekcify Auth: FastAPI example")
# Every route of this router needs a token, as @UseGuards(JwtAuthGuard) on a controller.
protected = APIRouter(dependencies=[Depends(guard)])


@app.get("/health")
async def health() -> dict[str, str]:
    """A public route."""
    return {"status": "ok"}


@protected.get("/profile")
async def profile(user: CurrentUser) -> Profile:
    """The authenticated user, as the NestJS example's ``req.user``."""
    return Profile(userId=user.user_id, email=user.email, scopes=list(user.scopes), role=user.role)


@protected.get("/orders", dependencies=[Depends(require_scopes("read:orders"))])
async def orders(user: CurrentUser) -> Orders:
    """A route that also needs the ``read:orders`` scope (else 403 insufficient_scope)."""
    return Orders(userId=user.user_id, orders=[])


app.include_router(protected)

if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=int(os.environ.get("PORT", DEFAULT_PORT)))
