"""Every framework's guard with ``jwks=`` (Django: ``JWKS``) in each accepted form.

A dict with ``"keys"``, its JSON as str or bytes, a joserfc ``KeySet`` or a
``JwksVerifier``: each admits our tokens and refuses an attacker's (signed under our
``kid``, pointing ``jku`` / ``x5u`` at a loopback server that must see no request), and
anything else fails when the guard is built, not on the first request.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import django_test_settings  # noqa: F401  (configures Django before its imports)
import httpx
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, JsonResponse
from django.test import Client, override_settings
from django.urls import path
from fastapi import Depends, FastAPI
from flask import Flask
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request as StarletteRequest
from starlette.responses import JSONResponse
from starlette.routing import Route

from services import JWKS_FORMS, KeyServer, jwks_in_form
from tekcify_auth import ConfigurationError, UserPayload
from tekcify_auth.django import get_guard
from tekcify_auth.fastapi import CurrentUser, JwksAuthGuard
from tekcify_auth.flask import create_auth_middleware, current_user
from tekcify_auth.starlette import AuthMiddleware
from tekcify_auth.testing import SigningKey

WRONG_TYPE = (
    "jwks= takes a JwksVerifier, a JWKS document (dict with 'keys', or its JSON) or a "
    "joserfc KeySet; got int"
)


@pytest.fixture(scope="module")
def rsa() -> SigningKey:
    return SigningKey.generate("RS256", kid="rsa-1")


@pytest.fixture(scope="module")
def ec() -> SigningKey:
    return SigningKey.generate("ES256", kid="ec-1")


@pytest.fixture(scope="module")
def attacker() -> SigningKey:
    return SigningKey.generate("ES256", kid="ec-1")  # our EC key's kid, another key


@pytest.fixture
def document(rsa: SigningKey, ec: SigningKey) -> dict[str, Any]:
    return rsa.jwks(ec)


@pytest.fixture
def hosts(document: dict[str, Any], attacker: SigningKey) -> Iterator[tuple[KeyServer, KeyServer]]:
    """Our JWKS endpoint (for the JwksVerifier form) and the attacker's key server."""
    ours = KeyServer(json.dumps(document).encode())
    theirs = KeyServer(json.dumps(attacker.jwks()).encode())
    try:
        yield ours, theirs
    finally:
        ours.stop()
        theirs.stop()


@pytest.fixture(params=JWKS_FORMS)
def jwks(
    request: pytest.FixtureRequest, document: dict[str, Any], hosts: tuple[KeyServer, KeyServer]
) -> Any:
    return jwks_in_form(request.param, document, hosts[0])


@pytest.fixture
def tokens(
    rsa: SigningKey, ec: SigningKey, attacker: SigningKey, hosts: tuple[KeyServer, KeyServer]
) -> Iterator[tuple[list[str], list[str]]]:
    """(ours, the attacker's); after the test, the attacker's server saw no request."""
    url = hosts[1].url
    good = [rsa.mint("user-1", scopes=["read"]), ec.mint("user-1", scopes=["read"])]
    bad = [
        attacker.mint("admin", scopes=["read"], header={"jku": url + "/jwks.json"}),
        attacker.mint("admin", scopes=["read"], header={"x5u": url + "/cert.pem"}),
        attacker.mint("admin", scopes=["read"], header={"jwk": attacker.public_jwk()}),
        SigningKey.generate("ES256", kid="nobody").mint("admin", header={"jku": url}),
    ]
    yield good, bad
    assert hosts[1].requests == 0


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def user_json(user: UserPayload) -> dict[str, Any]:
    return {"userId": user.user_id, "scopes": list(user.scopes)}


