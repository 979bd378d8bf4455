"""``GET /api/oauth/authorize`` and its pages, driven over HTTP like a browser without scripts.

The whole flow (authorize, login form with its CSRF token, consent, redirect with
``code``, ``state`` and ``iss``, token exchange), then every bad input of the issue as a
named test: unknown client, altered redirect URIs (never a redirect), PKCE missing,
``plain`` or malformed, an off-site ``next``, CSRF tokens missing or wrong. Also the
pages' headers and cookies, the login session, ``prompt`` and consent memory.

The helpers here (:class:`Browser`, :func:`authorization`, :func:`get_code`) are
shared by the other OAuth test modules.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import httpx
import pytest
from fastapi import FastAPI

from tekcify_auth.server.services import accounts, applications

from .conftest import (
    CLIENT_ADDRESS,
    PASSWORD,
    FakeClock,
    asgi_client,
    bearer,
    login,
    make_settings,
    register,
    running,
)

AUTHORIZE = "/api/oauth/authorize"
TOKEN = "/api/oauth/token"
REDIRECT_URI = "https://app.example.com/callback"
LOOPBACK_URI = "http://127.0.0.1/callback"
#: The OIDC issuer and RFC 9207 ``iss``: the base URL the tests reach the server at.
ISSUER = "http://tekcify.test"
#: What the tests' requests ask for by default: offline_access too, so a refresh token comes.
SCOPES = ("openid", "profile", "email", "offline_access")


# -- helpers shared by the OAuth tests -----------------------------------------------------


@dataclass(frozen=True)
class Client:
    """An application registered for these tests."""

    client_id: str
    client_secret: str | None
    redirect_uris: tuple[str, ...]
    scopes: tuple[str, ...]
    name: str

    def basic(self) -> dict[str, str]:
        """``Authorization: Basic`` with its credentials."""
        raw = f"{quote(self.client_id, safe='')}:{quote(self.client_secret or '', safe='')}"
        return {"Authorization": "Basic " + base64.b64encode(raw.encode()).decode()}


def make_client(
    app: FastAPI,
    *,
    owner_email: str = "owner@example.com",
    name: str = "Photo Printer",
    redirect_uris: tuple[str, ...] = (REDIRECT_URI, LOOPBACK_URI),
    scopes: tuple[str, ...] = (*SCOPES, "read:profile"),
    origins: tuple[str, ...] = (),
    confidential: bool = True,
) -> Client:
    """Register an application through the applications service."""
    ctx = app.state.ctx
    with ctx.db.write() as db:
        owner = accounts.find_by_email(db, owner_email) or accounts.create_user(
            db, ctx, email=owner_email, password_hash=ctx.passwords.hash(PASSWORD)
        )
        application, secret = applications.create_application(
            db, owner_id=owner.id, name=name, description="Prints your photos",
            redirect_uris=list(redirect_uris), scopes=list(scopes),
            authorized_origins=list(origins), now=ctx.clock(), confidential=confidential,
        )
    return Client(application.client_id, secret, redirect_uris, scopes, name)


@pytest.fixture
def oauth_client(app: FastAPI) -> Client:
    """A confidential application with an https and a loopback redirect URI."""
    return make_client(app)


def challenge_of(verifier: str) -> str:
    """RFC 7636 S256, computed here (not with the server's code)."""
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass
class Authorization:
    """One authorization request: its parameters and the PKCE verifier."""

    params: dict[str, str]
    verifier: str

    @property
    def url(self) -> str:
        return f"{AUTHORIZE}?{urlencode(self.params)}"

    @property
    def redirect_uri(self) -> str:
        return self.params["redirect_uri"]


def authorization(client: Client, **changes: str | None) -> Authorization:
    """A valid request of ``client`` (S256, state, its first redirect URI); ``None`` drops."""
    verifier = secrets.token_urlsafe(48)
    params: dict[str, str | None] = {
        "response_type": "code", "client_id": client.client_id,
        "redirect_uri": client.redirect_uris[0], "scope": " ".join(SCOPES),
        "state": "s-" + secrets.token_urlsafe(8), "code_challenge": challenge_of(verifier),
        "code_challenge_method": "S256",
    }
    params.update(changes)
    return Authorization({k: v for k, v in params.items() if v is not None}, verifier)


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []
        self.alerts: list[str] = []
        self._in_alert = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {name: value or "" for name, value in attrs}
        if tag == "form":
            self.forms.append({"action": found.get("action"), "fields": {}})
        elif tag == "input" and self.forms and found.get("type") == "hidden":
            self.forms[-1]["fields"][found["name"]] = found.get("value", "")
        if found.get("role") == "alert":
            self._in_alert += 1
            self.alerts.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "div" and self._in_alert:
            self._in_alert -= 1

    def handle_data(self, data: str) -> None:
        if self._in_alert:
            self.alerts[-1] += data


def parse_page(html: str) -> _Forms:
    """The forms (action and hidden fields) and alerts of a page."""
    parser = _Forms()
    parser.feed(html)
    return parser


def hidden_fields(response: httpx.Response) -> dict[str, str]:
    """The hidden fields of the page's (only) form."""
    forms = parse_page(response.text).forms
    assert len(forms) == 1, response.text
    fields: dict[str, str] = forms[0]["fields"]
    return fields


def alert_text(response: httpx.Response) -> str:
    """The text of the page's role="alert" element."""
    alerts = parse_page(response.text).alerts
    assert alerts, response.text
    return " ".join(alerts[0].split())


def redirect_query(response: httpx.Response, redirect_uri: str) -> dict[str, str]:
    """The parameters of a redirect to ``redirect_uri`` (which it must start with)."""
    assert response.status_code in (302, 303), response.text
    location = response.headers["location"]
    base, _, query = location.partition("?")
    assert base == redirect_uri.split("?")[0], location
    parsed = parse_qs(query, keep_blank_values=True, strict_parsing=True)
    assert all(len(values) == 1 for values in parsed.values()), location
    return {name: values[0] for name, values in parsed.items()}


@dataclass
class Browser:
    """An HTTP client that keeps cookies and fills in the pages like a person would."""

    http: httpx.AsyncClient
    visited: list[httpx.Response] = field(default_factory=list)

    async def get(self, url: str) -> httpx.Response:
        response = await self.http.get(url)
        self.visited.append(response)
        return response

    async def submit(
        self, page: httpx.Response, extra: dict[str, str], **overrides: str | None
    ) -> httpx.Response:
        """Post the page's form with its hidden fields, ``extra`` and ``overrides``."""
        forms = parse_page(page.text).forms
        assert len(forms) == 1, page.text
        data = {**forms[0]["fields"], **extra, **overrides}
        response = await self.http.post(
            forms[0]["action"], data={k: v for k, v in data.items() if v is not None}
        )
        self.visited.append(response)
        return response

    async def sign_in(
        self, page: httpx.Response, email: str = "ada@example.com", password: str = PASSWORD
    ) -> httpx.Response:
        """Fill in the login page; returns the answer to the post."""
        assert "Sign in" in page.text, page.text
        return await self.submit(page, {"email": email, "password": password})

    async def follow(self, response: httpx.Response) -> httpx.Response:
        """Follow a redirect to a page of this server."""
        assert response.status_code in (302, 303), response.text
        location = response.headers["location"]
        assert location.startswith("/"), location
        return await self.get(location)

    async def consent(self, page: httpx.Response, decision: str = "allow") -> httpx.Response:
        """Press Allow (or Deny) on the consent page."""
        assert ">Allow</button>" in page.text, page.text
        return await self.submit(page, {"decision": decision})


async def get_code(
    browser: Browser,
    client: Client,
    request: Authorization | None = None,
    *,
    email: str = "ada@example.com",
) -> tuple[str, Authorization]:
    """Run the pages (signing in and consenting when asked) until the redirect with a code."""
    request = request or authorization(client)
    page = await browser.get(request.url)
    if page.status_code == 200 and 'name="password"' in page.text:
        page = await browser.follow(await browser.sign_in(page, email))
    if page.status_code == 200:
        page = await browser.consent(page)
    answer = redirect_query(page, request.redirect_uri)
    assert "error" not in answer, answer
    return answer["code"], request


async def redeem(
    http: httpx.AsyncClient, client: Client, code: str, request: Authorization, **changes: str
) -> httpx.Response:
    """``POST /api/oauth/token`` with the code (client_secret_basic, or client_id if public)."""
    data = {
        "grant_type": "authorization_code", "code": code,
        "redirect_uri": request.redirect_uri, "code_verifier": request.verifier, **changes,
    }
    if client.client_secret is None:
        data.setdefault("client_id", client.client_id)
        return await http.post(TOKEN, data=data)
    return await http.post(TOKEN, data=data, headers=client.basic())


@pytest.fixture
async def browser(app: FastAPI) -> Any:
    """A :class:`Browser` on its own cookie jar."""
    async with asgi_client(app) as http:
        yield Browser(http)


@pytest.fixture
async def ada(client: httpx.AsyncClient) -> dict[str, Any]:
    """The registered user ada@example.com (profile)."""
    return await register(client)


# -- the whole flow ------------------------------------------------------------------------


async def test_the_whole_flow_over_http(
    client: httpx.AsyncClient, browser: Browser, oauth_client: Client, ada: dict[str, Any]
) -> None:
    request = authorization(oauth_client, state="x y+z/=&ü%20é")
    page = await browser.get(request.url)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert 'for="email">Email</label>' in page.text
    assert 'for="password">Password</label>' in page.text
    assert ">Sign in</button>" in page.text
    assert ">Create an account</a>" in page.text
    assert "Photo Printer" in page.text
    fields = hidden_fields(page)
    assert fields["csrf_token"]
    assert fields["next"].startswith(AUTHORIZE + "?")

    signed_in = await browser.sign_in(page)
    assert signed_in.status_code == 303
    assert signed_in.headers["location"] == fields["next"]
    consent_page = await browser.follow(signed_in)
    assert consent_page.status_code == 200
    assert "Photo Printer" in consent_page.text
    for scope in SCOPES:
        assert f"<code>{scope}</code>" in consent_page.text
    assert ">Allow</button>" in consent_page.text
    assert ">Deny</button>" in consent_page.text
    assert "ada@example.com" in consent_page.text

    back = await browser.consent(consent_page)
    assert back.status_code == 303
    answer = redirect_query(back, REDIRECT_URI)
    assert set(answer) == {"code", "state", "iss"}
    assert answer["state"] == "x y+z/=&ü%20é"
    assert answer["iss"] == ISSUER
    assert back.headers["cache-control"] == "no-store"
    assert back.headers["referrer-policy"] == "no-referrer"

    tokens = await redeem(client, oauth_client, answer["code"], request)
    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    assert set(body) == {
        "access_token", "token_type", "expires_in", "refresh_token", "scope", "id_token",
    }  # id_token: openid was granted (test_id_tokens.py)
    assert body["scope"] == "openid profile email offline_access"
    me = await client.get("/api/oauth/userinfo", headers=bearer(body["access_token"]))
    assert me.status_code == 200
    assert me.json()["email"] == "ada@example.com"


async def test_a_known_user_with_a_remembered_consent_goes_straight_back(
    browser: Browser, oauth_client: Client, ada: dict[str, Any]
) -> None:
    await get_code(browser, oauth_client)
    # Signed in (cookie) and consented: the next request redirects at once with a code.
    request = authorization(oauth_client)
    response = await browser.get(request.url)
    assert response.status_code == 302
    answer = redirect_query(response, REDIRECT_URI)
    assert set(answer) == {"code", "state", "iss"}
    assert answer["state"] == request.params["state"]


async def test_without_state_the_answer_has_none(
    browser: Browser, oauth_client: Client, ada: dict[str, Any]
) -> None:
    await get_code(browser, oauth_client)
    response = await browser.get(authorization(oauth_client, state=None).url)
    assert set(redirect_query(response, REDIRECT_URI)) == {"code", "iss"}


async def test_a_registered_redirect_uri_with_a_query_keeps_it(
    app: FastAPI, browser: Browser, ada: dict[str, Any]
) -> None:
    uri = "https://app.example.com/cb?tenant=7"
    client = make_client(app, redirect_uris=(uri,))
    code, _request = await get_code(browser, client)
    response = await browser.get(authorization(client).url)
    location = response.headers["location"]
    assert location.startswith(uri + "&code=")
    assert redirect_query(response, uri)["tenant"] == "7"
    assert code


async def test_scope_defaults_to_the_applications_scopes(
    browser: Browser, oauth_client: Client, ada: dict[str, Any], client: httpx.AsyncClient
) -> None:
    request = authorization(oauth_client, scope=None)
    code, _ = await get_code(browser, oauth_client, request)
    tokens = await redeem(client, oauth_client, code, request)
    assert tokens.json()["scope"] == "openid profile email offline_access read:profile"


async def test_the_consent_page_says_whether_access_outlasts_the_visit(
    browser: Browser, oauth_client: Client, ada: dict[str, Any]
) -> None:
    offline = authorization(oauth_client, scope="openid offline_access")
    page = await browser.follow(await browser.sign_in(await browser.get(offline.url)))
    assert "Keep access while you are away, until you disconnect it" in page.text
    assert "access ends" not in page.text
    online = await browser.get(authorization(oauth_client, scope="openid email").url)
    assert "Keep access while you are away" not in online.text
    assert (
        "Photo Printer does not ask to keep access while you are away: its access ends "
        "15 minutes after you allow it."
    ) in online.text


# -- the user says no ----------------------------------------------------------------------


async def test_denial_returns_access_denied_to_the_redirect_uri(
    browser: Browser, oauth_client: Client, ada: dict[str, Any]
) -> None:
    request = authorization(oauth_client)
    page = await browser.follow(await browser.sign_in(await browser.get(request.url)))
    denied = await browser.consent(page, "deny")
    assert denied.status_code == 303
    answer = redirect_query(denied, REDIRECT_URI)
    assert answer["error"] == "access_denied"
    assert answer["state"] == request.params["state"]
    assert answer["iss"] == ISSUER
    assert "code" not in answer
    # Nothing was remembered: the next request asks again.
    again = await browser.get(authorization(oauth_client).url)
    assert again.status_code == 200
    assert ">Allow</button>" in again.text


# -- unknown client and altered redirect URIs: a page, never a redirect ---------------------


def assert_error_page(response: httpx.Response, words: str) -> None:
    """A 400 HTML error page with ``words`` in its alert, and no redirect."""
    assert response.status_code == 400, response.text
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")
    assert words in alert_text(response)
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


async def test_unknown_client_id_is_an_error_page_not_a_redirect(
    browser: Browser, oauth_client: Client
) -> None:
    response = await browser.get(authorization(oauth_client, client_id="f" * 32).url)
    assert_error_page(response, "Unknown application")


async def test_a_client_id_with_a_nul_is_an_unknown_application(
    browser: Browser, oauth_client: Client
) -> None:
    # PostgreSQL refuses NUL in text: this was a 500 there, on the pages as well.
    response = await browser.get(authorization(oauth_client, client_id="\x00").url)
    assert_error_page(response, "Unknown application")
    forged = authorization(oauth_client, client_id="\x00").url
    for path in ("/api/oauth/login", "/api/oauth/register"):
        shown = await browser.get(f"{path}?next={quote(forged, safe='')}")
        assert shown.status_code == 400
        assert "location" not in shown.headers


async def test_missing_client_id_is_an_error_page(browser: Browser, oauth_client: Client) -> None:
    response = await browser.get(authorization(oauth_client, client_id=None).url)
    assert_error_page(response, "client_id")


async def test_missing_redirect_uri_is_an_error_page(
    browser: Browser, oauth_client: Client
) -> None:
    response = await browser.get(authorization(oauth_client, redirect_uri=None).url)
    assert_error_page(response, "redirect_uri")


@pytest.mark.parametrize(
    "altered",
    [
        pytest.param("https://app.example.com/callback?next=/admin", id="extra-query"),
        pytest.param("https://app.example.com/callback/", id="trailing-slash"),
        pytest.param("https://app.example.com/Callback", id="other-case-path"),
        pytest.param("https://APP.example.com/callback", id="other-case-host"),
        pytest.param("HTTPS://app.example.com/callback", id="other-case-scheme"),
        pytest.param("https://app.example.com:8443/callback", id="other-port"),
        pytest.param("https://app.example.com:443/callback", id="default-port-spelled-out"),
        pytest.param("https://app.example.com/callback#x", id="fragment"),
        pytest.param("https://app.example.com/callback#", id="empty-fragment"),
        pytest.param("https://evil@app.example.com/callback", id="userinfo"),
        pytest.param("https://app.example.com@evil.example/callback", id="userinfo-host-swap"),
        pytest.param("https://evil.example/callback", id="other-host"),
        pytest.param("http://app.example.com/callback", id="other-scheme"),
        pytest.param("https://app.example.com/callback/../callback", id="dot-segments"),
        pytest.param("https://app.example.com/%63allback", id="percent-encoded"),
        pytest.param("https://app.example.com/callback ", id="trailing-space"),
        pytest.param("https://app.example.com", id="origin-only"),
        pytest.param("http://127.0.0.1:8080/callback/", id="loopback-trailing-slash"),
        pytest.param("http://127.0.0.1:8080/callback?x=1", id="loopback-extra-query"),
        pytest.param("http://127.0.0.1:8080/callback#x", id="loopback-fragment"),
        pytest.param("http://localhost:8080/callback", id="loopback-other-host"),
        pytest.param("https://127.0.0.1:8080/callback", id="loopback-https"),
        pytest.param("http://evil@127.0.0.1:8080/callback", id="loopback-userinfo"),
        pytest.param("http://127.0.0.1:80@evil.example/callback", id="loopback-port-userinfo"),
        pytest.param("http://127.0.0.1:0/callback", id="loopback-port-zero"),
        pytest.param("http://127.0.0.1:65536/callback", id="loopback-port-too-big"),
        pytest.param("http://127.0.0.1:08080/callback", id="loopback-port-leading-zero"),
        pytest.param("http://127.0.0.1.evil.example/callback", id="loopback-prefix-host"),
    ],
)
async def test_an_altered_redirect_uri_is_an_error_page_not_a_redirect(
    browser: Browser, oauth_client: Client, altered: str
) -> None:
    response = await browser.get(authorization(oauth_client, redirect_uri=altered).url)
    assert_error_page(response, "redirect_uri is not registered")


async def test_a_repeated_redirect_uri_is_an_error_page(
    browser: Browser, oauth_client: Client
) -> None:
    request = authorization(oauth_client)
    url = request.url + "&" + urlencode({"redirect_uri": "https://evil.example/cb"})
    assert_error_page(await browser.get(url), "more than once")


async def test_another_applications_redirect_uri_is_an_error_page(
    app: FastAPI, browser: Browser, oauth_client: Client
) -> None:
    other = make_client(app, name="Other", redirect_uris=("https://other.example/cb",))
    response = await browser.get(
        authorization(oauth_client, redirect_uri=other.redirect_uris[0]).url
    )
    assert_error_page(response, "redirect_uri is not registered")


@pytest.mark.parametrize(
    "uri",
    [
        "http://127.0.0.1:51234/callback",
        "http://127.0.0.1/callback",
        "http://127.0.0.1:65535/callback",
    ],
)
async def test_a_loopback_redirect_uri_matches_on_any_port(
    browser: Browser, oauth_client: Client, ada: dict[str, Any], client: httpx.AsyncClient,
    uri: str,
) -> None:
    request = authorization(oauth_client, redirect_uri=uri)
    code, _ = await get_code(browser, oauth_client, request)
    # The code is bound to the URI the request used, port included.
    tokens = await redeem(client, oauth_client, code, request)
    assert tokens.status_code == 200, tokens.text


async def test_an_ipv6_loopback_redirect_uri_matches_on_any_port(
    app: FastAPI, browser: Browser, ada: dict[str, Any]
) -> None:
    client = make_client(app, redirect_uris=("http://[::1]:1234/cb",))
    request = authorization(client, redirect_uri="http://[::1]:4321/cb")
    page = await browser.get(request.url)
    assert page.status_code == 200
    # CSP has no syntax for IPv6 hosts: the form may go on to http: (still not elsewhere).
    assert "form-action 'self' http:;" in page.headers["content-security-policy"]
    code, _ = await get_code(browser, client, request)
    assert code


# -- errors that go back to the validated redirect URI, once the user is known ------------


async def assert_redirected_error(
    browser: Browser, client: Client, request: Authorization, error: str, words: str = ""
) -> dict[str, str]:
    """``request`` is refused with ``error``: as a page to a stranger, by redirect once known.

    RFC 9700 §4.11.2: a stranger's browser (not signed in, or never consented to the
    application) sees an error page; a user signed in who consented to the application
    before is sent back to it with the error, ``state`` and ``iss``.
    """
    page = await browser.get(request.url)
    assert_error_page(page, f"(error: {error})")
    assert words in alert_text(page)
    await get_code(browser, client)
    response = await browser.get(request.url)
    assert response.status_code == 302, response.text
    answer = redirect_query(response, request.redirect_uri)
    assert answer["error"] == error, answer
    assert words in answer["error_description"]
    assert answer["iss"] == ISSUER
    if "state" in request.params:
        assert answer["state"] == request.params["state"]
    assert "code" not in answer
    return answer


async def test_missing_pkce_is_invalid_request(
    browser: Browser, oauth_client: Client, ada: dict[str, Any]
) -> None:
    request = authorization(oauth_client, code_challenge=None, code_challenge_method=None)
    await assert_redirected_error(
        browser, oauth_client, request, "invalid_request", "PKCE is required"
    )


async def test_a_challenge_without_a_method_is_invalid_request(
    browser: Browser, oauth_client: Client, ada: dict[str, Any]
) -> None:
    # RFC 7636 §4.3: no method means plain, which is refused.
    request = authorization(oauth_client, code_challenge_method=None)
    await assert_redirected_error(
        browser, oauth_client, request, "invalid_request", "code_challenge_method"
    )


async def test_the_plain_method_is_invalid_request(
    browser: Browser, oauth_client: Client, ada: dict[str, Any]
) -> None:
    verifier = secrets.token_urlsafe(48)
    request = authorization(
        oauth_client, code_challenge=verifier[:43], code_challenge_method="plain"
    )
    await assert_redirected_error(
        browser, oauth_client, request, "invalid_request", "plain is not accepted"
    )


@pytest.mark.parametrize(
    "challenge",
    [
        pytest.param("abc", id="too-short"),
        pytest.param("A" * 44, id="too-long"),
        pytest.param(challenge_of("x" * 43) + "=", id="padded"),
        pytest.param("+" * 43, id="not-base64url"),
        pytest.param("A" * 42 + "é", id="non-ascii"),
        pytest.param("A" * 128, id="verifier-sized"),
    ],
)
async def test_a_malformed_challenge_is_invalid_request(
    browser: Browser, oauth_client: Client, ada: dict[str, Any], challenge: str
) -> None:
    request = authorization(oauth_client, code_challenge=challenge)
    await assert_redirected_error(
        browser, oauth_client, request, "invalid_request", "code_challenge"
    )


async def test_another_method_is_invalid_request(
    browser: Browser, oauth_client: Client, ada: dict[str, Any]
) -> None:
    request = authorization(oauth_client, code_challenge_method="S512")
    await assert_redirected_error(browser, oauth_client, request, "invalid_request", "S256")


async def test_a_response_type_other_than_code_is_refused(
    browser: Browser, oauth_client: Client, ada: dict[str, Any]
) -> None:
    request = authorization(oauth_client, response_type="token")
    await assert_redirected_error(browser, oauth_client, request, "unsupported_response_type")


async def test_a_missing_response_type_is_invalid_request(
    browser: Browser, oauth_client: Client, ada: dict[str, Any]
) -> None:
    request = authorization(oauth_client, response_type=None)
    await assert_redirected_error(
        browser, oauth_client, request, "invalid_request", "response_type"
    )


async def test_a_scope_the_application_lacks_is_invalid_scope(
    browser: Browser, oauth_client: Client, ada: dict[str, Any]
) -> None:
    request = authorization(oauth_client, scope="openid write:profile")
    await assert_redirected_error(browser, oauth_client, request, "invalid_scope", "write:profile")


async def test_a_repeated_parameter_is_invalid_request(
    browser: Browser, oauth_client: Client, ada: dict[str, Any]
) -> None:
    request = authorization(oauth_client)
    stranger = await browser.get(request.url + "&scope=openid")
    assert_error_page(stranger, "scope is given more than once")
    await get_code(browser, oauth_client)
    response = await browser.get(request.url + "&scope=openid")
    answer = redirect_query(response, REDIRECT_URI)
    assert answer["error"] == "invalid_request"
    assert "scope is given more than once" in answer["error_description"]
    assert answer["state"] == request.params["state"]


async def test_an_unknown_prompt_is_invalid_request(
    browser: Browser, oauth_client: Client, ada: dict[str, Any]
) -> None:
    request = authorization(oauth_client, prompt="sideways")
    await assert_redirected_error(browser, oauth_client, request, "invalid_request", "prompt")


PHISHING_URI = "https://login-tekcify.phish.example/cb"


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        pytest.param({"code_challenge": None}, "invalid_request", id="invalid_request"),
        pytest.param({"scope": "write:profile"}, "invalid_scope", id="invalid_scope"),
        pytest.param({"response_type": "token"}, "unsupported_response_type", id="token"),
    ],
)
async def test_an_error_for_a_stranger_is_an_error_page_not_a_redirect(
    app: FastAPI, browser: Browser, changes: dict[str, str | None], error: str
) -> None:
    # Anyone can sign up and register an application whose redirect URI is a phishing
    # host; a link to an erroneous request must not bounce a stranger's browser there.
    phishing = make_client(app, name="Totally Legit", redirect_uris=(PHISHING_URI,))
    request = authorization(phishing, **changes)
    response = await browser.get(request.url)
    assert_error_page(response, f"(error: {error})")
    # Nor through the login and registration pages, nor a consent post.
    for path in ("/api/oauth/login", "/api/oauth/register"):
        shown = await browser.get(f"{path}?next={quote(request.url, safe='')}")
        assert_error_page(shown, f"(error: {error})")
    posted = await browser.http.post(
        "/api/oauth/consent", data={"request": urlencode(request.params), "decision": "deny"}
    )
    assert_error_page(posted, f"(error: {error})")


