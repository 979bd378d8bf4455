"""Acceptance: Authlib's OpenID Connect client against the server on a real 127.0.0.1 socket.

A relying party nobody here wrote: a Flask application using Authlib's Flask client,
configured from our discovery document alone. It sends the user to our authorization
endpoint with PKCE and a nonce (``authorize_redirect``), takes the answer at its
callback (``authorize_access_token``: the state, the code exchange and
``parse_id_token``, which checks the signature against our JWKS, ``iss``, ``aud``,
``azp``, ``exp``, the nonce and ``at_hash``), reads UserInfo and refreshes, validating
the new id token too. The pages are driven over HTTP like a browser without scripts.

Then the bad inputs of issue 15, each with Authlib as the judge: a nonce removed or
altered, an id token presented to another client, ``max_age=0``, ``prompt=none``
without a sign-in, ``request`` and ``request_uri``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx
import pytest
from authlib.integrations.base_client import OAuthError
from authlib.integrations.flask_client import OAuth
from flask import Flask, jsonify
from joserfc.errors import InvalidClaimError, MissingClaimError

from .conftest import PASSWORD
from .test_authlib import register_application, served, server  # noqa: F401 (fixtures)
from .test_authorize import parse_page

pytestmark = pytest.mark.slow

REDIRECT_URI = "http://127.0.0.1:43117/callback"
SCOPE = "openid profile email offline_access"


def relying_party(base: str, client_id: str, client_secret: str) -> tuple[Flask, Any]:
    """A Flask application signing in with Tekcify through Authlib, and its OAuth client."""
    rp = Flask("relying_party")
    rp.secret_key = "relying party session secret"
    rp.testing = True  # Authlib's refusals reach the test as exceptions
    oauth = OAuth(rp)
    tekcify = oauth.register(
        "tekcify", client_id=client_id, client_secret=client_secret,
        server_metadata_url=f"{base}/.well-known/openid-configuration",
        client_kwargs={
            "scope": SCOPE, "code_challenge_method": "S256",
            "token_endpoint_auth_method": "client_secret_basic",
        },
    )

    @rp.get("/login")
    def login() -> Any:
        return tekcify.authorize_redirect(REDIRECT_URI)

    @rp.get("/callback")
    def callback() -> Any:
        token = tekcify.authorize_access_token()
        return jsonify(token)

    return rp, tekcify


class Pages:
    """Our sign-in pages, driven over HTTP by a browser that keeps its cookies."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = httpx.Client(timeout=10)

    def close(self) -> None:
        self.http.close()

    def authorize(self, url: str, *, consent: bool = True) -> str:
        """Sign in when asked, allow when asked; returns the final redirect's location."""
        page = self.http.get(url)
        if page.status_code == 200 and 'name="password"' in page.text:
            [form] = parse_page(page.text).forms
            signed_in = self.http.post(
                self.base + form["action"],
                data={**form["fields"], "email": "ada@example.com", "password": PASSWORD},
            )
            assert signed_in.status_code == 303, signed_in.text
            page = self.http.get(self.base + signed_in.headers["location"])
        if page.status_code == 200 and consent:
            [form] = parse_page(page.text).forms
            page = self.http.post(
                self.base + form["action"], data={**form["fields"], "decision": "allow"}
            )
        assert page.status_code in (302, 303), page.text
        location: str = page.headers["location"]
        assert location.startswith(REDIRECT_URI + "?"), location
        return location


@pytest.fixture
def pages(server: str) -> Iterator[Pages]:  # noqa: F811 (the fixture imported above)
    browser = Pages(server)
    yield browser
    browser.close()


@pytest.fixture
def rp(server: str) -> tuple[Flask, Any, str]:  # noqa: F811
    """The relying party (ada and the application registered); and the client id."""
    client_id, client_secret = register_application(server)
    app, tekcify = relying_party(server, client_id, client_secret)
    return app, tekcify, client_id


