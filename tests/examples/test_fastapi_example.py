"""examples/fastapi_app.py under uvicorn, called over HTTP with and without a token."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tekcify_auth.testing import mint_access_token

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SECRET = "fastapi-example-test-secret"
APP = "examples.fastapi_app:app"


class Server:
    """The example under uvicorn on 127.0.0.1; ``log`` collects what it writes to stderr."""

    def __init__(self, url: str, log: list[str]) -> None:
        self.url = url
        self.log = log


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    env = {**os.environ, "JWT_ACCESS_SECRET": SECRET, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        # Port 0: the OS picks a free port and uvicorn logs which one it got.
        [sys.executable, "-m", "uvicorn", APP, "--host", "127.0.0.1", "--port", "0",
         "--no-access-log"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    log: list[str] = []
    started = threading.Event()
    url: list[str] = []

    def drain() -> None:
        # Keep reading so that the server never blocks on a full pipe.
        assert process.stderr is not None
        for line in process.stderr:
            log.append(line)
            match = re.search(r"Uvicorn running on (http://127\.0\.0\.1:\d+)", line)
            if match:
                url.append(match.group(1))
                started.set()
        started.set()

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        started.wait(timeout=60)
        if not url:
            raise RuntimeError(f"{APP} did not start:\n{''.join(log)}")
        yield Server(url[0], log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        reader.join(timeout=10)
        process.stderr.close()


def bearer(sub: str = "user-1", **kwargs: object) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_access_token(sub, secret=SECRET, **kwargs)}"}


def test_health_is_public(server: Server) -> None:
    response = httpx.get(f"{server.url}/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_profile_needs_a_token(server: Server) -> None:
    response = httpx.get(f"{server.url}/profile")
    assert response.status_code == 401
    assert response.json() == {"detail": "Missing or invalid authorization header"}
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_profile_with_a_token(server: Server) -> None:
    response = httpx.get(f"{server.url}/profile", headers=bearer(scopes=["read:orders"]))
    assert response.status_code == 200
    assert response.json() == {
        "userId": "user-1", "email": "ada@example.com", "scopes": ["read:orders"], "role": "user"
    }


def test_unknown_user_and_bad_token(server: Server) -> None:
    response = httpx.get(f"{server.url}/profile", headers=bearer("ghost"))
    assert response.status_code == 401
    assert response.json() == {"detail": "User not found"}
    wrong = {"Authorization": f"Bearer {mint_access_token('user-1', secret='wrong-secret')}"}
    response = httpx.get(f"{server.url}/profile", headers=wrong)
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid or expired token"}
    assert response.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')


def test_scoped_route(server: Server) -> None:
    response = httpx.get(f"{server.url}/orders", headers=bearer())
    assert response.status_code == 403
    assert response.json() == {"detail": "Insufficient scope"}
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]
    response = httpx.get(f"{server.url}/orders", headers=bearer(scopes=["read:orders"]))
    assert response.json() == {"userId": "user-1", "orders": []}


def test_swagger_can_authorize(server: Server) -> None:
    document = httpx.get(f"{server.url}/openapi.json").json()
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert document["paths"]["/profile"]["get"]["security"] == [{"HTTPBearer": []}]
    assert "security" not in document["paths"]["/health"]["get"]
    assert httpx.get(f"{server.url}/docs").status_code == 200


def test_refusals_reach_the_server_log_and_no_dev_secret_warning(server: Server) -> None:
    httpx.get(f"{server.url}/profile")
    # The refusal is logged before the answer is sent; the reader thread may lag a line.
    for _ in range(200):
        if any("reason=missing_header" in line for line in server.log):
            break
        threading.Event().wait(0.05)
    assert any("authentication refused" in line and "route=/profile" in line
               for line in server.log)
    assert not any("JWT_ACCESS_SECRET is not set" in line for line in server.log)


def test_without_secret_the_example_warns_and_uses_the_dev_secret() -> None:
    env = {k: v for k, v in os.environ.items() if k != "JWT_ACCESS_SECRET"}
    env["PYTHONPATH"] = str(ROOT)
    out = subprocess.run(
        [sys.executable, "-c", "import examples.fastapi_app as m; print(m.JWT_ACCESS_SECRET)"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True,
    )
    assert "WARNING: JWT_ACCESS_SECRET is not set" in out.stderr
    assert out.stdout.strip() == "dev-secret-change-me"
