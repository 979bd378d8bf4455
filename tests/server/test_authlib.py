"""Acceptance: Authlib's OAuth 2.0 client against the server on a real 127.0.0.1 socket.

A third-party client library, not ours, completes the authorization-code flow with PKCE
(the pages are driven over HTTP like a browser without scripts), uses the access token,
refreshes, introspects and revokes; and gets a client-credentials token. The
application is registered through the API with a loopback redirect URI without a port,
and Authlib uses one with a port (RFC 8252 §7.3).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI

from tekcify_auth.server import create_app

from .conftest import PASSWORD, allow_client_credentials, make_settings
from .test_authorize import parse_page
from .test_keys import serve

pytestmark = pytest.mark.slow

REDIRECT_URI = "http://127.0.0.1:43117/callback"
#: offline_access: without it a third-party application gets no refresh token (OIDC Core §11).
SCOPE = "openid profile email offline_access"


def authlib_httpx() -> ModuleType:
    """``authlib.integrations.httpx_client``, imported without its own deprecation notice.

    Authlib 1.9 warns on import that it would rather use the ``httpx2`` package when it
    is installed; that notice is about Authlib's packaging, not about this server.
    """
    from authlib.deprecate import AuthlibDeprecationWarning

    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="The httpx module is deprecated",
            category=AuthlibDeprecationWarning,
        )
        from authlib.integrations import httpx_client
    return httpx_client


@pytest.fixture
def served(database_url: str, tmp_path: Path, clean_db: str) -> Iterator[tuple[FastAPI, str]]:
    """The server under uvicorn on a free 127.0.0.1 port (real clock): the app and its URL."""
    app = create_app(make_settings(database_url=database_url, data_dir=tmp_path / "data"))
    with serve(app) as url:
        yield app, url


@pytest.fixture
def server(served: tuple[FastAPI, str]) -> str:
    """The URL of :func:`served`."""
    return served[1]


def register_application(base: str) -> tuple[str, str]:
    """Register ada and an application owner through the API; returns id and secret."""
    with httpx.Client(base_url=base, timeout=10) as api:
        for email in ("ada@example.com", "owner@example.com"):
            made = api.post("/api/auth/register", json={"email": email, "password": PASSWORD})
            assert made.status_code == 201, made.text
        owner = api.post(
            "/api/auth/login", json={"email": "owner@example.com", "password": PASSWORD}
        ).json()["accessToken"]
        created = api.post(
            "/api/applications", headers={"Authorization": f"Bearer {owner}"},
            json={
                "name": "Authlib client", "redirectUris": ["http://127.0.0.1/callback"],
                "scopes": ["openid", "profile", "email", "offline_access"],
            },
        )
    assert created.status_code == 201, created.text
    body = created.json()
    return body["clientId"], body["clientSecret"]


def through_the_pages(base: str, authorization_url: str) -> str:
    """Sign in and allow, as a browser without scripts; returns the final redirect."""
    with httpx.Client(timeout=10) as browser:
        page = browser.get(authorization_url)
        assert page.status_code == 200, page.text
        [login_form] = parse_page(page.text).forms
        signed_in = browser.post(
            base + login_form["action"],
            data={**login_form["fields"], "email": "ada@example.com", "password": PASSWORD},
        )
        assert signed_in.status_code == 303, signed_in.text
        consent = browser.get(base + signed_in.headers["location"])
        assert consent.status_code == 200, consent.text
        [consent_form] = parse_page(consent.text).forms
        back = browser.post(
            base + consent_form["action"], data={**consent_form["fields"], "decision": "allow"}
        )
    assert back.status_code == 303, back.text
    location: str = back.headers["location"]
    return location


def test_authlib_completes_code_pkce_refresh_introspection_and_revocation(server: str) -> None:
    httpx_client = authlib_httpx()
    from authlib.common.security import generate_token

    client_id, client_secret = register_application(server)
    token_url = f"{server}/api/oauth/token"
    oauth: Any = httpx_client.OAuth2Client(
        client_id, client_secret, scope=SCOPE, redirect_uri=REDIRECT_URI,
        code_challenge_method="S256", token_endpoint_auth_method="client_secret_basic",
        timeout=10,
    )
    with oauth:
        verifier = generate_token(48)
        url, state = oauth.create_authorization_url(
            f"{server}/api/oauth/authorize", code_verifier=verifier
        )
        query = parse_qs(urlsplit(url).query)
        assert query["code_challenge_method"] == ["S256"]

        location = through_the_pages(server, url)
        assert location.startswith(REDIRECT_URI + "?")
        answer = parse_qs(urlsplit(location).query)
        assert answer["state"] == [state]
        assert answer["iss"] == [server]  # RFC 9207: the OIDC issuer, the base URL

        # Authlib checks the state and sends the verifier with client_secret_basic.
        token = oauth.fetch_token(token_url, authorization_response=location,
                                  code_verifier=verifier)
        assert token["token_type"] == "Bearer"
        assert set(token["scope"].split()) == set(SCOPE.split())
        assert token["refresh_token"]

        me = oauth.get(f"{server}/api/oauth/userinfo")
        assert me.status_code == 200, me.text
        assert me.json()["email"] == "ada@example.com"

        refreshed = oauth.refresh_token(token_url, refresh_token=token["refresh_token"])
        assert refreshed["access_token"] != token["access_token"]
        assert refreshed["refresh_token"] != token["refresh_token"]

        introspect_url = f"{server}/api/oauth/token/introspect"
        status = oauth.introspect_token(introspect_url, token=refreshed["access_token"])
        assert status.status_code == 200, status.text
        facts = status.json()
        assert facts["active"] is True
        assert facts["client_id"] == client_id
        assert facts["username"] == "ada@example.com"
        refresh_status = oauth.introspect_token(
            introspect_url, token=refreshed["refresh_token"], token_type_hint="refresh_token"
        )
        assert refresh_status.json()["active"] is True

        revoked = oauth.revoke_token(
            f"{server}/api/oauth/revoke", token=refreshed["refresh_token"],
            token_type_hint="refresh_token",
        )
        assert revoked.status_code == 200, revoked.text
        # The whole session ended: both of its tokens are inactive, the refresh is refused.
        for value in (refreshed["refresh_token"], refreshed["access_token"]):
            assert oauth.introspect_token(introspect_url, token=value).json() == {
                "active": False
            }
        with pytest.raises(httpx_client.OAuthError) as refused:
            oauth.refresh_token(token_url, refresh_token=refreshed["refresh_token"])
        assert refused.value.error == "invalid_grant"


def test_authlib_gets_a_client_credentials_token(served: tuple[FastAPI, str]) -> None:
    app, server = served
    httpx_client = authlib_httpx()
    client_id, client_secret = register_application(server)
    allow_client_credentials(app, client_id)
    with httpx_client.OAuth2Client(
        client_id, client_secret, token_endpoint_auth_method="client_secret_post", timeout=10
    ) as oauth:
        token = oauth.fetch_token(
            f"{server}/api/oauth/token", grant_type="client_credentials", scope="openid"
        )
        assert token["scope"] == "openid"
        assert "refresh_token" not in token
        status = oauth.introspect_token(
            f"{server}/api/oauth/token/introspect", token=token["access_token"]
        )
        assert status.json()["sub"] == client_id
