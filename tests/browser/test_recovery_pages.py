"""Verification and password reset pages in headless Chromium, from the mailed links.

The links come from the server's mail queue (``mail_queue`` in its SQLite database): the
server sends nothing in these tests, so the queue is the mailbox.
"""

from __future__ import annotations

import re
import sqlite3
import time
from typing import TYPE_CHECKING

import httpx
import pytest

from .conftest import (
    PASSWORD,
    OAuthApp,
    RedirectCatcher,
    Server,
    authorization_request,
    new_email,
    register,
)
from .test_oauth_pages import consent, land_on_redirect_uri, sign_in

if TYPE_CHECKING:
    from playwright.sync_api import Expect, Page

pytestmark = [pytest.mark.slow, pytest.mark.needs("chromium")]

NEW_PASSWORD = "a brand new passphrase"


def mailed_link(server: Server, kind: str, to: str) -> str:
    """The link of the newest ``kind`` message to ``to`` (waits for the queue a little:
    a reset is queued after the answer is sent)."""
    deadline = time.monotonic() + 10
    while True:
        with sqlite3.connect(server.data_dir / "tekcify.sqlite3") as db:
            row = db.execute(
                "SELECT text_body FROM mail_queue WHERE kind = ? AND to_address = ? "
                "ORDER BY created_at DESC LIMIT 1", (kind, to),
            ).fetchone()
        if row is not None:
            found = re.search(r"(http\S+[?&]token=[A-Za-z0-9_\-]+)", row[0])
            assert found is not None, row[0]
            return found.group(1)
        assert time.monotonic() < deadline, f"no {kind} message to {to}"
        time.sleep(0.1)


def test_the_verification_link_verifies_with_its_button(
    page: Page, expect: Expect, server: Server, api: httpx.Client
) -> None:
    email = new_email("verify")
    register(api, email)
    link = mailed_link(server, "verify_email", email)
    assert link.startswith(server.url + "/account/verify-email?token=")
    page.goto(link)
    page.get_by_role("button", name="Verify my email address").click()
    expect(page.locator("h1")).to_have_text("Your email address is verified")
    login = api.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    profile = api.get(
        "/api/user/profile", headers={"Authorization": f"Bearer {login.json()['accessToken']}"}
    )
    assert profile.json()["emailVerifiedAt"] is not None


def test_forgot_password_from_the_sign_in_page_to_a_new_password(
    page: Page, expect: Expect, server: Server, catcher: RedirectCatcher,
    oauth_app: OAuthApp, api: httpx.Client,
) -> None:
    email = new_email("forgetful")
    register(api, email)
    page.goto(authorization_request(server, oauth_app).url)
    page.get_by_role("link", name="Forgot password?").click()
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_role("button", name="Send me a link").click()
    expect(page.locator("h1")).to_have_text("Check your email")

    page.goto(mailed_link(server, "password_reset", email))
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Repeat it", exact=True).fill(NEW_PASSWORD)
    page.get_by_role("button", name="Set the new password").click()
    expect(page.locator("h1")).to_have_text("Your password was changed")

    old = api.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    assert old.status_code == 401
    request = authorization_request(server, oauth_app)
    page.goto(request.url)
    sign_in(page, email, NEW_PASSWORD)
    consent(page, expect, oauth_app, "Allow")
    land_on_redirect_uri(page, oauth_app)
    answer = catcher.last()
    assert answer["state"] == [request.state]
    assert "code" in answer
