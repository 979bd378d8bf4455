"""benchmarks/history.py runs end to end with tiny sizes: both servers answer, the history
is written, and the purge leaves every table at its live set. Its rates are not judged
here (a busy machine decides them); `make bench` runs it in full."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TABLES = ("users", "sessions", "refresh_tokens", "authorization_codes",
          "revoked_client_tokens")


@pytest.mark.slow
def test_the_history_benchmark_runs_and_the_purge_leaves_the_live_set() -> None:
    run = subprocess.run(
        [sys.executable, "benchmarks/history.py", "--rows", "2000", "--seconds", "1",
         "--warmup", "0.2", "--connections", "2"],
        cwd=ROOT, capture_output=True, text=True, timeout=110, check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    lines = run.stdout.splitlines()
    assert "## History (benchmarks/history.py)" in lines
    for endpoint in ("introspection, access token", "introspection, refresh token",
                     "refresh with rotation"):
        row = next(line for line in lines if line.startswith(f"| {endpoint}"))
        ratio = float(row.split("|")[4])
        assert ratio > 0
    for table in TABLES:
        row = next(line for line in lines if line.startswith(f"| {table} |"))
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        assert cells[-1] == "PASS", row
    # The history was there before the purge, and went.
    sessions = next(line for line in lines if line.startswith("| sessions |"))
    assert sessions.split("|")[3].strip() == "300"
