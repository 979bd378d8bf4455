"""Fixtures of the page tests: a real server, a redirect catcher, headless Chromium.

The server is ``tekcify-auth serve`` in a subprocess on a free 127.0.0.1 port with a
private data folder, driven at the URL it names, ``http://localhost:PORT`` (its pages send
``127.0.0.1`` there); the OAuth application is registered through its API, with a
loopback redirect URI served by :class:`RedirectCatcher`, which records what arrives.
The browser is the system Chromium (Debian's ``chromium``; ``TEKCIFY_CHROMIUM`` names
another) driven by Playwright, which comes from pip and never downloads a browser.

Every test here is marked ``pytest.mark.needs("chromium")``: without Chromium or
Playwright they are left out, loudly (``tests/needs.py``); CI installs both.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

import needs
from services import SHUTDOWN_POLL

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Expect, Page, Playwright

INSTALL_HINT = (
    "the browser tests need both: scripts/install-browser.sh installs Chromium "
    "(apt-get install -y chromium), pip install -e '.[dev]' installs playwright (never run "
    "`playwright install`)"
)
# Without the background-networking flags Chromium keeps dialling Google's hosts, which
# this closed network refuses; Playwright adds --headless, --no-sandbox (it runs as root
# in CI) and a fresh --user-data-dir itself.
CHROMIUM_ARGS = [
    "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]
#: How long a page may take to answer before a test fails (ms).
PAGE_TIMEOUT_MS = 15_000

PASSWORD = "correct horse battery staple"
SCOPES = ("openid", "profile", "email")
APP_NAME = "Browser Test App"
FAST_HASHING_ENV = {
    "TEKCIFY_ARGON2_TIME_COST": "1", "TEKCIFY_ARGON2_MEMORY_COST": "8",
    "TEKCIFY_ARGON2_PARALLELISM": "1",
    "TEKCIFY_REGISTRATION_MAX_PER_ADDRESS": "100000",
    "TEKCIFY_REGISTRATION_MAX_PER_NETWORK": "100000",
    "TEKCIFY_CLIENT_AUTH_MAX_FAILURES": "100000",
    "TEKCIFY_CLIENT_AUTH_MAX_FAILURES_PER_CLIENT": "100000",
}

def free_port() -> int:
    """A port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# -- the server ----------------------------------------------------------------------


@dataclass(frozen=True)
class Server:
    """A running ``tekcify-auth serve``: its base URL and data folder.

    ``url`` is the one the server names (``http://localhost:PORT``); ``loopback_url`` is
    the address it listens on (``http://127.0.0.1:PORT``), whose pages redirect to ``url``.
    """

    url: str
    loopback_url: str
    data_dir: Path
    log: Path

    def secret(self) -> str:
        """The HS256 secret the server made in its data folder (what resource servers get)."""
        return (self.data_dir / "jwt_access_secret").read_text(encoding="ascii").strip()


def _wait_until_up(proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + 30
    with httpx.Client(base_url=url, timeout=5) as client:
        while True:
            try:
                if client.get("/health").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if proc.poll() is not None:
                pytest.fail(f"the server exited ({proc.returncode}):\n{log.read_text()}")
            if time.monotonic() > deadline:
                pytest.fail(f"the server did not come up in 30 s:\n{log.read_text()}")
            time.sleep(0.1)


@pytest.fixture(scope="package")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``tekcify-auth serve`` on a free port, SQLite in a private data folder."""
    home = tmp_path_factory.mktemp("auth-server")
    data_dir = home / "data"
    log = home / "server.log"
    env = {
        k: v for k, v in os.environ.items()
        if not k.startswith("TEKCIFY_") and k != "JWT_ACCESS_SECRET"
    }
    env.update(FAST_HASHING_ENV, TEKCIFY_DATA_DIR=str(data_dir))
    port = free_port()
    url = f"http://localhost:{port}"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tekcify_auth.cli", "serve", "--host", "127.0.0.1",
             "--port", str(port)],
            env=env, cwd=home, stdout=out, stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_up(proc, url, log)
        yield Server(
            url=url, loopback_url=f"http://127.0.0.1:{port}", data_dir=data_dir, log=log
        )
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def api(server: Server) -> Iterator[httpx.Client]:
    """An HTTP client of the server's API (not the browser)."""
    with httpx.Client(base_url=server.url, timeout=10) as client:
        yield client


def register(api: httpx.Client, email: str, password: str = PASSWORD) -> None:
    """Create an account through ``POST /api/auth/register``."""
    answer = api.post("/api/auth/register", json={"email": email, "password": password})
    assert answer.status_code == 201, answer.text


def new_email(prefix: str) -> str:
    """An address no other test uses (the server lives for the whole package)."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.com"


# -- the redirect catcher ------------------------------------------------------------


@dataclass
class RedirectCatcher:
    """A tiny HTTP server on 127.0.0.1 standing in for the OAuth client's callback.

    Every request's path and query is recorded in ``received``; it answers with a small
    page saying it got there.
    """

    url: str
    received: list[tuple[str, dict[str, list[str]]]] = field(default_factory=list)

    @property
    def redirect_uri(self) -> str:
        """The redirect URI registered for the test application."""
        return f"{self.url}/callback"

    def last(self) -> dict[str, list[str]]:
        """The query of the last request that reached ``/callback``."""
        hits = [query for path, query in self.received if path == "/callback"]
        assert hits, f"nothing reached {self.redirect_uri}"
        return hits[-1]


@pytest.fixture(scope="package")
def catcher() -> Iterator[RedirectCatcher]:
    """A :class:`RedirectCatcher` on a free port, stopped afterwards."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    host, port = httpd.server_address[:2]
    result = RedirectCatcher(url=f"http://{host!s}:{port}")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            result.received.append((parts.path, parse_qs(parts.query, keep_blank_values=True)))
            body = b"<!doctype html><html lang=en><title>Callback</title><p>Back at the client"
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep the test output clean; ``received`` is the record

    httpd.RequestHandlerClass = Handler
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": SHUTDOWN_POLL}, daemon=True
    )
    thread.start()
    try:
        yield result
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


