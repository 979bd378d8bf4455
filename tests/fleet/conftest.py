"""Fixtures of the fleet suite: PostgreSQL, Redis and two ``tekcify-auth serve`` processes.

The fleet is what operators run when one machine is not enough: instance A and instance
B on different 127.0.0.1 ports, each with a data folder of its own (as on two hosts),
sharing one fresh PostgreSQL database, one Redis, the key-encryption secret, the
``JWT_ACCESS_SECRET`` and the signing algorithm (ES256, so that keys live in the
database and rotate). Both start at once on the empty database, so they also race
through the migrations.

PostgreSQL: the cluster of ``TEKCIFY_TEST_POSTGRES_URL`` (a database of the fleet's own
is made in it). Redis: ``TEKCIFY_TEST_REDIS_URL``, or else a ``redis-server`` on a free
port. The suite is marked ``pytest.mark.needs("postgres", "redis")``: without them it is
left out, loudly (``tests/needs.py``).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
import sys
import uuid
from collections.abc import Generator, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import redis

from e2e.support import ServerProcess
from services import private_redis

POSTGRES_URL_VAR = "TEKCIFY_TEST_POSTGRES_URL"
REDIS_URL_VAR = "TEKCIFY_TEST_REDIS_URL"

#: Failed logins per account and address before 429 (the e2e helper lifts the
#: per-address limit, since every request comes from 127.0.0.1).
MAX_FAILURES = 3
#: Seconds between the instances' re-reads of the signing keys.
KEY_RELOAD_INTERVAL = 1


def _missing(what: str, install: str) -> None:
    pytest.fail(
        f"{what} is not installed: install it ({install}); the fleet tests are marked "
        "pytest.mark.needs('postgres', 'redis') and should have been left out",
        pytrace=False,
    )


# -- PostgreSQL and Redis --------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_cluster() -> str:
    """The URL of a PostgreSQL cluster's maintenance database."""
    given = os.environ.get(POSTGRES_URL_VAR)
    if not given:
        _missing(f"PostgreSQL ({POSTGRES_URL_VAR} is not set)", "apt-get install postgresql")
    assert given is not None
    return given


@contextlib.contextmanager
def fresh_database(cluster_url: str) -> Iterator[str]:
    """A new, empty database in the cluster, dropped afterwards."""
    plain = cluster_url.replace("postgresql+psycopg://", "postgresql://", 1)
    name = f"tekcify_fleet_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    base, _, _ = plain.partition("?")
    try:
        yield base.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a Redis: ``TEKCIFY_TEST_REDIS_URL`` or a private ``redis-server``."""
    given = os.environ.get(REDIS_URL_VAR)
    if given:
        yield given
        return
    binary = shutil.which("redis-server")
    if binary is None:
        _missing(f"redis-server ({REDIS_URL_VAR} is not set)", "apt-get install redis-server")
        return
    with private_redis(binary, tmp_path_factory.mktemp("redis")) as url:
        yield url


# -- the fleet -------------------------------------------------------------------------------


@dataclass
class Fleet:
    """Two running instances, and the environment they share (for the CLI)."""

    a: ServerProcess
    b: ServerProcess
    env: dict[str, str]
    redis_url: str

    @property
    def instances(self) -> tuple[ServerProcess, ServerProcess]:
        return (self.a, self.b)

    def cli(self, *args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
        """``tekcify-auth ARGS`` with the fleet's settings (and a data folder of its own)."""
        env = {
            k: v for k, v in os.environ.items()
            if not k.startswith("TEKCIFY_") and k != "JWT_ACCESS_SECRET"
        }
        env.update(self.env, TEKCIFY_DATA_DIR=str(data_dir))
        return subprocess.run(
            [sys.executable, "-m", "tekcify_auth.cli", *args], env=env, cwd=data_dir,
            capture_output=True, text=True, timeout=60, check=False,
        )


def shared_env(database_url: str, redis_url: str) -> dict[str, str]:
    """What every instance of one fleet is given alike."""
    return {
        "TEKCIFY_DATABASE_URL": database_url,
        "TEKCIFY_REDIS_URL": redis_url,
        "TEKCIFY_SIGNING_ALG": "ES256",
        "TEKCIFY_KEY_ENCRYPTION_SECRET": "fleet-" + secrets.token_urlsafe(32),
        "JWT_ACCESS_SECRET": "fleet-" + secrets.token_urlsafe(32),
        "TEKCIFY_KEY_RELOAD_INTERVAL": str(KEY_RELOAD_INTERVAL),
        "TEKCIFY_LOGIN_MAX_FAILURES": str(MAX_FAILURES),
        # Every test registers from 127.0.0.1 (issue 17's registration limits).
        "TEKCIFY_REGISTRATION_MAX_PER_ADDRESS": "100000",
        "TEKCIFY_REGISTRATION_MAX_PER_NETWORK": "100000",
        "TEKCIFY_CLIENT_AUTH_MAX_FAILURES": "100000",
        "TEKCIFY_CLIENT_AUTH_MAX_FAILURES_PER_CLIENT": "100000",
    }


def start_both(
    tmp: pytest.TempPathFactory, env: Mapping[str, str]
) -> tuple[ServerProcess, ServerProcess]:
    """A and B, started at the same time (each stops itself if the other fails)."""
    with ThreadPoolExecutor(2) as pool:
        futures = [
            pool.submit(ServerProcess, tmp.mktemp(f"instance-{name}"), env) for name in "ab"
        ]
        started: list[ServerProcess] = []
        failure: BaseException | None = None
        for future in futures:
            try:
                started.append(future.result())
            except BaseException as exc:  # keep the other one to stop it
                failure = exc
    if failure is not None:
        for server in started:
            server.stop()
        raise failure
    return started[0], started[1]


@pytest.fixture(scope="session")
def fleet(
    postgres_cluster: str, redis_server: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Fleet]:
    """Instances A and B on one fresh database and Redis, for the whole session."""
    redis.Redis.from_url(redis_server).flushdb()
    with fresh_database(postgres_cluster) as database_url:
        env = shared_env(database_url, redis_server)
        a, b = start_both(tmp_path_factory, env)
        try:
            yield Fleet(a, b, env, redis_server)
        finally:
            a.stop()
            b.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """On a failure, add what both instances wrote lately to the report."""
    report = yield
    fleet_fixture = getattr(item, "funcargs", {}).get("fleet")
    if report.failed and isinstance(fleet_fixture, Fleet):
        for name, server in zip("AB", fleet_fixture.instances, strict=True):
            report.sections.append((f"instance {name}", server.output()))
    return report
