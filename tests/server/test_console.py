"""The consoles' shared frame (``routers/console.py``): sign-in through the login page
and back, the page sign-in cookie as the only credential, the header and navigation,
notices by key, the 404 page, and the security headers every console page carries."""

from __future__ import annotations

from urllib.parse import quote

import httpx
import pytest
from fastapi import FastAPI

from .conftest import asgi_client, login, register
from .console_helpers import console_browser, post_form, sign_in_on_pages


def login_location(next_path: str) -> str:
    return f"/api/oauth/login?next={quote(next_path, safe='')}"


@pytest.mark.parametrize("path", ["/account/nowhere", "/developer/apps/x?page=2"])
async def test_a_stranger_is_sent_to_sign_in_and_comes_back(
    app: FastAPI, client: httpx.AsyncClient, path: str
) -> None:
    await register(client)
    async with asgi_client(app) as http:
        sent = await http.get(path)
        assert sent.status_code == 302
        assert sent.headers["location"] == login_location(path)
        page = await http.get(sent.headers["location"])
        assert page.status_code == 200
        assert "to continue to <strong>your Tekcify account</strong>" in page.text
        signed_in = await post_form(
            http, page, "/api/oauth/login", email="ada@example.com",
            password="correct horse battery",
        )
        assert signed_in.status_code == 303
        assert signed_in.headers["location"] == path


async def test_a_bearer_token_without_the_cookie_is_not_a_console_sign_in(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client)
    tokens = await login(client)
    async with asgi_client(app) as http:
        answer = await http.get(
            "/account/nowhere", headers={"Authorization": f"Bearer {tokens['accessToken']}"}
        )
    assert answer.status_code == 302
    assert answer.headers["location"].startswith("/api/oauth/login?")


async def test_a_form_posted_without_a_sign_in_goes_to_sign_in_unread(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    async with asgi_client(app) as http:
        answer = await http.post("/account/nowhere?x=1", data={"first_name": "Eve"})
    # 405 where no route takes the post; a console route's own post is sent to sign in.
    assert answer.status_code in (303, 405)


@pytest.mark.parametrize(
    "next_path",
    [
        "/account//evil.example", "/accountant", "/account/../api/admin", "/developer#x",
        "/account?next=https://evil.example/", "//evil.example/account", "/account\\x",
        "https://evil.example/account", "/account/%2e%2e/x", "/developer/ x",
    ],
)
async def test_only_console_paths_are_a_place_to_continue_to(
    app: FastAPI, client: httpx.AsyncClient, next_path: str
) -> None:
    await register(client)
    async with asgi_client(app) as http:
        page = await http.get(login_location(next_path))
    assert page.status_code == 400, next_path
    assert 'name="password"' not in page.text


async def test_the_404_page_is_in_the_frame_with_the_user_and_sign_out(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await client.post(
        "/api/auth/register",
        json={"email": "ada@example.com", "password": "correct horse battery",
              "firstName": "<b>Ada</b>", "lastName": "Lovelace"},
    )
    async with console_browser(app) as http:
        for path in ("/account/nowhere", "/developer/apps/not-an-id/edit"):
            page = await http.get(path)
            assert page.status_code == 404, path
            assert "Page not found" in page.text
            assert "&lt;b&gt;Ada&lt;/b&gt; Lovelace" in page.text  # escaped
            assert "<b>Ada</b>" not in page.text
            assert 'href="/api/oauth/logout">Sign out</a>' in page.text
            assert 'aria-current="page">Developer</a>' in page.text or path.startswith(
                "/account"
            )


async def test_console_pages_cannot_be_framed_or_cached(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client)
    async with console_browser(app) as http:
        page = await http.get("/account/nowhere")
    policy = page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy
    assert "form-action 'self'" in policy
    assert "script-src" not in policy  # no script on a page that does not ask for one
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"


async def test_a_notice_key_shows_its_own_text_only(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    from tekcify_auth.server.routers.pages import console

    console.notices(test_console_saved="Saved.")
    await register(client)
    async with console_browser(app) as http:
        known = await http.get("/account/nowhere?notice=test_console_saved")
        made_up = await http.get("/account/nowhere?notice=%3Cscript%3Ealert(1)%3C/script%3E")
    # A 404 shows no notice; the frame's notice comes from the registry by key only.
    assert "Saved." not in known.text
    assert "alert(1)" not in made_up.text


async def test_a_console_page_on_another_host_name_goes_to_the_canonical_one(
    app: FastAPI,
) -> None:
    async with asgi_client(app, base_url="http://127.0.0.1:7001") as http:
        answer = await http.get("/account/nowhere")
    assert answer.status_code in (302, 400), answer.text


async def test_signing_in_to_a_console_page_needs_no_application(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client)
    async with asgi_client(app) as http:
        answer = await sign_in_on_pages(http, next_path="/developer")
        assert answer.headers["location"] == "/developer"
        assert "tekcify_login" in http.cookies


@pytest.mark.parametrize("page", ["login", "register"])
async def test_the_sign_in_forms_for_a_console_page_may_post_here(
    client: httpx.AsyncClient, page: str
) -> None:
    # With no application, no redirect URI widens form-action: it must still allow 'self'
    # (a browser refuses to send a form its page's CSP does not allow).
    answer = await client.get(f"/api/oauth/{page}?next=%2Faccount")
    assert answer.status_code == 200
    assert "form-action 'self'" in answer.headers["content-security-policy"]