async def test_an_error_for_a_user_who_never_consented_is_an_error_page(
    app: FastAPI, browser: Browser, oauth_client: Client, ada: dict[str, Any]
) -> None:
    await get_code(browser, oauth_client)  # signed in, consented to another application
    phishing = make_client(app, name="Totally Legit", redirect_uris=(PHISHING_URI,))
    response = await browser.get(authorization(phishing, code_challenge=None).url)
    assert_error_page(response, "(error: invalid_request)")
    # Once the user has consented to it, its errors go back to it (with iss).
    await get_code(browser, phishing)
    request = authorization(phishing, code_challenge=None)
    answer = redirect_query(await browser.get(request.url), PHISHING_URI)
    assert (answer["error"], answer["iss"]) == ("invalid_request", ISSUER)


# -- the login page ------------------------------------------------------------------------


async def test_a_wrong_password_shows_an_alert_and_the_page_again(
    browser: Browser, oauth_client: Client, ada: dict[str, Any]
) -> None:
    page = await browser.get(authorization(oauth_client).url)
    wrong = await browser.sign_in(page, password="not the password")
    assert wrong.status_code == 401
    assert alert_text(wrong) == "Invalid email or password"
    assert 'value="ada@example.com"' in wrong.text
    assert "tekcify_login" not in wrong.headers.get("set-cookie", "")
    # The page it shows again works.
    right = await browser.sign_in(wrong)
    assert right.status_code == 303


