"""tekcify_auth.oauth: PKCE, the authorize URL, and the token and revocation requests of
OAuthClient and AsyncOAuthClient over httpx.MockTransport."""

from __future__ import annotations

import base64
import doctest
import inspect
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
import pytest

import tekcify_auth.oauth
from tekcify_auth import AsyncAuthClient, AuthClient, AuthServerError, ConfigurationError
from tekcify_auth.oauth import (
    AsyncOAuthClient,
    OAuthClient,
    TokenSet,
    generate_code_challenge,
    generate_code_verifier,
)

NOW = 1_700_000_000.0
TOKENS = {"access_token": "at", "token_type": "Bearer", "expires_in": 900,
          "refresh_token": "rt2", "scope": "openid profile"}


class TokenServer:
    """Records the requests; answers from a queue, the last answer repeating."""

    def __init__(self, *replies: httpx.Response) -> None:
        self.replies = list(replies) or [httpx.Response(200, json=TOKENS)]
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]

    @property
    def form(self) -> dict[str, str]:
        assert self.requests[-1].headers["content-type"] == "application/x-www-form-urlencoded"
        return {k: v[0] for k, v in parse_qs(self.requests[-1].content.decode()).items()}

    @property
    def basic(self) -> tuple[str, str] | None:
        header = self.requests[-1].headers.get("authorization")
        if header is None:
            return None
        scheme, _, encoded = header.partition(" ")
        assert scheme == "Basic"
        client_id, _, secret = base64.b64decode(encoded).decode().partition(":")
        return unquote(client_id), unquote(secret)


@pytest.fixture
def server() -> TokenServer:
    return TokenServer()


@pytest.fixture
def oauth(server: TokenServer) -> Iterator[OAuthClient]:
    with OAuthClient("my-app", "s3cret:+/ é", redirect_uri="https://app.example/cb",
                     scopes=["openid", "profile"], auth_server_url="https://auth.test",
                     transport=httpx.MockTransport(server), clock=lambda: NOW) as client:
        yield client


@pytest.fixture
async def aoauth(server: TokenServer) -> AsyncIterator[AsyncOAuthClient]:
    async with AsyncOAuthClient(
        "my-app", "s3cret:+/ é", redirect_uri="https://app.example/cb",
        scopes="openid profile", auth_server_url="https://auth.test",
        transport=httpx.MockTransport(server), clock=lambda: NOW,
    ) as client:
        yield client


# -- PKCE ----------------------------------------------------------------------------------


def test_code_verifiers_are_long_random_and_unreserved() -> None:
    verifiers = {generate_code_verifier() for _ in range(50)}
    assert len(verifiers) == 50
    for verifier in verifiers:
        assert re.fullmatch(r"[A-Za-z0-9\-._~]{64}", verifier)
    assert len(generate_code_verifier(43)) == 43
    assert len(generate_code_verifier(128)) == 128
    for bad in (42, 129):
        with pytest.raises(ValueError, match="43 to 128"):
            generate_code_verifier(bad)


def test_the_challenge_is_rfc_7636s_example() -> None:
    # RFC 7636 Appendix B.
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert generate_code_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    assert generate_code_challenge(verifier, "S256") == generate_code_challenge(verifier)


def test_plain_and_other_methods_are_refused_clearly() -> None:
    verifier = generate_code_verifier()
    for method in ("plain", "s256", "S512", ""):
        with pytest.raises(ConfigurationError, match="only 'S256'"):
            generate_code_challenge(verifier, method)


@pytest.mark.parametrize("verifier", ["short", "x" * 129, "a" * 42 + " ", "é" * 43, None])
def test_bad_verifiers_are_refused(verifier: Any) -> None:
    with pytest.raises(ValueError, match="43 to 128 unreserved"):
        generate_code_challenge(verifier)


# -- the authorize URL ---------------------------------------------------------------------


def test_the_authorize_url(oauth: OAuthClient) -> None:
    url = oauth.build_authorize_url("st&ate", "challenge")
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "auth.test",
                                                        "/api/oauth/authorize")
    assert parse_qs(parts.query) == {
        "response_type": ["code"], "client_id": ["my-app"],
        "redirect_uri": ["https://app.example/cb"], "scope": ["openid profile"],
        "state": ["st&ate"], "code_challenge": ["challenge"], "code_challenge_method": ["S256"],
    }
    assert "scope=openid%20profile" in parts.query  # %20, not +, for a space


