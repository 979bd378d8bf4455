"""What the social sign-in tests share: upstream providers on real 127.0.0.1 sockets and a
browser (httpx) that walks through our pages and theirs.

* :func:`oidc_upstream`: the npm ``oidc-provider`` (OpenID Certified), installed by
  benchmarks/peers.py's ``oidc_provider()`` and run by ``tests/social/oidc_upstream.mjs``,
  with its development login and consent forms;
* :class:`FakeUpstream`: a tiny OpenID provider of this test (discovery, JWKS, token
  endpoint) whose id tokens the test writes, for answers no certified provider sends:
  ``alg: none``, another key, another nonce, another audience.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import secrets
import selectors
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from html import unescape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
from fastapi import FastAPI
from joserfc import jwt
from joserfc.jwk import RSAKey

from tekcify_auth.server.services.accounts import DEFAULT_FIRST_PARTY_SCOPES

from .conftest import client_session
from .test_authorize import parse_page

ROOT = Path(__file__).resolve().parents[2]
UPSTREAM_SCRIPT = ROOT / "tests" / "social" / "oidc_upstream.mjs"
CLIENT_ID = "tekcify-social-test"
CLIENT_SECRET = "upstream-client-secret-for-the-tests"
CALLBACK = "/api/oauth/social/{name}/callback"


def free_port() -> int:
    """A TCP port of 127.0.0.1 nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def providers_file(folder: Path, **discovery: str) -> Path:
    """A ``TEKCIFY_SOCIAL_PROVIDERS_FILE`` naming a generic provider per ``name=URL``."""
    path = folder / "providers.toml"
    path.write_text("".join(
        f'[providers.{name}]\ndisplay_name = "{name.title()}"\ndiscovery_url = "{url}"\n'
        f'client_id = "{CLIENT_ID}"\nclient_secret = "{CLIENT_SECRET}"\n\n'
        for name, url in discovery.items()
    ))
    return path


def installed_oidc_provider() -> str:
    """The entry point of oidc-provider 9.x, installed by benchmarks/peers.py when new.

    peers.py imports its siblings as top-level modules (``server``, ``_common``), so it
    runs in a process of its own with benchmarks/ as the working folder.
    """
    done = subprocess.run(
        [sys.executable, "-c", "import json, peers; print(json.dumps(peers.oidc_provider()))"],
        cwd=ROOT / "benchmarks", capture_output=True, text=True, timeout=600, check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    entry: str = json.loads(done.stdout.strip().splitlines()[-1])[0]
    return entry


@contextlib.contextmanager
def oidc_upstream(
    entry: str, port: int, redirect_uri: str, accounts: dict[str, dict[str, Any]]
) -> Iterator[str]:
    """oidc-provider on ``port`` with our client and ``accounts``; yields its issuer."""
    env = {
        **os.environ, "OIDC_PROVIDER": entry, "PORT": str(port), "CLIENT_ID": CLIENT_ID,
        "CLIENT_SECRET": CLIENT_SECRET, "REDIRECT_URI": redirect_uri,
        "ACCOUNTS": json.dumps(accounts),
    }
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            ["node", str(UPSTREAM_SCRIPT)], env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=log, start_new_session=True,
        )
        try:
            assert proc.stdout is not None
            with selectors.DefaultSelector() as selector:
                selector.register(proc.stdout, selectors.EVENT_READ)
                ready = selector.select(30) and b"ready" in proc.stdout.readline()
            if not ready:
                log.seek(0)
                raise AssertionError(f"oidc-provider did not start:\n{log.read().decode()}")
            yield f"http://127.0.0.1:{port}"
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()


def follow(browser: httpx.Client, response: httpx.Response) -> httpx.Response:
    """Follow redirects between our server and the upstream (both on this machine), up to
    a page or a redirect elsewhere (the application's redirect URI)."""
    for _ in range(20):
        if response.status_code not in (302, 303):
            return response
        location = urljoin(str(response.url), response.headers["location"])
        if urlsplit(location).hostname not in ("127.0.0.1", "localhost"):
            return response
        response = browser.get(location)
    raise AssertionError("too many redirects")


def social_button(page: httpx.Response, name: str) -> str:
    """The href of the login page's button for provider ``name``."""
    found = re.search(rf'href="([^"]*/api/oauth/social/{name}/start[^"]*)"', page.text)
    assert found, page.text
    return unescape(found.group(1))


def through_upstream_forms(
    browser: httpx.Client, page: httpx.Response, account: str
) -> httpx.Response:
    """oidc-provider's development login (any password) and consent forms, then on."""
    assert page.status_code == 200, page.text
    assert 'name="login"' in page.text, page.text
    form = parse_page(page.text).forms[0]
    response = follow(browser, browser.post(
        urljoin(str(page.url), form["action"]),
        data={**form["fields"], "login": account, "password": "whatever"},
    ))
    if response.status_code == 200 and 'value="consent"' in response.text:
        form = parse_page(response.text).forms[0]
        response = follow(browser, browser.post(
            urljoin(str(response.url), form["action"]), data=form["fields"]
        ))
    return response


