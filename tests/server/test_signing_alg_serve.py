"""``tekcify-auth serve`` keeps the signing algorithm recorded at its first start.

Issue 11, item 10: restarted without ``TEKCIFY_SIGNING_ALG`` the server signed HS256
again while an ES256 key was active, and resource servers on the JWKS refused every
token. These run the real command in a subprocess, on SQLite in a private data folder.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from e2e.support import ServerProcess

pytestmark = pytest.mark.slow


def _env(data_dir: Path, **settings: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items()
        if not k.startswith("TEKCIFY_") and k != "JWT_ACCESS_SECRET"
    }
    env.update(TEKCIFY_DATA_DIR=str(data_dir), **settings)
    return env


def _command(data_dir: Path, *args: str, **settings: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tekcify_auth.cli", *args], env=_env(data_dir, **settings),
        cwd=data_dir, capture_output=True, text=True, timeout=120, check=False,
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _published(server: ServerProcess) -> list[tuple[str, str]]:
    keys = httpx.get(f"{server.url}/api/.well-known/jwks.json", timeout=10).json()["keys"]
    return [(key["alg"], key["kid"]) for key in keys]


def _running(data_dir: Path, **settings: str) -> ServerProcess:
    # ServerProcess gives every instance a JWT_ACCESS_SECRET; HS256 is not in play here.
    return ServerProcess(data_dir, settings)


def test_a_restart_with_another_algorithm_refuses_and_an_unset_one_keeps_it(
    tmp_path: Path,
) -> None:
    data = tmp_path
    first = _running(data, TEKCIFY_SIGNING_ALG="ES256")
    try:
        [(alg, kid)] = _published(first)
        assert alg == "ES256"
    finally:
        first.stop()

    database = data / "tekcify.sqlite3"
    before = database.read_bytes()
    refused = _command(data, "serve", "--port", str(_free_port()), TEKCIFY_SIGNING_ALG="HS256")
    assert refused.returncode == 1
    assert database.read_bytes() == before  # refused before anything was written
    assert "Traceback" not in refused.stderr
    assert "listening" not in refused.stdout
    said = refused.stderr
    assert "TEKCIFY_SIGNING_ALG=HS256, but this database signs with ES256" in said
    assert "resource servers that verify with the JWKS" in said
    assert "`tekcify-auth keys switch-alg HS256`" in said
    assert "set TEKCIFY_SIGNING_ALG=ES256, or unset it" in said

    # The restart without the variable: ES256 still, the same key, and it says so.
    unset = _running(data)
    try:
        assert _published(unset) == [("ES256", kid)]
        assert "signing:  ES256 (TEKCIFY_SIGNING_ALG unset: the algorithm recorded" in (
            unset.output()
        )
    finally:
        unset.stop()


def test_switch_alg_then_serve_starts_with_the_new_algorithm(tmp_path: Path) -> None:
    data = tmp_path
    first = _running(data, TEKCIFY_SIGNING_ALG="ES256")
    try:
        [(_alg, old_kid)] = _published(first)
    finally:
        first.stop()

    # The operator's environment still says ES256: the command does not mind.
    switched = _command(data, "keys", "switch-alg", "EdDSA", TEKCIFY_SIGNING_ALG="ES256")
    assert switched.returncode == 0, switched.stderr
    out = switched.stdout
    assert "signing algorithm switched from ES256 to EdDSA" in out
    assert f"retired {old_kid}: published until" in out
    assert "set TEKCIFY_SIGNING_ALG=EdDSA" in out

    # Now the old value is the mismatch.
    refused = _command(data, "serve", "--port", str(_free_port()), TEKCIFY_SIGNING_ALG="ES256")
    assert refused.returncode == 1
    assert "TEKCIFY_SIGNING_ALG=ES256, but this database signs with EdDSA" in refused.stderr

    server = _running(data, TEKCIFY_SIGNING_ALG="EdDSA")
    try:
        published = _published(server)
        assert [alg for alg, _kid in published] == ["EdDSA", "ES256"]
        assert published[1][1] == old_kid  # published until its tokens have expired
    finally:
        server.stop()

    listed = _command(data, "keys", "list")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    states = [line.split()[1:3] for line in lines[1:3]]
    assert states == [["EdDSA", "active"], ["ES256", "retired"]]
    assert lines[3].startswith(f"{old_kid} leaves the JWKS at ")  # what happens next

    again = _command(data, "keys", "switch-alg", "EdDSA")
    assert again.returncode == 0
    assert "already signs with EdDSA; nothing changed" in again.stdout