def callback_path(location: str) -> str:
    """The relying party's path for our redirect to ``REDIRECT_URI``."""
    return "/callback?" + urlsplit(location).query


def with_params(url: str, drop: tuple[str, ...] = (), **changes: str) -> str:
    """``url`` with query parameters dropped or changed."""
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items() if k not in drop}
    query.update(changes)
    return urlunsplit(parts._replace(query=urlencode(query)))


@contextmanager
def rp_session(app: Flask) -> Iterator[Any]:
    with app.test_client() as browser:
        yield browser


def test_authlib_signs_in_with_openid_connect(
    rp: tuple[Flask, Any, str], pages: Pages, server: str  # noqa: F811
) -> None:
    app, tekcify, client_id = rp
    with rp_session(app) as browser:
        started = browser.get("/login")
        assert started.status_code == 302
        url = started.headers["location"]
        asked = parse_qs(urlsplit(url).query)
        assert asked["code_challenge_method"] == ["S256"]
        assert asked["nonce"][0]
        before = int(time.time())
        location = pages.authorize(url)
        assert parse_qs(urlsplit(location).query)["iss"] == [server]
        # Authlib checks the state, redeems the code with the verifier, and validates the
        # id token: signature (our JWKS), iss, aud, azp, exp, iat, nonce, at_hash.
        answer = browser.get(callback_path(location))
    assert answer.status_code == 200, answer.text
    token = answer.get_json()
    claims = token["userinfo"]
    assert claims["iss"] == server
    assert claims["aud"] == claims["azp"] == client_id
    assert claims["nonce"] == asked["nonce"][0]
    assert claims["email"] == "ada@example.com"
    assert before - 1 <= claims["auth_time"] <= int(time.time())
    assert claims["sid"]

    # UserInfo with the access token, for the same subject.
    me = tekcify.userinfo(token=token)
    assert (me["sub"], me["email"]) == (claims["sub"], "ada@example.com")

    # A refresh answers a new id token, which Authlib validates (no nonce, §12.2).
    refreshed = tekcify.fetch_access_token(
        grant_type="refresh_token", refresh_token=token["refresh_token"]
    )
    again = tekcify.parse_id_token(refreshed, nonce=None)
    assert again["sub"] == claims["sub"]
    assert again["auth_time"] == claims["auth_time"]
    assert again["sid"] == claims["sid"]
    assert "nonce" not in again
    assert refreshed["id_token"] != token["id_token"]


def test_a_missing_or_altered_nonce_fails_authlib_s_validation(
    rp: tuple[Flask, Any, str], pages: Pages, server: str  # noqa: F811
) -> None:
    app, tekcify, _ = rp
    with app.test_request_context():
        sent = tekcify.create_authorization_url(REDIRECT_URI)
    # The nonce removed on the way: the id token has none, and Authlib refuses it.
    location = pages.authorize(with_params(sent["url"], drop=("nonce",)))
    code = parse_qs(urlsplit(location).query)["code"][0]
    token = tekcify.fetch_access_token(
        REDIRECT_URI, code=code, code_verifier=sent["code_verifier"]
    )
    with pytest.raises(MissingClaimError):
        tekcify.parse_id_token(token, nonce=sent["nonce"])
    # Altered: the server returns what it was sent, byte for byte, and Authlib refuses it.
    with app.test_request_context():
        second = tekcify.create_authorization_url(REDIRECT_URI)
    altered = second["nonce"] + "x"
    location = pages.authorize(with_params(second["url"], nonce=altered))
    code = parse_qs(urlsplit(location).query)["code"][0]
    token = tekcify.fetch_access_token(
        REDIRECT_URI, code=code, code_verifier=second["code_verifier"]
    )
    with pytest.raises(InvalidClaimError):
        tekcify.parse_id_token(token, nonce=second["nonce"])
    assert tekcify.parse_id_token(token, nonce=altered)["nonce"] == altered


