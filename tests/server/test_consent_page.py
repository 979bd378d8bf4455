"""The consent page shows the application as its developer made it (issue 16, item 3):
its logo, its primary colour (a stylesheet of this server: the pages allow no inline
style) and what each scope means in words."""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update

from tekcify_auth.server.db.applications import Application

from .conftest import register
from .test_authorize import (
    Browser,
    authorization,
    browser,  # noqa: F401  (fixture)
    make_client,
)


async def consent_page(app: FastAPI, person: Browser, colour: str | None) -> httpx.Response:
    scopes = ("openid", "profile", "email", "offline_access", "read:profile")
    client = make_client(app, scopes=scopes)
    with app.state.ctx.db.write() as db:
        db.execute(
            update(Application).where(Application.client_id == client.client_id)
            .values(primary_color=colour)
        )
    asked = authorization(client, scope="openid email offline_access read:profile")
    page = await person.get(asked.url)
    page = await person.follow(await person.sign_in(page))
    assert ">Allow</button>" in page.text
    return page


async def test_the_consent_page_wears_the_applications_colour(
    app: FastAPI, client: httpx.AsyncClient, browser: Browser  # noqa: F811
) -> None:
    await register(client)
    page = await consent_page(app, browser, "#1a2b3c")
    assert '<link rel="stylesheet" href="/api/oauth/static/colour/1a2b3c.css">' in page.text
    assert '<main class="card branded">' in page.text
    assert "style=" not in page.text  # nothing inline: the CSP would refuse it
    assert "style-src 'self'" in page.headers["content-security-policy"]
    sheet = await client.get("/api/oauth/static/colour/1a2b3c.css")
    assert sheet.status_code == 200
    assert sheet.text.strip() == ":root { --app-colour: #1a2b3c; }"
    assert sheet.headers["content-type"].startswith("text/css")
    assert "immutable" in sheet.headers["cache-control"]


async def test_without_a_colour_the_page_is_plain(
    app: FastAPI, client: httpx.AsyncClient, browser: Browser  # noqa: F811
) -> None:
    await register(client)
    page = await consent_page(app, browser, None)
    assert "/static/colour/" not in page.text
    assert '<main class="card">' in page.text


async def test_each_scope_is_said_in_words(
    app: FastAPI, client: httpx.AsyncClient, browser: Browser  # noqa: F811
) -> None:
    await register(client)
    page = await consent_page(app, browser, None)
    said = re.findall(r'<span class="scope-text">(.*?)</span> <code>(.*?)</code>', page.text)
    assert said == [
        ("Know who you are on Tekcify", "openid"),
        ("See your email address", "email"),
        ("Keep access while you are away, until you disconnect it", "offline_access"),
        ("Read your profile", "read:profile"),
    ]


@pytest.mark.parametrize(
    "name", ["1A2B3C.css", "1a2b3.css", "1a2b3c.js", "zzzzzz.css", "1a2b3c.css.map",
             "..%2f1a2b3c.css", "%3Cscript%3E.css"],
)
async def test_only_colour_stylesheets_are_served(client: httpx.AsyncClient, name: str) -> None:
    answer = await client.get(f"/api/oauth/static/colour/{name}")
    assert answer.status_code in (400, 404), name
    assert "text/css" not in answer.headers.get("content-type", "")
