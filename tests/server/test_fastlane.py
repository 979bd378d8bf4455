"""The fast lane (server/fastlane.py) serves exactly what FastAPI would serve.

Each fast route must be a FastAPI route with the same endpoint, whose dependencies are
exactly those the fast lane resolves by hand: a dependency added to one of those routes
(a new check) fails here instead of being skipped on the hot path.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from tekcify_auth.server import create_app
from tekcify_auth.server.fastlane import FAST_ROUTES, FastRoute

from .conftest import api_routes, bearer, dependency_calls, make_settings, signed_up

JWKS = "/api/.well-known/jwks.json"
OIDC = "/.well-known/openid-configuration"


def _route(app: FastAPI, fast: FastRoute) -> APIRoute:
    for route in api_routes(app):
        if route.path == fast.path and fast.method in (route.methods or ()):
            return route
    raise AssertionError(f"{fast.method} {fast.path} is not a FastAPI route")


@pytest.mark.parametrize("fast", FAST_ROUTES, ids=lambda r: f"{r.method} {r.path}")
def test_each_fast_route_resolves_every_dependency_of_its_fastapi_route(
    fast: FastRoute, tmp_path: Any
) -> None:
    app = create_app(make_settings(data_dir=tmp_path))
    route = _route(app, fast)
    assert route.endpoint is fast.endpoint
    # The app's own dependencies (FastAPI(dependencies=...)) apply to every route.
    global_calls = {depends.dependency for depends in app.router.dependencies}
    assert set(dependency_calls(route)) | global_calls == set(fast.dependencies)


async def test_the_jwks_is_revalidated_with_its_etag(client: httpx.AsyncClient) -> None:
    first = await client.get(JWKS)
    etag = first.headers["etag"]
    again = await client.get(JWKS, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    other = await client.get(JWKS, headers={"If-None-Match": '"something-else"'})
    assert other.status_code == 200
    assert other.json() == first.json()


async def test_discovery_is_revalidated_with_its_etag(client: httpx.AsyncClient) -> None:
    first = await client.get(OIDC)
    again = await client.get(OIDC, headers={"If-None-Match": f'W/{first.headers["etag"]}'})
    assert again.status_code == 304


async def test_a_fast_route_error_has_the_apps_shape_and_request_id(
    client: httpx.AsyncClient,
) -> None:
    # OAuth errors from the token endpoint, the 401 of UserInfo, a lone surrogate in JSON:
    # the same answers FastAPI's handlers give, through the same outer middleware.
    no_grant = await client.post("/api/oauth/token", data={"client_id": "x"})
    assert no_grant.status_code == 400
    assert no_grant.json()["error"] == "invalid_request"
    assert no_grant.headers["cache-control"] == "no-store"
    assert "x-request-id" in no_grant.headers
    lone = await client.post(
        "/api/oauth/token/introspect", content=b'{"token": "\\ud800"}',
        headers={"Content-Type": "application/json"},
    )
    assert lone.status_code == 400
    assert lone.json()["error"] == "invalid_request"
    anonymous = await client.get("/api/oauth/userinfo")
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith("Bearer")


async def test_head_and_other_methods_still_go_to_fastapi(client: httpx.AsyncClient) -> None:
    assert (await client.head(JWKS)).status_code in (200, 405)
    wrong = await client.put("/api/oauth/token/introspect")
    assert wrong.status_code == 405


async def test_userinfo_through_the_fast_lane(client: httpx.AsyncClient) -> None:
    pair = await signed_up(client)
    answer = await client.get("/api/oauth/userinfo", headers=bearer(pair["accessToken"]))
    assert answer.status_code == 200
    assert answer.json()["sub"]
    assert answer.headers["cache-control"] == "no-store"