# -- the OAuth application and the authorization request ----------------------------


@dataclass(frozen=True)
class OAuthApp:
    """The registered application: its credentials and redirect URI."""

    client_id: str
    client_secret: str
    name: str
    redirect_uri: str


@pytest.fixture(scope="package")
def oauth_app(server: Server, catcher: RedirectCatcher) -> OAuthApp:
    """A confidential application registered through ``POST /api/applications``."""
    owner = new_email("owner")
    with httpx.Client(base_url=server.url, timeout=10) as api:
        register(api, owner)
        login = api.post("/api/auth/login", json={"email": owner, "password": PASSWORD})
        assert login.status_code == 200, login.text
        created = api.post(
            "/api/applications",
            headers={"Authorization": f"Bearer {login.json()['accessToken']}"},
            json={
                "name": APP_NAME, "description": "Registered by the browser tests",
                "redirectUris": [catcher.redirect_uri], "scopes": list(SCOPES),
            },
        )
    assert created.status_code == 201, created.text
    body = created.json()
    return OAuthApp(body["clientId"], body["clientSecret"], APP_NAME, catcher.redirect_uri)


@dataclass(frozen=True)
class AuthorizationRequest:
    """One ``GET /api/oauth/authorize`` with fresh ``state`` and PKCE verifier."""

    url: str
    state: str
    verifier: str


def authorization_request(
    server: Server, app: OAuthApp, scopes: tuple[str, ...] = SCOPES
) -> AuthorizationRequest:
    """A new authorization request of ``app`` (PKCE S256, computed here, not by our library)."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    # A state with characters that must survive byte for byte.
    state = "st-" + secrets.token_urlsafe(12) + " +/=&ü"
    query = urlencode({
        "response_type": "code", "client_id": app.client_id, "redirect_uri": app.redirect_uri,
        "scope": " ".join(scopes), "state": state,
        "code_challenge": challenge.rstrip(b"=").decode(), "code_challenge_method": "S256",
    })
    return AuthorizationRequest(f"{server.url}/api/oauth/authorize?{query}", state, verifier)


# -- the browser ---------------------------------------------------------------------


def chromium_executable() -> str:
    """The Chromium to drive; fails the test (naming the install command) when missing."""
    path = needs.chromium_executable()
    if path is None:
        pytest.fail(f"Chromium is missing: {INSTALL_HINT}; or mark the test "
                    "pytest.mark.needs('chromium')", pytrace=False)
    return path


@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    """Playwright's sync API; fails (naming the install command) when it is missing."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        missing = str(exc)
    else:
        missing = ""
    if missing:
        pytest.fail(f"the playwright package is missing ({missing}): {INSTALL_HINT}", pytrace=False)
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="package")
def expect(playwright: Playwright) -> Expect:
    """Playwright's retrying assertions (imported here so a missing package fails cleanly)."""
    from playwright.sync_api import expect

    return expect


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """Headless system Chromium, closed after the package."""
    browser = playwright.chromium.launch(
        executable_path=chromium_executable(), headless=True, chromium_sandbox=False,
        args=CHROMIUM_ARGS,
    )
    try:
        yield browser
    finally:
        browser.close()


def new_context(browser: Browser, **options: Any) -> BrowserContext:
    """A fresh browser profile (no cookies) with the tests' timeouts."""
    context = browser.new_context(**options)
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    context.set_default_navigation_timeout(PAGE_TIMEOUT_MS)
    return context


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A page in a fresh browser context (JavaScript on), closed after the test."""
    context = new_context(browser)
    try:
        yield context.new_page()
    finally:
        context.close()
