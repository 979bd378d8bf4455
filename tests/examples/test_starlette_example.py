"""examples/starlette_app.py, started as its README section says, called with tokens the
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
    with run_example("examples.starlette_app", auth_server, "/health") as running:
        yield running


def test_health_is_public(example: Example) -> None:
    assert httpx.get(f"{example.url}/health").json() == {"status": "ok"}


def test_profile_needs_a_token(example: Example) -> None:
    response = httpx.get(f"{example.url}/profile")
    assert response.status_code == 401
    assert response.json() == {
        "statusCode": 401, "error": "Unauthorized",
        "message": "Missing or invalid authorization header",
    }


def test_real_tokens_work(example: Example, tokens: Tokens) -> None:
    for token in (tokens.first_party, tokens.app):
        response = httpx.get(f"{example.url}/profile", headers=bearer(token))
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["userId"], body["email"]) == (tokens.user_id, tokens.email)
    assert "read:orders" in body["scopes"]  # the application's token


def test_a_deleted_account_is_user_not_found(example: Example, tokens: Tokens) -> None:
    response = httpx.get(f"{example.url}/profile", headers=bearer(tokens.deleted))
    assert response.status_code == 401
    assert response.json()["message"] == "User not found"