async def test_an_unknown_email_gets_the_same_answer(
    browser: Browser, oauth_client: Client, ada: dict[str, Any]
) -> None:
    page = await browser.get(authorization(oauth_client).url)
    wrong = await browser.sign_in(page, email="nobody@example.com")
    assert wrong.status_code == 401
    assert alert_text(wrong) == "Invalid email or password"


async def test_a_malformed_email_or_empty_password_is_shown(
    browser: Browser, oauth_client: Client
) -> None:
    page = await browser.get(authorization(oauth_client).url)
    bad = await browser.sign_in(page, email="not an email")
    assert bad.status_code == 400
    assert alert_text(bad) == "Enter a valid email address."
    empty = await browser.sign_in(page, password="")
    assert empty.status_code == 400
    assert alert_text(empty) == "Enter your password."


async def test_the_login_page_uses_the_login_rate_limiter(
    app: FastAPI, clean_db: str, ada: dict[str, Any], oauth_client: Client
) -> None:
    ctx = app.state.ctx
    limit = ctx.settings.login_max_failures
    async with asgi_client(app) as http:
        browser = Browser(http)
        page = await browser.get(authorization(oauth_client).url)
        for _ in range(limit):
            wrong = await browser.sign_in(page, password="wrong password")
            assert wrong.status_code == 401
        limited = await browser.sign_in(page)
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) > 0
        assert "Too many" in alert_text(limited) or "try again" in alert_text(limited).lower()
        # The same limiter guards /api/auth/login: the account is limited there too.
        api = await http.post(
            "/api/auth/login", json={"email": "ada@example.com", "password": PASSWORD}
        )
        assert api.status_code == 429