def test_authorize_url_overrides_and_refusals(oauth: OAuthClient) -> None:
    url = oauth.build_authorize_url("s", "c", scopes=["email"], redirect_uri="http://127.0.0.1/cb",
                                    extra_params={"prompt": "consent"})
    query = parse_qs(urlsplit(url).query)
    assert query["scope"] == ["email"]
    assert query["prompt"] == ["consent"]
    assert query["redirect_uri"] == ["http://127.0.0.1/cb"]
    assert "scope" not in parse_qs(urlsplit(oauth.build_authorize_url("s", "c", scopes=[])).query)
    with pytest.raises(ConfigurationError, match="only 'S256'"):
        oauth.build_authorize_url("s", "c", "plain")
    with pytest.raises(ValueError, match="state"):
        oauth.build_authorize_url("", "c")
    with pytest.raises(ValueError, match="code_challenge"):
        oauth.build_authorize_url("s", "")
    with OAuthClient("app", auth_server_url="https://auth.test") as no_redirect, pytest.raises(
        ConfigurationError, match="redirect_uri"
    ):
        no_redirect.build_authorize_url("s", "c")


# -- token requests ------------------------------------------------------------------------


def test_exchange_code(oauth: OAuthClient, server: TokenServer) -> None:
    tokens = oauth.exchange_code("the-code", "v" * 43)
    assert isinstance(tokens, TokenSet)
    assert (tokens.access_token, tokens.refresh_token, tokens.expires_at) == (
        "at", "rt2", int(NOW) + 900
    )
    assert tokens.scopes == ("openid", "profile")
    request = server.requests[-1]
    assert (request.method, request.url) == ("POST", "https://auth.test/api/oauth/token")
    assert server.form == {"grant_type": "authorization_code", "code": "the-code",
                           "redirect_uri": "https://app.example/cb", "code_verifier": "v" * 43}
    # RFC 6749 §2.3.1: id and secret are form-urlencoded inside the Basic credentials.
    assert server.basic == ("my-app", "s3cret:+/ é")
    assert "%3A" in base64.b64decode(request.headers["authorization"][6:]).decode()
    with pytest.raises(ValueError, match="non-empty"):
        oauth.exchange_code("", "v" * 43)


async def test_exchange_code_async(aoauth: AsyncOAuthClient, server: TokenServer) -> None:
    tokens = await aoauth.exchange_code("the-code", "v" * 43, redirect_uri="http://127.0.0.1/x")
    assert tokens.expires_at == int(NOW) + 900
    assert server.form["redirect_uri"] == "http://127.0.0.1/x"
    assert server.basic == ("my-app", "s3cret:+/ é")


def test_client_secret_post_and_public_clients(server: TokenServer) -> None:
    transport = httpx.MockTransport(server)
    with OAuthClient("app", "sec", redirect_uri="https://a/cb", auth_server_url="https://auth.test",
                     token_endpoint_auth_method="client_secret_post", transport=transport) as c:
        c.exchange_code("code", "v" * 43)
    assert server.basic is None
    assert (server.form["client_id"], server.form["client_secret"]) == ("app", "sec")
    with OAuthClient("spa", redirect_uri="https://a/cb", auth_server_url="https://auth.test",
                     transport=transport) as public:
        public.exchange_code("code", "v" * 43)
    assert server.basic is None
    assert server.form["client_id"] == "spa"
    assert "client_secret" not in server.form
    with pytest.raises(ConfigurationError, match="token_endpoint_auth_method"):
        OAuthClient("app", "sec", token_endpoint_auth_method="none",  # type: ignore[arg-type]
                    auth_server_url="https://auth.test")


def test_refresh_keeps_the_old_refresh_token_when_none_comes_back(oauth: OAuthClient,
                                                                  server: TokenServer) -> None:
    server.replies = [httpx.Response(200, json={"access_token": "a2", "expires_in": 60})]
    tokens = oauth.refresh("rt1", scopes="openid")
    assert (tokens.access_token, tokens.refresh_token) == ("a2", "rt1")
    assert server.form == {"grant_type": "refresh_token", "refresh_token": "rt1",
                           "scope": "openid"}
    server.replies = [httpx.Response(200, json=TOKENS)]
    assert oauth.refresh("rt1").refresh_token == "rt2"
    assert "scope" not in server.form


async def test_client_credentials(aoauth: AsyncOAuthClient, server: TokenServer) -> None:
    await aoauth.client_credentials()
    assert server.form == {"grant_type": "client_credentials", "scope": "openid profile"}
    await aoauth.client_credentials(["read:profile"])
    assert server.form["scope"] == "read:profile"
    async with AsyncOAuthClient("spa", auth_server_url="https://auth.test") as public:
        with pytest.raises(ConfigurationError, match="client_secret"):
            await public.client_credentials()


