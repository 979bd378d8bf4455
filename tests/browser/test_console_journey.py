"""A person's whole first hour with the consoles, in headless Chromium against the real
server (``tekcify-auth serve`` on SQLite): register on the pages, verify the address with
the code of the ``.eml`` the server wrote to its outbox, turn on two-factor sign-in (codes
computed here from the secret the page shows), add a passkey with the DevTools virtual
authenticator, register an application in the developer console, sign in to it through
the OAuth pages, disconnect it from the account console, and delete the account.

Each step checks the page a person sees and what changed in the server's database (read
here with ``sqlite3``, never through the server's own code).
"""

from __future__ import annotations

import email
import email.policy
import re
import sqlite3
import time
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pyotp
import pytest

from .axe import screenshot
from .conftest import PAGE_TIMEOUT_MS, PASSWORD, RedirectCatcher, Server, new_context, new_email
from .test_passkeys import virtual_authenticator

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Expect, Page

pytestmark = [pytest.mark.slow, pytest.mark.needs("chromium")]


def database(server: Server) -> sqlite3.Connection:
    return sqlite3.connect(server.data_dir / "tekcify.sqlite3")


def one(server: Server, query: str, *args: Any) -> Any:
    with database(server) as db:
        return db.execute(query, args).fetchone()


def mailed(server: Server, to: str, subject_has: str) -> EmailMessage:
    """The newest message to ``to`` whose subject holds ``subject_has``, from the outbox
    folder the server writes ``.eml`` files to when no SMTP server is configured."""
    outbox = server.data_dir / "outbox"
    deadline = time.monotonic() + 10
    while True:
        found: list[tuple[float, EmailMessage]] = []
        for path in outbox.glob("*.eml") if outbox.is_dir() else ():
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            assert isinstance(message, EmailMessage)
            if message["To"] == to and subject_has in str(message["Subject"]):
                found.append((Path(path).stat().st_mtime, message))
        if found:
            return max(found, key=lambda pair: pair[0])[1]
        assert time.monotonic() < deadline, f"no message to {to} about {subject_has!r}"
        time.sleep(0.1)


def text_of(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


def notice(page: Page, expect: Expect, text: str) -> None:
    expect(page.locator("#notice")).to_contain_text(text)


def test_a_persons_first_hour_with_the_consoles(
    browser: Browser, expect: Expect, server: Server, catcher: RedirectCatcher
) -> None:
    context = new_context(browser)
    page = context.new_page()
    page.set_default_timeout(PAGE_TIMEOUT_MS)
    address = new_email("journey")
    try:
        journey(page, expect, server, catcher, address)
    finally:
        context.close()


def journey(
    page: Page, expect: Expect, server: Server, catcher: RedirectCatcher, address: str
) -> None:
    # 1. The account console sends a stranger to sign in; they create an account there.
    page.goto(f"{server.url}/account")
    expect(page.locator("h1")).to_have_text("Sign in")
    expect(page.locator(".lead")).to_contain_text("your Tekcify account")
    page.get_by_role("link", name="Create an account").click()
    page.get_by_label("Email", exact=True).fill(address)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("First name").fill("Grace")
    page.get_by_label("Last name").fill("Hopper")
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(f"{server.url}/account")
    expect(page.locator("h1")).to_have_text("Profile")
    expect(page.locator(".topbar .user")).to_have_text("Grace Hopper")
    user_id, verified = one(
        server, "SELECT id, email_verified FROM users WHERE email = ?", address
    )
    assert not verified

    # 2. The address, verified with the code of the mail in the outbox.
    message = mailed(server, address, "erif")
    code = re.search(r"\b(\d{6})\b", text_of(message))
    assert code is not None, text_of(message)
    page.get_by_role("link", name="Email", exact=True).click()
    page.get_by_label("Verification code").fill(code.group(1))
    page.get_by_role("button", name="Verify your address").click()
    notice(page, expect, "verified")
    assert one(server, "SELECT email_verified FROM users WHERE id = ?", user_id)[0]

    # 3. Two-factor sign-in with an authenticator app (the test is the app).
    secret = two_factor_on(page, expect, server, user_id)
    totp = pyotp.TOTP(secret)

    # 4. A passkey, made by the virtual authenticator of this tab.
    add_passkey(page, expect, server, user_id)

    # 5. An application, registered in the developer console.
    page.get_by_role("link", name="Developer", exact=True).click()
    expect(page.locator("h1")).to_have_text("Applications")
    page.get_by_role("link", name="New application").first.click()
    page.get_by_label("Name", exact=True).fill("Journey Notes")
    page.get_by_label("Redirect URIs", exact=True).fill(catcher.redirect_uri)
    for scope in ("openid", "profile", "email"):
        page.locator(f"input[name=scopes][value='{scope}']").check()
    page.get_by_label("Primary colour").fill("#7c3aed")
    page.get_by_role("button", name="Register the application").click()
    expect(page.locator("h1")).to_contain_text("Copy the client secret of Journey Notes")
    client_id = page.locator("#client-id").inner_text().strip()
    client_secret = page.locator("#client-secret").inner_text().strip()
    screenshot(page, "journey-client-secret-shown", "desktop")
    owner, colour = one(
        server, "SELECT owner_id, primary_color FROM applications WHERE client_id = ?",
        client_id,
    )
    assert (owner, colour) == (user_id, "#7c3aed")
    page.get_by_role("link", name="I have copied the secret").click()
    expect(page.locator("h1")).to_have_text("Journey Notes")

    # 6. The application's sign-in: the try-it URL, the consent page, the code, tokens.
    tokens = sign_in_to(page, expect, server, catcher, client_id, client_secret)
    assert tokens["token_type"] == "Bearer"
    assert one(
        server, "SELECT COUNT(*) FROM consents WHERE user_id = ? AND client_id = ?",
        user_id, client_id,
    )[0] == 1

    # 7. The application, disconnected from the account console.
    disconnect(page, expect, server, user_id, client_id)

    # 8. The account, deleted with the password and a two-factor code.
    page.goto(f"{server.url}/account/data")
    page.get_by_role("link", name="Delete your account").click()
    page.get_by_label("Your password").fill(PASSWORD)
    page.get_by_label("Two-factor code").fill(fresh_code(totp))
    page.get_by_role("button", name="Delete your account and all its data").click()
    expect(page.locator("h1")).to_contain_text("deleted")
    assert one(server, "SELECT COUNT(*) FROM users WHERE id = ?", user_id)[0] == 0
    assert one(
        server, "SELECT COUNT(*) FROM applications WHERE client_id = ?", client_id
    )[0] == 0
    page.goto(f"{server.url}/account")
    expect(page.locator("h1")).to_have_text("Sign in")


_last_step: dict[str, int] = {}


def fresh_code(totp: pyotp.TOTP) -> str:
    """A code of a time step not used yet: each step's code is accepted once (no replay),
    so a second code waits for the next step."""
    step = int(time.time()) // 30
    if _last_step.get(totp.secret) == step:
        time.sleep(30 - time.time() % 30 + 0.2)
        step = int(time.time()) // 30
    _last_step[totp.secret] = step
    return totp.at(step * 30)


def two_factor_on(page: Page, expect: Expect, server: Server, user_id: str) -> str:
    """Two-factor set-up: the password, the secret read off the page, a code, the backup
    codes shown once. Returns the secret."""
    page.goto(f"{server.url}/account/two-factor")
    page.get_by_label("Your password").fill(PASSWORD)
    page.get_by_role("button", name="Set up two-factor sign-in").click()
    expect(page.locator("img[src^='data:image/png']")).to_have_count(1)  # the QR code
    secret = page.locator("#totp-secret").inner_text().replace(" ", "").strip()
    page.get_by_label("6-digit code").fill(fresh_code(pyotp.TOTP(secret)))
    page.get_by_role("button", name="Turn on two-factor sign-in").click()
    codes = page.locator("#backup-codes").inner_text().split()
    assert len(codes) == 10, codes
    screenshot(page, "journey-backup-codes-shown", "desktop")
    enabled = one(server, "SELECT enabled_at FROM mfa_totp WHERE user_id = ?", user_id)
    assert enabled is not None
    assert enabled[0] is not None
    assert one(
        server, "SELECT COUNT(*) FROM mfa_backup_codes WHERE user_id = ?", user_id
    )[0] == 10
    return secret


def add_passkey(page: Page, expect: Expect, server: Server, user_id: str) -> None:
    virtual_authenticator(page)
    page.goto(f"{server.url}/account/passkeys")
    page.get_by_label("Name of the new passkey").fill("Work laptop")
    page.get_by_role("button", name="Add a passkey").click()
    notice(page, expect, "Your new passkey is added.")
    expect(page.locator("main")).to_contain_text("Work laptop")
    assert one(
        server, "SELECT name FROM passkeys WHERE user_id = ?", user_id
    ) == ("Work laptop",)


def sign_in_to(
    page: Page, expect: Expect, server: Server, catcher: RedirectCatcher, client_id: str,
    client_secret: str,
) -> dict[str, Any]:
    """The application's sign-in as its developer tries it: the authorization URL and the
    PKCE verifier of the "Try it" panel, the consent page (in the application's colour),
    the code at the callback, and the token request the panel shows."""
    url = page.locator("#authorize-url").inner_text().strip()
    verifier = page.locator("#verifier").inner_text().strip()
    assert url.startswith(f"{server.url}/api/oauth/authorize?"), url
    assert "code_challenge_method=S256" in url
    page.goto(url)
    expect(page.locator("main.card.branded")).to_have_count(1)
    expect(page.locator("h1")).to_contain_text("Journey Notes")
    page.get_by_role("button", name="Allow", exact=True).click()
    page.wait_for_url(lambda at: at.startswith(catcher.redirect_uri + "?"))
    code = catcher.last()["code"][0]
    answer = httpx.post(
        f"{server.url}/api/oauth/token",
        data={"grant_type": "authorization_code", "code": code,
              "redirect_uri": catcher.redirect_uri, "code_verifier": verifier},
        auth=(client_id, client_secret), timeout=10,
    )
    assert answer.status_code == 200, answer.text
    tokens: dict[str, Any] = answer.json()
    return tokens


def disconnect(page: Page, expect: Expect, server: Server, user_id: str, client_id: str) -> None:
    page.goto(f"{server.url}/account/apps")
    expect(page.locator("main")).to_contain_text("See your email address")  # scope words
    page.get_by_role("link", name="Withdraw access from Journey Notes").click()
    page.get_by_role("button", name="Withdraw access from Journey Notes").click()
    notice(page, expect, "can no longer use your account")
    assert one(
        server, "SELECT COUNT(*) FROM consents WHERE user_id = ? AND client_id = ?",
        user_id, client_id,
    )[0] == 0