async def test_a_disabled_account_cannot_sign_in_on_the_page(
    app: FastAPI, browser: Browser, oauth_client: Client, ada: dict[str, Any]
) -> None:
    ctx = app.state.ctx
    with ctx.db.write() as db:
        accounts.disable_user(db, ctx, "ada@example.com")
    page = await browser.get(authorization(oauth_client).url)
    refused = await browser.sign_in(page)
    assert refused.status_code == 403
    assert alert_text(refused) == "This account is disabled"


# -- the return address after login --------------------------------------------------------


@pytest.mark.parametrize(
    "next_address",
    [
        pytest.param("https://evil.example/", id="absolute-url"),
        pytest.param("https://evil.example{valid}", id="absolute-url-with-a-valid-request"),
        pytest.param("//evil.example{valid}", id="scheme-relative-with-a-valid-request"),
        pytest.param("http://tekcify.test{valid}", id="absolute-url-of-this-server"),
        pytest.param("//evil.example/api/oauth/authorize?x=1", id="scheme-relative"),
        pytest.param("/\\evil.example/", id="backslash"),
        pytest.param("/api/oauth/authorize\\@evil.example?x", id="backslash-in-path"),
        pytest.param("javascript:alert(1)", id="javascript"),
        pytest.param("/api/user/profile", id="other-path"),
        pytest.param("/api/oauth/authorizeX?client_id=x", id="path-prefix"),
        pytest.param("/api/oauth/authorize", id="no-query"),
        pytest.param("/api/oauth/authorize?%0d%0aSet-Cookie:x=1", id="header-injection"),
        pytest.param(" /api/oauth/authorize?x=1", id="leading-space"),
        pytest.param("", id="missing"),
    ],
)
async def test_an_off_site_next_is_refused(
    browser: Browser, oauth_client: Client, ada: dict[str, Any], next_address: str
) -> None:
    page = await browser.get(authorization(oauth_client).url)
    next_address = next_address.replace("{valid}", authorization(oauth_client).url)
    response = await browser.submit(
        page, {"email": "ada@example.com", "password": PASSWORD}, next=next_address
    )
    assert response.status_code == 400, response.text
    assert "location" not in response.headers
    assert "tekcify_login" not in response.headers.get("set-cookie", "")
    # Neither the login page nor the registration page will show for it.
    for path in ("/api/oauth/login", "/api/oauth/register"):
        shown = await browser.get(f"{path}?next={quote(next_address, safe='')}")
        assert shown.status_code == 400
        assert "location" not in shown.headers


