"""A database that is locked or gone: 503 with a message, and recovery when it returns."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from tekcify_auth.server.db.engine import Database

from .conftest import (
    PASSWORD,
    POSTGRESQL,
    FakeClock,
    make_settings,
    postgres_root_url,
    register,
    running,
)

UNAVAILABLE = {
    "statusCode": 503, "error": "Service Unavailable",
    "message": "The database is unavailable; try again shortly",
}


async def _register(client: httpx.AsyncClient, email: str) -> httpx.Response:
    return await client.post("/api/auth/register", json={"email": email, "password": PASSWORD})


async def test_a_locked_database_answers_503_then_recovers(
    clean_db: str, backend: str, tmp_path: Path, clock: FakeClock
) -> None:
    settings = make_settings(database_url=clean_db, data_dir=tmp_path, db_timeout=0.2)
    locker = Database(clean_db)
    try:
        async with running(settings, clock) as (_app, client):
            await register(client, "ada@example.com")
            with locker.write_connection() as conn:
                if backend == "postgresql":
                    conn.execute(text("LOCK TABLE users IN ACCESS EXCLUSIVE MODE"))
                # SQLite: the write transaction alone holds the database's write lock.
                response = await _register(client, "bob@example.com")
                assert response.status_code == 503
                assert response.json() == UNAVAILABLE
                assert response.headers["retry-after"] == "1"
            recovered = await _register(client, "bob@example.com")
            assert recovered.status_code == 201
    finally:
        locker.dispose()


@pytest.mark.parametrize("backend", [POSTGRESQL], indirect=True)
async def test_a_database_gone_answers_503_then_recovers(
    clean_db: str, tmp_path: Path, clock: FakeClock
) -> None:
    # The server loses its database: its role may no longer connect and its connections
    # are cut. Only this test's own role is touched, so other users of the cluster go on.
    root = Database(postgres_root_url())
    role = f"t_gone_{uuid.uuid4().hex[:10]}"
    with root.write_connection() as conn:
        conn.execute(text(f"CREATE ROLE {role} LOGIN SUPERUSER"))
    url = make_url(clean_db).set(username=role).render_as_string(hide_password=False)
    settings = make_settings(database_url=url, data_dir=tmp_path, db_timeout=1)
    try:
        async with running(settings, clock) as (_app, client):
            await register(client, "ada@example.com")
            with root.write_connection() as conn:
                conn.execute(text(f"ALTER ROLE {role} NOLOGIN"))
                conn.execute(
                    text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                         "WHERE usename = :role"),
                    {"role": role},
                )
            health = await client.get("/health")
            assert health.status_code == 503
            assert health.json()["database"] == "unavailable"
            response = await _register(client, "bob@example.com")
            assert response.status_code == 503
            assert response.json() == UNAVAILABLE
            with root.write_connection() as conn:
                conn.execute(text(f"ALTER ROLE {role} LOGIN"))
            assert (await client.get("/health")).json() == {"status": "ok", "database": "ok"}
            assert (await _register(client, "bob@example.com")).status_code == 201
    finally:
        with root.write_connection() as conn:
            conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                     "WHERE usename = :r"),
                {"r": role},
            )
            conn.execute(text(f"DROP ROLE {role}"))
        root.dispose()
