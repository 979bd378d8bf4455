"""examples/flask_app.py, started as its README section says, called with tokens the
real auth server issued."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from example_support import Example, Tokens, bearer, run_example

from e2e.support import ServerProcess

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def example(auth_server: ServerProcess) -> Iterator[Example]:
    with run_example("examples.flask_app", auth_server, "/") as running:
        yield running


def test_public_route(example: Example) -> None:
    response = httpx.get(f"{example.url}/")
    assert response.status_code == 200
    assert response.json() == {"message": "Hello from the public route"}


def test_profile_needs_a_token(example: Example) -> None:
    response = httpx.get(f"{example.url}/api/profile")
    assert response.status_code == 401
    assert response.json() == {
        "statusCode": 401,
        "error": "Unauthorized",
        "message": "Missing or invalid authorization header",
    }
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_a_real_login_token_works(example: Example, tokens: Tokens) -> None:
    response = httpx.get(f"{example.url}/api/profile", headers=bearer(tokens.first_party))
    assert response.status_code == 200, response.text
    user = response.json()["user"]
    assert (user["userId"], user["email"], user["role"]) == (tokens.user_id, tokens.email, "user")


def test_a_deleted_account_and_a_bad_token(example: Example, tokens: Tokens) -> None:
    response = httpx.get(f"{example.url}/api/profile", headers=bearer(tokens.deleted))
    assert response.status_code == 401
    assert response.json()["message"] == "User not found"
    response = httpx.get(f"{example.url}/api/profile", headers=bearer(tokens.first_party + "x"))
    assert response.status_code == 401
    assert response.json()["message"] == "Invalid or expired token"


def test_orders_need_read_orders(example: Example, tokens: Tokens) -> None:
    response = httpx.get(f"{example.url}/api/orders", headers=bearer(tokens.first_party))
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]
    response = httpx.get(f"{example.url}/api/orders", headers=bearer(tokens.app))
    assert response.status_code == 200, response.text
    assert response.json() == {"userId": tokens.user_id, "orders": []}