async def test_a_next_naming_another_applications_request_with_a_foreign_redirect_is_refused(
    browser: Browser, oauth_client: Client, ada: dict[str, Any]
) -> None:
    page = await browser.get(authorization(oauth_client).url)
    forged = authorization(oauth_client, redirect_uri="https://evil.example/cb")
    response = await browser.submit(
        page, {"email": "ada@example.com", "password": PASSWORD}, next=forged.url
    )
    assert_error_page(response, "redirect_uri is not registered")


async def test_after_login_the_same_request_continues(
    browser: Browser, oauth_client: Client, ada: dict[str, Any]
) -> None:
    request = authorization(oauth_client, state="keep me")
    page = await browser.get(request.url)
    signed_in = await browser.sign_in(page)
    location = signed_in.headers["location"]
    assert location.startswith(AUTHORIZE + "?")
    assert parse_qs(urlsplit(location).query) == {k: [v] for k, v in request.params.items()}


# -- CSRF ----------------------------------------------------------------------------------


async def test_a_login_without_the_csrf_token_is_refused(
    browser: Browser, oauth_client: Client, ada: dict[str, Any]
) -> None:
    page = await browser.get(authorization(oauth_client).url)
    response = await browser.submit(
        page, {"email": "ada@example.com", "password": PASSWORD}, csrf_token=None
    )
    assert response.status_code == 403
    assert "expired" in alert_text(response)
    assert "tekcify_login" not in response.headers.get("set-cookie", "")


