"""The services some suites need, and the one way a test says so: ``@pytest.mark.needs(...)``.

    pytestmark = pytest.mark.needs("postgres", "redis")      # a whole module
    pytest.param("postgresql", marks=pytest.mark.needs("postgres"))   # one parameter

A test that needs a service this machine lacks is not run and not failed: it is *left
out*. The root ``conftest.py`` turns the marker into that outcome, counts it apart from
ordinary skips in pytest's last line (``... 40 left out (no Redis)``), and ends the run
with one line naming what was left out and how to install it. With ``CI=true`` a left-out
test fails the run instead, so a broken install on CI can never pass quietly.

A service is there when:

- ``postgres``: ``TEKCIFY_TEST_POSTGRES_URL`` names a cluster (``make pytest`` and
  ``scripts/with-services.sh`` start a throwaway one when PostgreSQL is installed);
- ``pg_ctl``: PostgreSQL's server binaries are found by ``scripts/postgres.sh bin``
  (``$PG_BIN``, ``pg_ctl`` on ``PATH``, or Debian's ``/usr/lib/postgresql/*/bin``), for
  tests that stop and start a cluster of their own;
- ``redis``: ``TEKCIFY_TEST_REDIS_URL`` is set or ``redis-server`` is on ``PATH``;
- ``chromium``: ``TEKCIFY_CHROMIUM`` names an executable or ``chromium`` is on ``PATH``,
  and the ``playwright`` package is importable.
- ``node``: ``node`` (20 or later) and ``npm`` are on ``PATH`` (benchmarks/peers.py runs
  the npm ``oidc-provider``; tests/node runs ``@tekcify/auth-backend`` 2.2.12 against the
  server); ``wrk``: the ``wrk`` load generator is on ``PATH``.

``TEKCIFY_TEST_SKIP_POSTGRES=1``, ``TEKCIFY_TEST_SKIP_REDIS=1``,
``TEKCIFY_TEST_SKIP_BROWSER=1``, ``TEKCIFY_TEST_SKIP_NODE=1`` and ``TEKCIFY_TEST_SKIP_WRK=1``
leave a service out on purpose, even when it is there.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
POSTGRES_SH = ROOT / "scripts" / "postgres.sh"
#: The oldest Node.js the npm ``oidc-provider`` 9.x runs on (benchmarks/peers.py).
NODE_MAJOR = 20


@dataclass(frozen=True)
class Service:
    """Something outside Python that some tests need."""

    name: str
    label: str
    install: str
    skip_var: str
    probe: Callable[[], str | None]
    """``None`` when the service is there, else why it is not."""

    def missing(self) -> str | None:
        """Why this service is not there for this run, or ``None`` when it is."""
        if os.environ.get(self.skip_var) == "1":
            return f"{self.skip_var}=1"
        return self.probe()


@functools.cache
def postgres_bin() -> Path | None:
    """PostgreSQL's server binaries, as ``scripts/postgres.sh bin`` finds them."""
    found = subprocess.run(
        [str(POSTGRES_SH), "bin"], capture_output=True, text=True, check=False
    )
    return Path(found.stdout.strip()) if found.returncode == 0 and found.stdout.strip() else None


def chromium_executable() -> str | None:
    """The Chromium the browser tests drive: ``$TEKCIFY_CHROMIUM`` or ``chromium`` on PATH."""
    given = os.environ.get("TEKCIFY_CHROMIUM")
    if given:
        return given if os.path.isfile(given) and os.access(given, os.X_OK) else None
    return shutil.which("chromium")


def _postgres() -> str | None:
    if os.environ.get("TEKCIFY_TEST_POSTGRES_URL"):
        return None
    return "TEKCIFY_TEST_POSTGRES_URL is not set"


def _pg_ctl() -> str | None:
    return None if postgres_bin() else "no PostgreSQL server binaries (pg_ctl)"


def _redis() -> str | None:
    if os.environ.get("TEKCIFY_TEST_REDIS_URL") or shutil.which("redis-server"):
        return None
    return "redis-server is not on PATH and TEKCIFY_TEST_REDIS_URL is not set"


def _chromium() -> str | None:
    if chromium_executable() is None:
        given = os.environ.get("TEKCIFY_CHROMIUM")
        return f"TEKCIFY_CHROMIUM={given} is not an executable" if given else \
            "chromium is not on PATH"
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is not installed"
    return None


def _node() -> str | None:
    lacking = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if lacking:
        return f"{' and '.join(lacking)} not on PATH"
    found = subprocess.run(["node", "--version"], capture_output=True, text=True, check=False)
    version = found.stdout.strip()
    major = version.lstrip("v").split(".")[0]
    if not major.isdigit() or int(major) < NODE_MAJOR:
        return f"Node.js {NODE_MAJOR} or later is needed, node --version says {version!r}"
    return None


def _wrk() -> str | None:
    return None if shutil.which("wrk") else "wrk is not on PATH"


SERVICES: dict[str, Service] = {
    service.name: service
    for service in (
        Service(
            "postgres", "PostgreSQL",
            "apt-get install -y postgresql, then `make test` starts a throwaway cluster "
            "(or export TEKCIFY_TEST_POSTGRES_URL=$(scripts/postgres.sh start))",
            "TEKCIFY_TEST_SKIP_POSTGRES", _postgres,
        ),
        Service(
            "pg_ctl", "PostgreSQL", "apt-get install -y postgresql",
            "TEKCIFY_TEST_SKIP_POSTGRES", _pg_ctl,
        ),
        Service(
            "redis", "Redis", "apt-get install -y redis-server",
            "TEKCIFY_TEST_SKIP_REDIS", _redis,
        ),
        Service(
            "chromium", "Chromium",
            "scripts/install-browser.sh (apt-get install -y chromium; never `playwright install`)",
            "TEKCIFY_TEST_SKIP_BROWSER", _chromium,
        ),
        Service(
            "node", "Node.js", "apt-get install -y nodejs npm (Node.js 20 or later: Debian 13)",
            "TEKCIFY_TEST_SKIP_NODE", _node,
        ),
        Service("wrk", "wrk", "apt-get install -y wrk", "TEKCIFY_TEST_SKIP_WRK", _wrk),
    )
}


@functools.cache
def missing(name: str) -> str | None:
    """Why service ``name`` is not there for this run (asked once per run), or ``None``."""
    try:
        service = SERVICES[name]
    except KeyError:
        raise ValueError(f"unknown service {name!r}: one of {', '.join(SERVICES)}") from None
    return service.missing()
