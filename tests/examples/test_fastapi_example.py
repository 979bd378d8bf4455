"""examples/fastapi_app.py, started as its README section says, called with tokens the
real auth server issued."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator

import httpx
import pytest
from example_support import ROOT, Example, Tokens, bearer, run_example

from e2e.support import ServerProcess

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def example(auth_server: ServerProcess) -> Iterator[Example]:
    with run_example("examples.fastapi_app", auth_server, "/health") as running:
        yield running


def test_health_is_public(example: Example) -> None:
    response = httpx.get(f"{example.url}/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_profile_needs_a_token(example: Example) -> None:
    response = httpx.get(f"{example.url}/profile")
    assert response.status_code == 401
    assert response.json() == {"detail": "Missing or invalid authorization header"}
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_a_real_login_token_works(example: Example, tokens: Tokens) -> None:
    response = httpx.get(f"{example.url}/profile", headers=bearer(tokens.first_party))
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["userId"], body["email"], body["role"]) == (tokens.user_id, tokens.email, "user")
    assert "read:profile" in body["scopes"]


def test_a_deleted_account_is_user_not_found(example: Example, tokens: Tokens) -> None:
    # The token still verifies with the secret; the server no longer knows its user.
    response = httpx.get(f"{example.url}/profile", headers=bearer(tokens.deleted))
    assert response.status_code == 401
    assert response.json() == {"detail": "User not found"}


def test_a_token_of_another_secret_is_refused(tokens: Tokens, auth_server: ServerProcess) -> None:
    with run_example("examples.fastapi_app", auth_server, "/health", secret="wrong") as other:
        response = httpx.get(f"{other.url}/profile", headers=bearer(tokens.first_party))
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid or expired token"}
    assert response.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')


def test_orders_need_read_orders(example: Example, tokens: Tokens) -> None:
    response = httpx.get(f"{example.url}/orders", headers=bearer(tokens.first_party))
    assert response.status_code == 403
    assert response.json() == {"detail": "Insufficient scope"}
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]
    response = httpx.get(f"{example.url}/orders", headers=bearer(tokens.app))
    assert response.status_code == 200, response.text
    assert response.json() == {"userId": tokens.user_id, "orders": []}


def test_swagger_can_authorize(example: Example) -> None:
    document = httpx.get(f"{example.url}/openapi.json").json()
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert document["paths"]["/profile"]["get"]["security"] == [{"HTTPBearer": []}]
    assert "security" not in document["paths"]["/health"]["get"]
    assert httpx.get(f"{example.url}/docs").status_code == 200


def test_refusals_reach_the_log_and_no_dev_secret_warning(example: Example) -> None:
    httpx.get(f"{example.url}/profile")
    # The refusal is logged before the answer is sent; the reader thread may lag a line.
    for _ in range(200):
        if any("reason=missing_header" in line for line in example.log):
            break
        threading.Event().wait(0.05)
    assert any("authentication refused" in line and "route=/profile" in line
               for line in example.log)
    assert not any("JWT_ACCESS_SECRET is not set" in line for line in example.log)


def test_without_secret_the_example_warns_and_uses_the_dev_secret() -> None:
    env = {k: v for k, v in os.environ.items() if k != "JWT_ACCESS_SECRET"}
    out = subprocess.run(
        [sys.executable, "-c", "import examples.fastapi_app as m; print(m.JWT_ACCESS_SECRET)"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True,
    )
    assert "WARNING: JWT_ACCESS_SECRET is not set" in out.stderr
    assert out.stdout.strip() == "dev-secret-change-me"
