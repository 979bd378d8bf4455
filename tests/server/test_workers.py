"""``tekcify-auth serve`` runs one worker per CPU by default, and its workers never
outlive their supervisor (issue 12, item 4)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from services import free_port

pytestmark = pytest.mark.slow


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(child) for child in text.split()]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], int, Path]]:
    env = {
        k: v for k, v in os.environ.items()
        if not k.startswith("TEKCIFY_") and k != "JWT_ACCESS_SECRET"
    }
    env["TEKCIFY_DATA_DIR"] = str(tmp_path / "data")
    env["TEKCIFY_LOG_LEVEL"] = "WARNING"
    port = free_port()
    out = tmp_path / "out.txt"
    with out.open("w") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "tekcify_auth.cli", "serve", "--port", str(port)],
            env=env, cwd=tmp_path, stdout=sink, stderr=subprocess.STDOUT, text=True,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, out.read_text()
            assert time.monotonic() < deadline, out.read_text()
            time.sleep(0.2)
        yield process, port, out
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_serve_starts_one_worker_per_cpu_by_default(
    served: tuple[subprocess.Popen[str], int, Path],
) -> None:
    process, _port, out = served
    cpus = len(os.sched_getaffinity(0))
    assert f"workers:  {cpus} (--workers N to change)" in out.read_text()
    if cpus > 1:
        # uvicorn's supervisor, and one process per worker under it.
        deadline = time.monotonic() + 20
        while len([c for c in _children(process.pid) if _alive(c)]) < cpus:
            assert time.monotonic() < deadline, _children(process.pid)
            time.sleep(0.2)


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or len(os.sched_getaffinity(0)) < 2,
    reason="needs Linux and two CPUs (one worker has no supervisor to lose)",
)
def test_workers_stop_when_their_supervisor_is_killed(
    served: tuple[subprocess.Popen[str], int, Path],
) -> None:
    process, port, _out = served
    deadline = time.monotonic() + 20
    while len(workers := [c for c in _children(process.pid) if _alive(c)]) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    os.kill(process.pid, signal.SIGKILL)  # the supervisor only, as `kill -9 PID` does
    process.wait(timeout=10)
    deadline = time.monotonic() + 30
    while any(_alive(worker) for worker in workers):
        assert time.monotonic() < deadline, "workers outlived their supervisor"
        time.sleep(0.2)
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)


@pytest.mark.parametrize(("workers", "waits"), [(2, True), (1, False)])
async def test_a_worker_waits_a_while_for_its_database_a_single_server_does_not(
    workers: int, waits: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from sqlalchemy.exc import OperationalError

    from tekcify_auth.server import app as app_module
    from tekcify_auth.server import create_app

    from .conftest import make_settings

    monkeypatch.setattr(app_module, "WORKER_START_PATIENCE", 1.5)
    nobody = f"postgresql://postgres@127.0.0.1:{free_port()}/tekcify"  # nothing listens
    app = create_app(make_settings(
        data_dir=tmp_path, database_url=nobody, workers=workers, db_timeout=1,
    ))
    started = time.monotonic()
    with pytest.raises(OperationalError):
        async with app.router.lifespan_context(app):
            pass
    waited = time.monotonic() - started
    assert (waited >= 1.5) is waits, waited
    assert ("trying again" in caplog.text) is waits
