"""The tekcify-auth command: serve in a real process, db upgrade, users."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tekcify_auth import verify_access_token
from tekcify_auth.cli import _allowed_hosts_for, main
from tekcify_auth.server.db.migrate import head_revision

from .conftest import PASSWORD, make_settings, running

FAST_HASHING_ENV = {
    "TEKCIFY_ARGON2_TIME_COST": "1", "TEKCIFY_ARGON2_MEMORY_COST": "8",
    "TEKCIFY_ARGON2_PARALLELISM": "1",
}


def _clean_env() -> dict[str, str]:
    return {
        k: v for k, v in os.environ.items()
        if not k.startswith("TEKCIFY_") and k != "JWT_ACCESS_SECRET"
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.mark.slow
def test_serve_works_with_nothing_configured(tmp_path: Path) -> None:
    port = _free_port()
    data = tmp_path / "data"
    env = {**_clean_env(), **FAST_HASHING_ENV, "TEKCIFY_DATA_DIR": str(data)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tekcify_auth.cli", "serve", "--port", str(port)],
        env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=5) as client:
            deadline = time.monotonic() + 30
            while True:
                try:
                    health = client.get("/health")
                    break
                except httpx.TransportError:
                    assert proc.poll() is None, proc.communicate()
                    assert time.monotonic() < deadline, "the server did not come up"
                    time.sleep(0.1)
            assert health.json() == {"status": "ok", "database": "ok"}
            created = client.post(
                "/api/auth/register", json={"email": "ada@example.com", "password": PASSWORD}
            )
            assert created.status_code == 201
            tokens = client.post(
                "/api/auth/login", json={"email": "ada@example.com", "password": PASSWORD}
            )
            assert tokens.status_code == 200
            access = tokens.json()["accessToken"]
            # The hosts it was started for, at its port; no other (issue 10, item 14).
            discovery = "/.well-known/openid-configuration"
            for host in (f"localhost:{port}", f"127.0.0.1:{port}"):
                assert client.get(discovery, headers={"Host": host}).status_code == 200
            for host in ("tracker.evil.example", f"localhost:{port + 1}", "localhost"):
                assert client.get(discovery, headers={"Host": host}).status_code == 400
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=20)
    # uvicorn shuts down cleanly on SIGTERM, then re-raises it (exit by that signal).
    assert proc.returncode in (0, -signal.SIGTERM), err
    assert "Application shutdown complete" in err
    secret_file = (data / "jwt_access_secret").resolve()
    secret = secret_file.read_text().strip()
    assert verify_access_token(access, secret=secret).valid
    # It names itself as the library's AUTH_SERVER_URL default does (issue 11, item 8).
    canonical = f"http://localhost:{port}"
    assert f"listening on {canonical}" in out
    assert str(secret_file) in out
    assert "JWT_ACCESS_SECRET" in out
    assert f"{canonical}/api/.well-known/jwks.json" in out
    assert secret not in out + err
    access_lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert [(e["method"], e["path"], e["status"]) for e in access_lines][:3] == [
        ("GET", "/health", 200), ("POST", "/api/auth/register", 201),
        ("POST", "/api/auth/login", 200),
    ]
    assert PASSWORD not in out + err
    assert access not in out + err
    assert (data / "tekcify.sqlite3").exists()


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The process environment of an in-process CLI run: a fresh data folder only."""
    for name in list(os.environ):
        if name.startswith("TEKCIFY_") or name == "JWT_ACCESS_SECRET":
            monkeypatch.delenv(name)
    for name, value in FAST_HASHING_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("TEKCIFY_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def _run(
    args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    stdin: str = "",
) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_users_create_list_disable(
    cli_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _ = _run(
        ["users", "create", "--email", "Root@Example.com", "--admin", "--password-stdin"],
        capsys, monkeypatch, stdin=PASSWORD + "\n",
    )
    assert code == 0
    assert "created admin root@example.com" in out
    code, _, err = _run(
        ["users", "create", "--email", "root@example.com", "--password-stdin"],
        capsys, monkeypatch, stdin=PASSWORD + "\n",
    )
    assert code == 1
    assert "already exists" in err
    code, _, err = _run(
        ["users", "create", "--email", "x@example.com", "--password-stdin"],
        capsys, monkeypatch, stdin="short\n",
    )
    assert code == 1
    assert "8 to 1024" in err
    code, out, _ = _run(["users", "list"], capsys, monkeypatch)
    assert code == 0
    lines = out.strip().splitlines()
    assert len(lines) == 2
    assert "admin" in lines[1]
    assert "active" in lines[1]
    code, out, _ = _run(["users", "disable", "ROOT@example.com"], capsys, monkeypatch)
    assert code == 0
    code, out, _ = _run(["users", "list"], capsys, monkeypatch)
    assert "disabled" in out.splitlines()[1]
    code, _, err = _run(["users", "disable", "nobody@example.com"], capsys, monkeypatch)
    assert code == 1
    assert "User not found" in err


def test_users_enable_undoes_disable(
    cli_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _run(
        ["users", "create", "--email", "root@example.com", "--password-stdin"],
        capsys, monkeypatch, stdin=PASSWORD + "\n",
    )
    code, out, _ = _run(["users", "disable", "root@example.com"], capsys, monkeypatch)
    assert code == 0
    assert "applications suspended" in out
    code, out, _ = _run(["users", "enable", "Root@Example.com"], capsys, monkeypatch)
    assert code == 0
    assert "enabled root@example.com" in out
    code, out, _ = _run(["users", "list"], capsys, monkeypatch)
    assert "active" in out.splitlines()[1]
    code, _, err = _run(["users", "enable", "nobody@example.com"], capsys, monkeypatch)
    assert code == 1
    assert "User not found" in err


def test_db_upgrade_reports_the_revision(
    cli_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _ = _run(["db", "upgrade"], capsys, monkeypatch)
    assert code == 0
    assert f"is at revision {head_revision()}" in out
    assert (cli_env / "tekcify.sqlite3").exists()


def test_a_bad_setting_stops_the_command_with_its_name(
    cli_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEKCIFY_SIGNING_ALG", "none")
    code, _, err = _run(["serve"], capsys, monkeypatch)
    assert code == 1
    assert "TEKCIFY_SIGNING_ALG=none is not valid" in err


async def test_apps_allow_and_deny_client_credentials(cli_env: Path) -> None:
    from tekcify_auth.server.context import ServerContext
    from tekcify_auth.server.services import accounts, applications
    from tekcify_auth.server.settings import load_settings

    settings = load_settings()
    ctx = ServerContext(settings)
    ctx.start()
    try:
        with ctx.db.write() as db:
            owner = accounts.create_user(
                db, ctx, email="owner@example.com", password_hash=ctx.passwords.hash(PASSWORD)
            )
            application, secret = applications.create_application(
                db, owner_id=owner.id, name="Orders", scopes=["openid", "read:orders"],
                redirect_uris=["https://orders.example.com/callback"], now=ctx.clock(),
            )
        client_id = application.client_id
    finally:
        ctx.stop()
    assert secret is not None

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "tekcify_auth.cli", "apps", *args],
            env=dict(os.environ), capture_output=True, text=True, timeout=120, check=False,
        )

    async with running(settings) as (_app, server):

        async def grant(scope: str | None = None) -> httpx.Response:
            form = {"grant_type": "client_credentials"}
            if scope is not None:
                form["scope"] = scope
            return await server.post("/api/oauth/token", data=form, auth=(client_id, secret))

        refused = await grant()
        assert refused.status_code == 400
        assert refused.json()["error"] == "unauthorized_client"

        allowed = cli("allow-client-credentials", client_id, "--scopes", "read:orders admin")
        assert allowed.returncode == 0, allowed.stderr
        assert f"{client_id} may use client_credentials for: read:orders" in allowed.stdout
        assert "admin" in allowed.stdout  # named as not granted: the app did not register it
        token = await grant()
        assert token.status_code == 200, token.text
        assert token.json()["scope"] == "read:orders"
        assert (await grant("openid")).json()["error"] == "invalid_scope"

        denied = cli("deny-client-credentials", client_id)
        assert denied.returncode == 0, denied.stderr
        assert (await grant()).json()["error"] == "unauthorized_client"
        introspected = await server.post(
            "/api/oauth/token/introspect", data={"token": token.json()["access_token"]},
            auth=(client_id, secret),
        )
        assert introspected.json() == {"active": False}

    unknown = cli("allow-client-credentials", "no-such-client", "--scopes", "openid")
    assert unknown.returncode == 1
    assert "no application 'no-such-client'" in unknown.stderr
    missing = cli("allow-client-credentials", client_id)
    assert missing.returncode == 2  # argparse: --scopes is required


def test_serve_hands_a_host_name_to_the_allowed_hosts() -> None:
    settings = make_settings(allowed_hosts="proxy.internal")
    assert _allowed_hosts_for(settings, "Auth.Internal", 7001) == (
        "proxy.internal,auth.internal:7001"
    )
    for address in ("127.0.0.1", "0.0.0.0", "::", "10.0.0.5", "localhost"):
        assert _allowed_hosts_for(settings, address, 7001) is None
    public = make_settings(public_url="https://auth.example.com")
    assert _allowed_hosts_for(public, "auth.internal", 7001) is None
