"""The Django guard: middleware over protected paths, ``auth_required``, settings, ASGI."""

from __future__ import annotations

import base64
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import django_test_settings
import pytest
from asgiref.sync import iscoroutinefunction
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.test import AsyncClient, Client, RequestFactory, override_settings
from django.urls import path

from tekcify_auth import UserPayload
from tekcify_auth.django import JwtAuthMiddleware, auth_required, get_guard
from tekcify_auth.testing import SigningKey, mint_access_token, override_django_user

SECRET = django_test_settings.SECRET
MIDDLEWARE = ["tekcify_auth.django.JwtAuthMiddleware"]
MISSING = "Missing or invalid authorization header"
INVALID = "Invalid or expired token"
INVALID_CHALLENGE = (
    'Bearer error="invalid_token", error_description="The access token is invalid or expired"'
)
HEADER_CHALLENGE = (
    'Bearer error="invalid_request", error_description="Authorization must be \'Bearer <token>\'"'
)
SCOPE_CHALLENGE = (
    'Bearer error="insufficient_scope", '
    'error_description="The token lacks the scopes: read:orders", scope="read:orders"'
)


def token(sub: str = "user-1", **kwargs: Any) -> str:
    return mint_access_token(sub, secret=SECRET, **kwargs)


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def user_json(request: HttpRequest) -> JsonResponse:
    user: UserPayload | None = getattr(request, "tekcify_user", None)
    if user is None:
        return JsonResponse({"user": None})
    return JsonResponse({"userId": user.user_id, "email": user.email, "scopes": list(user.scopes)})


def plain(request: HttpRequest) -> JsonResponse:
    return user_json(request)


@auth_required
def me(request: HttpRequest) -> JsonResponse:
    return user_json(request)


@auth_required(scopes=["read:orders"])
def orders(request: HttpRequest) -> JsonResponse:
    return user_json(request)


@auth_required(scopes=["read:orders"])
async def async_orders(request: HttpRequest) -> JsonResponse:
    return user_json(request)


async def async_plain(request: HttpRequest) -> JsonResponse:
    return user_json(request)


urlpatterns = [
    path("public", plain),
    path("apiary", plain),
    path("api/profile", plain),
    path("api/health", plain),
    path("api/orders", orders),
    path("api/async", async_plain),
    path("me", me),
    path("orders", orders),
    path("async/orders", async_orders),
]

HOOK_CALLS: list[str] = []


def lookup(user_id: str) -> dict[str, str] | None:
    HOOK_CALLS.append(user_id)
    return None if user_id == "ghost" else {"email": f"{user_id}@sync.example"}


async def alookup(user_id: str) -> dict[str, str] | None:
    HOOK_CALLS.append(user_id)
    return None if user_id == "ghost" else {"email": f"{user_id}@async.example"}


def configure(middleware: list[str] | None = None, **tekcify: Any) -> Any:
    return override_settings(
        ROOT_URLCONF=__name__,
        MIDDLEWARE=MIDDLEWARE if middleware is None else middleware,
        TEKCIFY_AUTH={"SECRET": SECRET, **tekcify},
    )


@pytest.fixture(autouse=True)
def _reset_hook_calls() -> None:
    HOOK_CALLS.clear()


@pytest.fixture
def api() -> Iterator[Client]:
    """The middleware guarding /api (but not /api/health); decorated views elsewhere."""
    with configure(PROTECTED_PATHS=["/api/"], EXEMPT_PATHS=["/api/health"]):
        yield Client()


def assert_refusal(response: Any, status: int, message: str, challenge: str) -> None:
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    error = "Forbidden" if status == 403 else "Unauthorized"
    assert json.loads(response.content) == {
        "statusCode": status, "error": error, "message": message,
    }
    assert response["WWW-Authenticate"] == challenge


# -- the middleware ------------------------------------------------------------------


def test_middleware_protects_the_whole_site_by_default() -> None:
    with configure():
        client = Client()
        assert_refusal(client.get("/public"), 401, MISSING, "Bearer")
        response = client.get("/public", headers=bearer(token(email="a@example.com")))
        assert response.json() == {"userId": "user-1", "email": "a@example.com", "scopes": []}


def test_protected_paths(api: Client) -> None:
    assert_refusal(api.get("/api/profile"), 401, MISSING, "Bearer")
    assert api.get("/api/profile", headers=bearer(token())).json()["userId"] == "user-1"


