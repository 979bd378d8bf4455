"""``tekcify-auth serve`` checks what it needs before it touches anything."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def _serve(port: int, data_dir: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {
        k: v for k, v in os.environ.items()
        if not k.startswith("TEKCIFY_") and k != "JWT_ACCESS_SECRET"
    }
    env["TEKCIFY_DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [sys.executable, "-m", "tekcify_auth.cli", "serve", "--port", str(port)],
        env=env, cwd=cwd, capture_output=True, text=True, timeout=60, check=False,
    )


def test_a_busy_port_is_refused_before_the_database_is_touched(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        data = tmp_path / "data"
        run = _serve(port, data, tmp_path)
    assert run.returncode == 1
    assert f"port {port} on 127.0.0.1 is already in use" in run.stderr
    # It names the process holding the port (this test's own).
    assert f"pid {os.getpid()}:" in run.stderr
    assert f"--port {port + 1}" in run.stderr
    # Nothing was migrated or announced: no data folder, no database, no banner.
    assert not data.exists()
    assert "listening" not in run.stdout
    assert "Traceback" not in run.stderr


def test_a_data_folder_that_cannot_be_written_is_refused_naming_the_setting(
    tmp_path: Path,
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run = _serve(port, blocker / "data", tmp_path)
    assert run.returncode == 1
    assert "is not writable" in run.stderr
    assert "TEKCIFY_DATA_DIR" in run.stderr
    assert "Traceback" not in run.stderr
    assert "listening" not in run.stdout
