"""Guards built on the client, against the real server.

Introspection mode (``verifier=IntrospectionVerifier(...)``): FastAPI, Starlette, Flask
and Django apps that hold no secret and no key accept a live token and refuse it right
after its session is logged out, which a locally verified JWT cannot do. The server
user-info hooks (``ServerUserInfo`` / ``AsyncServerUserInfo``) ask the server for the
token's user, cached per user. The apps run in-process; every verification and lookup
crosses a real socket to the server.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from django.http import HttpRequest, JsonResponse
from django.test import Client as DjangoClient
from django.test import override_settings
from django.urls import path
from fastapi import Depends, FastAPI
from flask import Flask
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from integrations import django_test_settings  # noqa: F401 - configures Django first
from tekcify_auth import (
    AsyncAuthClient,
    AsyncServerUserInfo,
    AuthClient,
    IntrospectionVerifier,
    ServerUserInfo,
    UserPayload,
)
from tekcify_auth._guard import current_token
from tekcify_auth.fastapi import CurrentUser, JwtAuthGuard
from tekcify_auth.flask import create_auth_middleware, current_user
from tekcify_auth.starlette import AuthMiddleware

from .support import Account, MakeAccount, ServerProcess, app_data

pytestmark = pytest.mark.slow

INVALID = "Invalid or expired token"
CHALLENGE = (
    'Bearer error="invalid_token", error_description="The access token is invalid or expired"'
)


class Clock:
    """A wall clock that moves only when told to, for the caches' TTLs."""

    def __init__(self) -> None:
        import time

        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def user_body(user: UserPayload) -> dict[str, Any]:
    return {"userId": user.user_id, "email": user.email, "scopes": list(user.scopes)}


@pytest.fixture
def verifier(server_url: str) -> Iterator[IntrospectionVerifier]:
    """Introspection with the cache off: every request asks the server."""
    with IntrospectionVerifier(server_url) as built:
        yield built


# -- the apps --------------------------------------------------------------------------


def fastapi_app(guard: JwtAuthGuard) -> FastAPI:
    app = FastAPI()

    @app.get("/me", dependencies=[Depends(guard)])
    async def me(user: CurrentUser) -> dict[str, Any]:
        return user_body(user)

    return app


@pytest.fixture
async def web() -> AsyncIterator[Any]:
    """A function giving an httpx client of an ASGI app (closed afterwards)."""
    clients: list[httpx.AsyncClient] = []

    def open_app(app: Any) -> httpx.AsyncClient:
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://app")
        clients.append(client)
        return client

    yield open_app
    for client in clients:
        await client.aclose()


def flask_app(**guard_options: Any) -> Flask:
    app = Flask(__name__)
    auth = create_auth_middleware(**guard_options)
    app.before_request(auth)

    @app.get("/me")
    def me() -> dict[str, Any]:
        return user_body(current_user)

    return app


def django_me(request: HttpRequest) -> JsonResponse:
    return JsonResponse(user_body(request.tekcify_user))  # type: ignore[attr-defined]


urlpatterns = [path("me", django_me)]


# -- introspection mode ------------------------------------------------------------------


async def test_fastapi_in_introspection_mode_refuses_a_logged_out_token(
    verifier: IntrospectionVerifier, account: Account, aclient: AsyncAuthClient, web: Any
) -> None:
    app = web(fastapi_app(JwtAuthGuard(verifier=verifier)))
    ok = await app.get("/me", headers=bearer(account.access_token))
    assert ok.status_code == 200, ok.text
    assert ok.json()["userId"] == account.user_id
    assert ok.json()["email"] == account.email
    assert "read:profile" in ok.json()["scopes"]

    await aclient.logout(account.access_token)
    refused = await app.get("/me", headers=bearer(account.access_token))
    assert refused.status_code == 401
    assert refused.json() == {"detail": INVALID}
    assert refused.headers["www-authenticate"] == CHALLENGE


async def test_fastapi_with_an_async_client_of_its_own(
    server_url: str, account: Account, aclient: AsyncAuthClient, web: Any
) -> None:
    verifier = IntrospectionVerifier(async_client=aclient)
    app = web(fastapi_app(JwtAuthGuard(verifier=verifier)))
    assert (await app.get("/me", headers=bearer(account.access_token))).status_code == 200
    await aclient.logout(account.access_token)
    assert (await app.get("/me", headers=bearer(account.access_token))).status_code == 401


