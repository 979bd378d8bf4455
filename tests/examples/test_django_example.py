"""examples/django_app under waitress, called over HTTP with and without a token."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest
from wsgi_server import ROOT, SECRET, serve

from tekcify_auth.testing import mint_access_token

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with serve("examples.django_app.wsgi:application") as url:
        yield url


def bearer(sub: str = "user-1", **kwargs: object) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_access_token(sub, secret=SECRET, **kwargs)}"}


def test_public_route(base_url: str) -> None:
    response = httpx.get(f"{base_url}/")
    assert response.status_code == 200
    assert response.json() == {"message": "Hello from the public route"}


@pytest.mark.parametrize("url", ["/api/profile", "/api/orders", "/api/drf/profile"])
def test_api_needs_a_token(base_url: str, url: str) -> None:
    response = httpx.get(f"{base_url}{url}")
    assert response.status_code == 401
    assert response.json() == {
        "statusCode": 401,
        "error": "Unauthorized",
        "message": "Missing or invalid authorization header",
    }
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_profile_with_a_token(base_url: str) -> None:
    response = httpx.get(f"{base_url}/api/profile", headers=bearer(scopes=["read:profile"]))
    assert response.status_code == 200
    expected = {
        "user": {
            "userId": "user-1",
            "email": "ada@example.com",
            "scopes": ["read:profile"],
            "role": "user",
        }
    }
    assert response.json() == expected
    drf = httpx.get(f"{base_url}/api/drf/profile", headers=bearer(scopes=["read:profile"]))
    assert drf.json() == expected


def test_unknown_user_and_bad_token(base_url: str) -> None:
    response = httpx.get(f"{base_url}/api/profile", headers=bearer("ghost"))
    assert response.status_code == 401
    assert response.json()["message"] == "User not found"
    response = httpx.get(f"{base_url}/api/profile", headers=bearer(expires_in=-30))
    assert response.status_code == 401
    assert response.json()["message"] == "Invalid or expired token"


@pytest.mark.parametrize("url", ["/api/orders", "/api/drf/profile"])
def test_scoped_routes(base_url: str, url: str) -> None:
    response = httpx.get(f"{base_url}{url}", headers=bearer())
    assert response.status_code == 403
    assert response.json()["message"] == "Insufficient scope"
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]


def test_orders_with_the_scope(base_url: str) -> None:
    response = httpx.get(f"{base_url}/api/orders", headers=bearer(scopes=["read:orders"]))
    assert response.json() == {"userId": "user-1", "orders": []}


def test_runs_without_manage_py() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "examples.django_app", "check"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout
