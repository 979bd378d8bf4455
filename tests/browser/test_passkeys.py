"""Passkeys in headless Chromium with the DevTools virtual authenticator (CTAP2, internal
transport, resident keys, user verification): a person signs in with their password,
adds a passkey on the account page, signs out, then signs in with the passkey alone
through the OAuth pages, and the application's callback receives the code."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tekcify_auth import verify_access_token

from .conftest import (
    PASSWORD,
    OAuthApp,
    RedirectCatcher,
    Server,
    authorization_request,
    new_email,
    register,
)
from .test_oauth_pages import consent, exchange, land_on_redirect_uri, sign_in

if TYPE_CHECKING:
    from playwright.sync_api import CDPSession, Expect, Page

pytestmark = [pytest.mark.slow, pytest.mark.needs("chromium")]


def virtual_authenticator(page: Page) -> tuple[CDPSession, str]:
    """A platform authenticator for ``page``'s tab, as a phone or laptop has one: the
    DevTools session driving it and its id."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable", {"enableUI": False})
    added: dict[str, Any] = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
        "hasUserVerification": True, "isUserVerified": True,
        "automaticPresenceSimulation": True,
    }})
    return cdp, str(added["authenticatorId"])


def test_a_person_adds_a_passkey_then_signs_in_with_it_alone(
    page: Page, expect: Expect, server: Server, catcher: RedirectCatcher, oauth_app: OAuthApp,
    api: httpx.Client,
) -> None:
    cdp, authenticator = virtual_authenticator(page)
    email = new_email("passkey")
    register(api, email)

    # With the password first, as the person has done until now.
    first = authorization_request(server, oauth_app)
    page.goto(first.url)
    sign_in(page, email)
    consent(page, expect, oauth_app, "Allow")
    land_on_redirect_uri(page, oauth_app)
    assert "code" in catcher.last()

    # The account page: name it, press the button, the authenticator makes the passkey.
    page.goto(f"{server.url}/account/passkeys")
    expect(page.get_by_text("You have no passkey yet")).to_be_visible()
    page.get_by_label("Name of the new passkey").fill("Laptop")
    page.get_by_role("button", name="Add a passkey").click()
    expect(page.get_by_text("Your new passkey is added.")).to_be_visible()
    expect(page.get_by_role("rowheader", name="Laptop")).to_be_visible()
    held = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})
    [credential] = held["credentials"]
    assert credential["isResidentCredential"] is True
    listed = api.get("/api/auth/passkey", headers={
        "Authorization": "Bearer " + api.post(
            "/api/auth/login", json={"email": email, "password": PASSWORD}
        ).json()["accessToken"],
    }).json()
    assert [p["name"] for p in listed] == ["Laptop"]

    # Signed out: the browser forgets its sign-in (the authenticator keeps the passkey).
    page.context.clear_cookies()
    second = authorization_request(server, oauth_app)
    page.goto(second.url)
    expect(page.get_by_label("Password", exact=True)).to_be_visible()
    page.get_by_role("button", name="Sign in with a passkey").click()
    land_on_redirect_uri(page, oauth_app)  # consented before: straight back with a code
    answer = catcher.last()
    assert answer["state"] == [second.state]
    assert "error" not in answer
    [code] = answer["code"]

    tokens = exchange(server, oauth_app, second, code)
    verified = verify_access_token(str(tokens["access_token"]), secret=server.secret())
    assert verified.valid, verified.error
    assert verified.payload["email"] == email
    assert verified.payload["amr"] == ["hwk", "user"]
    after = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})
    assert after["credentials"][0]["signCount"] >= 1


def test_the_passkey_button_says_when_the_server_refuses(
    page: Page, expect: Expect, server: Server, oauth_app: OAuthApp,
) -> None:
    virtual_authenticator(page)  # holds no passkey of this server
    page.goto(authorization_request(server, oauth_app).url)
    page.get_by_role("button", name="Sign in with a passkey").click()
    expect(page.get_by_role("status")).to_contain_text("Signing in with a passkey did not work")
    expect(page.get_by_label("Password", exact=True)).to_be_visible()
