"""A machine without PostgreSQL, Redis or Chromium passes the suite, and says what it left out.

Each test runs pytest in a subprocess with a ``PATH`` that hides ``redis-server``,
``pg_ctl`` and ``chromium`` (alone and together), through ``scripts/with-services.sh`` as
``make pytest`` does, and as a plain ``pytest``. Debian keeps PostgreSQL's server binaries
off ``PATH`` (``/usr/lib/postgresql/<n>/bin``), so hiding PostgreSQL also points ``PG_BIN``
at an empty folder. The runs select only the tests marked ``needs`` and use
``--setup-plan`` (no fixture runs, nothing is started): what is there would pass, what is
hidden must come out as *left out*, never as an error.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from needs import SERVICES, missing

ROOT = Path(__file__).resolve().parents[2]
WITH_SERVICES = ROOT / "scripts" / "with-services.sh"
#: The suites that need a service, and a server file with a PostgreSQL parameter.
SELECTION = [
    "tests/server/test_ratelimit.py", "tests/server/test_database_unavailable.py",
    "tests/browser", "tests/fleet", "tests/faults",
]
#: Executables hidden per service.
HIDDEN = {"postgres": {"pg_ctl", "initdb", "postgres"}, "redis": {"redis-server"},
          "chromium": {"chromium", "chromium-browser"}}
#: What each service's tests are called in the summary line.
LABEL = {name: SERVICES[name].label for name in HIDDEN}
ENV_OF_SERVICES = (
    "TEKCIFY_TEST_POSTGRES_URL", "TEKCIFY_TEST_REDIS_URL", "TEKCIFY_CHROMIUM", "PG_BIN",
    "TEKCIFY_TEST_SKIP_POSTGRES", "TEKCIFY_TEST_SKIP_REDIS", "TEKCIFY_TEST_SKIP_BROWSER", "CI",
)

pytestmark = pytest.mark.slow


def _path_without(names: set[str], bin_dir: Path) -> str:
    """A one-folder PATH with every command of today's PATH but ``names`` (first one wins)."""
    bin_dir.mkdir()
    for folder in os.environ["PATH"].split(os.pathsep):
        if not os.path.isdir(folder):
            continue
        for entry in os.scandir(folder):
            target = bin_dir / entry.name
            if entry.name in names or target.exists() or target.is_symlink():
                continue
            if entry.is_file() and os.access(entry.path, os.X_OK):
                target.symlink_to(entry.path)
    return str(bin_dir)


def _run(hidden: set[str], tmp_path: Path, *, through_script: bool, ci: bool = False,
         workers: int = 0) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run the selection with ``hidden`` services hidden: (the run, the services left out);
    with ``workers``, in that many pytest-xdist workers (``make pytest`` runs two)."""
    env = {k: v for k, v in os.environ.items() if k not in ENV_OF_SERVICES}
    names = set().union(*(HIDDEN[name] for name in hidden))
    env["PATH"] = _path_without(names, tmp_path / f"bin{workers}")
    # What this machine lacks is left out of the child's run too.
    expected = set(hidden) | {name for name in HIDDEN if missing(name) is not None}
    if "postgres" in expected:
        empty = tmp_path / f"no-postgres{workers}"
        empty.mkdir()
        env["PG_BIN"] = str(empty)
    else:
        env["TEKCIFY_TEST_POSTGRES_URL"] = os.environ["TEKCIFY_TEST_POSTGRES_URL"]
    if ci:
        env["CI"] = "true"
    command = [sys.executable, "-m", "pytest", *SELECTION, "-m", "needs", "--setup-plan",
               "-p", "no:cacheprovider", "-q", *(["-n", str(workers), "-v"] if workers else [])]
    if through_script:
        command = [str(WITH_SERVICES), *command]
    run = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=300, check=False)
    return run, expected


def _check_left_out(run: subprocess.CompletedProcess[str], expected: set[str]) -> None:
    out = run.stdout
    last = out.strip().splitlines()[-1]
    assert "error" not in last, out + run.stderr
    assert "failed" not in last, out + run.stderr
    if not expected:
        assert "left out" not in out, out
        return
    labels = sorted(LABEL[name] for name in expected)
    # pytest's own last line counts them apart, naming what was missing.
    assert re.search(rf"\d+ left out \(no {', '.join(labels)}\)", last), last
    summary = next(line for line in out.splitlines() if line.startswith("!!! LEFT OUT"))
    assert "NOT a full run" in summary
    for name in HIDDEN:
        assert (f"{LABEL[name]} (" in summary) == (name in expected), summary
    for name in expected:
        assert SERVICES[name].install in summary, summary


@pytest.mark.parametrize(
    "hidden", [{"redis"}, {"postgres"}, {"chromium"}, {"postgres", "redis", "chromium"}],
    ids=lambda hidden: "+".join(sorted(hidden)),
)
def test_with_services_leaves_out_what_the_path_hides(hidden: set[str], tmp_path: Path) -> None:
    run, expected = _run(hidden, tmp_path, through_script=True)
    assert run.returncode == 0, run.stdout + run.stderr
    _check_left_out(run, expected)
    if "redis" in hidden:
        assert "redis-server is not installed" in run.stderr
    if "postgres" in hidden:
        assert "PostgreSQL is not installed" in run.stderr
    if "chromium" in hidden:
        assert "Chromium is not installed" in run.stderr


def test_a_plain_pytest_leaves_out_the_same(tmp_path: Path) -> None:
    run, expected = _run({"postgres", "redis", "chromium"}, tmp_path, through_script=False)
    assert run.returncode == 0, run.stdout + run.stderr
    _check_left_out(run, expected)


def test_on_ci_a_left_out_test_fails_the_run(tmp_path: Path) -> None:
    run, _ = _run({"redis"}, tmp_path, through_script=True, ci=True)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "FAILS on CI (CI=true)" in run.stdout


def _summary(run: subprocess.CompletedProcess[str]) -> tuple[str, str]:
    """The run's "N left out (no ...)" count and its "!!! LEFT OUT" line."""
    out = run.stdout
    count = re.search(r"\d+ left out \(no [^)]*\)", out.strip().splitlines()[-1])
    assert count is not None, out
    return count.group(0), next(line for line in out.splitlines() if line.startswith("!!! LEFT"))


def test_under_xdist_the_controller_reports_what_the_workers_left_out(tmp_path: Path) -> None:
    hidden = {"postgres", "redis", "chromium"}
    run, expected = _run(hidden, tmp_path, through_script=False, workers=2)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "created: 2/2 workers" in run.stdout, run.stdout
    _check_left_out(run, expected)
    # The same count and the same line as a run without workers: counted once, not per worker.
    alone, _ = _run(hidden, tmp_path, through_script=False)
    assert _summary(run) == _summary(alone)


def test_under_xdist_on_ci_a_left_out_test_fails_the_run(tmp_path: Path) -> None:
    run, _ = _run({"redis"}, tmp_path, through_script=True, ci=True, workers=2)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "created: 2/2 workers" in run.stdout, run.stdout
    assert "FAILS on CI (CI=true)" in run.stdout