async def test_starlette_in_introspection_mode(
    verifier: IntrospectionVerifier, account: Account, aclient: AsyncAuthClient, web: Any
) -> None:
    async def me(request: Request) -> JSONResponse:
        return JSONResponse(user_body(request.state.user))

    app = Starlette(routes=[Route("/me", me)])
    app.add_middleware(AuthMiddleware, verifier=verifier)
    client = web(app)
    assert (await client.get("/me", headers=bearer(account.access_token))).status_code == 200
    await aclient.logout(account.access_token)
    refused = await client.get("/me", headers=bearer(account.access_token))
    assert refused.status_code == 401
    assert refused.json()["message"] == INVALID


def test_flask_in_introspection_mode_refuses_a_logged_out_token(
    verifier: IntrospectionVerifier, account: Account, client: AuthClient
) -> None:
    app = flask_app(verifier=verifier).test_client()
    ok = app.get("/me", headers=bearer(account.access_token))
    assert ok.status_code == 200
    assert ok.json is not None
    assert (ok.json["userId"], ok.json["email"]) == (account.user_id, account.email)

    client.logout(account.access_token)
    refused = app.get("/me", headers=bearer(account.access_token))
    assert refused.status_code == 401
    assert refused.json == {"statusCode": 401, "error": "Unauthorized", "message": INVALID}
    assert refused.headers["WWW-Authenticate"] == CHALLENGE


def test_django_in_introspection_mode(
    verifier: IntrospectionVerifier, account: Account, client: AuthClient
) -> None:
    settings = {
        "ROOT_URLCONF": __name__,
        "MIDDLEWARE": ["tekcify_auth.django.JwtAuthMiddleware"],
        "TEKCIFY_AUTH": {"VERIFIER": verifier},
    }
    with override_settings(**settings):
        django = DjangoClient()
        ok = django.get("/me", headers=bearer(account.access_token))
        assert ok.status_code == 200
        assert ok.json()["userId"] == account.user_id
        client.logout(account.access_token)
        refused = django.get("/me", headers=bearer(account.access_token))
        assert refused.status_code == 401
        assert refused.json()["message"] == INVALID


def test_a_refresh_token_is_opaque_and_active_yet_refused(
    verifier: IntrospectionVerifier, account: Account
) -> None:
    assert account.tokens.refresh_token is not None
    result = verifier.verify(account.tokens.refresh_token)
    assert (result.valid, result.error) == (False, "wrong_type")
    app = flask_app(verifier=verifier).test_client()
    assert app.get("/me", headers=bearer(account.tokens.refresh_token)).status_code == 401


async def test_introspection_as_a_registered_client(
    server_url: str, account: Account, aclient: AsyncAuthClient, web: Any
) -> None:
    app = await aclient.create_application(account.access_token, app_data("Resource server"))
    with IntrospectionVerifier(
        server_url, client_id=app.client_id, client_secret=app.client_secret
    ) as as_client:
        guarded = web(fastapi_app(JwtAuthGuard(verifier=as_client)))
        assert (await guarded.get("/me", headers=bearer(account.access_token))).status_code == 200


