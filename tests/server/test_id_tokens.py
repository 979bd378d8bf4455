"""OpenID Connect id tokens (issue 15, item 2) and the OIDC authorization parameters.

The code grant answers an id token when ``openid`` was granted, and so does every refresh
of such a session; it is signed asymmetrically (RS256 with HS256 access tokens, else the
access key) and verifies with the JWKS alone. The parameters ``nonce``, ``prompt``,
``max_age``, ``login_hint``, ``id_token_hint``, ``request`` and ``request_uri`` are
driven through the pages. Every claim is checked against what the test itself computes.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from joserfc import jws, jwt
from joserfc.jwk import KeySet, RSAKey
from sqlalchemy import select

from tekcify_auth._keys import SignatureRegistry
from tekcify_auth.server.db.oauth import LoginSession
from tekcify_auth.server.services import keystore

from .conftest import FakeClock, asgi_client, register
from .test_authorize import (
    ISSUER,
    REDIRECT_URI,
    TOKEN,
    Authorization,
    Browser,
    Client,
    assert_error_page,
    authorization,
    get_code,
    make_client,
    redeem,
    redirect_query,
)

NONCE = "n-0S6_WzA2Mj é/+%20 ünïcode"


@pytest.fixture
async def ada(client: httpx.AsyncClient) -> dict[str, Any]:
    """The registered user ada@example.com."""
    return await register(client)


@pytest.fixture
def oauth_client(app: FastAPI) -> Client:
    """A confidential application."""
    return make_client(app)


@pytest.fixture
async def browser(app: FastAPI) -> Any:
    """A :class:`Browser` on its own cookie jar."""
    async with asgi_client(app) as http:
        yield Browser(http)


async def jwks(client: httpx.AsyncClient) -> KeySet:
    """The published keys, as a relying party would import them."""
    return KeySet.import_key_set((await client.get("/api/.well-known/jwks.json")).json())


async def verified(client: httpx.AsyncClient, token: str, alg: str = "RS256") -> dict[str, Any]:
    """The claims of ``token`` after checking its signature with the JWKS (``alg`` only)."""
    registry = SignatureRegistry(algorithms=[alg])  # EdDSA without joserfc's warning
    decoded = jwt.decode(token, await jwks(client), registry=registry)
    assert decoded.header["alg"] == alg
    return dict(decoded.claims)


def half_hash(token: str, hasher: Any = hashlib.sha256) -> str:
    """OIDC Core §3.1.3.6, computed here."""
    digest = hasher(token.encode()).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode()


async def code_tokens(
    client: httpx.AsyncClient, browser: Browser, oauth_client: Client,
    email: str = "ada@example.com", **params: str | None,
) -> tuple[dict[str, Any], Authorization]:
    """Sign in (when asked), consent, redeem; returns the token answer and the request."""
    code, request = await get_code(
        browser, oauth_client, authorization(oauth_client, **params), email=email
    )
    response = await redeem(client, oauth_client, code, request)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body, request


def browser_session(app: FastAPI) -> LoginSession:
    """The one page sign-in."""
    with app.state.ctx.db.read() as db:
        row: LoginSession = db.execute(select(LoginSession)).scalar_one()
        return row


# -- the id token ---------------------------------------------------------------------------


async def test_an_id_token_comes_with_the_code_and_verifies_with_the_jwks(
    app: FastAPI, client: httpx.AsyncClient, browser: Browser, oauth_client: Client,
    ada: dict[str, Any], clock: FakeClock,
) -> None:
    signed_in_at = int(clock().timestamp())
    body, _ = await code_tokens(client, browser, oauth_client, nonce=NONCE)
    claims = await verified(client, body["id_token"])
    login = browser_session(app)
    assert claims == {
        "iss": ISSUER, "sub": ada["userId"], "aud": oauth_client.client_id,
        "azp": oauth_client.client_id, "iat": signed_in_at, "exp": signed_in_at + 900,
        "auth_time": signed_in_at, "nonce": NONCE, "at_hash": half_hash(body["access_token"]),
        "amr": ["pwd"], "acr": "0", "sid": login.session_id,
        "email": "ada@example.com", "email_verified": False,
        "updated_at": claims["updated_at"],
    }
    # The sid is the browser sign-in listed with the user's sessions.
    header = jws.extract_compact(body["id_token"].encode()).protected
    assert header["kid"] == app.state.ctx.id_token_signer.kid
    # HS256 access tokens (the default): the id token's key is RS256, the secret unpublished.
    assert jws.extract_compact(body["access_token"].encode()).protected["alg"] == "HS256"


async def test_the_nonce_is_returned_byte_for_byte(
    client: httpx.AsyncClient, browser: Browser, oauth_client: Client, ada: dict[str, Any]
) -> None:
    for nonce in (NONCE, " leading and trailing ", "x" * 2048):
        body, _ = await code_tokens(client, browser, oauth_client, nonce=nonce)
        assert (await verified(client, body["id_token"]))["nonce"] == nonce


async def test_without_a_nonce_the_id_token_has_none(
    client: httpx.AsyncClient, browser: Browser, oauth_client: Client, ada: dict[str, Any]
) -> None:
    # The client must then refuse it if it sent one: Authlib does (test_authlib_oidc.py).
    body, _ = await code_tokens(client, browser, oauth_client)
    assert "nonce" not in await verified(client, body["id_token"])


async def test_a_nonce_too_long_is_invalid_request(
    browser: Browser, oauth_client: Client, ada: dict[str, Any]
) -> None:
    await get_code(browser, oauth_client)  # signed in and consented: errors go back
    response = await browser.get(authorization(oauth_client, nonce="x" * 2049).url)
    assert redirect_query(response, REDIRECT_URI)["error"] == "invalid_request"


async def test_without_openid_there_is_no_id_token(
    client: httpx.AsyncClient, browser: Browser, oauth_client: Client, ada: dict[str, Any]
) -> None:
    body, _ = await code_tokens(client, browser, oauth_client, scope="profile offline_access")
    assert "id_token" not in body
    refreshed = await client.post(
        TOKEN, data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"]},
        headers=oauth_client.basic(),
    )
    assert "id_token" not in refreshed.json()


async def test_the_profile_scope_adds_the_names(
    app: FastAPI, client: httpx.AsyncClient, browser: Browser, oauth_client: Client,
    ada: dict[str, Any],
) -> None:
    body, _ = await code_tokens(client, browser, oauth_client, scope="openid profile")
    claims = await verified(client, body["id_token"])
    assert "email" not in claims  # only with the email scope
    assert isinstance(claims["updated_at"], int)


async def test_a_refresh_gives_a_new_id_token_of_the_same_sign_in(
    app: FastAPI, client: httpx.AsyncClient, browser: Browser, oauth_client: Client,
    ada: dict[str, Any], clock: FakeClock,
) -> None:
    body, _ = await code_tokens(client, browser, oauth_client, nonce=NONCE)
    first = await verified(client, body["id_token"])
    clock.advance(600)
    response = await client.post(
        TOKEN, data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"]},
        headers=oauth_client.basic(),
    )
    assert response.status_code == 200, response.text
    refreshed = response.json()
    again = await verified(client, refreshed["id_token"])
    # OIDC Core §12.2: same iss, sub, aud, azp and auth_time; a new iat; no nonce.
    for name in ("iss", "sub", "aud", "azp", "auth_time", "sid", "amr"):
        assert again[name] == first[name], name
    assert again["iat"] == first["iat"] + 600
    assert "nonce" not in again
    assert again["at_hash"] == half_hash(refreshed["access_token"])


async def test_an_id_token_is_no_access_token(
    client: httpx.AsyncClient, browser: Browser, oauth_client: Client, ada: dict[str, Any]
) -> None:
    body, _ = await code_tokens(client, browser, oauth_client)
    refused = await client.get(
        "/api/oauth/userinfo", headers={"Authorization": f"Bearer {body['id_token']}"}
    )
    assert refused.status_code == 401
    assert (await client.get("/api/user/profile", headers={
        "Authorization": f"Bearer {body['id_token']}"
    })).status_code == 401


@pytest.mark.parametrize(("alg", "hasher"), [("ES256", hashlib.sha256), ("EdDSA", hashlib.sha512)])
async def test_with_asymmetric_access_tokens_their_key_signs_the_id_tokens(
    alg: str, hasher: Any, server: Any
) -> None:
    async with server(signing_alg=alg) as (app, client):
        await register(client)
        oauth_client = make_client(app)
        async with asgi_client(app) as http:
            body, _ = await code_tokens(client, Browser(http), oauth_client, nonce="n")
        claims = await verified(client, body["id_token"], alg)
        assert claims["at_hash"] == half_hash(body["access_token"], hasher)
        id_header = jws.extract_compact(body["id_token"].encode()).protected
        access_header = jws.extract_compact(body["access_token"].encode()).protected
        assert id_header["kid"] == access_header["kid"]
        assert len((await client.get("/api/.well-known/jwks.json")).json()["keys"]) == 1
        with app.state.ctx.db.read() as db:
            listed = keystore.list_keys(db, app.state.ctx.settings, app.state.ctx.clock())
        assert [key.purpose for key in listed] == ["access"]


async def test_the_id_token_key_rotates_and_the_old_one_stays_published(
    app: FastAPI, client: httpx.AsyncClient, browser: Browser, oauth_client: Client,
    ada: dict[str, Any],
) -> None:
    ctx = app.state.ctx
    before, _ = await code_tokens(client, browser, oauth_client)
    old_kid = ctx.id_token_signer.kid
    with ctx.db.write() as db:
        rotation = keystore.rotate_key(
            db, ctx.settings, ctx.key_cipher, ctx.clock(), immediate=True,
            purpose=keystore.ID_TOKEN,
        )
    ctx.id_token_signer.ring.reload()
    assert rotation.retired == (old_kid,)
    after, _ = await code_tokens(client, browser, oauth_client)
    new_kid = jws.extract_compact(after["id_token"].encode()).protected["kid"]
    assert new_kid == rotation.active.kid != old_kid
    kids = [k["kid"] for k in (await client.get("/api/.well-known/jwks.json")).json()["keys"]]
    assert kids == [new_kid, old_kid]
    await verified(client, before["id_token"])  # the old key's id token still verifies


# -- prompt, max_age, login_hint ------------------------------------------------------------


async def test_max_age_0_always_asks_to_sign_in_and_auth_time_follows(
    client: httpx.AsyncClient, browser: Browser, oauth_client: Client, ada: dict[str, Any],
    clock: FakeClock,
) -> None:
    await get_code(browser, oauth_client)
    clock.advance(30)
    page = await browser.get(authorization(oauth_client, max_age="0").url)
    assert page.status_code == 200
    assert 'name="password"' in page.text  # signed in, but asked again
    resigned_at = int(clock().timestamp())
    body, _ = await code_tokens(client, browser, oauth_client, max_age="0")
    assert (await verified(client, body["id_token"]))["auth_time"] == resigned_at


async def test_max_age_asks_again_only_once_the_sign_in_is_older(
    browser: Browser, oauth_client: Client, ada: dict[str, Any], clock: FakeClock
) -> None:
    await get_code(browser, oauth_client)
    clock.advance(60)
    young = await browser.get(authorization(oauth_client, max_age="60").url)
    assert "code" in redirect_query(young, REDIRECT_URI)
    clock.advance(1)
    old = await browser.get(authorization(oauth_client, max_age="60").url)
    assert old.status_code == 200
    assert 'name="password"' in old.text
    silent = await browser.get(authorization(oauth_client, max_age="60", prompt="none").url)
    assert redirect_query(silent, REDIRECT_URI)["error"] == "login_required"


@pytest.mark.parametrize("max_age", ["-1", "1.5", "ten", "99999999999"])
async def test_a_malformed_max_age_is_invalid_request(
    browser: Browser, oauth_client: Client, ada: dict[str, Any], max_age: str
) -> None:
    await get_code(browser, oauth_client)
    response = await browser.get(authorization(oauth_client, max_age=max_age).url)
    assert redirect_query(response, REDIRECT_URI)["error"] == "invalid_request"


async def test_prompt_none_without_a_sign_in_is_login_required_at_the_redirect_uri(
    browser: Browser, oauth_client: Client, ada: dict[str, Any]
) -> None:
    request = authorization(oauth_client, prompt="none", nonce="n")
    answer = redirect_query(await browser.get(request.url), REDIRECT_URI)
    assert answer == {
        "error": "login_required", "error_description": "The user is not signed in",
        "state": request.params["state"], "iss": ISSUER,
    }


async def test_prompt_login_and_select_account_show_the_login_page_when_signed_in(
    browser: Browser, oauth_client: Client, ada: dict[str, Any]
) -> None:
    await get_code(browser, oauth_client)
    for prompt in ("login", "select_account"):
        page = await browser.get(authorization(oauth_client, prompt=prompt).url)
        assert page.status_code == 200, prompt
        assert 'name="password"' in page.text, prompt


async def test_login_hint_fills_in_the_email(browser: Browser, oauth_client: Client) -> None:
    page = await browser.get(authorization(oauth_client, login_hint="grace@example.com").url)
    assert 'value="grace@example.com"' in page.text
    hostile = await browser.get(authorization(oauth_client, login_hint='"><script>').url)
    assert "<script>" not in hostile.text  # escaped like any value


@pytest.mark.parametrize(
    ("name", "error"),
    [("request", "request_not_supported"), ("request_uri", "request_uri_not_supported")],
)
async def test_request_objects_are_refused_at_the_redirect_uri(
    browser: Browser, oauth_client: Client, name: str, error: str
) -> None:
    # OIDC Core §6.1, §6.2: the answer goes to the redirect URI, even for a stranger.
    value = "eyJhbGciOiJub25lIn0.e30." if name == "request" else "https://x.example/r"
    request = authorization(oauth_client, **{name: value})
    answer = redirect_query(await browser.get(request.url), REDIRECT_URI)
    assert (answer["error"], answer["iss"]) == (error, ISSUER)


@pytest.mark.parametrize("mode", ["fragment", "form_post", "jwt"])
async def test_a_response_mode_other_than_query_is_invalid_request(
    browser: Browser, oauth_client: Client, ada: dict[str, Any], mode: str
) -> None:
    await get_code(browser, oauth_client)
    response = await browser.get(authorization(oauth_client, response_mode=mode).url)
    answer = redirect_query(response, REDIRECT_URI)  # in the query: the one mode we have
    assert answer["error"] == "invalid_request"
    assert "response_mode" in answer["error_description"]
    query = await browser.get(authorization(oauth_client, response_mode="query").url)
    assert "code" in redirect_query(query, REDIRECT_URI)


# -- id_token_hint ----------------------------------------------------------------------------


async def test_an_id_token_hint_of_the_signed_in_user_passes_prompt_none(
    client: httpx.AsyncClient, browser: Browser, oauth_client: Client, ada: dict[str, Any]
) -> None:
    body, _ = await code_tokens(client, browser, oauth_client)
    silent = authorization(oauth_client, prompt="none", id_token_hint=body["id_token"])
    assert "code" in redirect_query(await browser.get(silent.url), REDIRECT_URI)


async def test_an_id_token_hint_of_another_user_is_login_required(
    app: FastAPI, client: httpx.AsyncClient, browser: Browser, oauth_client: Client,
    ada: dict[str, Any],
) -> None:
    await register(client, "grace@example.com")
    async with asgi_client(app) as http:
        graces, _ = await code_tokens(client, Browser(http), oauth_client, "grace@example.com")
    await get_code(browser, oauth_client)  # ada signs in
    silent = authorization(oauth_client, prompt="none", id_token_hint=graces["id_token"])
    assert redirect_query(await browser.get(silent.url), REDIRECT_URI)["error"] == (
        "login_required"
    )


def _forged(claims: dict[str, Any], header: dict[str, Any], key: Any, alg: str) -> str:
    return jwt.encode(header | {"alg": alg}, claims, key, algorithms=[alg])


async def test_a_forged_or_foreign_id_token_hint_is_refused(
    app: FastAPI, client: httpx.AsyncClient, browser: Browser, oauth_client: Client,
    ada: dict[str, Any],
) -> None:
    body, _ = await code_tokens(client, browser, oauth_client)
    genuine = jwt.decode(body["id_token"], await jwks(client), algorithms=["RS256"])
    claims, header = dict(genuine.claims), dict(genuine.header)
    head, payload, _sig = body["id_token"].split(".")

    def b64(data: dict[str, Any]) -> str:
        raw = json.dumps(data).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    other = make_client(app, name="Other app")
    async with asgi_client(app) as http:
        others, _ = await code_tokens(client, Browser(http), other)
    secret = app.state.ctx.signer  # HS256: the shared secret signs access tokens
    hints = {
        "alg none": f"{b64({'alg': 'none', 'kid': header['kid']})}.{payload}.",
        "another key": _forged(claims, header, RSAKey.generate_key(2048), "RS256"),
        "altered claims": f"{head}.{b64(claims | {'sub': 'someone-else'})}.{_sig}",
        "the shared secret": secret.sign(claims | {"aud": oauth_client.client_id}),
        "another application's": others["id_token"],
        "garbage": "not-a-token",
    }
    for what, hint in hints.items():
        response = await browser.get(
            authorization(oauth_client, prompt="none", id_token_hint=hint).url
        )
        answer = redirect_query(response, REDIRECT_URI)
        assert answer["error"] == "invalid_request", what
        assert "id_token_hint" in answer["error_description"], what
    # A stranger (never consented) sees the error on a page, never a redirect.
    async with asgi_client(app) as http:
        stranger = await Browser(http).get(
            authorization(oauth_client, id_token_hint=hints["alg none"]).url
        )
    assert_error_page(stranger, "(error: invalid_request)")


# -- discovery -------------------------------------------------------------------------------

#: OpenID Connect Discovery 1.0 §3: REQUIRED, then RECOMMENDED (no dynamic registration).
REQUIRED = (
    "issuer", "authorization_endpoint", "token_endpoint", "jwks_uri",
    "response_types_supported", "subject_types_supported",
    "id_token_signing_alg_values_supported",
)
RECOMMENDED = ("userinfo_endpoint", "scopes_supported", "claims_supported")


async def test_discovery_lists_the_openid_connect_fields_truthfully(
    client: httpx.AsyncClient, browser: Browser, oauth_client: Client, ada: dict[str, Any]
) -> None:
    doc = (await client.get("/.well-known/openid-configuration")).json()
    missing = [name for name in (*REQUIRED, *RECOMMENDED) if name not in doc]
    assert not missing
    assert doc["issuer"] == ISSUER
    assert doc["response_types_supported"] == ["code"]
    assert doc["response_modes_supported"] == ["query"]
    assert doc["subject_types_supported"] == ["public"]
    assert doc["request_parameter_supported"] is False
    assert doc["request_uri_parameter_supported"] is False
    assert doc["claims_parameter_supported"] is False
    assert set(doc["prompt_values_supported"]) == {"none", "login", "consent", "select_account"}
    assert "openid" in doc["scopes_supported"]
    # What an id token really holds, and how it is really signed.
    body, _ = await code_tokens(client, browser, oauth_client, nonce="n")
    claims = await verified(client, body["id_token"])
    assert set(claims) <= set(doc["claims_supported"])
    alg = jws.extract_compact(body["id_token"].encode()).protected["alg"]
    assert doc["id_token_signing_alg_values_supported"] == [alg] == ["RS256"]
    assert doc["acr_values_supported"] == [claims["acr"]]


async def test_discovery_names_the_access_key_algorithm_when_it_signs_id_tokens(
    server: Any,
) -> None:
    async with server(signing_alg="ES256") as (_app, client):
        doc = (await client.get("/.well-known/openid-configuration")).json()
    assert doc["id_token_signing_alg_values_supported"] == ["ES256"]