async def test_a_login_with_a_wrong_csrf_token_is_refused(
    browser: Browser, oauth_client: Client, ada: dict[str, Any]
) -> None:
    page = await browser.get(authorization(oauth_client).url)
    response = await browser.submit(
        page, {"email": "ada@example.com", "password": PASSWORD}, csrf_token="0" * 64
    )
    assert response.status_code == 403
    assert "tekcify_login" not in response.headers.get("set-cookie", "")


async def test_a_csrf_token_from_another_browser_is_refused(
    app: FastAPI, browser: Browser, oauth_client: Client, ada: dict[str, Any]
) -> None:
    # The attacker's own page and token, posted from the victim's browser (no cookie yet).
    async with asgi_client(app) as attacker:
        attacker_page = await Browser(attacker).get(authorization(oauth_client).url)
    response = await browser.submit(
        attacker_page, {"email": "ada@example.com", "password": PASSWORD}
    )
    assert response.status_code == 403
    assert "tekcify_login" not in response.headers.get("set-cookie", "")
    # The page shown again carries a token for this browser, which now works.
    assert (await browser.sign_in(response)).status_code == 303


async def test_a_login_form_token_is_not_a_consent_token(
    browser: Browser, oauth_client: Client, ada: dict[str, Any]
) -> None:
    request = authorization(oauth_client)
    login_page = await browser.get(request.url)
    login_token = hidden_fields(login_page)["csrf_token"]
    consent_page = await browser.follow(await browser.sign_in(login_page))
    response = await browser.submit(consent_page, {"decision": "allow"}, csrf_token=login_token)
    assert response.status_code == 403
    assert "location" not in response.headers


async def test_a_consent_without_the_csrf_token_is_refused(
    browser: Browser, oauth_client: Client, ada: dict[str, Any]
) -> None:
    request = authorization(oauth_client)
    consent_page = await browser.follow(await browser.sign_in(await browser.get(request.url)))
    response = await browser.submit(consent_page, {"decision": "allow"}, csrf_token=None)
    assert response.status_code == 403
    assert "location" not in response.headers
    # The page shown again has a working form.
    assert (await browser.consent(response)).status_code == 303


async def test_a_consent_form_is_bound_to_the_sign_in_it_was_shown_to(
    app: FastAPI, browser: Browser, oauth_client: Client, ada: dict[str, Any],
    client: httpx.AsyncClient,
) -> None:
    await register(client, "grace@example.com")
    request = authorization(oauth_client)
    consent_page = await browser.follow(await browser.sign_in(await browser.get(request.url)))
    # Another tab signs in as someone else; the old consent form no longer counts.
    relogin = await browser.get(authorization(oauth_client, prompt="login").url)
    await browser.sign_in(relogin, "grace@example.com")
    response = await browser.consent(consent_page)
    assert response.status_code == 403


async def test_a_consent_post_without_a_sign_in_shows_the_login_page(
    app: FastAPI, browser: Browser, oauth_client: Client, ada: dict[str, Any]
) -> None:
    request = authorization(oauth_client)
    consent_page = await browser.follow(await browser.sign_in(await browser.get(request.url)))
    async with asgi_client(app) as stranger:
        response = await Browser(stranger).consent(consent_page)
    assert response.status_code == 401
    assert ">Sign in</button>" in response.text
    assert "location" not in response.headers


async def test_a_consent_post_with_an_altered_request_is_checked_again(
    browser: Browser, oauth_client: Client, ada: dict[str, Any]
) -> None:
    request = authorization(oauth_client)
    consent_page = await browser.follow(await browser.sign_in(await browser.get(request.url)))
    forged = urlencode({**request.params, "redirect_uri": "https://evil.example/cb"})
    response = await browser.submit(consent_page, {"decision": "allow"}, request=forged)
    assert_error_page(response, "redirect_uri is not registered")


# -- the registration page -----------------------------------------------------------------


async def test_registration_creates_the_account_and_continues_signed_in(
    browser: Browser, oauth_client: Client, client: httpx.AsyncClient
) -> None:
    request = authorization(oauth_client)
    page = await browser.get(request.url)
    link = urlsplit(page.text.split('href="', 2)[2].split('"', 1)[0].replace("&amp;", "&"))
    assert link.path == "/api/oauth/register"
    form = await browser.get(f"{link.path}?{link.query}")
    assert form.status_code == 200
    for label in ("Email", "Password", "First name", "Last name"):
        assert f">{label}</label>" in form.text
    assert ">Create account</button>" in form.text
    created = await browser.submit(
        form, {"email": "New@Example.com", "password": PASSWORD, "first_name": "Nina",
               "last_name": "Simone"},
    )
    assert created.status_code == 303
    consent_page = await browser.follow(created)
    assert ">Allow</button>" in consent_page.text
    assert "new@example.com" in consent_page.text
    tokens = await login(client, "new@example.com")
    profile = await client.get("/api/user/profile", headers=bearer(tokens["accessToken"]))
    assert profile.json()["firstName"] == "Nina"


async def test_registration_problems_are_shown(
    browser: Browser, oauth_client: Client, ada: dict[str, Any]
) -> None:
    request = authorization(oauth_client)
    next_path = hidden_fields(await browser.get(request.url))["next"]
    form = await browser.get(f"/api/oauth/register?next={quote(next_path, safe='')}")
    short = await browser.submit(form, {"email": "x@example.com", "password": "short"})
    assert short.status_code == 400
    assert "password of 8" in alert_text(short)
    taken = await browser.submit(form, {"email": "ada@example.com", "password": PASSWORD})
    assert taken.status_code == 409
    assert alert_text(taken) == "An account with this email already exists"
    bad = await browser.submit(form, {"email": "nope", "password": PASSWORD})
    assert bad.status_code == 400
    assert alert_text(bad) == "Enter a valid email address."
    forged = await browser.submit(
        form, {"email": "y@example.com", "password": PASSWORD}, csrf_token="f" * 64
    )
    assert forged.status_code == 403


# -- the login session ---------------------------------------------------------------------


async def test_the_login_session_ends_after_its_lifetime(
    browser: Browser, oauth_client: Client, ada: dict[str, Any], clock: FakeClock
) -> None:
    await get_code(browser, oauth_client)
    clock.advance(3600 + 1)
    page = await browser.get(authorization(oauth_client).url)
    assert page.status_code == 200
    assert ">Sign in</button>" in page.text


async def test_a_password_change_ends_the_login_session(
    browser: Browser, oauth_client: Client, client: httpx.AsyncClient
) -> None:
    pair = await register(client) and await login(client)
    await get_code(browser, oauth_client)
    changed = await client.post(
        "/api/auth/password/change", headers=bearer(pair["accessToken"]),
        json={"currentPassword": PASSWORD, "newPassword": "another long password"},
    )
    assert changed.status_code == 200
    page = await browser.get(authorization(oauth_client).url)
    assert ">Sign in</button>" in page.text


