"""Live sessions per account are capped; the least recently used go first (issue 10, item 12).

``TEKCIFY_MAX_SESSIONS_PER_ACCOUNT`` (default 50): opening one more session revokes the
least recently used beyond it, so one user logging in over and over cannot pile up rows.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from tekcify_auth.server.settings import Settings

from .conftest import FakeClock, bearer, login, make_settings, register, running

LOGINS = 120


async def live_sessions(client: httpx.AsyncClient, access_token: str) -> int:
    response = await client.get("/api/auth/sessions", headers=bearer(access_token))
    assert response.status_code == 200, response.text
    return len(response.json()["sessions"])


async def refreshes(client: httpx.AsyncClient, refresh_token: str) -> bool:
    response = await client.post("/api/auth/refresh", json={"refreshToken": refresh_token})
    assert response.status_code in (200, 401), response.text
    return response.status_code == 200


def limited(clean_db: str, tmp_path: Path, **overrides: int) -> Settings:
    return make_settings(
        database_url=clean_db, data_dir=tmp_path, login_max_successes_per_account=1000,
        **overrides,
    )


async def test_a_hundred_and_twenty_logins_do_not_give_121_live_sessions(
    clean_db: str, tmp_path: Path, clock: FakeClock
) -> None:
    async with running(limited(clean_db, tmp_path), clock) as (app, client):
        assert app.state.ctx.settings.max_sessions_per_account == 50  # the default
        await register(client)
        pairs = []
        for _ in range(LOGINS):
            pairs.append(await login(client))
            clock.advance(1)
        assert await live_sessions(client, pairs[-1]["accessToken"]) == 50
        assert not await refreshes(client, pairs[0]["refreshToken"])  # the oldest went
        assert not await refreshes(client, pairs[LOGINS - 51]["refreshToken"])
        assert await refreshes(client, pairs[LOGINS - 50]["refreshToken"])
        assert await refreshes(client, pairs[-1]["refreshToken"])


async def test_the_least_recently_used_session_goes_first(
    clean_db: str, tmp_path: Path, clock: FakeClock
) -> None:
    settings = limited(clean_db, tmp_path, max_sessions_per_account=3)
    async with running(settings, clock) as (_app, client):
        await register(client)
        opened = []
        for _ in range(3):  # a second apart: the order is by time, never by random ids
            clock.advance(1)
            opened.append(await login(client))
        first, second, third = opened
        clock.advance(10)
        used = await client.post("/api/auth/refresh", json={"refreshToken": first["refreshToken"]})
        assert used.status_code == 200
        clock.advance(10)
        fourth = await login(client)
        assert await live_sessions(client, fourth["accessToken"]) == 3
        assert not await refreshes(client, second["refreshToken"])
        assert await refreshes(client, used.json()["refreshToken"])
        assert await refreshes(client, third["refreshToken"])
        assert await refreshes(client, fourth["refreshToken"])
