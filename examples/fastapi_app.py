"""The NestJS example of ``@tekcify/auth-backend``'s README, in FastAPI.

``JwtAuthGuard`` plays the NestJS guard: on a router it is ``@UseGuards(JwtAuthGuard)``
on a controller, and ``CurrentUser`` is ``@Request() req`` / ``req.user``. Run it from
the repository root::

    JWT_ACCESS_SECRET=... uvicorn examples.fastapi_app:app --port 7001
    # or: make run

Then::

    curl http://127.0.0.1:7001/health                                  # public
    curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:7001/profile
    curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:7001/orders  # read:orders

or open http://127.0.0.1:7001/docs, press "Authorize" and paste the token. A token for
trying it: ``python -c "from tekcify_auth.testing import mint_access_token;
print(mint_access_token('user-1', secret='dev-secret-change-me', scopes=['read:orders']))"``.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from fastapi import APIRouter, Depends, FastAPI
from pydantic import BaseModel

from tekcify_auth.fastapi import CurrentUser, JwtAuthGuard, require_scopes

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


guard = JwtAuthGuard(secret=JWT_ACCESS_SECRET, get_user_info=get_user_info)


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
