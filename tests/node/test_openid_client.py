"""npm ``openid-client`` 6 (an OpenID Certified relying party) signs users in with our real
server (issue 15's acceptance): discovery, the authorization code flow with PKCE and a
nonce, id token validation, userinfo, refresh, and RP-initiated logout, for a confidential
and for a public client.

openid-client runs in Node (``openid_client.mjs``), one step per process; between its steps
the test is the user's browser on our login, consent and logout pages (e2e's
:class:`~e2e.support.Browser`, httpx posting the forms). The package is installed with npm
into ``$XDG_CACHE_HOME/tekcify-auth-node/openid-client-6/`` once per machine, by the Node
suite's :func:`~node.support.npm_install`. The server is the Node suite's (HS256 access
tokens, RS256 id tokens), on SQLite and on PostgreSQL in turn.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx
import pytest

from e2e.support import Browser, ServerProcess, forms_of

from .support import REDIRECT_URI, User, cache_dir, npm_install, sign_up

pytestmark = [pytest.mark.slow, pytest.mark.needs("node")]

#: The major version (6 runs on Node.js 20, this machine's and the README's oldest).
MAJOR = "6"
DRIVER = Path(__file__).resolve().parent / "openid_client.mjs"
SCOPE = "openid profile email offline_access"
POST_LOGOUT = "http://127.0.0.1:8765/signed-out"


def _folder() -> Path:
    return cache_dir().parent / f"openid-client-{MAJOR}"


def _entry(folder: Path) -> Path | None:
    """The installed package's entry point, when the major version is there."""
    with contextlib.suppress(OSError, ValueError):
        package = folder / "node_modules" / "openid-client" / "package.json"
        meta = json.loads(package.read_text("utf-8"))
        if str(meta.get("version", "")).startswith(f"{MAJOR}."):
            return package.parent / str(meta["exports"]["."]["default"])
    return None


@pytest.fixture(scope="session")
def openid_client(request: pytest.FixtureRequest) -> Path:
    """openid-client's entry point; installed now when new (npm's progress shown)."""
    folder = _folder()
    if _entry(folder) is None:
        capture = request.config.pluginmanager.getplugin("capturemanager")
        with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
            npm_install(folder, {"openid-client": MAJOR}, lambda: _entry(folder) is not None,
                        sys.stderr)
    entry = _entry(folder)
    assert entry is not None
    return entry


class RelyingParty:
    """One application of our server as openid-client sees it; :meth:`step` runs a step."""

    def __init__(self, entry: Path, server: ServerProcess, app: dict[str, Any]) -> None:
        self.entry = entry
        self.server = server
        self.context = {
            "issuer": server.url, "clientId": app["clientId"],
            "clientSecret": app.get("clientSecret"), "redirectUri": REDIRECT_URI,
            "scope": SCOPE, "postLogoutRedirectUri": POST_LOGOUT,
        }

    def run(self, step: str, **more: Any) -> dict[str, Any]:
        """The driver's report: ``{ok, value}`` or ``{ok: false, error}``."""
        env = {**os.environ, "OPENID_CLIENT_ENTRY": str(self.entry)}
        done = subprocess.run(
            ["node", str(DRIVER), step], input=json.dumps({**self.context, **more}),
            capture_output=True, text=True, env=env, timeout=120, check=False,
        )
        assert done.returncode == 0, f"node exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
        report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return report

    def step(self, step: str, **more: Any) -> dict[str, Any]:
        """The step's value; the test fails with openid-client's error and the server's log."""
        report = self.run(step, **more)
        if not report["ok"]:
            log = "\n".join(self.server.output().splitlines()[-20:])
            pytest.fail(f"{step}: {report['error']}\nserver log (last lines):\n{log}",
                        pytrace=False)
        value: dict[str, Any] = report["value"]
        return value


def register(server: ServerProcess, owner: User, *, public: bool) -> dict[str, Any]:
    """A new application of ``owner`` with a post-logout address; public: no secret."""
    body: dict[str, Any] = {
        "name": "openid-client public" if public else "openid-client",
        "redirectUris": [REDIRECT_URI], "postLogoutRedirectUris": [POST_LOGOUT],
        "scopes": ["openid", "profile", "email", "offline_access"],
    }
    if public:
        body["tokenEndpointAuthMethod"] = "none"
    with httpx.Client(base_url=server.url, timeout=10) as http:
        made = http.post("/api/applications", json=body,
                         headers={"Authorization": f"Bearer {owner.access_token}"})
    assert made.status_code == 201, made.text
    app: dict[str, Any] = made.json()
    assert ("clientSecret" in app) is not public
    return app


def signed_in(browser: Browser, started: dict[str, Any], user: User) -> str:
    """The user signs in and allows on our pages; the callback URL the browser is sent to."""
    query = browser.authorize(started["url"], user.email, user.password)
    return f"{REDIRECT_URI}?{urlencode(query)}"


def log_out(browser: Browser, end_session_url: str) -> str:
    """The user confirms signing out on our page; where the browser is sent then."""
    page = browser.http.get(end_session_url)
    for _ in range(3):  # the canonical host's redirect, if any
        if not page.is_redirect:
            break
        location = urljoin(str(page.url), page.headers["location"])
        if not location.startswith(browser.server_url + "/"):
            return location
        page = browser.http.get(location)
    assert page.status_code == 200, page.text
    [form] = forms_of(page.text)
    done = browser.http.post(form.action, data=form.fields)
    assert done.status_code == 303, done.text
    return str(done.headers["location"])


