"""PostgreSQL advisory locks: one per job *and schema* (``db/locks.py``).

Deployments (and this suite's xdist workers) may share one database in separate
schemas; a lock keyed by the job alone made one's migration wait for the other's, and
a CI run failed on it with ``lock timeout``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.exc import OperationalError

from tekcify_auth.server.db import locks, migrate
from tekcify_auth.server.db.engine import Database
from tekcify_auth.server.db.migrate import current_revision, head_revision, upgrade
from tekcify_auth.server.services.purge import purge

from .conftest import POSTGRESQL

pytestmark = pytest.mark.parametrize("backend", [POSTGRESQL], indirect=True)

JOBS = [locks.MIGRATE, locks.KEYSTORE, locks.PURGE]


@contextmanager
def holding(url: str, job: int, *, release: threading.Event | None = None) -> Iterator[None]:
    """Hold ``job``'s transaction lock in the schema of ``url`` (in a thread when
    ``release`` is given, until it is set; else for the ``with`` block)."""
    database = Database(url)
    if release is None:
        try:
            with database.write_connection() as conn:
                locks.xact_lock(conn, job)
                yield
        finally:
            database.dispose()
        return
    taken = threading.Event()

    def hold() -> None:
        with database.write_connection() as conn:
            locks.xact_lock(conn, job)
            taken.set()
            release.wait(30)

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert taken.wait(10), "the holder never got the lock"
        yield
    finally:
        release.set()
        thread.join()
        database.dispose()


@pytest.mark.parametrize("job", JOBS, ids=["migrate", "keystore", "purge"])
def test_a_lock_is_per_schema(database_url: str, empty_database: Database, job: int) -> None:
    with holding(database_url, job):
        # Another schema of the same database takes the same job's lock at once...
        with empty_database.write_connection() as conn:
            locks.xact_lock(conn, job)
        # ...while this schema's next taker waits, and gives up at its lock_timeout.
        same = Database(database_url, timeout=0.2)
        try:
            with (
                pytest.raises(OperationalError, match="lock timeout"),
                same.write_connection() as conn,
            ):
                locks.xact_lock(conn, job)
        finally:
            same.dispose()


def test_a_migration_does_not_wait_for_another_schemas(
    database_url: str, empty_database: Database
) -> None:
    fresh = Database(empty_database.url, timeout=0.2)
    try:
        with holding(database_url, locks.MIGRATE):
            upgrade(fresh)
        assert current_revision(fresh) == head_revision()
    finally:
        fresh.dispose()


def test_an_instance_waits_for_anothers_migration_longer_than_a_request(
    empty_database: Database,
) -> None:
    """Its lock_timeout (0.2 s here) sizes requests; the other's migration takes 1 s."""
    url = empty_database.url.render_as_string(hide_password=False)
    second = Database(url, timeout=0.2)
    release = threading.Event()
    try:
        with holding(url, locks.MIGRATE, release=release):
            threading.Timer(1.0, release.set).start()
            upgrade(second)
        assert current_revision(second) == head_revision()
    finally:
        second.dispose()


def test_a_schema_at_head_starts_without_taking_the_lock(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(migrate, "LOCK_WAIT", "200ms")  # a wait for the lock fails fast
    started = Database(database_url, timeout=0.2)
    try:
        with holding(database_url, locks.MIGRATE):
            upgrade(started)
    finally:
        started.dispose()


def test_a_purge_is_not_skipped_for_another_schemas(
    database_url: str, empty_database: Database
) -> None:
    upgrade(empty_database)
    now = datetime.now(UTC)
    holder = Database(database_url)
    try:
        with holder.engine.connect() as conn:
            assert locks.try_lock(conn, locks.PURGE)
            assert not purge(empty_database, now, timedelta(hours=1)).skipped
            same = Database(database_url)
            try:
                assert purge(same, now, timedelta(hours=1)).skipped
            finally:
                same.dispose()
            locks.unlock(conn, locks.PURGE)
            conn.commit()
    finally:
        holder.dispose()