async def test_a_disabled_account_loses_its_login_session(
    app: FastAPI, browser: Browser, oauth_client: Client, ada: dict[str, Any]
) -> None:
    await get_code(browser, oauth_client)
    ctx = app.state.ctx
    with ctx.db.write() as db:
        accounts.disable_user(db, ctx, "ada@example.com")
    page = await browser.get(authorization(oauth_client).url)
    assert ">Sign in</button>" in page.text


async def page_session(client: httpx.AsyncClient, access_token: str) -> dict[str, Any]:
    """The one listed session that is not the caller's: the pages' sign-in."""
    listed = await client.get("/api/auth/sessions", headers=bearer(access_token))
    assert listed.status_code == 200, listed.text
    others = [entry for entry in listed.json()["sessions"] if not entry["current"]]
    assert len(others) == 1, listed.json()
    found: dict[str, Any] = others[0]
    return found


async def assert_signed_out_on_the_pages(browser: Browser, client: Client) -> None:
    """The pages ask to sign in again, and ``prompt=none`` answers ``login_required``."""
    page = await browser.get(authorization(client).url)
    assert page.status_code == 200
    assert ">Sign in</button>" in page.text
    silent = await browser.get(authorization(client, prompt="none").url)
    assert redirect_query(silent, REDIRECT_URI)["error"] == "login_required"


async def test_signing_out_everywhere_ends_the_pages_sign_in(
    browser: Browser, oauth_client: Client, client: httpx.AsyncClient
) -> None:
    pair = await register(client) and await login(client)
    await get_code(browser, oauth_client)
    assert (await page_session(client, pair["accessToken"]))["id"]
    # "Sign out everywhere" (the other sessions), then log out of this one.
    everywhere = await client.delete("/api/auth/sessions", headers=bearer(pair["accessToken"]))
    assert everywhere.status_code == 200
    assert everywhere.json()["message"] == "Revoked 1 other session"
    logout = await client.post("/api/auth/sessions/logout", headers=bearer(pair["accessToken"]))
    assert logout.status_code == 200
    # The browser was signed in on the pages and had consented: now it is signed out.
    await assert_signed_out_on_the_pages(browser, oauth_client)


async def test_revoking_the_pages_session_ends_its_sign_in(
    browser: Browser, oauth_client: Client, client: httpx.AsyncClient
) -> None:
    pair = await register(client) and await login(client)
    await get_code(browser, oauth_client)
    entry = await page_session(client, pair["accessToken"])
    revoked = await client.delete(
        f"/api/auth/sessions/{entry['id']}", headers=bearer(pair["accessToken"])
    )
    assert revoked.status_code == 200
    await assert_signed_out_on_the_pages(browser, oauth_client)
    # The API session it was revoked from is untouched.
    me = await client.get("/api/auth/sessions", headers=bearer(pair["accessToken"]))
    assert [entry["current"] for entry in me.json()["sessions"]] == [True]