def test_oauth_errors_carry_the_rfc_code(oauth: OAuthClient, server: TokenServer) -> None:
    server.replies = [httpx.Response(400, json={
        "error": "invalid_grant", "error_description": "The code has expired",
        "message": "The code has expired"})]
    with pytest.raises(AuthServerError) as info:
        oauth.exchange_code("old", "v" * 43)
    assert (info.value.status_code, info.value.error, info.value.message) == (
        400, "invalid_grant", "The code has expired"
    )


def test_token_requests_are_never_retried_but_revocation_is(server: TokenServer) -> None:
    sleeps: list[float] = []
    server.replies = [httpx.Response(503), httpx.Response(200, json=TOKENS)]
    auth = AuthClient("https://auth.test", transport=httpx.MockTransport(server),
                      sleep=sleeps.append)
    with OAuthClient("app", "sec", redirect_uri="https://a/cb", auth_client=auth) as c:
        with pytest.raises(AuthServerError):
            c.exchange_code("code", "v" * 43)
        assert len(server.requests) == 1
        server.replies = [httpx.Response(503), httpx.Response(200)]
        assert c.revoke("tok", "refresh_token") is None
    assert len(server.requests) == 3
    assert len(sleeps) == 1
    assert server.form == {"token": "tok", "token_type_hint": "refresh_token"}
    assert server.basic == ("app", "sec")
    # Closing the OAuth client left the shared one open.
    OAuthClient("app", "sec", auth_client=auth).revoke("tok")
    auth.close()


async def test_revoke_async(aoauth: AsyncOAuthClient, server: TokenServer) -> None:
    server.replies = [httpx.Response(200, content=b"")]
    assert await aoauth.revoke("tok") is None
    assert server.form == {"token": "tok"}


# -- configuration -------------------------------------------------------------------------


def test_sharing_an_auth_client(server: TokenServer) -> None:
    with AuthClient("https://auth.test/", transport=httpx.MockTransport(server)) as auth:
        client = OAuthClient("app", auth_client=auth, auth_server_url="https://auth.test")
        assert client.base_url == "https://auth.test"
        assert client.auth_client is auth
        with pytest.raises(ConfigurationError, match="differs"):
            OAuthClient("app", auth_client=auth, auth_server_url="https://other.test")
        with pytest.raises(ConfigurationError, match="retries, timeout: set these on"):
            OAuthClient("app", auth_client=auth, timeout=1, retries=0)


def test_oauth_client_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTH_SERVER_URL", "https://env.test")
    with OAuthClient("app", timeout=1.5, retries=0) as client:
        assert client.base_url == "https://env.test"
        assert client.auth_client.timeout.read == 1.5
        assert client.auth_client.retry.retries == 0
        assert repr(client) == "OAuthClient('app', base_url='https://env.test')"
    with pytest.raises(ConfigurationError, match="client_id"):
        OAuthClient("")
    with pytest.raises(ConfigurationError, match="needs http"):
        OAuthClient("app", auth_server_url="auth.test")


def test_the_oauth_twins_have_the_same_methods_and_parameters() -> None:
    def methods(cls: type) -> dict[str, list[tuple[str, Any, Any]]]:
        return {
            name: [(p.name, p.kind, p.default)
                   for p in inspect.signature(member).parameters.values()]
            for name, member in inspect.getmembers(cls, inspect.isfunction)
            if not name.startswith("_")
        }

    sync, asynchronous = methods(OAuthClient), methods(AsyncOAuthClient)
    asynchronous["close"] = asynchronous.pop("aclose")
    assert sync == asynchronous
    assert [p.name for p in inspect.signature(OAuthClient.__init__).parameters.values()] == [
        p.name for p in inspect.signature(AsyncOAuthClient.__init__).parameters.values()
    ]
    for name in ("exchange_code", "refresh", "client_credentials", "revoke"):
        assert inspect.iscoroutinefunction(getattr(AsyncOAuthClient, name))


async def test_async_oauth_shares_an_async_auth_client(server: TokenServer) -> None:
    async with AsyncAuthClient("https://auth.test", transport=httpx.MockTransport(server)) as auth:
        async with AsyncOAuthClient("app", "sec", redirect_uri="https://a/cb",
                                    auth_client=auth) as client:
            await client.exchange_code("c", "v" * 43)
        # Closing the OAuth client left the shared one open.
        server.replies = [httpx.Response(200)]
        await AsyncOAuthClient("app", "sec", auth_client=auth).revoke("tok")
        assert len(server.requests) == 2


def test_docstring_examples() -> None:
    assert doctest.testmod(tekcify_auth.oauth).failed == 0