def test_unprotected_and_exempt_paths_are_not_verified(api: Client) -> None:
    for url in ("/public", "/apiary", "/api/health"):
        response = api.get(url, headers=bearer("junk"))
        assert response.status_code == 200, url
        assert response.json() == {"user": None}


def test_decorated_views_outside_protected_paths(api: Client) -> None:
    assert_refusal(api.get("/me"), 401, MISSING, "Bearer")
    assert api.get("/me", headers=bearer(token("u2"))).json()["userId"] == "u2"
    assert_refusal(api.get("/orders", headers=bearer(token())), 403, "Insufficient scope",
                   SCOPE_CHALLENGE)
    ok = api.get("/orders", headers=bearer(token(scopes=["read:orders"])))
    assert ok.json()["scopes"] == ["read:orders"]


def test_scoped_view_behind_the_middleware(api: Client) -> None:
    assert_refusal(api.get("/api/orders"), 401, MISSING, "Bearer")
    assert_refusal(api.get("/api/orders", headers=bearer(token())), 403, "Insufficient scope",
                   SCOPE_CHALLENGE)
    assert api.get("/api/orders", headers=bearer(token(scopes=["read:orders"]))).status_code == 200


def test_decorator_without_middleware() -> None:
    with configure(middleware=[]):
        client = Client()
        assert client.get("/public").json() == {"user": None}
        assert_refusal(client.get("/orders"), 401, MISSING, "Bearer")
        ok = client.get("/orders", headers=bearer(token(scopes=["read:orders"])))
        assert ok.status_code == 200


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "BeaRer"])
def test_scheme_is_case_insensitive(api: Client, scheme: str) -> None:
    response = api.get("/api/profile", headers={"Authorization": f"{scheme} {token()}"})
    assert response.status_code == 200


@pytest.mark.parametrize(
    "value",
    ["Bearer", "Bearer {t} {t}", "Bearer {t}, Bearer {t}", "Bearer {t} junk", "Bearer\t{t}",
     "Bearer {t}é"],
)
def test_two_tokens_or_junk_are_refused(api: Client, value: str) -> None:
    response = api.get("/api/profile", headers={"Authorization": value.format(t=token())})
    assert_refusal(response, 401, MISSING, HEADER_CHALLENGE)


@pytest.mark.parametrize("value", ["Basic dXNlcjpwYXNz", "{t}", "Bearer{t}"])
def test_other_schemes_count_as_no_credentials(api: Client, value: str) -> None:
    response = api.get("/api/profile", headers={"Authorization": value.format(t=token())})
    assert_refusal(response, 401, MISSING, "Bearer")


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _alg_none() -> str:
    claims = json.loads(base64.urlsafe_b64decode(token().split(".")[1] + "=="))
    return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."


def _tampered() -> str:
    head, body, sig = token().split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=="))
    claims["sub"] = "someone-else"
    return f"{head}.{_b64(claims)}.{sig}"


BAD_TOKENS = {
    "expired": lambda: token(expires_in=-1),
    "not_yet_valid": lambda: token(nbf=4102444800),
    "tampered": _tampered,
    "alg_none": _alg_none,
    "wrong_secret": lambda: mint_access_token("user-1", secret="not-the-secret"),
    "temp_type": lambda: token(type="temp"),
    "missing_exp": lambda: token(exp=None),
    "truncated": lambda: token()[:40],
}


@pytest.mark.parametrize("name", sorted(BAD_TOKENS))
def test_bad_tokens_are_401_never_500(api: Client, name: str) -> None:
    assert_refusal(api.get("/api/profile", headers=bearer(BAD_TOKENS[name]())), 401, INVALID,
                   INVALID_CHALLENGE)


def test_public_key_source() -> None:
    key = SigningKey.generate("RS256")
    with override_settings(
        ROOT_URLCONF=__name__, MIDDLEWARE=MIDDLEWARE,
        TEKCIFY_AUTH={"PUBLIC_KEY": key.public_pem(), "PROTECTED_PATHS": ["/api"]},
    ):
        client = Client()
        assert client.get("/api/profile", headers=bearer(key.mint("rsa"))).json()["userId"] == "rsa"
        assert_refusal(client.get("/api/profile", headers=bearer(token())), 401, INVALID,
                       INVALID_CHALLENGE)


def test_issuer_and_audience_settings() -> None:
    with configure(ISSUER="other-issuer", AUDIENCE=None):
        client = Client()
        mine = token(issuer="other-issuer", audience="anything")
        assert client.get("/public", headers=bearer(mine)).status_code == 200
        assert client.get("/public", headers=bearer(token())).status_code == 401