async def test_the_pages_sign_in_is_listed_with_its_device_until_it_ends(
    browser: Browser, oauth_client: Client, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    pair = await register(client) and await login(client)
    browser.http.headers["User-Agent"] = "Pages Browser/1.0"
    await get_code(browser, oauth_client)
    entry = await page_session(client, pair["accessToken"])
    assert entry["userAgent"] == "Pages Browser/1.0"
    assert entry["ipAddress"] == CLIENT_ADDRESS
    # Signing in again in the same browser replaces it: still one.
    request = authorization(oauth_client, prompt="login")
    await browser.follow(await browser.sign_in(await browser.get(request.url)))
    replaced = await page_session(client, pair["accessToken"])
    assert replaced["id"] != entry["id"]
    # Past its lifetime it is neither listed nor signed in; the API session lives on.
    clock.advance(3600 + 1)
    fresh = await login(client)
    listed = await client.get("/api/auth/sessions", headers=bearer(fresh["accessToken"]))
    assert replaced["id"] not in {entry["id"] for entry in listed.json()["sessions"]}
    assert len(listed.json()["sessions"]) == 2
    await assert_signed_out_on_the_pages(browser, oauth_client)


async def test_a_forged_login_cookie_signs_nobody_in(
    browser: Browser, oauth_client: Client, ada: dict[str, Any]
) -> None:
    browser.http.cookies.set("tekcify_login", secrets.token_urlsafe(32), domain="tekcify.test")
    page = await browser.get(authorization(oauth_client).url)
    assert ">Sign in</button>" in page.text


# -- prompt and consent memory -------------------------------------------------------------


async def test_prompt_login_asks_again_and_then_continues(
    browser: Browser, oauth_client: Client, ada: dict[str, Any]
) -> None:
    await get_code(browser, oauth_client)
    request = authorization(oauth_client, prompt="login")
    page = await browser.get(request.url)
    assert page.status_code == 200
    assert ">Sign in</button>" in page.text
    signed_in = await browser.sign_in(page)
    # The request continues without prompt=login (no loop) and, consented, redirects.
    assert "prompt" not in parse_qs(urlsplit(signed_in.headers["location"]).query)
    back = await browser.follow(signed_in)
    assert redirect_query(back, REDIRECT_URI)["state"] == request.params["state"]


async def test_prompt_consent_asks_again(
    browser: Browser, oauth_client: Client, ada: dict[str, Any]
) -> None:
    await get_code(browser, oauth_client)
    page = await browser.get(authorization(oauth_client, prompt="consent").url)
    assert page.status_code == 200
    assert ">Allow</button>" in page.text


async def test_consent_is_asked_again_for_a_new_scope_only(
    browser: Browser, oauth_client: Client, ada: dict[str, Any]
) -> None:
    await get_code(browser, oauth_client, authorization(oauth_client, scope="openid"))
    # Fewer or the same scopes: skipped.
    skipped = await browser.get(authorization(oauth_client, scope="openid").url)
    assert skipped.status_code == 302
    # A new scope: asked again, and then remembered together with the first.
    asked = await browser.get(authorization(oauth_client, scope="openid email").url)
    assert asked.status_code == 200
    assert ">Allow</button>" in asked.text
    assert (await browser.consent(asked)).status_code == 303
    for scope in ("openid", "email", "openid email"):
        again = await browser.get(authorization(oauth_client, scope=scope).url)
        assert again.status_code == 302, scope


async def test_consent_is_per_user(
    app: FastAPI, oauth_client: Client, ada: dict[str, Any], client: httpx.AsyncClient
) -> None:
    await register(client, "grace@example.com")
    async with asgi_client(app) as one, asgi_client(app) as two:
        await get_code(Browser(one), oauth_client)
        page = await Browser(two).get(authorization(oauth_client).url)
        second = await Browser(two).follow(
            await Browser(two).sign_in(page, "grace@example.com")
        )
        assert ">Allow</button>" in second.text


async def test_prompt_none_answers_without_pages(
    browser: Browser, oauth_client: Client, ada: dict[str, Any]
) -> None:
    # Not signed in: OIDC Core §3.1.2.6, login_required goes to the redirect URI (issue 15;
    # the one exception to the error pages for strangers, docs/security.md).
    stranger = await browser.get(authorization(oauth_client, prompt="none").url)
    answer = redirect_query(stranger, REDIRECT_URI)
    assert (answer["error"], answer["iss"]) == ("login_required", ISSUER)
    await get_code(browser, oauth_client, authorization(oauth_client, scope="openid"))
    asked = authorization(oauth_client, prompt="none", scope="openid email")
    answer = redirect_query(await browser.get(asked.url), REDIRECT_URI)
    assert (answer["error"], answer["iss"]) == ("consent_required", ISSUER)
    granted = await browser.get(authorization(oauth_client, prompt="none", scope="openid").url)
    assert "code" in redirect_query(granted, REDIRECT_URI)


# -- what the pages send -------------------------------------------------------------------


async def test_the_pages_carry_their_security_headers(
    browser: Browser, oauth_client: Client, ada: dict[str, Any]
) -> None:
    request = authorization(oauth_client)
    login_page = await browser.get(request.url)
    consent_page = await browser.follow(await browser.sign_in(login_page))
    error_page = await browser.get(authorization(oauth_client, client_id="x").url)
    for page in (login_page, consent_page, error_page):
        csp = page.headers["content-security-policy"]
        assert "default-src 'none'" in csp
        assert "frame-ancestors 'none'" in csp
        assert "base-uri 'none'" in csp
        assert page.headers["x-frame-options"] == "DENY"
        assert page.headers["cache-control"] == "no-store"
        assert page.headers["referrer-policy"] == "no-referrer"
        assert page.headers["x-content-type-options"] == "nosniff"
        assert '<html lang="en">' in page.text
        assert "<h1>" in page.text
    for page in (consent_page, error_page):
        assert "script-src" not in page.headers["content-security-policy"]  # no script at all
        assert "<script" not in page.text
    # The login page runs one script, the passkey button's, from this server: nothing
    # inline, nothing from elsewhere, and it may talk to this server only.
    login_csp = login_page.headers["content-security-policy"]
    assert "script-src 'self'; connect-src 'self';" in login_csp
    assert "unsafe" not in login_csp
    assert re.findall(r"<script[^>]*>", login_page.text) == [
        '<script src="/api/oauth/static/passkey.js" defer>'
    ]
    # Forms may post here and go on to the request's redirect URI, nowhere else.
    for page in (login_page, consent_page):
        csp = page.headers["content-security-policy"]
        assert "form-action 'self' https://app.example.com;" in csp
    assert "form-action 'none'" in error_page.headers["content-security-policy"]


async def test_cookies_are_httponly_and_samesite_lax_and_not_secure_over_http(
    browser: Browser, oauth_client: Client, ada: dict[str, Any]
) -> None:
    page = await browser.get(authorization(oauth_client).url)
    [csrf] = page.headers.get_list("set-cookie")
    assert csrf.startswith("tekcify_csrf=")
    signed_in = await browser.sign_in(page)
    [session] = signed_in.headers.get_list("set-cookie")
    assert session.startswith("tekcify_login=")
    assert "Max-Age=3600" in session
    for cookie in (csrf, session):
        attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
        assert "httponly" in attributes
        assert "samesite=lax" in attributes
        assert "path=/" in attributes
        assert "secure" not in attributes
    # The CSRF cookie is set once, not on every page.
    again = await browser.get(authorization(oauth_client).url)
    assert "tekcify_csrf" not in again.headers.get("set-cookie", "")


async def test_over_https_cookies_are_secure_and_host_prefixed(
    settings: Any, clock: FakeClock, clean_db: str
) -> None:
    async with running(settings, clock) as (app, _client):
        oauth = make_client(app)
        with app.state.ctx.db.write() as db:
            accounts.create_user(
                db, app.state.ctx, email="ada@example.com",
                password_hash=app.state.ctx.passwords.hash(PASSWORD),
            )
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="https://tekcify.test") as http:
            browser = Browser(http)
            page = await browser.get(authorization(oauth).url)
            [csrf] = page.headers.get_list("set-cookie")
            signed_in = await browser.sign_in(page)
            [session] = signed_in.headers.get_list("set-cookie")
            assert csrf.startswith("__Host-tekcify_csrf=")
            assert session.startswith("__Host-tekcify_login=")
            for cookie in (csrf, session):
                attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
                assert {"secure", "httponly", "samesite=lax", "path=/"} <= attributes
            code, _ = await get_code(browser, oauth)
            assert code


async def test_a_public_url_over_https_makes_cookies_secure(
    database_url: str, tmp_path: Any, clock: FakeClock, clean_db: str
) -> None:
    settings = make_settings(
        database_url=database_url, data_dir=tmp_path / "d", public_url="https://auth.example"
    )
    async with running(settings, clock) as (app, client):
        oauth = make_client(app)
        page = await client.get(authorization(oauth).url)
        assert "secure" in page.headers["set-cookie"].lower()
        assert "img-src 'self' https://auth.example;" in page.headers["content-security-policy"]


async def test_the_pages_label_their_inputs(
    browser: Browser, oauth_client: Client
) -> None:
    page = await browser.get(authorization(oauth_client).url)
    for field_id, label in (("email", "Email"), ("password", "Password")):
        assert f'<label for="{field_id}">{label}</label>' in page.text
        assert f'id="{field_id}"' in page.text
    assert 'autocomplete="current-password"' in page.text


async def test_an_application_name_is_escaped_on_the_pages(
    app: FastAPI, browser: Browser, ada: dict[str, Any]
) -> None:
    evil = make_client(app, name='<img src=x onerror="alert(1)">')
    page = await browser.get(authorization(evil).url)
    assert "<img src=x" not in page.text
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in page.text


async def test_the_stylesheet_is_served(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/oauth/static/pages.css")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/css")
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_discovery_lists_the_authorization_endpoint_and_both_grants(
    client: httpx.AsyncClient,
) -> None:
    doc = (await client.get("/.well-known/oauth-authorization-server")).json()
    assert doc["authorization_endpoint"] == "http://tekcify.test/api/oauth/authorize"
    assert doc["response_types_supported"] == ["code"]
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["authorization_response_iss_parameter_supported"] is True
    assert {"authorization_code", "client_credentials", "refresh_token"} <= set(
        doc["grant_types_supported"]
    )
