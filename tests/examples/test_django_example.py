"""examples/django_app, started as its README section says, called with tokens the real
auth server issued."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest
from example_support import ROOT, Example, Tokens, bearer, run_example

from e2e.support import ServerProcess

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def example(auth_server: ServerProcess) -> Iterator[Example]:
    with run_example("examples.django_app", auth_server, "/") as running:
        yield running


def test_public_route(example: Example) -> None:
    response = httpx.get(f"{example.url}/")
    assert response.status_code == 200
    assert response.json() == {"message": "Hello from the public route"}


@pytest.mark.parametrize("url", ["/api/profile", "/api/orders", "/api/drf/profile"])
def test_api_needs_a_token(example: Example, url: str) -> None:
    response = httpx.get(f"{example.url}{url}")
    assert response.status_code == 401
    assert response.json() == {
        "statusCode": 401,
        "error": "Unauthorized",
        "message": "Missing or invalid authorization header",
    }
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_a_real_login_token_works(example: Example, tokens: Tokens) -> None:
    for url in ("/api/profile", "/api/drf/profile"):
        response = httpx.get(f"{example.url}{url}", headers=bearer(tokens.first_party))
        assert response.status_code == 200, response.text
        user = response.json()["user"]
        assert (user["userId"], user["email"]) == (tokens.user_id, tokens.email)


def test_a_deleted_account_and_a_bad_token(example: Example, tokens: Tokens) -> None:
    response = httpx.get(f"{example.url}/api/profile", headers=bearer(tokens.deleted))
    assert response.status_code == 401
    assert response.json()["message"] == "User not found"
    response = httpx.get(f"{example.url}/api/profile", headers=bearer(tokens.first_party + "x"))
    assert response.status_code == 401
    assert response.json()["message"] == "Invalid or expired token"


def test_scopes(example: Example, tokens: Tokens) -> None:
    response = httpx.get(f"{example.url}/api/orders", headers=bearer(tokens.first_party))
    assert response.status_code == 403
    assert response.json()["message"] == "Insufficient scope"
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]
    response = httpx.get(f"{example.url}/api/orders", headers=bearer(tokens.app))
    assert response.json() == {"userId": tokens.user_id, "orders": []}
    # The application was not granted read:profile, which the DRF view needs.
    response = httpx.get(f"{example.url}/api/drf/profile", headers=bearer(tokens.app))
    assert response.status_code == 403


def test_other_commands_work_without_manage_py() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "examples.django_app", "check"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout
