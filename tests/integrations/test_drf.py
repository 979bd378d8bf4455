"""Django REST framework: ``JwtAuthentication`` and ``HasScopes``."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import django_test_settings
import pytest
from django.test import override_settings
from django.urls import path
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.test import APIClient
from rest_framework.views import APIView

from tekcify_auth.django import HasScopes, JwtAuthentication, TekcifyUser
from tekcify_auth.testing import mint_access_token, override_django_user

SECRET = django_test_settings.SECRET
MISSING = "Missing or invalid authorization header"
SCOPE_CHALLENGE = (
    'Bearer error="insufficient_scope", '
    'error_description="The token lacks the scopes: read:orders", scope="read:orders"'
)


def token(sub: str = "user-1", **kwargs: Any) -> str:
    return mint_access_token(sub, secret=SECRET, **kwargs)


def who(request: Request) -> Response:
    user = request.user
    if not isinstance(user, TekcifyUser):
        return Response({"user": None, "authenticated": bool(user and user.is_authenticated)})
    return Response({
        "userId": user.user_id,
        "pk": user.pk,
        "email": user.email,
        "scopes": list(user.scopes),
        "auth": request.auth,
    })


class Profile(APIView):
    permission_classes = [HasScopes]

    def get(self, request: Request) -> Response:
        return who(request)


class Orders(APIView):
    permission_classes = [HasScopes.with_scopes("read:orders")]

    def get(self, request: Request) -> Response:
        return who(request)


class ViewScoped(APIView):
    permission_classes = [HasScopes]
    required_scopes = "read:orders"

    def get(self, request: Request) -> Response:
        return who(request)


class Open(APIView):
    permission_classes: list[type] = []

    def get(self, request: Request) -> Response:
        return who(request)


class DrfAuthenticated(APIView):
    authentication_classes = [JwtAuthentication]
    permission_classes = [IsAuthenticated]

    def get(self, request: Request) -> Response:
        return who(request)


urlpatterns = [
    path("api/profile", Profile.as_view()),
    path("api/orders", Orders.as_view()),
    path("api/view-scoped", ViewScoped.as_view()),
    path("api/open", Open.as_view()),
    path("api/drf", DrfAuthenticated.as_view()),
]

HOOK_CALLS: list[str] = []


def lookup(user_id: str) -> dict[str, str] | None:
    HOOK_CALLS.append(user_id)
    return None if user_id == "ghost" else {"email": f"{user_id}@hook.example"}


async def alookup(user_id: str) -> dict[str, str] | None:
    return None if user_id == "ghost" else {"email": f"{user_id}@async.example"}


def configure(middleware: list[str] | None = None, **tekcify: Any) -> Any:
    return override_settings(
        ROOT_URLCONF=__name__,
        MIDDLEWARE=middleware or [],
        TEKCIFY_AUTH={"SECRET": SECRET, **tekcify},
    )


@pytest.fixture
def client() -> Iterator[APIClient]:
    HOOK_CALLS.clear()
    with configure():
        yield APIClient()


def with_token(client: APIClient, value: str) -> APIClient:
    client.credentials(HTTP_AUTHORIZATION=value)
    return client


def assert_refusal(response: Any, status: int, message: str, challenge: str) -> None:
    assert response.status_code == status
    error = "Forbidden" if status == 403 else "Unauthorized"
    assert response.json() == {"statusCode": status, "error": error, "message": message}
    assert response["WWW-Authenticate"] == challenge


def test_valid_token(client: APIClient) -> None:
    value = token(email="a@example.com", scopes=["x"])
    response = with_token(client, f"Bearer {value}").get("/api/profile")
    assert response.status_code == 200
    assert response.json() == {
        "userId": "user-1", "pk": "user-1", "email": "a@example.com", "scopes": ["x"],
        "auth": value,
    }


def test_no_token_is_401_with_the_node_message(client: APIClient) -> None:
    assert_refusal(client.get("/api/profile"), 401, MISSING, "Bearer")


def test_another_scheme_is_left_to_other_authenticators(client: APIClient) -> None:
    response = with_token(client, "Basic dXNlcjpwYXNz").get("/api/open")
    assert response.json() == {"user": None, "authenticated": False}
    assert_refusal(client.get("/api/profile"), 401, MISSING, "Bearer")


@pytest.mark.parametrize("value", ["Bearer", "Bearer a b", "bearer {t} junk"])
def test_junk_bearer_header_is_401(client: APIClient, value: str) -> None:
    response = with_token(client, value.format(t=token())).get("/api/profile")
    assert_refusal(
        response,
        401,
        MISSING,
        'Bearer error="invalid_request", error_description="Authorization must be '
        "'Bearer <token>'\"",
    )


@pytest.mark.parametrize("url", ["/api/profile", "/api/open", "/api/drf"])
@pytest.mark.parametrize(
    "value", [token(expires_in=-1), token()[:-3] + "abc", "x.y.z", token(type="temp")]
)
def test_bad_token_is_401_even_on_open_views(client: APIClient, url: str, value: str) -> None:
    response = with_token(client, f"BEARER {value}").get(url)
    assert_refusal(
        response,
        401,
        "Invalid or expired token",
        'Bearer error="invalid_token", error_description="The access token is invalid or expired"',
    )


def test_missing_scope_is_403_insufficient_scope(client: APIClient) -> None:
    with_token(client, f"Bearer {token(scopes=['read:profile'])}")
    assert_refusal(client.get("/api/orders"), 403, "Insufficient scope", SCOPE_CHALLENGE)
    assert_refusal(client.get("/api/view-scoped"), 403, "Insufficient scope", SCOPE_CHALLENGE)


def test_scopes_admit(client: APIClient) -> None:
    with_token(client, f"Bearer {token(scopes=['read:orders'])}")
    assert client.get("/api/orders").status_code == 200
    assert client.get("/api/view-scoped").status_code == 200


def test_drf_is_authenticated_answers_401_not_403(client: APIClient) -> None:
    response = client.get("/api/drf")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert with_token(client, f"Bearer {token()}").get("/api/drf").status_code == 200


def test_open_view_sees_the_tekcify_user(client: APIClient) -> None:
    response = with_token(client, f"Bearer {token('open-user')}").get("/api/open")
    assert response.json()["userId"] == "open-user"


@pytest.mark.parametrize("hook", [lookup, alookup])
def test_user_hooks(hook: Any) -> None:
    with configure(GET_USER_INFO=hook):
        client = APIClient()
        response = with_token(client, f"Bearer {token('amy')}").get("/api/profile")
        assert response.json()["email"].startswith("amy@")
        response = with_token(client, f"Bearer {token('ghost')}").get("/api/profile")
        assert response.status_code == 401
        assert response.json()["message"] == "User not found"


def test_middleware_authenticated_requests_are_not_verified_twice() -> None:
    HOOK_CALLS.clear()
    with configure(["tekcify_auth.django.JwtAuthMiddleware"], GET_USER_INFO=lookup):
        client = with_token(APIClient(), f"Bearer {token(scopes=['read:orders'])}")
        assert client.get("/api/orders").json()["email"] == "user-1@hook.example"
        assert_refusal(APIClient().get("/api/open"), 401, MISSING, "Bearer")
    assert HOOK_CALLS == ["user-1"]


def test_scope_refusal_is_logged(client: APIClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="tekcify_auth"):
        with_token(client, f"Bearer {token()}").get("/api/orders")
        APIClient().get("/api/profile")
    messages = [r.getMessage() for r in caplog.records if r.name == "tekcify_auth"]
    assert len(messages) == 2
    assert "reason=insufficient_scope status=403 route=/api/orders" in messages[0]
    assert "reason=missing_header status=401 route=/api/profile" in messages[1]


def test_override_stands_in_without_a_token(client: APIClient) -> None:
    with override_django_user("stand-in", scopes=["read:orders"]):
        response = client.get("/api/orders")
        assert response.json()["userId"] == "stand-in"
        assert response.json()["auth"] is None
    with override_django_user("stand-in"):
        assert_refusal(client.get("/api/orders"), 403, "Insufficient scope", SCOPE_CHALLENGE)


def test_with_scopes_builds_named_subclasses() -> None:
    permission = HasScopes.with_scopes("b", "a")
    assert issubclass(permission, HasScopes)
    assert permission.scopes == {"a", "b"}
    assert permission.__name__ == "HasScopes[a b]"
    assert permission.with_scopes("c").scopes == {"a", "b", "c"}
    assert HasScopes.scopes == frozenset()


def test_tekcify_user_is_a_user() -> None:
    from tekcify_auth import UserPayload

    user = TekcifyUser(UserPayload(user_id="u", email="e@x", scopes=("a", "b"), role="admin"))
    assert user.is_authenticated
    assert not user.is_anonymous
    assert (user.pk, user.id, user.username, user.get_username(), str(user)) == ("u",) * 5
    assert user.has_scopes("a", "b")
    assert not user.has_scopes("c")
    assert user.role == "admin"
    assert user == TekcifyUser(user.payload)
