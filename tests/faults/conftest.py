"""Fixtures of the fault suite: servers in subprocesses, PostgreSQL databases and clusters.

The PostgreSQL tests need ``TEKCIFY_TEST_POSTGRES_URL`` (a cluster of
``scripts/postgres.sh``, for a database of their own) and PostgreSQL's server binaries
(for a private cluster they stop and start); they are marked ``pytest.mark.needs`` and
left out, loudly, without them (``tests/needs.py``). The SQLite test always runs.
When a test fails, the output of every process it started is printed.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Generator, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from needs import postgres_bin

from .processes import AuthServer, PostgresCluster

POSTGRES_URL_VAR = "TEKCIFY_TEST_POSTGRES_URL"

StartServer = Callable[[str, Mapping[str, str]], AuthServer]


class HasOutput(Protocol):
    """A started process that can show its last output."""

    name: str

    def output(self) -> str: ...


_STARTED = pytest.StashKey[list[HasOutput]]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed:
        for server in item.stash.get(_STARTED, []):
            report.sections.append((server.name, server.output()))
    return report


def _fail(message: str) -> None:
    pytest.fail(f"{message}; a test that needs it is marked pytest.mark.needs(...)",
                pytrace=False)


@pytest.fixture
def start_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StartServer]:
    """Start ``tekcify-auth serve`` as ``start_server(name, env)``; all end with the test."""
    started: list[AuthServer] = []
    shown = request.node.stash.setdefault(_STARTED, [])

    def start(name: str, env: Mapping[str, str]) -> AuthServer:
        server = AuthServer(name, tmp_path / "logs", env)
        started.append(server)
        shown.append(server)
        return server

    try:
        yield start
    finally:
        for server in started:
            server.stop()


def _stop_servers(request: pytest.FixtureRequest) -> None:
    """Stop the test's servers now, before their database goes (whatever the fixture order)."""
    for started in request.node.stash.get(_STARTED, []):
        if isinstance(started, AuthServer):
            started.stop()


@contextmanager
def _new_database(root_url: str) -> Iterator[str]:
    name = f"faults_{uuid.uuid4().hex[:12]}"
    # No pool: a connection kept from before a test stopped the cluster would be dead.
    engine = create_engine(root_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {name}"))
        yield make_url(root_url).set(database=name).render_as_string(hide_password=False)
        with engine.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    finally:
        engine.dispose()


@pytest.fixture
def fresh_database(request: pytest.FixtureRequest) -> Iterator[str]:
    """A new, empty database in the cluster of ``TEKCIFY_TEST_POSTGRES_URL``, dropped after."""
    root = os.environ.get(POSTGRES_URL_VAR)
    if not root:
        _fail(f"{POSTGRES_URL_VAR} is not set: start PostgreSQL with "
              f"`export {POSTGRES_URL_VAR}=$(scripts/postgres.sh start)`")
    assert root is not None
    with _new_database(root) as url:
        try:
            yield url
        finally:
            _stop_servers(request)


@pytest.fixture(scope="module")
def postgres_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresCluster]:
    """A private cluster (``scripts/postgres.sh`` on a free port) for tests that stop it."""
    bin_dir = postgres_bin()
    if bin_dir is None:
        _fail("PostgreSQL's server binaries are missing (looked for "
              "/usr/lib/postgresql/*/bin/pg_ctl and $PG_BIN): install them "
              "(Debian: apt-get install -y postgresql)")
    assert bin_dir is not None
    cluster = PostgresCluster(bin_dir, tmp_path_factory.mktemp("postgres"))
    try:
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def cluster_database(
    request: pytest.FixtureRequest, postgres_cluster: PostgresCluster
) -> Iterator[str]:
    """A new database in the private cluster, dropped after the test."""
    request.node.stash.setdefault(_STARTED, []).append(postgres_cluster)
    with _new_database(postgres_cluster.url) as url:
        try:
            yield url
        finally:
            _stop_servers(request)
            if postgres_cluster.halted:  # a test that failed while it was stopped
                postgres_cluster.resume()
