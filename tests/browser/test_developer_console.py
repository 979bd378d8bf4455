"""The developer console's one script, in headless Chromium: a person registers an
application through the form, and the copy buttons put its client secret and client id
on the clipboard; with JavaScript off the buttons are not there and the secret is plain
text to select. The page showing the secret answers a post, so the sweep of every GET
page (``test_console_pages.py``) cannot reach it: its axe run and screenshot are here."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

import httpx
import pytest

from .axe import axe_source
from .conftest import Server, new_context, new_email, register
from .test_console_pages import check
from .test_oauth_pages import sign_in

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Expect, Page

pytestmark = [pytest.mark.slow, pytest.mark.needs("chromium")]


def start(browser: Browser, server: Server, *, javascript: bool) -> tuple[Page, str]:
    """A new person, signed in, who has just registered an application through the form:
    the page showing its secret."""
    email = new_email("developer")
    with httpx.Client(base_url=server.url, timeout=10) as api:
        register(api, email)
    context = new_context(browser, java_script_enabled=javascript)
    if javascript:
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    page = context.new_page()
    page.goto(f"{server.url}/api/oauth/login?next={quote('/developer/apps/new', safe='')}")
    sign_in(page, email)
    page.wait_for_url(f"{server.url}/developer/apps/new")
    page.get_by_label("Name", exact=True).fill("Clipboard App")
    page.get_by_label("Redirect URIs", exact=True).fill("http://127.0.0.1:9/callback")
    page.get_by_role("button", name="Register the application").click()
    return page, email


def test_the_copy_buttons_put_the_secret_and_the_client_id_on_the_clipboard(
    browser: Browser, server: Server, expect: Expect
) -> None:
    page, _ = start(browser, server, javascript=True)
    try:
        heading = page.get_by_role("heading", level=1)
        expect(heading).to_have_text("Copy the client secret of Clipboard App")
        secret = page.locator("#client-secret").inner_text()
        assert len(secret) == 43
        button = page.get_by_role("button", name="Copy the client secret")
        expect(button).to_be_visible()
        button.click()
        expect(page.locator("#client-secret-copied")).to_have_text("Copied.")
        assert page.evaluate("() => navigator.clipboard.readText()") == secret
        page.get_by_role("button", name="Copy the client ID").click()
        client_id = page.locator("#client-id").inner_text()
        expect(page.locator("#client-id-copied")).to_have_text("Copied.")
        assert page.evaluate("() => navigator.clipboard.readText()") == client_id
        # The application's page: the authorization URL to paste, copied whole.
        page.get_by_role("link", name="I have copied the secret").click()
        page.get_by_role("button", name="Copy the authorization URL").click()
        expect(page.locator("#authorize-url-copied")).to_have_text("Copied.")
        copied = page.evaluate("() => navigator.clipboard.readText()")
        assert copied == page.locator("#authorize-url").inner_text()
        assert f"client_id={client_id}" in copied
    finally:
        page.context.close()


def test_without_javascript_the_secret_is_text_to_select(
    browser: Browser, server: Server, expect: Expect
) -> None:
    page, _ = start(browser, server, javascript=False)
    try:
        expect(page.get_by_role("heading", level=1)).to_have_text(
            "Copy the client secret of Clipboard App"
        )
        expect(page.locator("#client-secret")).to_be_visible()
        assert len(page.locator("#client-secret").inner_text()) == 43
        expect(page.get_by_role("button", name="Copy the client secret")).to_be_hidden()
        expect(page.get_by_text("This is the only time the client secret is shown")).to_be_visible()
    finally:
        page.context.close()


@pytest.mark.needs("chromium", "node")
def test_the_page_showing_the_secret_is_accessible_at_both_widths(
    browser: Browser, server: Server, expect: Expect, request: pytest.FixtureRequest
) -> None:
    page, _ = start(browser, server, javascript=True)
    try:
        expect(page.get_by_role("button", name="Copy the client secret")).to_be_visible()
        check(page, axe_source(request.config), "developer-secret-shown")
    finally:
        page.context.close()
