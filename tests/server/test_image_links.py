"""Avatars and logos are stored as paths, and their URLs built when answering (issue 10,
item 14): migration ``0007_input`` turns the absolute links stored before into paths,
on SQLite and PostgreSQL, and the answers then name the configured public URL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import JSON, column, insert, select, table, text

from tekcify_auth.server.db.applications import Application
from tekcify_auth.server.db.engine import Database
from tekcify_auth.server.db.migrate import head_revision, upgrade
from tekcify_auth.server.db.models import User
from tekcify_auth.server.services.image_store import image_url

from .conftest import (
    FakeClock,
    _with_search_path,
    bearer,
    login,
    make_settings,
    postgres_root_url,
    running,
    signed_up,
)
from .test_applications import create, png

IMAGE = "/api/images/0b9c2a6e-7f1d-4c55-9d7a-2f6f0b1e9a10.png"
LOGO = "/api/images/1c9c2a6e-7f1d-4c55-9d7a-2f6f0b1e9a10.jpg"


@pytest.fixture
def fresh_database(backend: str, tmp_path: Path) -> Iterator[str]:
    """An empty database of its own (the migrations are run by the test)."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrated.sqlite3'}"
        return
    root = Database(postgres_root_url())
    schema = f"m_{uuid.uuid4().hex[:12]}"
    with root.write_connection() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield _with_search_path(postgres_root_url(), schema)
    finally:
        with root.write_connection() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        root.dispose()


def test_the_migration_strips_the_host_from_our_image_links(fresh_database: str) -> None:
    db = Database(fresh_database)
    try:
        db.prepare()
        upgrade(db, "0004_oauth")
        now = datetime.now(UTC)
        stored = {
            "evil": "http://tracker.evil.example" + IMAGE,
            "port": "https://auth.example.com:8443" + LOGO.replace("1c9c", "2c9c"),
            "elsewhere": "https://cdn.example.com/me.png",
            "lookalike": "https://cdn.example.com/api/images/not-ours.png",
            "none": None,
        }
        # Core inserts naming only the columns of 0004 (the models have more since).
        with db.write() as session:
            session.execute(insert(User), [
                {"id": name, "email": f"{name}@example.com", "password_hash": "x",
                 "avatar_url": url, "created_at": now, "updated_at": now}
                for name, url in stored.items()
            ])
            # A lightweight table: the model's own insert adds later columns' defaults.
            applications_0004 = table(
                "applications", column("client_id"), column("owner_id"), column("name"),
                column("redirect_uris", JSON), column("authorized_origins", JSON),
                column("scopes", JSON), column("logo_url"), column("created_at"),
                column("updated_at"),
            )
            session.execute(insert(applications_0004).values(
                client_id="app", owner_id="evil", name="App", redirect_uris=[],
                authorized_origins=[], scopes=[], logo_url="http://tracker.evil.example" + LOGO,
                created_at=now, updated_at=now,
            ))
        upgrade(db)
        with db.read() as session:
            rows = session.execute(select(User.id, User.avatar_url))
            avatars = {row.id: row.avatar_url for row in rows}
            logo = session.execute(select(Application.logo_url)).scalar_one()
        assert avatars == {
            "evil": IMAGE, "port": LOGO.replace("1c9c", "2c9c"),
            "elsewhere": "https://cdn.example.com/me.png",
            "lookalike": "https://cdn.example.com/api/images/not-ours.png", "none": None,
        }
        assert logo == LOGO
        assert head_revision() is not None
    finally:
        db.dispose()


async def test_a_stored_path_is_answered_under_the_public_url(
    clean_db: str, tmp_path: Path, clock: FakeClock
) -> None:
    # Uploaded without a public URL, then the operator sets one: every answer follows.
    first = make_settings(database_url=clean_db, data_dir=tmp_path / "data")
    async with running(first, clock) as (app, client):
        token = (await signed_up(client))["accessToken"]
        created = await create(client, token)
        uploaded = await client.post(
            f"/api/applications/{created['clientId']}/logo",
            files={"file": ("logo.png", png(), "image/png")}, headers=bearer(token),
        )
        assert uploaded.json()["logoUrl"].startswith("http://tekcify.test/api/images/")
        avatar = await client.post(
            "/api/user/profile/picture", files={"file": ("me.png", png(), "image/png")},
            headers=bearer(token),
        )
        assert avatar.json()["avatarUrl"].startswith("http://tekcify.test/api/images/")
        with app.state.ctx.db.read() as db:
            row = db.get(Application, created["clientId"])
            assert row is not None
            assert (row.logo_url or "").startswith("/api/images/")
    moved = make_settings(
        database_url=clean_db, data_dir=tmp_path / "data", public_url="https://auth.example.com"
    )
    async with running(moved, clock) as (_app, client):
        token = (await login(client))["accessToken"]
        public = await client.get(f"/api/applications/public/{created['clientId']}")
        logo = public.json()["logoUrl"]
        assert logo.startswith("https://auth.example.com/api/images/")
        profile = (await client.get("/api/user/profile", headers=bearer(token))).json()
        assert profile["avatarUrl"].startswith("https://auth.example.com/api/images/")
        listed = (await client.get("/api/applications", headers=bearer(token))).json()
        assert listed[0]["logoUrl"] == logo
        export = (await client.get("/api/user/export-data", headers=bearer(token))).json()
        assert export["profile"]["avatarUrl"] == profile["avatarUrl"]
        assert export["applications"][0]["logoUrl"] == logo
        served = await client.get(logo.removeprefix("https://auth.example.com"))
        assert served.status_code == 200


def test_image_url_leaves_other_sites_links_alone() -> None:
    assert image_url("https://a.example", IMAGE) == "https://a.example" + IMAGE
    assert image_url("https://a.example/", IMAGE) == "https://a.example" + IMAGE
    elsewhere = "https://cdn.example/x.png"
    assert image_url("https://a.example", elsewhere) == elsewhere
    assert image_url("https://a.example", "") is None
