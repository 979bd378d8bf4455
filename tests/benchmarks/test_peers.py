"""benchmarks/peers.py runs end to end: a short run loads every row and gets no bad answer.

The smoke run uses one round of one second and no warm-up, so its figures mean nothing;
what it proves is that each endpoint of ours and of the npm ``oidc-provider`` answered
every request as expected (status and body, checked by wrk's Lua script), that the
PostgreSQL rows (when there is PostgreSQL) and the workers rows are there, and that the
benchmark exits 0. Without its tools the benchmark says what to install, and still exits 0.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from needs import missing

ROOT = Path(__file__).resolve().parents[2]
PEERS = ROOT / "benchmarks" / "peers.py"
ENDPOINTS = [
    "client_credentials", "introspection (client_credentials token)",
    "introspection (user token)", "userinfo", "JWKS",
]

pytestmark = pytest.mark.slow


def _rows(out: str) -> dict[tuple[str, str], list[str]]:
    """The peer table's rows by (database, endpoint)."""
    rows = {}
    for line in out.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 13 and cells[0] not in ("database", ":---"):
            rows[(cells[0], cells[1])] = cells
    return rows


@pytest.mark.needs("node", "wrk")
def test_a_short_run_loads_every_row_without_a_bad_answer() -> None:
    command = [sys.executable, str(PEERS), "--seconds", "1", "--rounds", "1", "--warmup", "0"]
    with_postgres = missing("postgres") is None
    if not with_postgres:
        command += ["--without", "postgresql"]
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300,
                         check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    rows = _rows(run.stdout)
    databases = ["SQLite", "PostgreSQL"] if with_postgres else ["SQLite"]
    expected = {(db, endpoint) for db in databases for endpoint in ENDPOINTS}
    expected.add(("-", "bare hello of each runtime"))
    assert set(rows) == expected, run.stdout + run.stderr
    for cells in rows.values():
        # ours req/s, p99, the peer's, the ratios: all measured; no bad answer on either side.
        assert all(re.fullmatch(r"[\d,.]+", cell) for cell in cells[2:8]), cells
        assert cells[9] == "0 / 0", run.stdout + run.stderr
    workers = run.stdout.split("### Workers", 1)[1]
    for endpoint in ("client_credentials", "introspection (client_credentials token)",
                     "userinfo"):
        line = next(line for line in workers.splitlines() if line.startswith(f"| {endpoint} |"))
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        assert re.fullmatch(r"[\d,]+", cells[1]), line
        assert cells[4] == "0", line


def test_without_its_tools_it_says_what_to_install_and_exits_0(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": str(tmp_path)}  # no node, npm, wrk or taskset
    run = subprocess.run([sys.executable, str(PEERS)], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=60, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Not measured" in run.stdout
    for advice in ("apt-get install -y wrk", "apt-get install -y nodejs", "npm"):
        assert advice in run.stdout, run.stdout
    assert "| endpoint" not in run.stdout
