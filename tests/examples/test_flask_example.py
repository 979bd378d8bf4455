"""examples/flask_app.py under waitress, called over HTTP with and without a token."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from wsgi_server import SECRET, serve

from tekcify_auth.testing import mint_access_token

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with serve("examples.flask_app:app") as url:
        yield url


def bearer(sub: str = "user-1", **kwargs: object) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_access_token(sub, secret=SECRET, **kwargs)}"}


def test_public_route(base_url: str) -> None:
    response = httpx.get(f"{base_url}/")
    assert response.status_code == 200
    assert response.json() == {"message": "Hello from the public route"}


def test_profile_needs_a_token(base_url: str) -> None:
    response = httpx.get(f"{base_url}/api/profile")
    assert response.status_code == 401
    assert response.json() == {
        "statusCode": 401,
        "error": "Unauthorized",
        "message": "Missing or invalid authorization header",
    }
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_profile_with_a_token(base_url: str) -> None:
    response = httpx.get(f"{base_url}/api/profile", headers=bearer(scopes=["read:orders"]))
    assert response.status_code == 200
    assert response.json() == {
        "user": {
            "userId": "user-1",
            "email": "ada@example.com",
            "scopes": ["read:orders"],
            "role": "user",
        }
    }


def test_unknown_user_and_bad_token(base_url: str) -> None:
    response = httpx.get(f"{base_url}/api/profile", headers=bearer("ghost"))
    assert response.status_code == 401
    assert response.json()["message"] == "User not found"
    wrong = {"Authorization": f"Bearer {mint_access_token('user-1', secret='wrong')}"}
    response = httpx.get(f"{base_url}/api/profile", headers=wrong)
    assert response.status_code == 401
    assert response.json()["message"] == "Invalid or expired token"


def test_scoped_route(base_url: str) -> None:
    response = httpx.get(f"{base_url}/api/orders", headers=bearer())
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]
    response = httpx.get(f"{base_url}/api/orders", headers=bearer(scopes=["read:orders"]))
    assert response.json() == {"userId": "user-1", "orders": []}
