"""Metrics of a real ``tekcify-auth serve``: every worker's counters summed in one scrape,
the metrics port and its token, and the multiprocess folder removed at exit (issue 17)."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from services import free_port

from .test_metrics import parse, value

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc"),
]

TOKEN = "fleet-scraper-" + "z" * 20
JWKS = "/api/.well-known/jwks.json"


@contextlib.contextmanager
def serving(
    tmp_path: Path, *, workers: int, **env_extra: str
) -> Iterator[tuple[subprocess.Popen[str], int, Path]]:
    env = {
        k: v for k, v in os.environ.items()
        if not k.startswith(("TEKCIFY_", "PROMETHEUS_", "OTEL_")) and k != "JWT_ACCESS_SECRET"
    }
    env.update(TEKCIFY_DATA_DIR=str(tmp_path / "data"), TEKCIFY_LOG_LEVEL="WARNING",
               TEKCIFY_METRICS="true", TMPDIR=str(tmp_path / "tmp"), **env_extra)
    (tmp_path / "tmp").mkdir()
    port = free_port()
    out = tmp_path / "out.txt"
    with out.open("w") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "tekcify_auth.cli", "serve", "--port", str(port),
             "--workers", str(workers)],
            env=env, cwd=tmp_path, stdout=sink, stderr=subprocess.STDOUT, text=True,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 90
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


def scraped_until(url: str, name: str, count: float, **labels: str) -> dict[Any, float]:
    """Scrape ``url`` until ``name{labels}`` reaches ``count``: each worker writes its
    request counts out once a second (metrics.FLUSH_INTERVAL); at most 10 s."""
    deadline = time.monotonic() + 10
    while True:
        response = httpx.get(url, headers={"Authorization": f"Bearer {TOKEN}"})
        assert response.status_code == 200, response.text
        samples = parse(response.text)
        if value(samples, name, **labels) >= count or time.monotonic() > deadline:
            return samples
        time.sleep(0.3)


def _descendants(pid: int) -> list[int]:
    found: list[int] = []
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return found
    for child in map(int, children):
        found += [child, *_descendants(child)]
    return found


def _serving_pid(pids: list[int], server_port: int, client_port: int) -> int | None:
    """The process holding the server side of the connection from ``client_port``."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            fields = row.split()
            local, remote = fields[1], fields[2]
            if (int(local.rsplit(":", 1)[1], 16) == server_port
                    and int(remote.rsplit(":", 1)[1], 16) == client_port):
                inodes.add(f"socket:[{fields[9]}]")
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) in inodes:
                        return pid
    return None


def test_a_scrape_sums_the_counters_of_both_workers(tmp_path: Path) -> None:
    with serving(tmp_path, workers=2, TEKCIFY_METRICS_TOKEN=TOKEN) as (process, port, out):
        workers = _descendants(process.pid)
        # Keep-alive connections until each worker holds some: the requests on each are
        # then served by a known worker.
        per_worker: dict[int, int] = {}
        connections: list[http.client.HTTPConnection] = []
        sent = 0
        deadline = time.monotonic() + 60
        while len(per_worker) < 2:
            assert time.monotonic() < deadline, f"one worker took every connection: {out}"
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            connections.append(connection)
            for _ in range(5):
                connection.request("GET", JWKS)
                response = connection.getresponse()
                response.read()
                assert response.status == 200
                sent += 1
            pid = _serving_pid(workers, port, connection.sock.getsockname()[1])
            assert pid is not None
            per_worker[pid] = per_worker.get(pid, 0) + 5
        for connection in connections:
            connection.close()
        samples = scraped_until(
            f"http://127.0.0.1:{port}/metrics", "tekcify_http_requests_total", sent,
            route=JWKS, method="GET", status="200",
        )
        assert len(per_worker) == 2
        assert all(count >= 5 for count in per_worker.values())
        assert value(samples, "tekcify_http_requests_total", route=JWKS, method="GET",
                     status="200") == sent
        assert value(samples, "tekcify_worker_processes") == 2
        folders = list((tmp_path / "tmp").glob("tekcify-metrics-*"))
        assert len(folders) == 1
        assert any(folders[0].iterdir())
        # A clean stop removes the folder the supervisor made.
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
        assert not list((tmp_path / "tmp").glob("tekcify-metrics-*"))


def test_the_metrics_port_serves_metrics_and_checks_the_token(tmp_path: Path) -> None:
    metrics_port = free_port()
    with serving(
        tmp_path, workers=2, TEKCIFY_METRICS_PORT=str(metrics_port),
        TEKCIFY_METRICS_TOKEN=TOKEN,
    ) as (_process, port, out):
        for _ in range(3):
            assert httpx.get(f"http://127.0.0.1:{port}{JWKS}").status_code == 200
        url = f"http://127.0.0.1:{metrics_port}/metrics"
        # Not on the main port, whatever the token.
        assert httpx.get(
            f"http://127.0.0.1:{port}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}
        ).status_code == 404
        assert httpx.get(url).status_code == 401
        assert httpx.get(url, headers={"Authorization": "Bearer wrong"}).status_code == 401
        samples = scraped_until(
            url, "tekcify_http_requests_total", 3, route=JWKS, method="GET", status="200"
        )
        assert value(samples, "tekcify_http_requests_total", route=JWKS, method="GET",
                     status="200") == 3
        assert value(samples, "tekcify_scrape_database_up") == 1
        assert f"metrics:  http://127.0.0.1:{metrics_port}/metrics" in out.read_text()


def test_the_metrics_port_alone_needs_no_token_and_one_worker_works(tmp_path: Path) -> None:
    metrics_port = free_port()
    with serving(
        tmp_path, workers=1, TEKCIFY_METRICS_PORT=str(metrics_port)
    ) as (_process, port, _out):
        assert httpx.get(f"http://127.0.0.1:{port}{JWKS}").status_code == 200
        samples = scraped_until(  # (no token needed: the header is ignored)
            f"http://127.0.0.1:{metrics_port}/metrics", "tekcify_http_requests_total", 1,
            route=JWKS, method="GET", status="200",
        )
        assert value(samples, "tekcify_http_requests_total", route=JWKS, method="GET",
                     status="200") == 1
        assert httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").status_code == 200


def test_a_busy_metrics_port_stops_serve_with_a_sentence(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        env = {
            k: v for k, v in os.environ.items()
            if not k.startswith(("TEKCIFY_", "PROMETHEUS_")) and k != "JWT_ACCESS_SECRET"
        }
        env.update(TEKCIFY_DATA_DIR=str(tmp_path / "data"), TEKCIFY_METRICS="true",
                   TEKCIFY_METRICS_PORT=str(taken.getsockname()[1]))
        done = subprocess.run(
            [sys.executable, "-m", "tekcify_auth.cli", "serve", "--port", str(free_port()),
             "--workers", "1"],
            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60,
        )
    assert done.returncode == 1
    assert "TEKCIFY_METRICS_PORT" in done.stderr + done.stdout