async def test_wrong_client_credentials_fail_closed_and_are_logged(
    server_url: str, account: Account, web: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with IntrospectionVerifier(
        server_url, client_id="no-such-client", client_secret="nope"
    ) as misconfigured:
        guarded = web(fastapi_app(JwtAuthGuard(verifier=misconfigured)))
        with caplog.at_level(logging.ERROR, logger="tekcify_auth"):
            refused = await guarded.get("/me", headers=bearer(account.access_token))
    assert refused.status_code == 401
    assert "token introspection failed" in caplog.text
    assert "401: Client authentication failed (invalid_client)" in caplog.text


async def test_an_unreachable_server_fails_closed(
    account: Account, web: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with IntrospectionVerifier("http://127.0.0.1:9", retries=0) as unreachable:
        guarded = web(fastapi_app(JwtAuthGuard(verifier=unreachable)))
        with caplog.at_level(logging.WARNING, logger="tekcify_auth"):
            refused = await guarded.get("/me", headers=bearer(account.access_token))
    assert refused.status_code == 401
    assert "token introspection unavailable" in caplog.text
    assert "reason=introspection_unavailable" in caplog.text


def test_the_introspection_cache_trades_freshness_for_requests(
    server_url: str, account: Account, client: AuthClient
) -> None:
    clock = Clock()
    with IntrospectionVerifier(server_url, cache_ttl=30, clock=clock) as cached:
        app = flask_app(verifier=cached).test_client()
        assert app.get("/me", headers=bearer(account.access_token)).status_code == 200
        client.logout(account.access_token)
        # Within the TTL the remembered answer stands: the logout is not seen yet...
        assert app.get("/me", headers=bearer(account.access_token)).status_code == 200
        clock.advance(31)
        # ...and after it the server is asked again.
        assert app.get("/me", headers=bearer(account.access_token)).status_code == 401


# -- the server user-info hooks ----------------------------------------------------------


async def test_async_server_user_info_asks_the_server_once_per_ttl(
    auth_server: ServerProcess, make_account: MakeAccount, aclient: AsyncAuthClient, web: Any
) -> None:
    account = make_account(first_name="Ada")
    clock = Clock()
    hook = AsyncServerUserInfo(aclient, ttl=60, clock=clock)
    guard = JwtAuthGuard(secret=auth_server.secret, get_user_info=hook)
    app = web(fastapi_app(guard))
    assert (await app.get("/me", headers=bearer(account.access_token))).json()["email"] == (
        account.email
    )
    # The token still verifies locally after logout; the server no longer answers for it.
    await aclient.logout(account.access_token)
    cached = await app.get("/me", headers=bearer(account.access_token))
    assert cached.status_code == 200  # the user is remembered for the TTL
    clock.advance(61)
    gone = await app.get("/me", headers=bearer(account.access_token))
    assert gone.status_code == 401
    assert gone.json() == {"detail": "User not found"}


def test_server_user_info_in_flask_gives_the_servers_user(
    auth_server: ServerProcess, make_account: MakeAccount, client: AuthClient
) -> None:
    account = make_account(first_name="Grace", last_name="Hopper")
    hook = ServerUserInfo(client, ttl=60)
    app = flask_app(secret=auth_server.secret, get_user_info=hook).test_client()
    ok = app.get("/me", headers=bearer(account.access_token))
    assert ok.status_code == 200
    assert ok.json is not None
    assert ok.json["email"] == account.email
    # The hook's answer is the server's UserInfo, names included (as a guard calls it).
    reset = current_token.set(account.access_token)
    try:
        info = hook(account.user_id)
    finally:
        current_token.reset(reset)
    assert info is not None
    assert (info["sub"], info["name"], info["given_name"], info["family_name"]) == (
        account.user_id, "Grace Hopper", "Grace", "Hopper"
    )
    other = make_account("second")
    client.logout(other.access_token)
    refused = app.get("/me", headers=bearer(other.access_token))
    assert refused.status_code == 401
    assert refused.json is not None
    assert refused.json["message"] == "User not found"


async def test_a_sync_hook_under_fastapi_and_the_default_client(
    auth_server: ServerProcess, account: Account, web: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tekcify_auth

    monkeypatch.setenv("AUTH_SERVER_URL", auth_server.url)
    tekcify_auth.close_default_client()
    try:
        # A sync hook runs in a worker thread, where it still sees the request's token.
        guard = JwtAuthGuard(secret=auth_server.secret, get_user_info=ServerUserInfo())
        ok = await web(fastapi_app(guard)).get("/me", headers=bearer(account.access_token))
        assert (ok.status_code, ok.json()["email"]) == (200, account.email)
    finally:
        tekcify_auth.close_default_client()


async def test_introspection_and_the_user_hook_together(
    verifier: IntrospectionVerifier, account: Account, aclient: AsyncAuthClient, web: Any
) -> None:
    guard = JwtAuthGuard(verifier=verifier, get_user_info=AsyncServerUserInfo(aclient))
    ok = await web(fastapi_app(guard)).get("/me", headers=bearer(account.access_token))
    assert ok.status_code == 200
    assert ok.json()["userId"] == account.user_id
