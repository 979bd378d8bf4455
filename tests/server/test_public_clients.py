"""Public clients (issue 15, item 4): made through the API, no secret, PKCE only.

An application registered with ``tokenEndpointAuthMethod: "none"`` gets no secret and
names itself with its ``client_id``. The hostile cases are named tests: a public client
sending a secret, using ``client_credentials``, leaving out PKCE, introspecting. Its
refresh tokens rotate with reuse detection like every client's. Native apps' redirect
URIs follow RFC 8252: private-use schemes (§7.1) and loopback on any port (§7.3).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tekcify_auth.server.db.applications import Application

from .conftest import asgi_client, bearer, register, signed_up
from .test_authorize import (
    TOKEN,
    Browser,
    Client,
    authorization,
    get_code,
    redeem,
    redirect_query,
)
from .test_oauth_token import assert_oauth_error, assert_token_answer

INTROSPECT = "/api/oauth/token/introspect"
NATIVE_URI = "com.example.photos:/oauth/callback"
SCOPES = ("openid", "profile", "email", "offline_access")


async def create_public(
    client: httpx.AsyncClient, token: str, redirect_uris: tuple[str, ...] = (NATIVE_URI,),
    **changes: Any,
) -> tuple[Client, dict[str, Any]]:
    """Register a public client through ``POST /api/applications``; it and the answer."""
    body = {
        "name": "Photos for phones", "redirectUris": list(redirect_uris),
        "scopes": list(SCOPES), "tokenEndpointAuthMethod": "none", **changes,
    }
    response = await client.post("/api/applications", json=body, headers=bearer(token))
    assert response.status_code == 201, response.text
    answer: dict[str, Any] = response.json()
    return Client(answer["clientId"], None, redirect_uris, SCOPES, body["name"]), answer


@pytest.fixture
async def owner(client: httpx.AsyncClient) -> str:
    """The access token of owner@example.com, who registers the applications."""
    return str((await signed_up(client, "owner@example.com"))["accessToken"])


@pytest.fixture
async def public(client: httpx.AsyncClient, owner: str) -> Client:
    """A public client registered through the API, with a private-use scheme URI."""
    made, _ = await create_public(client, owner)
    await register(client)  # ada@example.com, who signs in to it
    return made


async def _code(app: FastAPI, client: Client, **changes: str | None) -> tuple[str, Any]:
    async with asgi_client(app) as http:
        return await get_code(Browser(http), client, authorization(client, **changes))


# -- creation ------------------------------------------------------------------------------


async def test_token_endpoint_auth_method_none_registers_a_public_client_without_a_secret(
    app: FastAPI, client: httpx.AsyncClient, owner: str
) -> None:
    made, answer = await create_public(client, owner)
    assert "clientSecret" not in answer
    assert answer["tokenEndpointAuthMethod"] == "none"
    with app.state.ctx.db.read() as db:
        row = db.get(Application, made.client_id)
        assert row is not None
        assert row.client_secret_hash is None
    listed = (await client.get("/api/applications", headers=bearer(owner))).json()
    assert listed[0]["tokenEndpointAuthMethod"] == "none"
    public_view = await client.get(f"/api/applications/public/{made.client_id}")
    assert public_view.json()["tokenEndpointAuthMethod"] == "none"
    regenerated = await client.post(
        f"/api/applications/{made.client_id}/regenerate-secret", headers=bearer(owner)
    )
    assert regenerated.status_code == 400


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post", None])
async def test_confidential_methods_and_the_default_register_a_client_with_a_secret(
    client: httpx.AsyncClient, owner: str, method: str | None
) -> None:
    body: dict[str, Any] = {
        "name": "Server app", "redirectUris": ["https://app.example.com/cb"],
        "scopes": ["openid"],
    }
    if method is not None:
        body["tokenEndpointAuthMethod"] = method
    response = await client.post("/api/applications", json=body, headers=bearer(owner))
    assert response.status_code == 201, response.text
    assert response.json()["clientSecret"]
    assert response.json()["tokenEndpointAuthMethod"] == "client_secret_basic"


@pytest.mark.parametrize("method", ["private_key_jwt", "NONE", "", 1, True])
async def test_an_unknown_token_endpoint_auth_method_is_refused(
    client: httpx.AsyncClient, owner: str, method: object
) -> None:
    body = {"name": "App", "redirectUris": ["https://app.example.com/cb"], "scopes": ["openid"],
            "tokenEndpointAuthMethod": method}
    response = await client.post("/api/applications", json=body, headers=bearer(owner))
    assert response.status_code == 400, response.text
    assert "tokenEndpointAuthMethod" in response.json()["message"]


async def test_the_client_type_cannot_be_changed_by_an_update(
    client: httpx.AsyncClient, owner: str, public: Client
) -> None:
    response = await client.put(
        f"/api/applications/{public.client_id}",
        json={"tokenEndpointAuthMethod": "client_secret_basic"}, headers=bearer(owner),
    )
    assert response.status_code == 400
    assert "tokenEndpointAuthMethod" in response.json()["message"]


async def test_the_admin_api_registers_a_public_client(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    from tekcify_auth.server.services import admin

    owner = await signed_up(client, "root@example.com")
    with app.state.ctx.db.write() as db:
        user = admin.owner_of(db, "root@example.com")
        user.role = "admin"
        owner_id = user.id
    body = {"ownerId": owner_id, "name": "CLI tool", "redirectUris": ["http://127.0.0.1/cb"],
            "scopes": ["openid"], "tokenEndpointAuthMethod": "none"}
    response = await client.post(
        "/api/admin/applications", json=body, headers=bearer(owner["accessToken"])
    )
    assert response.status_code == 201, response.text
    assert response.json()["type"] == "public"
    assert "clientSecret" not in response.json()


# -- the hostile cases ---------------------------------------------------------------------


async def test_a_public_client_sending_a_secret_is_invalid_client(
    app: FastAPI, client: httpx.AsyncClient, public: Client
) -> None:
    code, request = await _code(app, public)
    forged = Client(public.client_id, "a-guessed-secret", (), (), "")
    by_post = await redeem(
        client, public, code, request, client_secret="a-guessed-secret"
    )
    assert_oauth_error(by_post, "invalid_client", status=401)
    by_basic = await client.post(TOKEN, headers=forged.basic(), data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": NATIVE_URI,
        "code_verifier": request.verifier,
    })
    assert_oauth_error(by_basic, "invalid_client", status=401)
    empty = Client(public.client_id, "", (), (), "")
    by_empty_basic = await client.post(TOKEN, headers=empty.basic(), data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": NATIVE_URI,
        "code_verifier": request.verifier,
    })
    assert_oauth_error(by_empty_basic, "invalid_client", status=401)


async def test_a_public_client_using_client_credentials_is_unauthorized_client(
    app: FastAPI, client: httpx.AsyncClient, public: Client
) -> None:
    response = await client.post(
        TOKEN, data={"grant_type": "client_credentials", "client_id": public.client_id}
    )
    assert_oauth_error(response, "unauthorized_client")
    # And no administrator can allow it: it has nothing to prove who is asking.
    from tekcify_auth.server.services import client_credentials

    with pytest.raises(client_credentials.AllowanceRefused), app.state.ctx.db.write() as db:
        client_credentials.allow_client_credentials(
            db, public.client_id, ["openid"], app.state.ctx.clock()
        )


async def test_a_public_client_without_pkce_gets_invalid_request_at_its_redirect_uri(
    app: FastAPI, public: Client
) -> None:
    async with asgi_client(app) as http:
        browser = Browser(http)
        await get_code(browser, public)  # ada signs in and consents once
        for dropped in ("code_challenge", "code_challenge_method"):
            request = authorization(public, **{dropped: None})
            answer = redirect_query(await browser.get(request.url), NATIVE_URI)
            assert answer["error"] == "invalid_request", answer
            assert answer["state"] == request.params["state"]
            assert "code" not in answer
        plain = authorization(public, code_challenge_method="plain")
        assert redirect_query(await browser.get(plain.url), NATIVE_URI)["error"] == (
            "invalid_request"
        )


async def test_a_public_client_cannot_introspect(
    app: FastAPI, client: httpx.AsyncClient, public: Client
) -> None:
    code, request = await _code(app, public)
    tokens = assert_token_answer(await redeem(client, public, code, request))
    for token in (tokens["access_token"], tokens["refresh_token"]):
        form = await client.post(INTROSPECT, data={"token": token, "client_id": public.client_id})
        assert_oauth_error(form, "invalid_client", status=401)
        as_json = await client.post(
            INTROSPECT, json={"token": token, "clientId": public.client_id}
        )
        assert_oauth_error(as_json, "invalid_client", status=401)
    # It may still revoke its own tokens (RFC 7009 §2.1 lets public clients do so).
    revoked = await client.post(
        "/api/oauth/revoke",
        data={"token": tokens["refresh_token"], "client_id": public.client_id},
    )
    assert revoked.status_code == 200


# -- what it can do ------------------------------------------------------------------------


async def test_a_public_clients_refresh_tokens_rotate_with_reuse_detection(
    app: FastAPI, client: httpx.AsyncClient, public: Client
) -> None:
    code, request = await _code(app, public)
    first = assert_token_answer(await redeem(client, public, code, request))
    refresh = {"grant_type": "refresh_token", "client_id": public.client_id}
    second = assert_token_answer(
        await client.post(TOKEN, data={**refresh, "refresh_token": first["refresh_token"]})
    )
    assert second["refresh_token"] != first["refresh_token"]
    # The rotated token used again: refused, and the whole family is revoked.
    reused = await client.post(TOKEN, data={**refresh, "refresh_token": first["refresh_token"]})
    assert_oauth_error(reused, "invalid_grant")
    after = await client.post(TOKEN, data={**refresh, "refresh_token": second["refresh_token"]})
    assert_oauth_error(after, "invalid_grant")
    userinfo = await client.get("/api/oauth/userinfo", headers=bearer(second["access_token"]))
    assert userinfo.status_code == 401


# -- RFC 8252: native apps -----------------------------------------------------------------


async def test_a_private_use_scheme_redirect_uri_receives_the_code(
    app: FastAPI, client: httpx.AsyncClient, public: Client
) -> None:
    code, request = await _code(app, public)
    assert request.redirect_uri == NATIVE_URI
    assert_token_answer(await redeem(client, public, code, request))


@pytest.mark.parametrize(
    "uri",
    [
        "com.example.app:/callback", "com.example.app://callback",
        "io.github.someone.app:/oauth2redirect/provider", "net.example-vendor.app:/cb?x=1",
    ],
)
async def test_private_use_schemes_named_by_reverse_domain_are_accepted(
    client: httpx.AsyncClient, owner: str, uri: str
) -> None:
    _, answer = await create_public(client, owner, (uri,))
    assert answer["redirectUris"] == [uri]


@pytest.mark.parametrize(
    "uri",
    [
        pytest.param("javascript:/alert(1)", id="javascript"),
        pytest.param("data:/text/html,hi", id="data"),
        pytest.param("file:///etc/passwd", id="file"),
        pytest.param("myapp:/callback", id="no-dot"),
        pytest.param("Com.Example.App:/callback", id="upper-case"),
        pytest.param("com.example.app:callback", id="no-path"),
        pytest.param("com.example.app:/callback#x", id="fragment"),
        pytest.param("com.example.app:/call back", id="space"),
        pytest.param("com.example.app:/*", id="wildcard"),
        pytest.param("com.example.app://user@host/cb", id="userinfo"),
        pytest.param("ftp.example:/x%zz", id="bad-percent"),
    ],
)
async def test_other_schemes_stay_refused(
    client: httpx.AsyncClient, owner: str, uri: str
) -> None:
    body = {"name": "App", "redirectUris": [uri], "scopes": ["openid"],
            "tokenEndpointAuthMethod": "none"}
    response = await client.post("/api/applications", json=body, headers=bearer(owner))
    assert response.status_code == 400, uri
    assert "redirectUris.0" in response.json()["message"]


async def test_an_origin_cannot_use_a_private_use_scheme(
    client: httpx.AsyncClient, owner: str
) -> None:
    body = {"name": "App", "redirectUris": ["https://app.example.com/cb"], "scopes": ["openid"],
            "authorizedOrigins": ["com.example.app:/x"]}
    response = await client.post("/api/applications", json=body, headers=bearer(owner))
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("registered", "requested"),
    [
        ("http://127.0.0.1/callback", "http://127.0.0.1:49152/callback"),
        ("http://127.0.0.1:8080/callback", "http://127.0.0.1:51234/callback"),
        ("http://[::1]/callback", "http://[::1]:61000/callback"),
        ("http://[::1]:3000/callback", "http://[::1]/callback"),
    ],
)
async def test_a_loopback_redirect_uri_matches_on_any_port(
    app: FastAPI, client: httpx.AsyncClient, owner: str, registered: str, requested: str
) -> None:
    made, _ = await create_public(client, owner, (registered,))
    await register(client)
    code, request = await _code(app, made, redirect_uri=requested)
    assert_token_answer(await redeem(client, made, code, request))


@pytest.mark.parametrize(
    ("registered", "requested"),
    [
        ("http://127.0.0.1/callback", "http://127.0.0.1:49152/other"),
        ("http://127.0.0.1/callback", "http://[::1]:49152/callback"),
        ("http://[::1]/callback", "http://127.0.0.1:61000/callback"),
        ("http://127.0.0.1/callback", "https://127.0.0.1:49152/callback"),
    ],
)
async def test_a_loopback_redirect_uri_must_match_but_for_the_port(
    app: FastAPI, client: httpx.AsyncClient, owner: str, registered: str, requested: str
) -> None:
    made, _ = await create_public(client, owner, (registered,))
    async with asgi_client(app) as http:
        page = await http.get(authorization(made, redirect_uri=requested).url)
    assert page.status_code == 400
    assert "location" not in page.headers
