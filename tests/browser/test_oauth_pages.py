"""The OAuth login, registration and consent pages, driven in headless Chromium.

A real server, a real browser and a real callback: the browser starts at
``/api/oauth/authorize``, signs up or signs in, consents or refuses, and lands on the
application's redirect URI, where :class:`~.conftest.RedirectCatcher` records the answer;
the code is then exchanged over HTTP like a client would.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import httpx
import pytest

from tekcify_auth import verify_access_token

from .conftest import (
    PASSWORD,
    SCOPES,
    AuthorizationRequest,
    OAuthApp,
    RedirectCatcher,
    Server,
    authorization_request,
    new_context,
    new_email,
    register,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Expect, Page, Response

pytestmark = [pytest.mark.slow, pytest.mark.needs("chromium")]


def land_on_redirect_uri(page: Page, app: OAuthApp) -> None:
    """Wait until the browser is at the application's redirect URI."""
    page.wait_for_url(lambda url: url.startswith(app.redirect_uri + "?"))


def sign_in(page: Page, email: str, password: str = PASSWORD) -> None:
    """Fill in the login page and press "Sign in"."""
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()


def consent(page: Page, expect: Expect, app: OAuthApp, button: str) -> None:
    """Check the consent page shows the application and its scopes, then press ``button``."""
    choice = page.get_by_role("button", name=button, exact=True)
    expect(choice).to_be_visible()
    body = page.locator("body")
    expect(body).to_contain_text(app.name)
    for scope in SCOPES:
        expect(body).to_contain_text(scope)
    choice.click()


def issuer(server: Server) -> str:
    """The issuer the server announces (RFC 8414), which ``iss`` must repeat (RFC 9207)."""
    metadata = httpx.get(f"{server.url}/.well-known/oauth-authorization-server", timeout=10)
    assert metadata.status_code == 200, metadata.text
    value: str = metadata.json()["issuer"]
    return value


