"""Fixtures of the Node suite: the installed package, our real server (HS256 on SQLite and on
PostgreSQL, and RS256 for the JWKS exports), and ``node``, which runs one scenario of
driver.cjs against a server."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from e2e.support import ServerProcess
from server.conftest import BACKENDS

from .support import (
    Node,
    NodePackage,
    cache_dir,
    install,
    installed,
    node_package,
    postgres_schema,
    run_driver,
)


@pytest.fixture(scope="session")
def auth_backend(request: pytest.FixtureRequest) -> NodePackage:
    """The installed package; installed now, npm's progress on the terminal, when new."""
    folder = cache_dir()
    if not installed(folder):
        capture = request.config.pluginmanager.getplugin("capturemanager")
        with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
            install(folder, sys.stderr)
    return node_package(folder)


@pytest.fixture(scope="module", params=BACKENDS)
def hs_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """Our server with its default HS256 tokens (verifyAccessToken, the secret's guards), on
    SQLite and on PostgreSQL (a schema of its own in the test cluster) in turn."""
    with contextlib.ExitStack() as stack:
        env = {}
        if request.param != "sqlite":
            env["TEKCIFY_DATABASE_URL"] = stack.enter_context(postgres_schema())
        server = ServerProcess(tmp_path_factory.mktemp(f"node-hs256-{request.param}"), env)
        stack.callback(server.stop)
        yield server


@pytest.fixture(scope="module")
def rs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """Our server signing with RS256, for the JWKS verifier, guard and middleware."""
    server = ServerProcess(tmp_path_factory.mktemp("node-rs256"), {"TEKCIFY_SIGNING_ALG": "RS256"})
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def node(auth_backend: NodePackage) -> Node:
    """``node(scenario, server, **context)``: the value of driver.cjs's ``scenario`` run
    against ``server``; the test fails with the scenario's error, the requests it made and
    the server's last log lines when the scenario threw."""

    def run(scenario: str, server: ServerProcess, **context: Any) -> Any:
        report = run_driver(auth_backend, server, scenario, context)
        if not report["ok"]:
            log = "\n".join(server.output().splitlines()[-20:])
            pytest.fail(f"{scenario} threw: {report['error']}\nrequests: {report['fetches']}\n"
                        f"server log (last lines):\n{log}", pytrace=False)
        return report["value"]

    return run
