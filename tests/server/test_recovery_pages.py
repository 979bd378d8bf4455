"""The pages of email verification, password reset and email change, through their forms."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from tekcify_auth.server.db.models import User
from tekcify_auth.server.settings import Settings

from .conftest import (
    PASSWORD,
    FakeClock,
    asgi_client,
    bearer,
    login,
    make_settings,
    register,
    running,
)
from .recovery_helpers import last_mail, mails, strict_app  # noqa: F401  (fixture)
from .test_authorize import (
    Browser,
    alert_text,
    authorization,
    get_code,
    make_client,
    parse_page,
    redirect_query,
)

NEW_PASSWORD = "a brand new passphrase"


def _verified(app: FastAPI, email: str = "ada@example.com") -> bool:
    ctx = app.state.ctx
    with ctx.db.read() as db:
        user = db.execute(select(User).where(User.email == email)).scalar_one()
    return user.email_verified


def _path(link: str) -> str:
    return link.removeprefix("http://tekcify.test")


def _assert_page_headers(response: httpx.Response) -> None:
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    policy = response.headers["content-security-policy"]
    assert "form-action 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "script-src" not in policy


@pytest.fixture
async def browser(app: FastAPI) -> AsyncIterator[Browser]:
    """A :class:`Browser` on its own cookie jar."""
    async with asgi_client(app) as http:
        yield Browser(http)


async def test_the_verification_link_shows_a_button_and_only_the_post_verifies(
    app: FastAPI, client: httpx.AsyncClient, browser: Browser
) -> None:
    await register(client)
    link = last_mail(app, "verify_email").link
    page = await browser.get(_path(link))
    assert page.status_code == 200
    _assert_page_headers(page)
    assert ">Verify my email address</button>" in page.text
    # A mail scanner fetching the link (twice) used nothing up.
    await browser.get(_path(link))
    assert _verified(app) is False
    done = await browser.submit(page, {})
    assert done.status_code == 200, done.text
    _assert_page_headers(done)
    assert "Your email address is verified" in done.text
    assert _verified(app) is True
    again = await browser.submit(page, {})
    assert again.status_code == 400
    assert "This link has already been used" in alert_text(again)


async def test_the_verification_page_refuses_a_post_without_its_csrf_token(
    app: FastAPI, client: httpx.AsyncClient, browser: Browser
) -> None:
    await register(client)
    mail = last_mail(app, "verify_email")
    page = await browser.get(_path(mail.link))
    forged = await browser.submit(page, {}, csrf_token="forged-" + "x" * 30)
    assert forged.status_code == 403
    assert _verified(app) is False
    # A post from another site carries no cookie of ours at all.
    async with asgi_client(app) as stranger:
        response = await stranger.post(
            "/account/verify-email", data={"token": mail.token, "csrf_token": "x" * 40}
        )
    assert response.status_code == 403
    assert _verified(app) is False


async def test_an_altered_verification_link_shows_why(
    app: FastAPI, client: httpx.AsyncClient, browser: Browser
) -> None:
    await register(client)
    page = await browser.get("/account/verify-email?token=" + "A" * 43)
    answer = await browser.submit(page, {})
    assert answer.status_code == 400
    assert "This link is not valid" in alert_text(answer)
    assert _verified(app) is False


async def test_the_login_page_links_to_forgot_password_and_the_reset_works(
    app: FastAPI, client: httpx.AsyncClient, browser: Browser
) -> None:
    await register(client)
    oauth = make_client(app)
    request = authorization(oauth)
    login_page = await browser.get(request.url)
    forms = parse_page(login_page.text)
    assert len(forms.forms) == 1
    assert 'href="/account/forgot-password?next=' in login_page.text
    start = login_page.text.index('href="/account/forgot-password')
    forgot_url = login_page.text[start + 6:login_page.text.index('"', start + 6)]
    forgot = await browser.get(forgot_url.replace("&amp;", "&"))
    assert forgot.status_code == 200
    _assert_page_headers(forgot)
    assert "Back to sign in" in forgot.text
    sent = await browser.submit(forgot, {"email": "Ada@Example.com"})
    assert sent.status_code == 200, sent.text
    assert "Check your email" in sent.text
    unknown = await browser.submit(forgot, {"email": "nobody@example.com"})
    assert unknown.status_code == sent.status_code
    assert [m.to for m in mails(app, "password_reset")] == ["ada@example.com"]

    reset_page = await browser.get(_path(last_mail(app, "password_reset").link))
    assert reset_page.status_code == 200
    _assert_page_headers(reset_page)
    differ = await browser.submit(
        reset_page, {"password": NEW_PASSWORD, "password_again": NEW_PASSWORD + "!"}
    )
    assert differ.status_code == 400
    assert alert_text(differ) == "The passwords differ."
    short = await browser.submit(reset_page, {"password": "short", "password_again": "short"})
    assert short.status_code == 400
    done = await browser.submit(
        reset_page, {"password": NEW_PASSWORD, "password_again": NEW_PASSWORD}
    )
    assert done.status_code == 200, done.text
    assert "Your password was changed" in done.text
    await login(client, password=NEW_PASSWORD)
    # Back on the sign-in page, the new password works there too.
    again = await browser.get(authorization(oauth).url)
    signed_in = await browser.sign_in(again, password=NEW_PASSWORD)
    assert signed_in.status_code == 303, signed_in.text


async def test_the_reset_page_refuses_a_post_without_its_csrf_token(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client)
    await client.post("/api/auth/password/forgot", json={"email": "ada@example.com"})
    token = last_mail(app, "password_reset").token
    async with asgi_client(app) as stranger:
        response = await stranger.post(
            "/account/reset-password",
            data={"token": token, "csrf_token": "x" * 40, "password": NEW_PASSWORD,
                  "password_again": NEW_PASSWORD},
        )
    assert response.status_code == 403
    await login(client)  # the old password still works


async def test_the_email_change_link_shows_a_button_and_the_post_confirms(
    app: FastAPI, client: httpx.AsyncClient, browser: Browser
) -> None:
    await register(client)
    tokens = await login(client)
    await client.post(
        "/api/user/email/change",
        json={"newEmail": "ada@example.org", "password": PASSWORD},
        headers=bearer(tokens["accessToken"]),
    )
    link = last_mail(app, "email_change_confirm").link
    page = await browser.get(_path(link))
    assert ">Confirm the change</button>" in page.text
    _assert_page_headers(page)
    await browser.get(_path(link))
    profile = await client.get("/api/user/profile", headers=bearer(tokens["accessToken"]))
    assert profile.json()["email"] == "ada@example.com"
    done = await browser.submit(page, {})
    assert done.status_code == 200, done.text
    assert "ada@example.org" in done.text
    profile = await client.get("/api/user/profile", headers=bearer(tokens["accessToken"]))
    assert profile.json()["email"] == "ada@example.org"


async def test_an_unverified_user_is_kept_out_of_the_sign_in_pages_with_a_resend_button(
    strict_app: FastAPI,  # noqa: F811
) -> None:
    app = strict_app
    async with asgi_client(app) as client, asgi_client(app) as http:
        await register(client)
        browser = Browser(http)
        oauth = make_client(app)
        request = authorization(oauth)
        page = await browser.get(request.url)
        answer = await browser.sign_in(page)
        assert answer.status_code == 403, answer.text
        assert alert_text(answer).startswith("Verify your email address before signing in")
        forms = parse_page(answer.text).forms
        resend = [f for f in forms if f["action"] == "/account/resend-verification"]
        assert len(resend) == 1
        assert "tekcify_login" not in http.cookies
        before = len(mails(app, "verify_email"))
        sent = await http.post("/account/resend-verification", data=resend[0]["fields"])
        assert sent.status_code == 200, sent.text
        assert "Check your email" in sent.text
        assert len(mails(app, "verify_email")) == before + 1
        # The same answer for an address without an account: nothing is revealed.
        other = await http.post(
            "/account/resend-verification",
            data={**resend[0]["fields"], "email": "nobody@example.com"},
        )
        assert other.status_code == sent.status_code
        assert other.text.replace("nobody@example.com", "X") == sent.text.replace(
            "ada@example.com", "X"
        )
        assert len(mails(app, "verify_email")) == before + 1
        # Verified: the same sign-in goes through.
        verify = await http.post("/api/auth/email/verify", json={
            "token": last_mail(app, "verify_email").token})
        assert verify.status_code == 200
        code, _ = await get_code(browser, oauth, request=authorization(oauth))
        assert code


async def test_registration_on_the_pages_mails_the_link_and_waits_when_required(
    strict_app: FastAPI,  # noqa: F811
) -> None:
    app = strict_app
    async with asgi_client(app) as http:
        browser = Browser(http)
        oauth = make_client(app)
        page = await browser.get(authorization(oauth).url)
        start = page.text.index('href="/api/oauth/register')
        register_url = page.text[start + 6:page.text.index('"', start + 6)].replace("&amp;", "&")
        form = await browser.get(register_url)
        answer = await browser.submit(
            form, {"email": "ada@example.com", "password": PASSWORD}
        )
        assert answer.status_code == 200, answer.text
        assert "Open the link we sent to ada@example.com" in alert_text(answer)
        assert "tekcify_login" not in http.cookies
        assert last_mail(app, "verify_email").to == "ada@example.com"


async def test_the_resend_button_is_rate_limited(strict_app: FastAPI) -> None:  # noqa: F811
    app = strict_app
    async with asgi_client(app) as client, asgi_client(app) as http:
        await register(client)
        browser = Browser(http)
        page = await browser.get(authorization(make_client(app)).url)
        answer = await browser.sign_in(page)
        fields: dict[str, Any] = next(
            f for f in parse_page(answer.text).forms
            if f["action"] == "/account/resend-verification"
        )["fields"]
        statuses = [
            (await http.post("/account/resend-verification", data=fields)).status_code
            for _ in range(6)
        ]
        assert statuses == [200] * 5 + [429]


async def test_a_sign_in_from_before_the_rule_is_kept_out_once_it_is_on(
    app: FastAPI, client: httpx.AsyncClient, browser: Browser, settings: Settings,
    clock: FakeClock,
) -> None:
    await register(client)
    oauth = make_client(app)
    await get_code(browser, oauth)  # signed in and consented while the rule was off
    strict_settings = make_settings(
        database_url=settings.database_url, data_dir=settings.data_dir,
        require_verified_email=True,
    )
    async with running(strict_settings, clock) as (strict, http):
        http.cookies = browser.http.cookies
        page = await http.get(authorization(oauth).url)
        assert page.status_code == 200
        assert alert_text(page).startswith("Verify your email address before signing in")
        silent = authorization(oauth, prompt="none")
        answer = await http.get(silent.url)
        assert redirect_query(answer, silent.redirect_uri)["error"] == "login_required"
        assert strict is not None
