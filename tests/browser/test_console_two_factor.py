"""Two-factor sign-in set up on the account console in headless Chromium (plain forms;
the pages run no script): the password, the QR code and the key to type, a code of the
authenticator app, then the backup codes shown once and downloaded as a ``.txt`` file;
the next sign-in asks for a code. The set-up and backup-code pages answer posts, so the
sweep of every GET page (``test_console_pages.py``) cannot reach them: their axe runs
and screenshots are here."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

import httpx
import pyotp
import pytest

from .axe import axe_source
from .conftest import PASSWORD, Server, new_context, new_email, register
from .test_console_pages import check
from .test_oauth_pages import sign_in

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Expect

pytestmark = [pytest.mark.slow, pytest.mark.needs("chromium")]


def test_a_person_sets_up_two_factor_sign_in_and_keeps_the_backup_codes(
    browser: Browser, server: Server, expect: Expect, request: pytest.FixtureRequest
) -> None:
    axe = axe_source(request.config)
    email = new_email("two-factor")
    with httpx.Client(base_url=server.url, timeout=10) as api:
        register(api, email)
    context = new_context(browser, accept_downloads=True)
    page = context.new_page()
    try:
        page.goto(f"{server.url}/api/oauth/login?next={quote('/account/two-factor', safe='')}")
        sign_in(page, email)
        page.wait_for_url(f"{server.url}/account/two-factor")
        check(page, axe, "account-two-factor-off")
        page.get_by_label("Your password").fill(PASSWORD)
        page.get_by_role("button", name="Set up two-factor sign-in").click()

        expect(page.get_by_role("heading", level=1)).to_have_text("Set up two-factor sign-in")
        qr = page.get_by_role("img", name="QR code for adding your Tekcify account")
        expect(qr).to_be_visible()
        assert qr.evaluate("(img) => img.naturalWidth") > 100  # the data: PNG loaded
        secret = page.locator("#totp-secret").inner_text()
        check(page, axe, "account-two-factor-setup")
        page.get_by_label("6-digit code").fill(pyotp.TOTP(secret).now())
        page.get_by_role("button", name="Turn on two-factor sign-in").click()

        expect(page.locator("#notice")).to_contain_text("Two-factor sign-in is on")
        codes = page.locator("#backup-codes").inner_text().split()
        assert len(codes) == 10
        check(page, axe, "account-two-factor-backup-codes-shown")
        with page.expect_download() as started:
            page.get_by_role("button", name="Download backup codes (.txt)").click()
        download = started.value
        assert download.suggested_filename == "tekcify-backup-codes.txt"
        text = Path(download.path()).read_text(encoding="utf-8")
        assert all(code in text for code in codes)
        page.get_by_role("link", name="Done: back to two-factor sign-in").click()
        expect(page.get_by_text("Signing in asks for a code")).to_be_visible()
    finally:
        context.close()

    # The next sign-in asks for the second step.
    context = new_context(browser)
    page = context.new_page()
    try:
        page.goto(f"{server.url}/api/oauth/login?next={quote('/account', safe='')}")
        sign_in(page, email)
        expect(page.get_by_label("Verification code")).to_be_visible()
    finally:
        context.close()
