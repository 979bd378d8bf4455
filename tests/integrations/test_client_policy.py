"""Every guard's client policy (issue 10, items 5 and 6), in every framework.

``clients=`` (Django: ``CLIENTS``) accepts only the tokens issued to those applications,
so app B's backend refuses the tokens app A's users gave app A (a confused deputy);
first-party tokens pass it only with ``allow_first_party``. Tokens that act for no user
(``client_credentials``: ``sub`` is the client id) are refused by every guard unless
``allow_client_tokens`` (Django: ``ALLOW_CLIENT_TOKENS``). The testing kit's stand-ins
obey the same policy.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import django_test_settings
import httpx
import pytest
from django.http import HttpRequest, JsonResponse
from django.test import Client as DjangoClient
from django.test import override_settings
from django.urls import path
from fastapi import Depends, FastAPI
from flask import Flask
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.test import APIClient
from rest_framework.views import APIView
from starlette.applications import Starlette
from starlette.requests import Request as StarletteRequest
from starlette.responses import JSONResponse
from starlette.routing import Route

from tekcify_auth import UserPayload
from tekcify_auth.django import HasScopes, auth_required
from tekcify_auth.fastapi import CurrentUser, JwtAuthGuard
from tekcify_auth.flask import create_auth_middleware, current_user
from tekcify_auth.starlette import AuthMiddleware
from tekcify_auth.testing import (
    mint_access_token,
    override_django_user,
    override_flask_user,
    override_guard,
)

SECRET = django_test_settings.SECRET
APP_A, APP_B = "app-a-client-id", "app-b-client-id"

#: The tokens a backend may be shown: first-party, app A's and app B's users', and the
#: two applications' own client_credentials tokens.
#: Minted at import, which is at the start of the run (every pytest-xdist worker collects
#: every file first): valid for a day, not the default 15 minutes a long run outlives.
_DAY = 24 * 3600
TOKENS = {
    "first_party": mint_access_token("user-1", secret=SECRET, expires_in=_DAY),
    "app_a_user": mint_access_token("user-1", secret=SECRET, client_id=APP_A, expires_in=_DAY),
    "app_b_user": mint_access_token("user-1", secret=SECRET, client_id=APP_B, expires_in=_DAY),
    "app_a_client": mint_access_token(APP_A, secret=SECRET, client_id=APP_A, expires_in=_DAY),
    "app_b_client": mint_access_token(APP_B, secret=SECRET, client_id=APP_B, expires_in=_DAY),
}

#: Policy -> the tokens it accepts (every other one is refused with 401).
CASES: list[tuple[dict[str, Any], set[str]]] = [
    # No policy: any user's token, as before; client tokens are refused (item 6).
    ({}, {"first_party", "app_a_user", "app_b_user"}),
    ({"clients": [APP_B]}, {"app_b_user"}),
    ({"clients": APP_B}, {"app_b_user"}),  # one string is one client id
    ({"clients": [APP_B], "allow_first_party": True}, {"first_party", "app_b_user"}),
    ({"clients": [APP_A, APP_B]}, {"app_a_user", "app_b_user"}),
    ({"clients": [APP_B], "allow_client_tokens": True}, {"app_b_user", "app_b_client"}),
    (
        {"allow_client_tokens": True},
        {"first_party", "app_a_user", "app_b_user", "app_a_client", "app_b_client"},
    ),
]

Call = Callable[[str], Awaitable[tuple[int, str]]]


def _django_settings(policy: dict[str, Any]) -> dict[str, Any]:
    names = {"clients": "CLIENTS", "allow_first_party": "ALLOW_FIRST_PARTY",
             "allow_client_tokens": "ALLOW_CLIENT_TOKENS"}
    return {"SECRET": SECRET, **{names[k]: v for k, v in policy.items()}}


def _user_json(user: UserPayload) -> dict[str, Any]:
    return {"userId": user.user_id, "clientId": user.client_id}


# -- the apps -------------------------------------------------------------------------------


def fastapi_call(policy: dict[str, Any]) -> Call:
    guard = JwtAuthGuard(secret=SECRET, **policy)
    app = FastAPI(dependencies=[Depends(guard)])

    @app.get("/me")
    async def me(user: CurrentUser) -> dict[str, Any]:
        return _user_json(user)

    return _asgi(app)


def starlette_call(policy: dict[str, Any]) -> Call:
    async def me(request: StarletteRequest) -> JSONResponse:
        return JSONResponse(_user_json(request.state.user))

    app = Starlette(routes=[Route("/me", me)])
    app.add_middleware(AuthMiddleware, secret=SECRET, **policy)
    return _asgi(app)


def _asgi(app: Any) -> Call:
    async def call(token: str) -> tuple[int, str]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://b.test") as http:
            response = await http.get("/me", headers={"Authorization": f"Bearer {token}"})
        return response.status_code, response.text

    return call


def flask_call(policy: dict[str, Any]) -> Call:
    auth = create_auth_middleware(secret=SECRET, **policy)
    app = Flask(__name__)

    @app.get("/me")
    @auth.required
    def me() -> dict[str, Any]:
        return _user_json(current_user)

    async def call(token: str) -> tuple[int, str]:
        response = app.test_client().get("/me", headers={"Authorization": f"Bearer {token}"})
        return response.status_code, response.get_data(as_text=True)

    return call


@auth_required
def django_me(request: HttpRequest) -> JsonResponse:
    return JsonResponse(_user_json(request.tekcify_user))  # type: ignore[attr-defined]


class DrfMe(APIView):
    permission_classes = [HasScopes]

    def get(self, request: Request) -> Response:
        return Response(_user_json(request.user.payload))


urlpatterns = [path("me", django_me), path("drf/me", DrfMe.as_view())]


def django_call(policy: dict[str, Any]) -> Call:
    async def call(token: str) -> tuple[int, str]:
        with override_settings(
            ROOT_URLCONF=__name__, MIDDLEWARE=[], TEKCIFY_AUTH=_django_settings(policy)
        ):
            response = DjangoClient().get("/me", HTTP_AUTHORIZATION=f"Bearer {token}")
        return response.status_code, response.content.decode()

    return call


def drf_call(policy: dict[str, Any]) -> Call:
    async def call(token: str) -> tuple[int, str]:
        with override_settings(
            ROOT_URLCONF=__name__, MIDDLEWARE=[], TEKCIFY_AUTH=_django_settings(policy)
        ):
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
            response = client.get("/drf/me")
        return response.status_code, response.content.decode()

    return call


FRAMEWORKS = {
    "fastapi": fastapi_call, "starlette": starlette_call, "flask": flask_call,
    "django": django_call, "drf": drf_call,
}


@pytest.mark.parametrize("framework", sorted(FRAMEWORKS))
@pytest.mark.parametrize(
    ("policy", "accepted"), CASES,
    # A set's repr follows the hash seed: the same ids in every pytest-xdist worker.
    ids=lambda x: repr(sorted(x) if isinstance(x, set) else x)[:60],
)
async def test_the_guard_accepts_exactly_the_tokens_its_policy_allows(
    framework: str, policy: dict[str, Any], accepted: set[str]
) -> None:
    call = FRAMEWORKS[framework](policy)
    for name, token in TOKENS.items():
        status, body = await call(token)
        if name in accepted:
            assert status == 200, (name, body)
        else:
            assert status == 401, (name, body)
            assert "Invalid or expired token" in body


async def test_app_bs_backend_refuses_app_as_token_and_accepts_its_own() -> None:
    # Issue 10 item 5, as the README's quick start guards app B's backend.
    call = fastapi_call({"clients": [APP_B]})
    assert (await call(TOKENS["app_a_user"]))[0] == 401
    status, body = await call(TOKENS["app_b_user"])
    assert status == 200
    assert json.loads(body) == {"userId": "user-1", "clientId": APP_B}


async def test_a_client_credentials_token_is_refused_by_default_in_every_framework() -> None:
    # Issue 10 item 6: a stranger's machine token must not pass a user's guard.
    for make in FRAMEWORKS.values():
        status, body = await make({})(TOKENS["app_a_client"])
        assert status == 401, body


def test_the_refusal_names_its_reason_in_the_log(caplog: pytest.LogCaptureFixture) -> None:
    from tekcify_auth import AuthenticationError, TokenVerifier
    from tekcify_auth._guard import GuardCore

    guard = GuardCore(TokenVerifier(secret=SECRET), clients=[APP_B])
    for token, reason in ((TOKENS["app_a_user"], "wrong_client"),
                          (TOKENS["app_b_client"], "client_token")):
        with pytest.raises(AuthenticationError) as caught:
            guard.authenticate(f"Bearer {token}")
        assert caught.value.reason == reason
        assert caught.value.status_code == 401
        assert caught.value.error == "invalid_token"
        assert f"reason={reason}" in caplog.text


def test_the_user_hook_is_not_asked_about_a_refused_token() -> None:
    from tekcify_auth import AuthenticationError, TokenVerifier
    from tekcify_auth._guard import GuardCore

    asked: list[str] = []

    def hook(user_id: str) -> dict[str, str]:
        asked.append(user_id)
        return {"email": "x@example.com"}

    guard = GuardCore(TokenVerifier(secret=SECRET), get_user_info=hook, clients=[APP_B])
    for token in (TOKENS["app_a_user"], TOKENS["app_b_client"]):
        with pytest.raises(AuthenticationError):
            guard.authenticate(f"Bearer {token}")
    assert asked == []


@pytest.mark.parametrize("clients", [[], "", [""], [None]])
def test_an_empty_client_list_is_a_configuration_error(clients: Any) -> None:
    from tekcify_auth import ConfigurationError

    with pytest.raises(ConfigurationError, match="clients="):
        JwtAuthGuard(secret=SECRET, clients=clients)


@pytest.mark.parametrize(
    "setting",
    [{"CLIENTS": []}, {"CLIENTS": 3}, {"CLIENTS": [APP_B], "ALLOW_CLIENT_TOKENS": "yes"}],
)
def test_bad_django_client_settings_are_improperly_configured(setting: dict[str, Any]) -> None:
    from django.core.exceptions import ImproperlyConfigured

    from tekcify_auth.django._conf import build_guard

    with pytest.raises(ImproperlyConfigured):
        build_guard({"SECRET": SECRET, **setting})


# -- the testing kit's stand-ins --------------------------------------------------------


async def test_override_guard_stand_ins_obey_the_client_policy() -> None:
    guard = JwtAuthGuard(secret=SECRET, clients=[APP_B])
    app = FastAPI(dependencies=[Depends(guard)])

    @app.get("/me")
    async def me(user: CurrentUser) -> dict[str, Any]:
        return _user_json(user)

    call = _asgi(app)
    with override_guard(app, guard, "user-1", client_id=APP_A):
        assert (await call("no-token"))[0] == 401
    with override_guard(app, guard, "user-1", client_id=APP_B):
        assert (await call("no-token"))[0] == 200
    with override_guard(app, guard, APP_B, client_id=APP_B):  # a client token
        assert (await call("no-token"))[0] == 401


def test_flask_and_django_stand_ins_obey_the_client_policy() -> None:
    auth = create_auth_middleware(secret=SECRET, clients=[APP_B])
    app = Flask(__name__)

    @app.get("/me")
    @auth.required
    def me() -> dict[str, Any]:
        return _user_json(current_user)

    with override_flask_user("user-1", client_id=APP_A):
        assert app.test_client().get("/me").status_code == 401
    with override_flask_user("user-1", client_id=APP_B):
        assert app.test_client().get("/me").status_code == 200

    with override_settings(
        ROOT_URLCONF=__name__, MIDDLEWARE=[],
        TEKCIFY_AUTH={"SECRET": SECRET, "CLIENTS": [APP_B]},
    ):
        with override_django_user("user-1", client_id=APP_A):
            assert DjangoClient().get("/me").status_code == 401
        with override_django_user("user-1"):  # first-party, not allowed here
            assert DjangoClient().get("/me").status_code == 401
        with override_django_user("user-1", client_id=APP_B):
            assert DjangoClient().get("/me").status_code == 200
