"""CORS on the token, introspection, revocation and UserInfo endpoints.

Browsers at an application's authorized origins may call them (the token endpoint and
its siblings: only the authenticating client's origins); nobody else's origin ever
gets ``Access-Control-Allow-Origin``; every answer varies on ``Origin``.
"""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from .conftest import allow_client_credentials, bearer, signed_up
from .test_authorize import TOKEN, Client, make_client

APP_ORIGIN = "https://app.example.com"
OTHER_APP_ORIGIN = "http://localhost:5173"
STRANGER = "https://evil.example"
ENDPOINTS = {
    "/api/oauth/token": "POST",
    "/api/oauth/token/introspect": "POST",
    "/api/oauth/revoke": "POST",
    "/api/oauth/userinfo": "GET, POST",
}


@pytest.fixture
def spa(app: FastAPI) -> Client:
    """A confidential application whose page runs at APP_ORIGIN (allowed client_credentials)."""
    made = make_client(app, origins=(APP_ORIGIN,))
    allow_client_credentials(app, made.client_id)
    return made


@pytest.fixture
def other_spa(app: FastAPI) -> Client:
    """Another application, at OTHER_APP_ORIGIN."""
    return make_client(app, name="Other", origins=(OTHER_APP_ORIGIN,))


def assert_no_cors(response: httpx.Response) -> None:
    assert "access-control-allow-origin" not in response.headers
    assert "origin" in response.headers["vary"].lower()