async def asgi_get(app: Any, value: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        return await client.get("/me", headers=bearer(value))


# -- FastAPI and Starlette ---------------------------------------------------------------------


def fastapi_app(guard: JwksAuthGuard) -> FastAPI:
    app = FastAPI(dependencies=[Depends(guard)])

    @app.get("/me")
    async def me(user: CurrentUser) -> dict[str, Any]:
        return user_json(user)

    return app


async def test_fastapi_jwks_guard_takes_each_form(
    jwks: Any, tokens: tuple[list[str], list[str]]
) -> None:
    app = fastapi_app(JwksAuthGuard(jwks=jwks))
    good, bad = tokens
    for value in good:
        answer = await asgi_get(app, value)
        assert answer.json() == {"userId": "user-1", "scopes": ["read"]}
    for value in bad:
        assert (await asgi_get(app, value)).status_code == 401


async def test_a_document_is_checked_with_the_guards_audience(
    document: dict[str, Any], rsa: SigningKey
) -> None:
    app = fastapi_app(JwksAuthGuard(jwks=document, audience="orders-api"))
    assert (await asgi_get(app, rsa.mint("user-1"))).status_code == 401
    answer = await asgi_get(app, rsa.mint("user-1", audience="orders-api"))
    assert answer.status_code == 200


async def test_starlette_middleware_takes_each_form(
    jwks: Any, tokens: tuple[list[str], list[str]]
) -> None:
    async def me(request: StarletteRequest) -> JSONResponse:
        return JSONResponse(user_json(request.state.user))

    app = Starlette(routes=[Route("/me", me)], middleware=[Middleware(AuthMiddleware, jwks=jwks)])
    good, bad = tokens
    for value in good:
        assert (await asgi_get(app, value)).json() == {"userId": "user-1", "scopes": ["read"]}
    for value in bad:
        assert (await asgi_get(app, value)).status_code == 401


# -- Flask ---------------------------------------------------------------------------------------


def test_flask_guard_takes_each_form(jwks: Any, tokens: tuple[list[str], list[str]]) -> None:
    auth = create_auth_middleware(jwks=jwks)
    app = Flask(__name__)

    @app.get("/me")
    @auth.required
    def me() -> dict[str, Any]:
        return user_json(current_user)  # type: ignore[arg-type]

    good, bad = tokens
    with app.test_client() as client:
        for value in good:
            assert client.get("/me", headers=bearer(value)).json == {
                "userId": "user-1", "scopes": ["read"],
            }
        for value in bad:
            assert client.get("/me", headers=bearer(value)).status_code == 401


# -- Django and DRF ------------------------------------------------------------------------------


def django_me(request: HttpRequest) -> JsonResponse:
    return JsonResponse(user_json(request.tekcify_user))  # type: ignore[attr-defined]


class DrfMe(APIView):
    def get(self, request: Request) -> Response:
        return Response({"userId": request.user.user_id, "scopes": list(request.user.scopes)})


urlpatterns = [path("me", django_me), path("drf/me", DrfMe.as_view())]


def test_django_and_drf_take_each_form_as_the_jwks_setting(
    jwks: Any, tokens: tuple[list[str], list[str]]
) -> None:
    with override_settings(
        ROOT_URLCONF=__name__,
        MIDDLEWARE=["tekcify_auth.django.JwtAuthMiddleware"],
        TEKCIFY_AUTH={"JWKS": jwks, "PROTECTED_PATHS": ["/me"]},
    ):
        client = Client()
        good, bad = tokens
        for url in ("/me", "/drf/me"):
            for value in good:
                answer = client.get(url, headers=bearer(value))
                assert answer.json() == {"userId": "user-1", "scopes": ["read"]}, url
            for value in bad:
                assert client.get(url, headers=bearer(value)).status_code == 401, url


# -- anything else fails when the guard is built -------------------------------------------------


def test_a_wrong_jwks_fails_when_each_guard_is_built() -> None:
    with pytest.raises(ConfigurationError) as fastapi_error:
        JwksAuthGuard(jwks=42)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError) as starlette_error:
        AuthMiddleware(Starlette(), jwks=42)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError) as flask_error:
        create_auth_middleware(jwks=42)  # type: ignore[arg-type]
    for error in (fastapi_error, starlette_error, flask_error):
        assert str(error.value) == WRONG_TYPE
    with pytest.raises(ConfigurationError, match="holds no usable signature key"):
        JwksAuthGuard(jwks={"keys": [{"kty": "oct", "k": "c2VjcmV0LXNlY3JldA"}]})
    with pytest.raises(ConfigurationError, match="not JSON"):
        create_auth_middleware(jwks="{")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (42, WRONG_TYPE),
        ({}, 'got a document without a "keys" list'),
        ("[1, 2]", 'got a document without a "keys" list'),
        ({"keys": [{"kty": "oct", "k": "c2VjcmV0LXNlY3JldA"}]}, "no usable signature key"),
    ],
    ids=["int", "empty-dict", "json-array", "oct-only"],
)
def test_a_wrong_django_jwks_setting_is_improperly_configured(value: object, message: str) -> None:
    with override_settings(TEKCIFY_AUTH={"JWKS": value}), pytest.raises(
        ImproperlyConfigured
    ) as info:
        get_guard()
    assert str(info.value).startswith("TEKCIFY_AUTH['JWKS']: jwks= ")
    assert message in str(info.value)