def exchange(
    server: Server, app: OAuthApp, request: AuthorizationRequest, code: str
) -> dict[str, object]:
    """Redeem ``code`` at the token endpoint with the PKCE verifier (client_secret_basic)."""
    answer = httpx.post(
        f"{server.url}/api/oauth/token",
        data={
            "grant_type": "authorization_code", "code": code,
            "redirect_uri": app.redirect_uri, "code_verifier": request.verifier,
        },
        auth=(app.client_id, app.client_secret),
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    tokens: dict[str, object] = answer.json()
    return tokens


def test_the_browser_reaches_the_server_and_the_catcher(
    page: Page, server: Server, catcher: RedirectCatcher
) -> None:
    answer = page.goto(f"{server.url}/health")
    assert answer is not None
    assert answer.status == 200
    assert json.loads(page.inner_text("body"))["status"] == "ok"
    page.goto(f"{catcher.redirect_uri}?code=abc&state=x%20y")
    assert catcher.last() == {"code": ["abc"], "state": ["x y"]}


def test_a_new_user_registers_consents_and_the_code_becomes_tokens(
    page: Page, expect: Expect, server: Server, catcher: RedirectCatcher, oauth_app: OAuthApp
) -> None:
    request = authorization_request(server, oauth_app)
    email = new_email("newcomer")
    page.goto(request.url)
    page.get_by_role("link", name="Create an account").click()
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    if page.get_by_label("First name", exact=True).count():
        page.get_by_label("First name", exact=True).fill("Ada")
        page.get_by_label("Last name", exact=True).fill("Lovelace")
    page.get_by_role("button", name="Create account").click()

    consent(page, expect, oauth_app, "Allow")
    land_on_redirect_uri(page, oauth_app)
    answer = catcher.last()
    assert answer["state"] == [request.state]  # byte for byte, spaces and "ü" included
    assert answer["iss"] == [issuer(server)]
    assert "error" not in answer
    [code] = answer["code"]

    tokens = exchange(server, oauth_app, request, code)
    assert tokens["token_type"] == "Bearer"
    assert set(str(tokens["scope"]).split()) == set(SCOPES)
    assert isinstance(tokens["access_token"], str)
    verified = verify_access_token(tokens["access_token"], secret=server.secret())
    assert verified.valid, verified.error
    assert verified.payload["email"] == email
    assert verified.payload["clientId"] == oauth_app.client_id
    assert set(verified.payload["scopes"]) == set(SCOPES)

    # Signed in and consented: the next request of the same scopes goes straight back.
    again = authorization_request(server, oauth_app)
    page.goto(again.url)
    land_on_redirect_uri(page, oauth_app)
    answer = catcher.last()
    assert answer["state"] == [again.state]
    assert answer["code"] != [code]


def test_an_existing_user_signs_in_and_denies(
    page: Page, expect: Expect, server: Server, catcher: RedirectCatcher, oauth_app: OAuthApp,
    api: httpx.Client,
) -> None:
    email = new_email("refuser")
    register(api, email)
    request = authorization_request(server, oauth_app)
    page.goto(request.url)
    sign_in(page, email)

    consent(page, expect, oauth_app, "Deny")
    land_on_redirect_uri(page, oauth_app)
    answer = catcher.last()
    assert answer["error"] == ["access_denied"]
    assert answer["state"] == [request.state]
    assert answer["iss"] == [issuer(server)]
    assert "code" not in answer


def test_a_wrong_password_is_shown_and_the_page_stays(
    page: Page, expect: Expect, server: Server, catcher: RedirectCatcher, oauth_app: OAuthApp,
    api: httpx.Client,
) -> None:
    email = new_email("forgetful")
    register(api, email)
    request = authorization_request(server, oauth_app)
    page.goto(request.url)
    seen_before = len(catcher.received)
    sign_in(page, email, "not the password at all")

    alert = page.get_by_role("alert")
    expect(alert).to_be_visible()
    expect(alert).not_to_be_empty()
    assert page.url.startswith(server.url)
    expect(page.get_by_role("button", name="Sign in", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Allow")).to_have_count(0)
    expect(page.get_by_label("Password", exact=True)).to_have_value("")
    assert len(catcher.received) == seen_before

    # The same page still works: the right password goes on to the consent page.
    sign_in(page, email)
    expect(page.get_by_role("button", name="Allow")).to_be_visible()


def test_a_sign_in_started_on_127_0_0_1_keeps_its_cookies_on_localhost(
    page: Page, expect: Expect, server: Server, catcher: RedirectCatcher, oauth_app: OAuthApp,
    api: httpx.Client,
) -> None:
    # The banner and the library say localhost; a user who opens 127.0.0.1 is sent there
    # before any cookie is set, so the CSRF secret and the sign-in live on one host.
    email = new_email("loopback")
    register(api, email)
    request = authorization_request(server, oauth_app)
    loopback = request.url.replace(server.url, server.loopback_url, 1)
    assert loopback != request.url
    page.goto(loopback)
    assert page.url == request.url
    sign_in(page, email)
    consent(page, expect, oauth_app, "Allow")
    land_on_redirect_uri(page, oauth_app)
    answer = catcher.last()
    assert answer["state"] == [request.state]
    assert isinstance(exchange(server, oauth_app, request, answer["code"][0])["access_token"], str)
    assert page.context.cookies(server.loopback_url) == []
    names = {cookie["name"] for cookie in page.context.cookies(server.url)}
    assert {"tekcify_csrf", "tekcify_login"} <= names


def test_the_flow_works_without_javascript(
    browser: Browser, expect: Expect, server: Server, catcher: RedirectCatcher,
    oauth_app: OAuthApp, api: httpx.Client,
) -> None:
    email = new_email("nojs")
    register(api, email)
    request = authorization_request(server, oauth_app)
    context = new_context(browser, java_script_enabled=False)
    try:
        page = context.new_page()
        page.set_content("<title>off</title><script>document.title = 'on'</script>")
        assert page.title() == "off", "scripts still run in this context"
        page.goto(request.url)
        sign_in(page, email)
        consent(page, expect, oauth_app, "Allow")
        land_on_redirect_uri(page, oauth_app)
    finally:
        context.close()
    answer = catcher.last()
    assert answer["state"] == [request.state]
    [code] = answer["code"]
    tokens = exchange(server, oauth_app, request, code)
    assert isinstance(tokens["access_token"], str)


def _page_documents(page: Page, server: Server) -> list[Response]:
    """Collect every HTML document the server answers ``page`` with, as they come."""
    documents: list[Response] = []

    def keep(response: Response) -> None:
        if (
            response.request.resource_type == "document"
            and response.url.startswith(server.url)
            and response.status == 200
        ):
            documents.append(response)

    page.on("response", keep)
    return documents


def test_the_pages_refuse_framing_and_keep_cookies_from_scripts(
    page: Page, expect: Expect, server: Server, catcher: RedirectCatcher, oauth_app: OAuthApp,
    api: httpx.Client,
) -> None:
    email = new_email("framed")
    register(api, email)
    request = authorization_request(server, oauth_app)
    documents = _page_documents(page, server)
    page.goto(request.url)
    page.get_by_role("link", name="Create an account").click()
    page.go_back()
    sign_in(page, email)
    expect(page.get_by_role("button", name="Allow")).to_be_visible()

    assert len({d.url.split("?")[0] for d in documents}) >= 2, [d.url for d in documents]
    for document in documents:
        headers = document.all_headers()
        csp = headers.get("content-security-policy", "")
        assert "frame-ancestors 'none'" in csp, (document.url, csp)
        assert headers.get("x-frame-options", "").upper() == "DENY", document.url

    cookies = page.context.cookies(server.url)
    assert cookies, "the pages set no cookie"
    for cookie in cookies:
        assert cookie["httpOnly"], cookie["name"]
        assert cookie["sameSite"] == "Lax", cookie["name"]

    # And Chromium does refuse: framed, the login page is replaced by Chromium's error
    # page, while a page that allows framing (the catcher's) shows in the same setting.
    framer = page.context.new_page()
    framer.set_content(  # returns once both frames have loaded
        f'<iframe title="login" src="{request.url}"></iframe>'
        f'<iframe title="control" src="{catcher.url}/framed"></iframe>'
    )
    control = framer.frame_locator("iframe[title=control]")
    expect(control.locator("body")).to_contain_text("Back at the client")
    login = framer.locator("iframe[title=login]").element_handle().content_frame()
    assert login is not None
    assert login.url.startswith("chrome-error://"), login.url
    expect(framer.frame_locator("iframe[title=login]").get_by_role("button")).to_have_count(0)


def _check_accessible(page: Page, expect: Expect) -> None:
    lang = page.evaluate("document.documentElement.lang")
    assert isinstance(lang, str)
    assert lang.strip(), f"{page.url}: <html> has no lang"
    assert page.title().strip(), f"{page.url}: no <title>"
    unlabelled = page.evaluate(
        """() => Array.from(document.querySelectorAll(
                'input:not([type=hidden]):not([type=submit]):not([type=button]), select, textarea'
            )).filter(el => el.labels.length === 0
                && !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby'))
              .map(el => el.outerHTML)"""
    )
    assert unlabelled == [], f"{page.url}: inputs without a label: {unlabelled}"
    expect(page.locator("h1")).not_to_have_count(0)


def test_the_pages_are_accessible_enough(
    page: Page, expect: Expect, server: Server, oauth_app: OAuthApp, api: httpx.Client
) -> None:
    email = new_email("reader")
    register(api, email)
    page.goto(authorization_request(server, oauth_app).url)
    _check_accessible(page, expect)
    # The labels are the inputs' accessible names, as a screen reader hears them.
    expect(page.get_by_role("textbox", name="Email", exact=True)).to_be_visible()
    expect(page.get_by_label("Password", exact=True)).to_have_attribute("type", "password")
    page.get_by_role("link", name="Create an account").click()
    _check_accessible(page, expect)
    page.go_back()
    sign_in(page, email)
    expect(page.get_by_role("button", name="Allow")).to_be_visible()
    _check_accessible(page, expect)
