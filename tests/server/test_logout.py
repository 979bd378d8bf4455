"""RP-initiated logout 1.0 (issue 15, item 3), driven over HTTP like a browser.

The whole flow (the application's request with ``id_token_hint``, the confirmation
page, the sign-in ended, back to the registered ``post_logout_redirect_uri`` with
``state``), the checkbox that ends the user's sessions with the application, and the
hostile cases as named tests: an unregistered or another client's
``post_logout_redirect_uri`` (an error page, no ``Location``), a forged
``id_token_hint`` (``alg: none``, another key, HMAC with the public key, an access
token), and a confirmation without its CSRF token.

Until ID tokens are issued (the ``oidc`` branch), the hints are minted here with the
server's own signing key (``Signer.sign``), with the claims an ID token carries: the
server runs RS256, so the key is in its JWKS.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from fastapi import FastAPI
from joserfc import jws
from joserfc.jwk import OctKey, RSAKey

from tekcify_auth.server.services import accounts

from .conftest import PASSWORD, Server, asgi_client, bearer, login, register
from .test_authorize import (
    Browser,
    Client,
    authorization,
    get_code,
    hidden_fields,
    make_client,
    redeem,
)
from .test_oauth_token import assert_oauth_error, assert_token_answer

LOGOUT = "/api/oauth/logout"
CONFIRM = "/api/oauth/logout/confirm"
BACK = "https://app.example.com/signed-out"
OTHER_BACK = "https://other.example.com/bye"


@pytest.fixture
async def app(server: Server) -> AsyncIterator[FastAPI]:
    """The server signing with RS256, so its key is in the JWKS (as ID tokens' will be)."""
    async with server(signing_alg="RS256") as (application, _client):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of :func:`app`."""
    async with asgi_client(app) as http:
        yield http


async def set_back_addresses(
    http: httpx.AsyncClient, client: Client, uris: list[str],
    owner: str = "owner@example.com",
) -> httpx.Response:
    """``PUT`` the application's ``postLogoutRedirectUris`` as its owner."""
    token = (await login(http, owner))["accessToken"]
    return await http.put(
        f"/api/applications/{client.client_id}", json={"postLogoutRedirectUris": uris},
        headers=bearer(token),
    )


@pytest.fixture
async def photo(app: FastAPI, client: httpx.AsyncClient) -> Client:
    """An application with ``BACK`` registered; ada@example.com exists."""
    made = make_client(app)
    assert (await set_back_addresses(client, made, [BACK])).status_code == 200
    await register(client)
    return made


@pytest.fixture
async def other(app: FastAPI, client: httpx.AsyncClient) -> Client:
    """Another owner's application, with ``OTHER_BACK`` registered."""
    made = make_client(app, owner_email="mallory@example.com", name="Other")
    assert (
        await set_back_addresses(client, made, [OTHER_BACK], "mallory@example.com")
    ).status_code == 200
    return made


@pytest.fixture
async def browser(app: FastAPI) -> AsyncIterator[Browser]:
    """A browser signed in as ada, who has consented to :func:`photo`."""
    async with asgi_client(app) as http:
        yield Browser(http)


async def signed_in(browser: Browser, photo: Client) -> Browser:
    await get_code(browser, photo)
    return browser


def user_id(app: FastAPI, email: str = "ada@example.com") -> str:
    with app.state.ctx.db.read() as db:
        user = accounts.find_by_email(db, email)
        assert user is not None
        return user.id


async def issuer(client: httpx.AsyncClient) -> str:
    found: str = (await client.get("/.well-known/openid-configuration")).json()["issuer"]
    return found


def claims_for(app: FastAPI, iss: str, aud: str | list[str], **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {"iss": iss, "sub": user_id(app), "aud": aud, "iat": now, "exp": now + 300,
              "auth_time": now, "sid": "page-sign-in"}
    claims.update(changes)
    return claims


async def hint(
    app: FastAPI, client: httpx.AsyncClient, aud: str | list[str], **changes: Any
) -> str:
    """An ID token as the server will issue it, signed with its own active key."""
    claims = {**claims_for(app, await issuer(client), aud), **changes}
    minted: str = app.state.ctx.signer.sign(claims)
    return minted


def logout_url(**params: str) -> str:
    return f"{LOGOUT}?{urlencode(params)}"


async def still_signed_in(browser: Browser, photo: Client) -> bool:
    """Whether an authorization request goes straight back with a code (no login page)."""
    page = await browser.get(authorization(photo).url)
    return page.status_code == 302


def assert_error_page(response: httpx.Response, words: str) -> None:
    assert response.status_code == 400, response.text
    assert "location" not in response.headers
    assert "This sign-out link is not valid" in response.text
    assert words in response.text, response.text


# -- discovery and registration ------------------------------------------------------------


async def test_discovery_lists_the_end_session_endpoint(client: httpx.AsyncClient) -> None:
    document = (await client.get("/.well-known/openid-configuration")).json()
    assert document["end_session_endpoint"] == "http://tekcify.test/api/oauth/logout"


async def test_post_logout_redirect_uris_are_registered_like_redirect_uris(
    client: httpx.AsyncClient,
) -> None:
    await register(client, "dev@example.com")
    token = (await login(client, "dev@example.com"))["accessToken"]
    body = {"name": "App", "redirectUris": ["https://app.example.com/cb"], "scopes": ["openid"],
            "postLogoutRedirectUris": [BACK, "com.example.app:/bye", "http://127.0.0.1/bye"]}
    created = await client.post("/api/applications", json=body, headers=bearer(token))
    assert created.status_code == 201, created.text
    assert created.json()["postLogoutRedirectUris"] == body["postLogoutRedirectUris"]
    client_id = created.json()["clientId"]
    for bad in (["http://app.example.com/bye"], ["https://app.example.com/bye#x"],
                [BACK, BACK], None):
        refused = await client.put(
            f"/api/applications/{client_id}", json={"postLogoutRedirectUris": bad},
            headers=bearer(token),
        )
        assert refused.status_code == 400, bad
        assert "postLogoutRedirectUris" in refused.json()["message"]
    cleared = await client.put(
        f"/api/applications/{client_id}", json={"postLogoutRedirectUris": []},
        headers=bearer(token),
    )
    assert cleared.status_code == 200
    listed = (await client.get("/api/applications", headers=bearer(token))).json()
    assert listed[0]["postLogoutRedirectUris"] == []
    public = (await client.get(f"/api/applications/public/{client_id}")).json()
    assert "postLogoutRedirectUris" not in public


# -- the flow ------------------------------------------------------------------------------


async def test_logout_confirms_ends_the_sign_in_and_returns_with_state(
    app: FastAPI, client: httpx.AsyncClient, browser: Browser, photo: Client
) -> None:
    await signed_in(browser, photo)
    code, request = await get_code(browser, photo)
    tokens = assert_token_answer(await redeem(client, photo, code, request))
    first_party = (await login(client))["accessToken"]
    listed = (await client.get("/api/auth/sessions", headers=bearer(first_party))).json()
    browser_sign_ins = [s for s in listed["sessions"] if s["applicationName"] == "Tekcify"
                        and not s["current"]]
    assert len(browser_sign_ins) == 1

    page = await browser.get(logout_url(
        id_token_hint=await hint(app, client, photo.client_id),
        post_logout_redirect_uri=BACK, state="st ate/ü",
    ))
    assert page.status_code == 200, page.text
    assert "Sign out of Tekcify?" in page.text
    assert "ada@example.com" in page.text
    assert "Photo Printer" in page.text
    assert "app.example.com" in page.text
    assert f'action="{CONFIRM}"' in page.text
    fields = hidden_fields(page)
    assert fields["csrf_token"]
    # The pages' headers, and the form may go on only to the registered address.
    csp = page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp
    assert "form-action 'self' https://app.example.com;" in csp
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"

    done = await browser.submit(page, {})
    assert done.status_code == 303
    assert done.headers["location"] == BACK + "?state=st+ate%2F%C3%BC"
    assert not await still_signed_in(browser, photo)
    listed = (await client.get("/api/auth/sessions", headers=bearer(first_party))).json()
    assert [s for s in listed["sessions"] if not s["current"]
            and s["applicationName"] == "Tekcify"] == []
    # Without the checkbox the application's own session lives on.
    refreshed = await client.post("/api/oauth/token", headers=photo.basic(), data={
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
    })
    assert_token_answer(refreshed)


async def test_the_checkbox_also_ends_the_users_sessions_with_that_application(
    app: FastAPI, client: httpx.AsyncClient, browser: Browser, photo: Client, other: Client
) -> None:
    code, request = await get_code(browser, photo)
    tokens = assert_token_answer(await redeem(client, photo, code, request))
    other_code, other_request = await get_code(browser, other)
    other_tokens = assert_token_answer(await redeem(client, other, other_code, other_request))
    page = await browser.get(logout_url(client_id=photo.client_id))
    assert 'name="end_app_sessions"' in page.text
    done = await browser.submit(page, {"end_app_sessions": "on"})
    assert done.status_code == 200  # no post_logout_redirect_uri: the signed-out page
    assert "You are signed out" in done.text
    refused = await client.post("/api/oauth/token", headers=photo.basic(), data={
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
    })
    assert_oauth_error(refused, "invalid_grant")
    kept = await client.post("/api/oauth/token", headers=other.basic(), data={
        "grant_type": "refresh_token", "refresh_token": other_tokens["refresh_token"],
    })
    assert_token_answer(kept)


async def test_an_rp_form_post_to_the_end_session_endpoint_shows_the_same_page(
    app: FastAPI, client: httpx.AsyncClient, browser: Browser, photo: Client
) -> None:
    await signed_in(browser, photo)
    page = await browser.http.post(LOGOUT, data={
        "client_id": photo.client_id, "post_logout_redirect_uri": BACK, "state": "s1",
        "ui_locales": "fr",
    })
    assert page.status_code == 200
    done = await browser.submit(page, {})
    # No hint, but ada consented to this application: it is trusted with her browser.
    assert done.headers["location"] == BACK + "?state=s1"


async def test_an_expired_hint_is_accepted_and_names_the_application(
    app: FastAPI, client: httpx.AsyncClient, browser: Browser, photo: Client
) -> None:
    await signed_in(browser, photo)
    old = await hint(app, client, photo.client_id, exp=int(time.time()) - 86400)
    page = await browser.get(logout_url(id_token_hint=old, post_logout_redirect_uri=BACK))
    assert page.status_code == 200, page.text
    assert "Photo Printer" in page.text
    done = await browser.submit(page, {})
    assert done.headers["location"] == BACK


async def test_without_a_sign_in_a_valid_hint_sends_the_browser_back_at_once(
    app: FastAPI, client: httpx.AsyncClient, browser: Browser, photo: Client
) -> None:
    back = await browser.get(logout_url(
        id_token_hint=await hint(app, client, photo.client_id),
        post_logout_redirect_uri=BACK, state="x",
    ))
    assert back.status_code == 302
    assert back.headers["location"] == BACK + "?state=x"


async def test_without_a_sign_in_or_a_hint_the_signed_out_page_only_links_back(
    browser: Browser, photo: Client
) -> None:
    page = await browser.get(logout_url(
        client_id=photo.client_id, post_logout_redirect_uri=BACK, state="x",
    ))
    assert page.status_code == 200
    assert "location" not in page.headers
    assert "You are signed out" in page.text
    assert f'href="{BACK}?state=x"' in page.text


async def test_without_a_hint_the_confirmation_returns_only_to_an_application_consented_to(
    browser: Browser, photo: Client, other: Client
) -> None:
    await signed_in(browser, photo)  # ada never used "Other"
    page = await browser.get(logout_url(client_id=other.client_id,
                                        post_logout_redirect_uri=OTHER_BACK))
    done = await browser.submit(page, {})
    assert done.status_code == 200
    assert "location" not in done.headers
    assert f'href="{OTHER_BACK}"' in done.text
    assert not await still_signed_in(browser, photo)


# -- hostile cases -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "uri",
    [
        "https://evil.example/phish", BACK + "/", BACK.upper(), BACK + "?x=1",
        "https://app.example.com/callback",  # a redirect URI, not a post-logout one
    ],
)
async def test_an_unregistered_post_logout_redirect_uri_is_an_error_page_without_location(
    app: FastAPI, client: httpx.AsyncClient, browser: Browser, photo: Client, uri: str
) -> None:
    token = await hint(app, client, photo.client_id)
    for signed in (False, True):
        if signed:
            await signed_in(browser, photo)
        page = await browser.get(logout_url(id_token_hint=token, post_logout_redirect_uri=uri))
        assert_error_page(page, "not registered")
        posted = await browser.http.post(LOGOUT, data={
            "client_id": photo.client_id, "post_logout_redirect_uri": uri,
        })
        assert_error_page(posted, "not registered")
    assert await still_signed_in(browser, photo)
    # Without any application to compare with, no address is taken either.
    alone = await browser.get(logout_url(post_logout_redirect_uri=BACK))
    assert_error_page(alone, "names no application")


async def test_a_post_logout_redirect_uri_of_another_client_is_refused(
    app: FastAPI, client: httpx.AsyncClient, browser: Browser, photo: Client, other: Client
) -> None:
    await signed_in(browser, photo)
    by_id = await browser.get(logout_url(client_id=photo.client_id,
                                         post_logout_redirect_uri=OTHER_BACK))
    assert_error_page(by_id, "not registered")
    by_hint = await browser.get(logout_url(
        id_token_hint=await hint(app, client, photo.client_id),
        post_logout_redirect_uri=OTHER_BACK,
    ))
    assert_error_page(by_hint, "not registered")
    # A hint of one application with another's client_id: refused too.
    mixed = await browser.get(logout_url(
        id_token_hint=await hint(app, client, photo.client_id), client_id=other.client_id,
        post_logout_redirect_uri=OTHER_BACK,
    ))
    assert_error_page(mixed, "not the application the id_token_hint was issued to")
    assert await still_signed_in(browser, photo)


def _b64(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


async def test_a_forged_id_token_hint_is_refused(
    app: FastAPI, client: httpx.AsyncClient, browser: Browser, photo: Client
) -> None:
    await signed_in(browser, photo)
    claims = claims_for(app, await issuer(client), photo.client_id)
    genuine = await hint(app, client, photo.client_id)
    published = (await client.get("/api/.well-known/jwks.json")).json()["keys"][0]
    kid = published["kid"]
    payload = json.dumps(claims).encode()
    stranger = RSAKey.generate_key(2048)
    confused = OctKey.import_key(published["n"].encode())
    head, body, signature = genuine.split(".")
    forgeries = {
        "alg-none": f"{_b64({'alg': 'none', 'kid': kid})}.{_b64(claims)}.",
        "alg-none-typ": f"{_b64({'alg': 'none', 'typ': 'JWT', 'kid': kid})}.{body}.",
        "another-key": jws.serialize_compact({"alg": "RS256", "kid": kid}, payload, stranger),
        "another-key-other-kid": jws.serialize_compact({"alg": "RS256", "kid": "x"}, payload,
                                                       stranger),
        "hmac-with-the-public-key": jws.serialize_compact(
            {"alg": "HS256", "kid": kid}, payload, confused
        ),
        "altered-payload": f"{head}.{_b64({**claims, 'sub': 'someone-else'})}.{signature}",
        "no-signature": f"{head}.{body}.",
        "garbage": "not.a.token",
        "another-issuer": await hint(app, client, photo.client_id, iss="https://evil.example"),
        "an-access-token": (await login(client))["accessToken"],
    }
    for name, forged in forgeries.items():
        page = await browser.get(logout_url(id_token_hint=forged, post_logout_redirect_uri=BACK))
        assert page.status_code == 400, name
        assert "location" not in page.headers, name
        assert "not an ID token of this server" in page.text, name
    assert await still_signed_in(browser, photo)


async def test_logout_without_the_csrf_token_is_refused(
    app: FastAPI, client: httpx.AsyncClient, photo: Client
) -> None:
    async with asgi_client(app) as ada_http, asgi_client(app) as eve_http:
        ada = await signed_in(Browser(ada_http), photo)
        await register(client, "eve@example.com")
        eve = Browser(eve_http)
        await get_code(eve, photo, email="eve@example.com")
        url = logout_url(client_id=photo.client_id, post_logout_redirect_uri=BACK)
        page = await ada.get(url)
        eves_token = hidden_fields(await eve.get(url))["csrf_token"]
        # Missing (a page of another site cannot read it), wrong, or another sign-in's.
        for token in (None, "", "0" * 64, eves_token):
            refused = await ada.submit(page, {}, csrf_token=token)
            assert refused.status_code == 403, token
            assert "location" not in refused.headers
            assert "This form had expired" in refused.text
        assert await still_signed_in(ada, photo)
        assert (await ada.submit(page, {})).status_code == 303
        assert not await still_signed_in(ada, photo)
        assert await still_signed_in(eve, photo)


async def test_the_owner_password_still_works_after_logout(
    client: httpx.AsyncClient, browser: Browser, photo: Client
) -> None:
    # Signing out of the pages is not a password change: the account signs in again.
    await signed_in(browser, photo)
    page = await browser.get(logout_url(client_id=photo.client_id))
    await browser.submit(page, {})
    assert (await login(client, "ada@example.com", PASSWORD))["accessToken"]


# -- the browser sign-ins among the sessions -----------------------------------------------


async def test_sessions_say_which_are_browser_sign_ins_and_revoking_one_signs_out(
    client: httpx.AsyncClient, browser: Browser, photo: Client
) -> None:
    code, request = await get_code(browser, photo)
    assert_token_answer(await redeem(client, photo, code, request))
    own = (await login(client))["accessToken"]
    listed = (await client.get("/api/auth/sessions", headers=bearer(own))).json()["sessions"]
    kinds = sorted((s["kind"], s["applicationName"], s["current"]) for s in listed)
    assert kinds == [
        ("application", "Photo Printer", False), ("browser", "Tekcify", False),
        ("first_party", "Tekcify", True),
    ]
    (sign_in,) = [s for s in listed if s["kind"] == "browser"]
    revoked = await client.delete(f"/api/auth/sessions/{sign_in['id']}", headers=bearer(own))
    assert revoked.status_code == 200
    assert not await still_signed_in(browser, photo)


async def test_an_id_token_of_a_default_server_is_a_hint_it_accepts(server: Server) -> None:
    """HS256 access tokens (the default): the id token the code grant gave, signed by the
    id tokens' own RS256 key, is accepted as ``id_token_hint`` (the JWKS names both)."""
    async with server() as (application, http), asgi_client(application) as pages:
        made = make_client(application)
        assert (await set_back_addresses(http, made, [BACK])).status_code == 200
        await register(http)
        browser = Browser(pages)
        code, request = await get_code(browser, made)
        tokens = assert_token_answer(await redeem(http, made, code, request))
        page = await browser.get(logout_url(
            id_token_hint=tokens["id_token"], post_logout_redirect_uri=BACK, state="s",
        ))
        assert page.status_code == 200, page.text
        assert "Sign out of Tekcify?" in page.text
        done = await browser.submit(page, {})
        assert done.status_code == 303
        assert done.headers["location"] == BACK + "?state=s"