@pytest.fixture
def owner(hs_server: ServerProcess) -> User:
    return sign_up(hs_server)


@pytest.mark.parametrize("public", [False, True], ids=["confidential", "public"])
def test_openid_client_signs_in_refreshes_and_signs_out(
    openid_client: Path, hs_server: ServerProcess, owner: User, public: bool
) -> None:
    app = register(hs_server, owner, public=public)
    rp = RelyingParty(openid_client, hs_server, app)

    found = rp.step("discover")
    assert found["issuer"] == hs_server.url
    assert found["end_session_endpoint"] == f"{hs_server.url}/api/oauth/logout"
    assert found["supportsPKCE"] is True

    started = rp.step("start")
    sent = {k: v[0] for k, v in parse_qs(urlsplit(started["url"]).query).items()}
    assert sent["code_challenge_method"] == "S256"
    assert (sent["nonce"], sent["state"]) == (started["nonce"], started["state"])

    user = sign_up(hs_server)
    browser = Browser(hs_server.url)
    try:
        callback = signed_in(browser, started, user)
        assert browser.pages == ["login", "consent"]
        logout_state = "bye-" + secrets.token_urlsafe(8)
        done = rp.step("callback", callbackUrl=callback, verifier=started["verifier"],
                       nonce=started["nonce"], state=started["state"], logoutState=logout_state)

        claims = done["claims"]
        assert claims["iss"] == hs_server.url
        assert claims["aud"] == app["clientId"]
        assert claims["nonce"] == started["nonce"]
        assert claims["sub"] == user.user_id
        assert done["hasRefreshToken"] is True
        assert done["userinfo"]["sub"] == user.user_id
        assert done["userinfo"]["email"] == user.email

        refreshed = done["refreshed"]
        assert refreshed["newAccessToken"] is True
        assert refreshed["newIdToken"] is True
        assert refreshed["claims"]["sub"] == user.user_id
        assert refreshed["claims"]["aud"] == app["clientId"]

        ending = urlsplit(done["endSessionUrl"])
        asked = {k: v[0] for k, v in parse_qs(ending.query).items()}
        assert f"{ending.scheme}://{ending.netloc}{ending.path}" == found["end_session_endpoint"]
        assert asked["post_logout_redirect_uri"] == POST_LOGOUT
        assert asked["state"] == logout_state
        assert asked["client_id"] == app["clientId"]

        back = log_out(browser, done["endSessionUrl"])
        assert back == f"{POST_LOGOUT}?{urlencode({'state': logout_state})}"
        # Signed out: the next authorization shows the login page again.
        again = browser.http.get(rp.step("start")["url"], follow_redirects=True)
        assert forms_of(again.text)[0].action.endswith("/login")
    finally:
        browser.close()


def started_and_called_back(
    rp: RelyingParty, server: ServerProcess, **start: Any
) -> tuple[dict[str, Any], str]:
    """A new user through the pages: openid-client's start and the callback URL."""
    started = rp.step("start", **start)
    user = sign_up(server)
    browser = Browser(server.url)
    try:
        return started, signed_in(browser, started, user)
    finally:
        browser.close()


def test_openid_client_refuses_an_id_token_with_a_nonce_it_did_not_send(
    openid_client: Path, hs_server: ServerProcess, owner: User
) -> None:
    rp = RelyingParty(openid_client, hs_server, register(hs_server, owner, public=False))
    started, callback = started_and_called_back(rp, hs_server)
    altered = rp.run("callback", callbackUrl=callback, verifier=started["verifier"],
                     nonce=started["nonce"] + "x", state=started["state"], logoutState="s")
    assert altered["ok"] is False
    assert altered["error"]["code"] == "OAUTH_JWT_CLAIM_COMPARISON_FAILED", altered["error"]
    assert '"nonce"' in altered["error"]["cause"], altered["error"]


def test_openid_client_refuses_an_id_token_without_the_nonce_it_expects(
    openid_client: Path, hs_server: ServerProcess, owner: User
) -> None:
    rp = RelyingParty(openid_client, hs_server, register(hs_server, owner, public=True))
    started, callback = started_and_called_back(rp, hs_server, withoutNonce=True)
    missing = rp.run("callback", callbackUrl=callback, verifier=started["verifier"],
                     nonce=started["nonce"], state=started["state"], logoutState="s")
    assert missing["ok"] is False
    assert missing["error"]["code"] == "OAUTH_INVALID_RESPONSE", missing["error"]
    assert '"nonce" (nonce) claim missing' in missing["error"]["cause"], missing["error"]


def test_openid_client_refuses_a_callback_with_another_state(
    openid_client: Path, hs_server: ServerProcess, owner: User
) -> None:
    rp = RelyingParty(openid_client, hs_server, register(hs_server, owner, public=True))
    started, callback = started_and_called_back(rp, hs_server)
    url = urlsplit(callback)
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    forged = url._replace(query=urlencode({**query, "state": "s-forged"})).geturl()
    refused = rp.run("callback", callbackUrl=forged, verifier=started["verifier"],
                     nonce=started["nonce"], state=started["state"], logoutState="s")
    assert refused["ok"] is False
    assert refused["error"]["code"] == "OAUTH_INVALID_RESPONSE", refused["error"]
    assert '"state"' in refused["error"]["cause"], refused["error"]
    # The code was never sent: the right callback still completes.
    done = rp.step("callback", callbackUrl=callback, verifier=started["verifier"],
                   nonce=started["nonce"], state=started["state"], logoutState="s")
    assert done["claims"]["nonce"] == started["nonce"]
