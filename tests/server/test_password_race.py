"""A password change racing with sign-ins that use the old password (issue 10, item 1).

Sign-ins run for real, concurrently: the app's sync routes run in the server's worker
threads while the client keeps several requests in flight. Each worker signs in with the
old password over and over until it is refused (or, signed in before, asks for codes
until it is sent to the login page); the change lands in the middle. A
sign-in spends nearly all its time in argon2 between reading the account and opening
the session, so some of them are always in flight when the change commits. Afterwards
no session, refresh token, page sign-in or code got with the old password may be live.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from tekcify_auth.server.db.models import UserSession
from tekcify_auth.server.services import accounts
from tekcify_auth.server.settings import Settings

from .conftest import PASSWORD, asgi_client, bearer, login, make_settings, register
from .test_authorize import (
    REDIRECT_URI,
    Browser,
    authorization,
    get_code,
    make_client,
    redeem,
    redirect_query,
)

NEW_PASSWORD = "a brand new long password"
ROUNDS = 3
WORKERS = 6  # two on the API, two on the login page, two asking for codes


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Hashing slow enough (a few ms) that sign-ins are in flight when the change lands.

    Neither the login throttle nor the session cap may end a session here: the cap would
    revoke the changer's own session (the least recently used) once the workers have
    signed in fifty times, which is not what this test is about.
    """
    return make_settings(
        database_url=database_url, data_dir=tmp_path / "data", argon2_memory_cost=2048,
        login_max_successes_per_account=100_000, max_sessions_per_account=10_000,
    )


async def _api_worker(http: httpx.AsyncClient, email: str, ready: asyncio.Event) -> list[str]:
    """Log in with the old password until refused; the refresh tokens obtained."""
    refresh_tokens: list[str] = []
    while True:
        answer = await http.post("/api/auth/login", json={"email": email, "password": PASSWORD})
        if answer.status_code != 200:
            assert answer.status_code == 401, answer.text
            return refresh_tokens
        refresh_tokens.append(answer.json()["refreshToken"])
        ready.set()


async def _page_worker(browser: Browser, url: str, email: str, ready: asyncio.Event) -> int:
    """Sign in on the login page with the old password until refused; how many worked."""
    page = await browser.get(url)
    assert 'name="password"' in page.text, page.text
    signed_in = 0
    while True:
        answer = await browser.sign_in(page, email=email)
        if answer.status_code != 303:
            assert answer.status_code == 401, answer.text
            return signed_in
        signed_in += 1
        ready.set()


async def _code_worker(browser: Browser, url: str, ready: asyncio.Event) -> list[str]:
    """Signed in already: ask for codes until sent to the login page; the codes got."""
    codes: list[str] = []
    while True:
        answer = await browser.get(url)
        if answer.status_code != 302:
            assert 'name="password"' in answer.text, answer.text
            return codes
        codes.append(redirect_query(answer, REDIRECT_URI)["code"])
        ready.set()


async def _race_once(app: FastAPI, client: httpx.AsyncClient, email: str) -> None:
    await register(client, email)
    changer = await login(client, email)
    oauth = make_client(app, owner_email=f"owner-{email}")
    request = authorization(oauth)
    url = request.url
    ready = [asyncio.Event() for _ in range(WORKERS)]
    async with asgi_client(app) as api_a, asgi_client(app) as api_b, \
            asgi_client(app) as page_a, asgi_client(app) as page_b, \
            asgi_client(app) as code_a, asgi_client(app) as code_b:
        browsers = [Browser(page_a), Browser(page_b)]
        signed_in = [Browser(code_a), Browser(code_b)]
        for browser in signed_in:  # signed in and consented before the race
            await get_code(browser, oauth, request, email=email)

        async def change() -> httpx.Response:
            # Once every worker has signed in, so all are busy when the change lands.
            await asyncio.wait_for(asyncio.gather(*(event.wait() for event in ready)), 30)
            return await client.post(
                "/api/auth/password/change", headers=bearer(changer["accessToken"]),
                json={"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD},
            )

        results: list[Any] = await asyncio.gather(
            change(),
            _api_worker(api_a, email, ready[0]),
            _api_worker(api_b, email, ready[1]),
            _page_worker(browsers[0], url, email, ready[2]),
            _page_worker(browsers[1], url, email, ready[3]),
            _code_worker(signed_in[0], url, ready[4]),
            _code_worker(signed_in[1], url, ready[5]),
        )
        changed, *worked = results
        codes = [code for got in worked[4:] for code in got]
        assert changed.status_code == 200, changed.text
        refresh_tokens = [token for tokens in worked[:2] for token in tokens]

        # Every API session but the changer's own is revoked, so no refresh token of the
        # old password works, and each browser is asked to sign in again.
        with app.state.ctx.db.read() as db:
            live = db.execute(
                select(UserSession.id).where(
                    UserSession.user_id == _user_id(app, email),
                    UserSession.revoked_at.is_(None),
                )
            ).scalars().all()
        refreshed = [
            (await client.post("/api/auth/refresh", json={"refreshToken": token})).status_code
            for token in refresh_tokens
        ]
        pages = [await browser.get(url) for browser in (*browsers, *signed_in)]
        redeemed = [(await redeem(client, oauth, code, request)).status_code for code in codes]
        survivors = {
            "sessions": len(live) - 1,
            "refresh tokens": sum(status == 200 for status in refreshed),
            "page sign-ins": sum('name="password"' not in page.text for page in pages),
            "codes": sum(status == 200 for status in redeemed),
        }
        assert survivors == dict.fromkeys(survivors, 0), f"survived the change: {survivors}"


def _user_id(app: FastAPI, email: str) -> str:
    with app.state.ctx.db.read() as db:
        user = accounts.find_by_email(db, email)
    assert user is not None
    return user.id


async def test_sign_ins_racing_a_password_change_do_not_survive_it(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    for round_ in range(ROUNDS):
        await _race_once(app, client, f"racer{round_}@example.com")


async def test_a_code_issued_before_a_password_change_is_spent_by_it(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client)
    changer = await login(client)
    oauth = make_client(app)
    async with asgi_client(app) as http:
        code, request = await get_code(Browser(http), oauth)
        changed = await client.post(
            "/api/auth/password/change", headers=bearer(changer["accessToken"]),
            json={"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD},
        )
        assert changed.status_code == 200
        answer = await redeem(http, oauth, code, request)
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_grant"