async def preflight(client: httpx.AsyncClient, path: str, origin: str) -> httpx.Response:
    return await client.options(
        path,
        headers={
            "Origin": origin, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )


@pytest.mark.parametrize("path", list(ENDPOINTS))
async def test_a_preflight_from_an_applications_origin_is_allowed(
    client: httpx.AsyncClient, spa: Client, path: str
) -> None:
    response = await preflight(client, path, APP_ORIGIN)
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == APP_ORIGIN
    assert response.headers["access-control-allow-methods"] == ENDPOINTS[path]
    allowed = response.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed
    assert "content-type" in allowed
    assert int(response.headers["access-control-max-age"]) > 0
    assert "access-control-allow-credentials" not in response.headers
    assert "origin" in response.headers["vary"].lower()


@pytest.mark.parametrize("path", list(ENDPOINTS))
@pytest.mark.parametrize(
    "origin",
    [STRANGER, "null", "https://app.example.com.evil.example", "https://APP.example.com",
     "https://app.example.com:444", "http://app.example.com", '"https://app.example.com"',
     "https://app.example.com/"],
)
async def test_a_preflight_from_any_other_origin_gets_no_cors_headers(
    client: httpx.AsyncClient, spa: Client, path: str, origin: str
) -> None:
    response = await preflight(client, path, origin)
    assert_no_cors(response)
    assert "access-control-allow-methods" not in response.headers


async def test_the_token_endpoint_answers_the_authenticating_clients_origin(
    client: httpx.AsyncClient, spa: Client
) -> None:
    response = await client.post(
        TOKEN, data={"grant_type": "client_credentials"},
        headers={**spa.basic(), "Origin": APP_ORIGIN},
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == APP_ORIGIN
    assert "www-authenticate" in response.headers["access-control-expose-headers"].lower()
    assert "origin" in response.headers["vary"].lower()


async def test_an_error_of_the_authenticated_client_is_readable_too(
    client: httpx.AsyncClient, spa: Client
) -> None:
    response = await client.post(
        TOKEN, data={"grant_type": "authorization_code", "code": "x"},
        headers={**spa.basic(), "Origin": APP_ORIGIN},
    )
    assert response.status_code == 400
    assert response.headers["access-control-allow-origin"] == APP_ORIGIN


async def test_the_token_endpoint_refuses_another_applications_origin(
    client: httpx.AsyncClient, spa: Client, other_spa: Client
) -> None:
    # OTHER_APP_ORIGIN is registered, but for another client than the one authenticating.
    response = await client.post(
        TOKEN, data={"grant_type": "client_credentials"},
        headers={**spa.basic(), "Origin": OTHER_APP_ORIGIN},
    )
    assert response.status_code == 200
    assert_no_cors(response)


async def test_the_token_endpoint_refuses_a_strangers_origin(
    client: httpx.AsyncClient, spa: Client
) -> None:
    response = await client.post(
        TOKEN, data={"grant_type": "client_credentials"},
        headers={**spa.basic(), "Origin": STRANGER},
    )
    assert_no_cors(response)


async def test_no_client_means_no_cors(client: httpx.AsyncClient, spa: Client) -> None:
    pair = await signed_up(client)
    response = await client.post(
        TOKEN, data={"grant_type": "refresh_token", "refresh_token": pair["refreshToken"]},
        headers={"Origin": APP_ORIGIN},
    )
    assert response.status_code == 200
    assert_no_cors(response)


async def test_a_failed_client_authentication_gets_no_cors(
    client: httpx.AsyncClient, spa: Client
) -> None:
    wrong = Client(spa.client_id, "wrong secret", (), (), "")
    response = await client.post(
        TOKEN, data={"grant_type": "client_credentials"},
        headers={**wrong.basic(), "Origin": APP_ORIGIN},
    )
    assert response.status_code == 401
    assert_no_cors(response)


@pytest.mark.parametrize("path", ["/api/oauth/token/introspect", "/api/oauth/revoke"])
async def test_introspection_and_revocation_answer_their_clients_origin_only(
    client: httpx.AsyncClient, spa: Client, other_spa: Client, path: str
) -> None:
    mine = await client.post(
        path, data={"token": "x"}, headers={**spa.basic(), "Origin": APP_ORIGIN}
    )
    assert mine.status_code == 200
    assert mine.headers["access-control-allow-origin"] == APP_ORIGIN
    theirs = await client.post(
        path, data={"token": "x"}, headers={**spa.basic(), "Origin": OTHER_APP_ORIGIN}
    )
    assert_no_cors(theirs)
    anonymous = await client.post(path, data={"token": "x"}, headers={"Origin": APP_ORIGIN})
    assert_no_cors(anonymous)


async def test_userinfo_answers_any_applications_origin(
    client: httpx.AsyncClient, spa: Client, other_spa: Client
) -> None:
    pair = await signed_up(client)
    for origin in (APP_ORIGIN, OTHER_APP_ORIGIN):
        response = await client.get(
            "/api/oauth/userinfo", headers={**bearer(pair["accessToken"]), "Origin": origin}
        )
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == origin
    # A 401 is readable too, so the application can tell the token is bad.
    refused = await client.get(
        "/api/oauth/userinfo", headers={**bearer("nope"), "Origin": APP_ORIGIN}
    )
    assert refused.status_code == 401
    assert refused.headers["access-control-allow-origin"] == APP_ORIGIN
    stranger = await client.get(
        "/api/oauth/userinfo", headers={**bearer(pair["accessToken"]), "Origin": STRANGER}
    )
    assert stranger.status_code == 200
    assert_no_cors(stranger)


async def test_every_answer_varies_on_origin(client: httpx.AsyncClient, spa: Client) -> None:
    response = await client.post(TOKEN, data={"grant_type": "client_credentials"},
                                 headers=spa.basic())
    assert "origin" in response.headers["vary"].lower()
    assert "access-control-allow-origin" not in response.headers


async def test_other_endpoints_get_no_cors(client: httpx.AsyncClient, spa: Client) -> None:
    for path in ("/api/auth/login", "/api/applications", "/api/oauth/authorize"):
        response = await preflight(client, path, APP_ORIGIN)
        assert "access-control-allow-origin" not in response.headers, path


async def test_a_deleted_applications_origin_is_no_longer_allowed(
    app: FastAPI, client: httpx.AsyncClient, spa: Client
) -> None:
    from tekcify_auth.server.services import applications

    ctx = app.state.ctx
    with ctx.db.write() as db:
        row = applications.find_application(db, spa.client_id)
        assert row is not None
        applications.delete_application(db, row.owner_id, spa.client_id, ctx.clock())
    response = await preflight(client, "/api/oauth/token", APP_ORIGIN)
    assert_no_cors(response)