# -- get_user_info -------------------------------------------------------------------


@pytest.mark.parametrize("hook", [lookup, f"{__name__}.lookup", alookup, f"{__name__}.alookup"])
def test_user_hook_sync_async_or_dotted(hook: Any) -> None:
    kind = "async" if "alookup" in str(getattr(hook, "__name__", hook)) else "sync"
    with configure(GET_USER_INFO=hook):
        client = Client()
        response = client.get("/public", headers=bearer(token("amy", email="claim@x.io")))
        assert response.json()["email"] == f"amy@{kind}.example"
        assert_refusal(
            client.get("/public", headers=bearer(token("ghost"))),
            401,
            "User not found",
            'Bearer error="invalid_token", error_description="The token\'s user does not exist"',
        )
    assert HOOK_CALLS == ["amy", "ghost"]


def test_decorator_behind_middleware_runs_the_hook_once() -> None:
    with configure(GET_USER_INFO=lookup, PROTECTED_PATHS=["/api"]):
        response = Client().get("/api/orders", headers=bearer(token(scopes=["read:orders"])))
    assert response.status_code == 200
    assert HOOK_CALLS == ["user-1"]


# -- ASGI: the async middleware and async views ----------------------------------------


def test_middleware_is_sync_and_async_capable() -> None:
    def sync_view(request: HttpRequest) -> HttpResponse:
        return HttpResponse("sync")

    async def async_view(request: HttpRequest) -> HttpResponse:
        return HttpResponse("async")

    with configure():
        assert not iscoroutinefunction(JwtAuthMiddleware(sync_view))
        assert iscoroutinefunction(JwtAuthMiddleware(async_view))
    assert JwtAuthMiddleware.sync_capable
    assert JwtAuthMiddleware.async_capable


async def test_async_middleware_direct() -> None:
    async def view(request: HttpRequest) -> HttpResponse:
        return HttpResponse(request.tekcify_user.user_id)  # type: ignore[attr-defined]

    with configure():
        middleware = JwtAuthMiddleware(view)
        factory = RequestFactory()
        refused = await middleware(factory.get("/x"))
        assert refused.status_code == 401
        ok = await middleware(factory.get("/x", headers=bearer(token("async-direct"))))
        assert ok.content == b"async-direct"


@pytest.mark.parametrize("hook", [None, lookup, alookup])
async def test_async_client_through_async_views(hook: Any) -> None:
    with configure(PROTECTED_PATHS=["/api"], GET_USER_INFO=hook):
        client = AsyncClient()
        assert_refusal(await client.get("/api/async"), 401, MISSING, "Bearer")
        response = await client.get("/api/async", headers=bearer(token("amy")))
        assert response.status_code == 200
        assert response.json()["userId"] == "amy"
        assert_refusal(await client.get("/async/orders", headers=bearer(token())), 403,
                       "Insufficient scope", SCOPE_CHALLENGE)
        ok = await client.get("/async/orders", headers=bearer(token("amy", scopes=["read:orders"])))
        assert ok.status_code == 200
        assert_refusal(await client.get("/async/orders", headers=bearer(_alg_none())), 401,
                       INVALID, INVALID_CHALLENGE)
        sync_view = await client.get("/orders", headers=bearer(token(scopes=["read:orders"])))
        assert sync_view.status_code == 200
        if hook is not None:
            assert response.json()["email"] == "amy@" + (
                "async" if hook is alookup else "sync") + ".example"
            ghost = await client.get("/api/async", headers=bearer(token("ghost")))
            assert ghost.status_code == 401
            assert ghost.json()["message"] == "User not found"


# -- logging -------------------------------------------------------------------------


def test_refusals_are_logged_without_the_token(
    api: Client, caplog: pytest.LogCaptureFixture
) -> None:
    expired = token(expires_in=-5)
    with caplog.at_level(logging.WARNING, logger="tekcify_auth"):
        api.get("/api/profile", headers=bearer(expired), REMOTE_ADDR="10.9.8.7")
        api.get("/orders", headers=bearer(token()))
    messages = [r.getMessage() for r in caplog.records if r.name == "tekcify_auth"]
    assert len(messages) == 2
    assert "reason=expired status=401 route=/api/profile client=10.9.8.7" in messages[0]
    assert expired not in messages[0]
    assert "reason=insufficient_scope status=403 route=/orders" in messages[1]


