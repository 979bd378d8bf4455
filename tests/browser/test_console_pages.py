"""Every page a person sees, in headless Chromium at a phone's width and a desktop's:
axe-core finds no serious or critical accessibility violation, nothing scrolls sideways,
focus is visible, and a screenshot of each is saved under ``docs/screenshots/``.

The console pages are every ``GET`` route of ``routers/pages/`` (found from the routers,
so a new page is checked without being listed here), filled in with the objects of a
person who has an application; the sign-in pages (login, registration, consent, forgot
password) come from an authorization request.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode

import httpx
import pytest

from .axe import WIDTHS, axe_source, describe, screenshot, violations
from .conftest import (
    PAGE_TIMEOUT_MS,
    PASSWORD,
    OAuthApp,
    Server,
    authorization_request,
    new_context,
    new_email,
)
from .test_oauth_pages import sign_in

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

pytestmark = [pytest.mark.slow, pytest.mark.needs("chromium", "node")]

#: The pages' own tests (tests/server/test_console*.py) show names holding HTML escaped;
#: here the person and the application look as in real use, for the screenshots.
FIRST_NAME = "Ada"
APP_NAME = "Photo Printer"
APP_REDIRECT = "http://127.0.0.1:9/callback"


def console_routes() -> list[str]:
    """The paths of every GET page of the consoles (``routers/pages/*``), 404 page aside."""
    from fastapi.routing import APIRoute

    from tekcify_auth.server.routers import pages

    paths: set[str] = set()
    for info in pkgutil.iter_modules(pages.__path__):
        module = importlib.import_module(f"{pages.__name__}.{info.name}")
        for name in dir(module):
            router = getattr(module, name)
            for route in getattr(router, "routes", ()) if name.endswith("router") else ():
                if (isinstance(route, APIRoute) and "GET" in route.methods
                        and route.path.startswith(("/account", "/developer"))
                        and "{rest:path}" not in route.path):
                    paths.add(route.path)
    return sorted(paths)


@dataclass
class Person:
    email: str
    context: BrowserContext
    objects: dict[str, str]


@pytest.fixture(scope="module")
def axe(request: pytest.FixtureRequest) -> str:
    return axe_source(request.config)


@pytest.fixture(scope="module")
def person(browser: Browser, server: Server) -> Iterator[Person]:
    """A person signed in on the pages, with an application of their own."""
    email = new_email("console")
    with httpx.Client(base_url=server.url, timeout=10) as api:
        made = api.post("/api/auth/register", json={
            "email": email, "password": PASSWORD, "firstName": FIRST_NAME,
            "lastName": "Lovelace",
        })
        assert made.status_code == 201, made.text
        token = api.post(
            "/api/auth/login", json={"email": email, "password": PASSWORD}
        ).json()["accessToken"]
        app = api.post(
            "/api/applications", headers={"Authorization": f"Bearer {token}"},
            json={"name": APP_NAME, "description": "Prints the photos of your albums",
                  "redirectUris": [APP_REDIRECT],
                  "scopes": ["openid", "profile", "email"], "primaryColor": "#0f766e"},
        )
        assert app.status_code == 201, app.text
        # The API login's session: /account/sessions/{session_id}/revoke confirms its end.
        listed = api.get("/api/auth/sessions", headers={"Authorization": f"Bearer {token}"})
        [session_id] = [s["id"] for s in listed.json()["sessions"] if s["current"]]
        passkey_id = _with_passkey(api, token, server.url)
    _with_link(server, email, "corp")
    context = new_context(browser)
    page = context.new_page()
    page.goto(f"{server.url}/api/oauth/login?next={quote('/account/passkeys', safe='')}")
    sign_in(page, email)
    page.wait_for_url(f"{server.url}/account/passkeys")
    body = app.json()
    # Connected to their own application (openid profile; the consent page test asks
    # for email too, so it is still shown), for /account/apps and its withdrawal page.
    page.route(f"{APP_REDIRECT}**", lambda route: route.fulfill(body="connected"))
    page.goto(f"{server.url}/api/oauth/authorize?" + urlencode({
        "response_type": "code", "client_id": body["clientId"], "redirect_uri": APP_REDIRECT,
        "scope": "openid profile", "state": "s",
        "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        "code_challenge_method": "S256",
    }))
    page.get_by_role("button", name="Allow", exact=True).click()
    page.wait_for_url(f"{APP_REDIRECT}**")
    page.close()
    # Two-factor on once signed in, so its "turn off" and "new codes" pages are there
    # (the set-up pages are swept in test_console_two_factor.py).
    _with_two_factor(server, token)
    # Applications are known by their client id, on the wire and in /developer's URLs.
    objects = dict.fromkeys(("id", "application_id", "app_id", "client_id", "clientId"),
                            body["clientId"])
    objects.update(session_id=session_id, passkey_id=passkey_id, provider="corp")
    try:
        yield Person(email, context, objects)
    finally:
        context.close()


def _with_passkey(api: httpx.Client, token: str, origin: str) -> str:
    """A passkey of the person (the Passkeys pages' confirmation needs one); its id."""
    from server.webauthn_soft import SoftAuthenticator

    auth = {"Authorization": f"Bearer {token}"}
    options = api.post("/api/auth/passkey/register/options", headers=auth).json()
    made = api.post("/api/auth/passkey/register", headers=auth, json={
        "credential": SoftAuthenticator().register(options["options"], origin=origin),
        "challenge": options["challenge"], "name": "Laptop",
    })
    assert made.status_code == 200, made.text
    return str(made.json()["id"])


def _with_two_factor(server: Server, token: str) -> None:
    import pyotp

    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server.url, timeout=10, headers=auth) as api:
        made = api.post("/api/auth/mfa/setup", json={"password": PASSWORD})
        assert made.status_code == 200, made.text
        code = pyotp.TOTP(made.json()["secret"]).now()
        on = api.post("/api/auth/mfa/verify-setup", json={"code": code})
        assert on.status_code == 200, on.text


def _with_link(server: Server, email: str, provider: str) -> None:
    """A provider linked to the person, as a social sign-in leaves one (none is set up on
    this server, so written in its database)."""
    from datetime import UTC, datetime

    from sqlalchemy import create_engine, select
    from sqlalchemy.orm import Session

    from tekcify_auth.server.db.models import User
    from tekcify_auth.server.db.social import SocialAccount

    engine = create_engine(f"sqlite:///{server.data_dir / 'tekcify.sqlite3'}")
    try:
        with Session(engine) as db, db.begin():
            user_id = db.execute(select(User.id).where(User.email == email)).scalar_one()
            now = datetime.now(UTC)
            db.add(SocialAccount(user_id=user_id, provider=provider, subject=f"{email}-sub",
                                 email=email, linked_at=now, last_used_at=now))
    finally:
        engine.dispose()


def fill(path: str, objects: dict[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        name = match.group(1).split(":")[0]
        assert name in objects, f"{path}: no test object for {{{name}}}; add one to person()"
        return objects[name]

    return re.sub(r"\{([^}]+)\}", one, path)


def shot_name(path: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-").replace("-id", "") or "root"


def check(page: Page, axe: str, name: str) -> None:
    """axe at both widths, no sideways scroll, a visible focus ring; a screenshot of each."""
    problems = []
    for width, (w, h) in WIDTHS.items():
        page.set_viewport_size({"width": w, "height": h})
        page.wait_for_load_state("load")
        found = violations(page, axe)
        if found:
            problems.append(f"{name} at {w}px:\n{describe(found)}")
        sideways = page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        if sideways > 0:
            problems.append(f"{name} at {w}px scrolls sideways by {sideways}px")
        screenshot(page, name, width)
    page.keyboard.press("Tab")
    outline = page.evaluate(
        "() => { const e = document.activeElement;"
        " return e && e !== document.body ? getComputedStyle(e).outlineStyle : 'none'; }"
    )
    if outline == "none":
        problems.append(f"{name}: the first Tab stop shows no focus outline")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", console_routes())
def test_console_page(person: Person, server: Server, axe: str, path: str) -> None:
    page = person.context.new_page()
    page.set_default_timeout(PAGE_TIMEOUT_MS)
    try:
        answer = page.goto(server.url + fill(path, person.objects))
        assert answer is not None
        assert answer.status == 200, path
        assert page.url.startswith(server.url + "/account") or page.url.startswith(
            server.url + "/developer"
        ), page.url  # not sent to sign in
        check(page, axe, shot_name(path))
    finally:
        page.close()


def test_console_not_found_page(person: Person, server: Server, axe: str) -> None:
    page = person.context.new_page()
    try:
        answer = page.goto(f"{server.url}/developer/apps/not-an-application")
        assert answer is not None
        assert answer.status == 404
        check(page, axe, "not-found")
    finally:
        page.close()


def sign_in_pages(server: Server, oauth_app: OAuthApp) -> dict[str, str]:
    asked = authorization_request(server, oauth_app).url
    login = f"{server.url}/api/oauth/login?next={quote(asked.split(server.url, 1)[1], safe='')}"
    return {
        "login": login,
        "register": login.replace("/api/oauth/login?", "/api/oauth/register?"),
        "forgot-password": login.replace("/api/oauth/login?", "/account/forgot-password?"),
    }


@pytest.mark.parametrize("name", ["login", "register", "forgot-password"])
def test_sign_in_page(
    browser: Browser, server: Server, oauth_app: OAuthApp, axe: str, name: str
) -> None:
    context = new_context(browser)
    page = context.new_page()
    page.set_default_timeout(PAGE_TIMEOUT_MS)
    try:
        url = sign_in_pages(server, oauth_app)[name]
        answer = page.goto(url)
        assert answer is not None
        assert answer.status == 200, url
        check(page, axe, f"sign-in-{name}")
    finally:
        context.close()


def test_consent_page(person: Person, server: Server, axe: str) -> None:
    """The consent page of the person's application: its colour, its scopes in words."""
    page = person.context.new_page()
    page.set_default_timeout(PAGE_TIMEOUT_MS)
    try:
        page.goto(f"{server.url}/api/oauth/authorize?" + urlencode({
            "response_type": "code", "client_id": person.objects["client_id"],
            "redirect_uri": APP_REDIRECT, "scope": "openid profile email", "state": "s",
            "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            "code_challenge_method": "S256",
        }))
        page.get_by_role("button", name="Allow", exact=True).wait_for()
        assert page.locator("main.card.branded").count() == 1
        check(page, axe, "sign-in-consent")
    finally:
        page.close()


def test_axe_reports_what_it_should(browser: Browser, axe: str) -> None:
    """The check above can fail: a page with an unlabelled field and an image without
    alt text gets serious or critical violations."""
    context = new_context(browser)
    page = context.new_page()
    try:
        page.set_content(
            "<!doctype html><html lang=en><title>t</title><main><h1>t</h1>"
            "<input type=text><img src=data:image/png;base64,iVBORw0KGgo=></main></html>"
        )
        found = {v["id"] for v in violations(page, axe)}
    finally:
        context.close()
    assert {"label", "image-alt"} <= found, found
