"""benchmarks/hotpaths.py (the in-process profile of the hot endpoints) runs end to end:
every endpoint answers 200 through the whole app and through the fast lane alone, and
``--profile`` prints a profile. Its figures are not judged here; `make bench` runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENDPOINTS = ("client_credentials", "introspection-client-token", "introspection-user",
             "userinfo", "jwks")


def _run(*args: str) -> str:
    run = subprocess.run(
        [sys.executable, "hotpaths.py", *args], cwd=ROOT / "benchmarks",
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return run.stdout


def test_the_hotpaths_benchmark_measures_every_endpoint() -> None:
    out = _run("--requests", "30", "--rounds", "1")
    for endpoint in ENDPOINTS:
        row = next(line for line in out.splitlines() if line.startswith(f"| {endpoint} |"))
        whole, alone = (float(cell) for cell in row.strip("|").split("|")[1:3])
        assert whole > 0, row
        assert alone > 0, row


def test_the_hotpaths_benchmark_profiles_an_endpoint() -> None:
    out = _run("--requests", "30", "--profile", "introspection-user")
    assert "cumulative" in out
    assert "introspect" in out