def first_party_token(app: FastAPI, email: str) -> str:
    """An access token of ``email``'s own (first-party) session."""
    pair = client_session(app, None, email=email, scopes=DEFAULT_FIRST_PARTY_SCOPES)
    return pair.access_token


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class FakeUpstream:
    """A minimal OpenID provider of the test on 127.0.0.1; ``id_token(nonce)`` makes the
    token endpoint's id token, ``requests`` keeps the token requests' forms."""

    base: str = ""
    # A kid of its own: our server caches JWKS by URL, and a later test's provider may get
    # this one's port.
    key: RSAKey = field(
        default_factory=lambda: RSAKey.generate_key(2048, {"kid": secrets.token_hex(8)})
    )
    id_token: Callable[[str], str] | None = None
    nonces: list[str] = field(default_factory=list)
    requests: list[dict[str, list[str]]] = field(default_factory=list)
    listed_algs: tuple[str, ...] = ("RS256", "none")

    def claims(self, sent_nonce: str, /, **changes: Any) -> dict[str, Any]:
        """Good id token claims for the request with ``sent_nonce``, then ``changes``
        (``None`` drops a claim)."""
        now = int(time.time())
        claims = {
            "iss": self.base, "sub": "fake-subject-1", "aud": CLIENT_ID, "iat": now,
            "exp": now + 300, "nonce": sent_nonce, "email": "fresh@example.com",
            "email_verified": True,
        }
        claims.update(changes)
        return {k: v for k, v in claims.items() if v is not None}

    def sign(self, claims: dict[str, Any], key: RSAKey | None = None) -> str:
        """``claims`` signed RS256 by ``key`` (this provider's own by default)."""
        signer = key or self.key
        return jwt.encode({"alg": "RS256", "kid": signer.kid}, claims, signer)

    @staticmethod
    def unsigned(claims: dict[str, Any]) -> str:
        """``claims`` as an ``alg: none`` JWT (no signature)."""
        header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
        return f"{header}.{_b64(json.dumps(claims).encode())}."

    def good(self, nonce: str) -> str:
        return self.sign(self.claims(nonce))

    def _answer(self, path: str, form: dict[str, list[str]]) -> tuple[int, Any]:
        # GitHub (Enterprise Server) endpoints: OAuth 2, then its user API.
        if path == "/login/oauth/access_token":
            self.requests.append(form)
            return 200, {"access_token": "gho_upstream", "token_type": "bearer",
                         "scope": "read:user,user:email"}
        if path in ("/api/v3/user", "/api/v3/user/emails"):
            if form.get("authorization") != ["Bearer gho_upstream"]:
                return 401, {"message": "Bad credentials"}
            if path.endswith("/emails"):
                return 200, [
                    {"email": "octo-old@example.com", "primary": False, "verified": True},
                    {"email": "octo@example.com", "primary": True, "verified": True},
                ]
            return 200, {"id": 4242, "login": "octo", "name": "Octo Cat"}
        if path == "/.well-known/openid-configuration":
            return 200, {
                "issuer": self.base, "authorization_endpoint": f"{self.base}/authorize",
                "token_endpoint": f"{self.base}/token", "jwks_uri": f"{self.base}/jwks",
                "id_token_signing_alg_values_supported": list(self.listed_algs),
                "response_types_supported": ["code"], "subject_types_supported": ["public"],
            }
        if path == "/jwks":
            return 200, {"keys": [self.key.as_dict(private=False)]}
        if path == "/token":
            self.requests.append(form)
            nonce = self.nonces[-1] if self.nonces else ""
            make = self.id_token or self.good
            return 200, {"access_token": "upstream-access-token", "token_type": "Bearer",
                         "expires_in": 300, "id_token": make(nonce)}
        return 404, {"error": "not_found"}

    @contextlib.contextmanager
    def running(self) -> Iterator[FakeUpstream]:
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def _send(self, form: dict[str, list[str]]) -> None:
                status, body = upstream._answer(urlsplit(self.path).path, form)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._send({"authorization": [self.headers.get("Authorization") or ""]})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode())
                form["authorization"] = [self.headers.get("Authorization") or ""]
                self._send(form)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{server.server_address[1]}"
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()
            thread.join(10)

    def started_flow(self, browser: httpx.Client, start_url: str) -> dict[str, str]:
        """Press the button (GET ``start_url``): the parameters we sent upstream, whose
        nonce the token endpoint's id token will carry."""
        sent = browser.get(start_url)
        assert sent.status_code == 302, sent.text
        location = sent.headers["location"]
        assert location.startswith((f"{self.base}/authorize?",
                                    f"{self.base}/login/oauth/authorize?")), location
        params = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
        self.nonces.append(params.get("nonce", ""))
        return params
