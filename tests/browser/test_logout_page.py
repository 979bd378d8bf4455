"""RP-initiated logout in headless Chromium: the confirmation page ends the sign-in.

A real server and browser: the user signs in and consents, the application sends the
browser to the ``end_session_endpoint``, the user ticks the checkbox and presses "Sign
out", and the browser lands on the application's registered post-logout address (which
the page's ``form-action`` must allow) with ``state``; the next authorization request
asks to sign in again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlencode

import httpx
import pytest

from .conftest import (
    PASSWORD,
    SCOPES,
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

APP_NAME = "Logout Test App"


def logout_app(server: Server, catcher: RedirectCatcher, api: httpx.Client) -> OAuthApp:
    owner = new_email("logout-owner")
    register(api, owner)
    token = api.post("/api/auth/login", json={"email": owner, "password": PASSWORD})
    created = api.post(
        "/api/applications", headers={"Authorization": f"Bearer {token.json()['accessToken']}"},
        json={"name": APP_NAME, "redirectUris": [catcher.redirect_uri], "scopes": list(SCOPES),
              "postLogoutRedirectUris": [f"{catcher.url}/signed-out"]},
    )
    assert created.status_code == 201, created.text
    body = created.json()
    return OAuthApp(body["clientId"], body["clientSecret"], APP_NAME, catcher.redirect_uri)


def test_signing_out_through_the_page_ends_the_sign_in_and_returns_to_the_application(
    page: Page, expect: Expect, server: Server, catcher: RedirectCatcher, api: httpx.Client
) -> None:
    app = logout_app(server, catcher, api)
    email = new_email("leaver")
    register(api, email)
    page.goto(authorization_request(server, app).url)
    sign_in(page, email)
    consent(page, expect, app, "Allow")
    land_on_redirect_uri(page, app)

    back = f"{catcher.url}/signed-out"
    query = urlencode({"client_id": app.client_id, "post_logout_redirect_uri": back,
                       "state": "bye ü"})
    page.goto(f"{server.url}/api/oauth/logout?{query}")
    expect(page.get_by_role("heading", name="Sign out of Tekcify?")).to_be_visible()
    expect(page.locator("body")).to_contain_text(email)
    page.get_by_label(f"Also sign out of {APP_NAME} on every device", exact=False).check()
    page.get_by_role("button", name="Sign out", exact=True).click()
    page.wait_for_url(lambda url: url.startswith(back + "?"))
    hits = [query for path, query in catcher.received if path == "/signed-out"]
    assert hits[-1] == {"state": ["bye ü"]}

    # Signed out of the pages: the next authorization request shows the login page.
    page.goto(authorization_request(server, app).url)
    expect(page.get_by_role("button", name="Sign in", exact=True)).to_be_visible()


def test_an_unregistered_address_shows_an_error_and_the_browser_stays(
    page: Page, expect: Expect, server: Server, catcher: RedirectCatcher, api: httpx.Client
) -> None:
    app = logout_app(server, catcher, api)
    query = urlencode({"client_id": app.client_id,
                       "post_logout_redirect_uri": f"{catcher.url}/elsewhere"})
    answer = page.goto(f"{server.url}/api/oauth/logout?{query}")
    assert answer is not None
    assert answer.status == 400
    expect(page.get_by_role("heading", name="This sign-out link is not valid")).to_be_visible()
    assert page.url.startswith(server.url)
    assert not [path for path, _ in catcher.received if path == "/elsewhere"]