# -- settings ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "named"),
    [
        ({}, "exactly one of 'SECRET'"),
        ({"SECRET": "s", "JWKS_URI": "http://127.0.0.1:1/jwks"}, "['SECRET', 'JWKS_URI']"),
        ({"SECRET": "s", "SECRETS": "typo"}, "unknown keys ['SECRETS']"),
        ({"SECRET": 42}, "TEKCIFY_AUTH['SECRET'] must be str or bytes"),
        ({"SECRET": "s", "ISSUER": 3}, "TEKCIFY_AUTH['ISSUER'] must be str"),
        ({"SECRET": "s", "LEEWAY": "5"}, "TEKCIFY_AUTH['LEEWAY']"),
        ({"SECRET": "s", "PROTECTED_PATHS": "/api"}, "TEKCIFY_AUTH['PROTECTED_PATHS']"),
        ({"SECRET": "s", "EXEMPT_PATHS": ["health"]}, "TEKCIFY_AUTH['EXEMPT_PATHS'] holds"),
        ({"SECRET": "s", "GET_USER_INFO": "no.such.module.hook"}, "TEKCIFY_AUTH['GET_USER_INFO']"),
        ({"SECRET": "s", "GET_USER_INFO": 7}, "TEKCIFY_AUTH['GET_USER_INFO']"),
        ({"SECRET": "s", "ALGORITHMS": ["RS256"]}, "TEKCIFY_AUTH['SECRET']"),
        ({"PUBLIC_KEY": "not a key"}, "TEKCIFY_AUTH['PUBLIC_KEY']"),
        ({"SECRET": "-----BEGIN PUBLIC KEY-----\nabc"}, "TEKCIFY_AUTH['SECRET']"),
    ],
)
def test_bad_settings_name_the_key(config: dict[str, Any], named: str) -> None:
    with override_settings(TEKCIFY_AUTH=config), pytest.raises(ImproperlyConfigured) as info:
        get_guard()
    assert named in str(info.value)


def test_not_a_dict_and_missing_setting() -> None:
    with override_settings(TEKCIFY_AUTH="secret"), pytest.raises(ImproperlyConfigured,
                                                                 match="must be a dict"):
        get_guard()
    with override_settings(TEKCIFY_AUTH=None), pytest.raises(ImproperlyConfigured,
                                                             match="setting is missing"):
        get_guard()


def test_middleware_fails_at_startup_on_bad_settings() -> None:
    with override_settings(TEKCIFY_AUTH={"SECRET": ""}), pytest.raises(ImproperlyConfigured):
        JwtAuthMiddleware(lambda request: HttpResponse())


def test_guard_is_rebuilt_when_the_setting_changes() -> None:
    assert get_guard().core.get_user_info is None
    with configure(GET_USER_INFO=lookup):
        assert get_guard().core.get_user_info is lookup
        assert get_guard() is get_guard()
    assert get_guard().core.get_user_info is None


# -- the testing override --------------------------------------------------------------


def test_override_stands_in_for_middleware_and_decorator(api: Client) -> None:
    with override_django_user("stand-in", email="s@example.com"):
        assert api.get("/api/profile").json() == {
            "userId": "stand-in", "email": "s@example.com", "scopes": [],
        }
        assert api.get("/me").json()["userId"] == "stand-in"
        assert_refusal(api.get("/orders"), 403, "Insufficient scope", SCOPE_CHALLENGE)
    assert api.get("/api/profile").status_code == 401


@override_django_user("scoped", scopes=["read:orders"])
async def test_override_decorates_async_tests() -> None:
    with configure(PROTECTED_PATHS=["/api"]):
        response = await AsyncClient().get("/async/orders")
    assert response.json()["userId"] == "scoped"


# -- import boundaries -----------------------------------------------------------------


def test_imports_load_no_more_than_they_need() -> None:
    code = (
        "import sys\n"
        "import tekcify_auth.testing\n"
        "assert not [m for m in sys.modules if m.split('.')[0] in "
        "('flask', 'django', 'rest_framework', 'werkzeug')], 'testing loaded a framework'\n"
        "import tekcify_auth.django\n"
        "assert 'rest_framework' not in sys.modules, 'tekcify_auth.django loaded DRF'\n"
        "assert 'tekcify_auth.django.rest_framework' not in sys.modules\n"
        "assert tekcify_auth.django.HasScopes.__name__ == 'HasScopes'\n"
        "assert 'rest_framework' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
