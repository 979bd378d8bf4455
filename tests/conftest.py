"""Shared hooks of the whole suite: tests that need a missing service are left out, loudly.

A test says what it needs with ``@pytest.mark.needs("postgres" | "pg_ctl" | "redis" |
"chromium" | "node" | "wrk")`` (see ``needs.py``). When a needed service is missing the
test is not run: its outcome is *left out*, counted apart from ordinary skips in pytest's
last line (``2807 passed, 40 left out (no Redis, Chromium)``), and the run ends with one
line naming what was left out and how to install it. On CI (``CI=true``) any left-out test
fails the run: CI installs every service, so a test left out there is a broken install.

Under pytest-xdist (``make pytest`` runs ``-n 2``) the workers collect and run the tests
while the controller reports: each worker hands its count to the controller when it ends
(``workeroutput``), each left-out test's report names its missing services
(``user_properties``), and the controller prints the one summary line and fails a CI run,
exactly as a run without workers does.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

import pytest

from needs import SERVICES, missing

#: Tests left out per missing service's label, and the first missing service of each label.
_LEFT_OUT = pytest.StashKey[Counter[str]]()
_WHY = pytest.StashKey[dict[str, str]]()
#: The keyword a left-out test's reports carry (report.keywords holds the item's markers).
_KEYWORD = "left_out_for_missing_service"
#: The user property naming a left-out test's missing services (reaches xdist's controller).
_PROPERTY = "left out for lack of"
#: What a worker hands the controller (``config.workeroutput``) when it ends.
_OUTPUT = "tekcify_left_out"


def _on_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "needs(*services): the test needs these services (see tests/needs.py)"
    )
    config.addinivalue_line("markers", f"{_KEYWORD}: set on tests left out for a service")
    config.stash[_LEFT_OUT] = Counter()
    config.stash[_WHY] = {}


@pytest.hookimpl(trylast=True)  # after -m / -k deselection: count only what would run
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    left_out, why = config.stash[_LEFT_OUT], config.stash[_WHY]
    for item in items:
        wanted = [name for mark in item.iter_markers("needs") for name in mark.args]
        absent = [name for name in dict.fromkeys(wanted) if missing(name) is not None]
        if not absent:
            continue
        reasons = "; ".join(f"{SERVICES[name].label}: {missing(name)}" for name in absent)
        item.add_marker(pytest.mark.skip(reason=f"left out, no {reasons}"))
        item.add_marker(_KEYWORD)
        labels: dict[str, str] = {}
        for name in absent:
            labels.setdefault(SERVICES[name].label, name)
            why.setdefault(SERVICES[name].label, name)
        left_out.update(list(labels))
        item.user_properties.append((_PROPERTY, ", ".join(sorted(labels))))


def _labels(names: list[str]) -> str:
    return ", ".join(sorted({SERVICES[name].label for name in names}))


def pytest_report_teststatus(
    report: pytest.TestReport, config: pytest.Config
) -> tuple[str, str, str] | None:
    """Count a left-out test as "left out (no X)", not as one more ordinary skip.

    xdist's controller has collected nothing, so it names the services of this report;
    :func:`pytest_terminal_summary` then counts the reports under one name.
    """
    if report.skipped and _KEYWORD in report.keywords:
        labels = ", ".join(sorted(config.stash[_LEFT_OUT])) or dict(
            report.user_properties
        ).get(_PROPERTY, "?")
        return f"left out (no {labels})", "L", "LEFT OUT"
    return None


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """xdist's controller: a worker ended; take its count of the tests left out.

    Every worker collects every test, so each one's count is the whole run's: the
    controller keeps the largest per service (a worker that crashed early may have none).
    """
    output = getattr(node, "workeroutput", {}).get(_OUTPUT)
    if not output:
        return
    left_out, why = node.config.stash[_LEFT_OUT], node.config.stash[_WHY]
    for label, count in output["counts"].items():
        left_out[label] = max(left_out[label], count)
    for label, name in output["why"].items():
        why.setdefault(label, name)


def pytest_report_header(config: pytest.Config) -> str | None:
    absent = [name for name in SERVICES if missing(name) is not None]
    if not absent:
        return f"services: all there ({_labels(list(SERVICES))}): nothing is left out"
    return f"!!! services missing, tests needing them are left out: {_labels(absent)}"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    left_out = terminalreporter.config.stash[_LEFT_OUT]
    if not left_out:
        return
    # One count in pytest's last line, named after every missing service (under xdist the
    # reports came in under the names of their own services).
    stats = terminalreporter.stats
    reports = [
        report for key in [key for key in stats if key.startswith("left out (no ")]
        for report in stats.pop(key)
    ]
    if reports:
        stats[f"left out (no {', '.join(sorted(left_out))})"] = reports
    why = terminalreporter.config.stash[_WHY]
    parts = [
        f"{label} ({count} tests; {missing(why[label])}; install: "
        f"{SERVICES[why[label]].install})"
        for label, count in sorted(left_out.items())
    ]
    verdict = "FAILS on CI (CI=true)" if _on_ci() else "this was NOT a full run"
    terminalreporter.write_line(
        f"!!! LEFT OUT for missing services, {verdict}: " + "; ".join(parts),
        yellow=not _on_ci(), red=_on_ci(), bold=True,
    )


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: the controller reports (testnodedown)
        workeroutput[_OUTPUT] = {
            "counts": dict(session.config.stash[_LEFT_OUT]),
            "why": dict(session.config.stash[_WHY]),
        }
        return
    if _on_ci() and session.config.stash[_LEFT_OUT] and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


# -- signing keys ----------------------------------------------------------------------------

#: RSA keys made once per worker and handed out again in every test: a server started in a
#: test makes the RS256 key of its id tokens (and of RS256 access tokens) because each test
#: starts on empty tables, and 2048-bit RSA generation costs 30 to 150 ms. Within one test
#: every key is still a new one (the n-th key a test asks for is the n-th of the pool), so
#: rotation, revocation and "another server's key" stay what they test.
_RSA_POOL: list[Any] = []


@pytest.fixture(autouse=True)
def _rsa_keys_made_once(monkeypatch: pytest.MonkeyPatch) -> None:
    try:
        from tekcify_auth.server.services import keystore
    except ImportError:  # a run without the server extra
        return
    make = keystore.generate_key
    handed_out = 0

    def generate_key(alg: str) -> Any:
        nonlocal handed_out
        if alg != keystore.ID_TOKEN_ALG:
            return make(alg)
        while len(_RSA_POOL) <= handed_out:
            _RSA_POOL.append(make(alg))
        handed_out += 1
        return _RSA_POOL[handed_out - 1]

    monkeypatch.setattr(keystore, "generate_key", generate_key)