def test_an_id_token_replayed_at_another_client_is_refused(
    rp: tuple[Flask, Any, str], pages: Pages, server: str  # noqa: F811
) -> None:
    app, _tekcify, _ = rp
    with rp_session(app) as browser:
        location = pages.authorize(browser.get("/login").headers["location"])
        token = browser.get(callback_path(location)).get_json()
    # Another application (its own client id) given ada's id token: aud is not it.
    with httpx.Client(base_url=server, timeout=10) as api:
        owner = api.post(
            "/api/auth/login", json={"email": "owner@example.com", "password": PASSWORD}
        ).json()["accessToken"]
        other = api.post(
            "/api/applications", headers={"Authorization": f"Bearer {owner}"},
            json={"name": "Other", "redirectUris": ["http://127.0.0.1/callback"],
                  "scopes": ["openid", "profile", "email", "offline_access"]},
        ).json()
    _, other_client = relying_party(server, other["clientId"], other["clientSecret"])
    replayed = {k: v for k, v in token.items() if k != "userinfo"}
    with pytest.raises(InvalidClaimError) as refused:
        other_client.parse_id_token(replayed, nonce=token["userinfo"]["nonce"])
    # Authlib names the first claim that is not this client: azp (then aud).
    assert refused.value.claim in ("azp", "aud")
    # Nor does our server take it as another application's id_token_hint.
    with app.test_request_context():
        sent = other_client.create_authorization_url(
            REDIRECT_URI, prompt="none", id_token_hint=token["id_token"]
        )
    answer = pages.http.get(sent["url"])
    assert answer.status_code == 400  # never consented to Other: an error page
    assert "id_token_hint" in answer.text


def test_max_age_0_makes_authlib_s_user_sign_in_again(
    rp: tuple[Flask, Any, str], pages: Pages
) -> None:
    app, tekcify, _ = rp
    with rp_session(app) as browser:
        first = browser.get(callback_path(
            pages.authorize(browser.get("/login").headers["location"])
        )).get_json()["userinfo"]
        time.sleep(1.1)  # a sign-in a second younger than the first
        with app.test_request_context():
            sent = tekcify.create_authorization_url(REDIRECT_URI, max_age=0)
        page = pages.http.get(sent["url"])
        assert page.status_code == 200
        assert 'name="password"' in page.text  # signed in, and asked to sign in again
        location = pages.authorize(sent["url"])
    code = parse_qs(urlsplit(location).query)["code"][0]
    token = tekcify.fetch_access_token(REDIRECT_URI, code=code, code_verifier=sent["code_verifier"])
    claims = tekcify.parse_id_token(token, nonce=sent["nonce"])
    assert claims["auth_time"] > first["auth_time"]


def test_prompt_none_without_a_sign_in_is_login_required_for_authlib(
    rp: tuple[Flask, Any, str], pages: Pages
) -> None:
    app, _tekcify, _ = rp
    with rp_session(app) as browser:
        started = browser.get("/login")
        location = pages.authorize(with_params(started.headers["location"], prompt="none"))
        with pytest.raises(OAuthError) as refused:
            browser.get(callback_path(location))
    assert refused.value.error == "login_required"


@pytest.mark.parametrize(
    ("name", "value", "error"),
    [
        ("request", "eyJhbGciOiJub25lIn0.eyJzY29wZSI6Im9wZW5pZCJ9.", "request_not_supported"),
        ("request_uri", "https://rp.example/request.jwt", "request_uri_not_supported"),
    ],
)
def test_request_objects_answer_their_errors_to_authlib(
    rp: tuple[Flask, Any, str], pages: Pages, name: str, value: str, error: str
) -> None:
    app, _tekcify, _ = rp
    with rp_session(app) as browser:
        started = browser.get("/login")
        location = pages.authorize(with_params(started.headers["location"], **{name: value}))
        with pytest.raises(OAuthError) as refused:
            browser.get(callback_path(location))
    assert refused.value.error == error
