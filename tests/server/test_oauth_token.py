"""``POST /api/oauth/token`` with the refresh_token grant: forms, client authentication, errors."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tekcify_auth import decode_token
from tekcify_auth.server.services import grants

from .conftest import (
    FakeClock,
    OAuthApp,
    bearer,
    client_session,
    create_oauth_app,
    register,
    signed_up,
)

TOKEN = "/api/oauth/token"


def assert_oauth_error(
    response: httpx.Response, error: str, status: int = 400, message: str | None = None
) -> dict[str, Any]:
    """The RFC 6749 §5.2 shape, with ``message`` copying ``error_description``."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["error"] == error
    assert body["message"] == body["error_description"]
    if message is not None:
        assert body["message"] == message
    assert response.headers["cache-control"] == "no-store"
    return body


def assert_token_answer(response: httpx.Response) -> dict[str, Any]:
    """RFC 6749 §5.1: the token answer, never cached."""
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert set(body) - {"id_token"} == {
        "access_token", "token_type", "expires_in", "refresh_token", "scope",
    }
    # An application's session opened with openid gets an id token too (test_id_tokens.py).
    assert "id_token" not in body or "openid" in body["scope"].split()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    return body


async def test_a_first_party_refresh_token_form_encoded(client: httpx.AsyncClient) -> None:
    pair = await signed_up(client)
    response = await client.post(
        TOKEN, data={"grant_type": "refresh_token", "refresh_token": pair["refreshToken"]}
    )
    body = assert_token_answer(response)
    assert body["refresh_token"] != pair["refreshToken"]
    assert body["scope"] == "openid profile email offline_access read:profile write:profile"
    me = await client.get("/api/auth/sessions", headers=bearer(body["access_token"]))
    assert me.status_code == 200
    # The rotated token is spent: using it again is reuse, and ends the session.
    again = await client.post(
        TOKEN, data={"grant_type": "refresh_token", "refresh_token": pair["refreshToken"]}
    )
    assert_oauth_error(
        again, "invalid_grant",
        message="Refresh token already used; the session has been revoked",
    )
    gone = await client.get("/api/auth/sessions", headers=bearer(body["access_token"]))
    assert gone.status_code == 401


async def test_a_json_body_with_the_rfc_names(client: httpx.AsyncClient) -> None:
    pair = await signed_up(client)
    response = await client.post(
        TOKEN, json={"grant_type": "refresh_token", "refresh_token": pair["refreshToken"]}
    )
    assert_token_answer(response)


async def test_a_client_refreshes_with_client_secret_basic(
    client: httpx.AsyncClient, app: FastAPI, oauth_app: OAuthApp
) -> None:
    await register(client)
    issued = client_session(app, oauth_app.client_id)
    response = await client.post(
        TOKEN, data={"grant_type": "refresh_token", "refresh_token": issued.refresh_token},
        headers=oauth_app.basic(),
    )
    body = assert_token_answer(response)
    assert body["scope"] == "openid profile email"
    claims = decode_token(body["access_token"])
    assert claims is not None
    assert claims["clientId"] == oauth_app.client_id


async def test_a_client_refreshes_with_client_secret_post(
    client: httpx.AsyncClient, app: FastAPI, oauth_app: OAuthApp
) -> None:
    await register(client)
    issued = client_session(app, oauth_app.client_id)
    response = await client.post(
        TOKEN,
        data={"grant_type": "refresh_token", "refresh_token": issued.refresh_token,
              "client_id": oauth_app.client_id, "client_secret": oauth_app.client_secret or ""},
    )
    assert_token_answer(response)


async def test_basic_and_post_credentials_at_once_are_invalid_request(
    client: httpx.AsyncClient, app: FastAPI, oauth_app: OAuthApp
) -> None:
    await register(client)
    issued = client_session(app, oauth_app.client_id)
    response = await client.post(
        TOKEN,
        data={"grant_type": "refresh_token", "refresh_token": issued.refresh_token,
              "client_id": oauth_app.client_id, "client_secret": oauth_app.client_secret or ""},
        headers=oauth_app.basic(),
    )
    assert_oauth_error(response, "invalid_request")


@pytest.mark.parametrize("how", ["basic", "post"])
async def test_a_wrong_client_secret_is_401_invalid_client(
    client: httpx.AsyncClient, app: FastAPI, oauth_app: OAuthApp, how: str
) -> None:
    await register(client)
    issued = client_session(app, oauth_app.client_id)
    wrong = OAuthApp(oauth_app.client_id, "not-the-secret", oauth_app.owner_id)
    data = {"grant_type": "refresh_token", "refresh_token": issued.refresh_token}
    if how == "basic":
        response = await client.post(TOKEN, data=data, headers=wrong.basic())
    else:
        response = await client.post(
            TOKEN, data={**data, "client_id": wrong.client_id, "client_secret": "not-the-secret"}
        )
    assert_oauth_error(response, "invalid_client", status=401)
    assert response.headers["www-authenticate"].startswith("Basic ")
    # The refresh token was not touched: the right client can still use it.
    ok = await client.post(TOKEN, data=data, headers=oauth_app.basic())
    assert_token_answer(ok)


async def test_a_confidential_client_must_give_its_secret(
    client: httpx.AsyncClient, app: FastAPI, oauth_app: OAuthApp
) -> None:
    await register(client)
    issued = client_session(app, oauth_app.client_id)
    response = await client.post(
        TOKEN, data={"grant_type": "refresh_token", "refresh_token": issued.refresh_token,
                     "client_id": oauth_app.client_id},
    )
    assert_oauth_error(response, "invalid_client", status=401)


async def test_a_public_client_names_itself_without_a_secret(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    public = create_oauth_app(app, confidential=False)
    assert public.client_secret is None
    await register(client)
    issued = client_session(app, public.client_id)
    data = {"grant_type": "refresh_token", "refresh_token": issued.refresh_token,
            "client_id": public.client_id}
    assert_token_answer(await client.post(TOKEN, data=data))
    # A public client has no secret to give: one given is wrong.
    forged = await client.post(TOKEN, data={**data, "client_secret": "guess"})
    assert_oauth_error(forged, "invalid_client", status=401)


async def test_an_unknown_client_is_invalid_client(client: httpx.AsyncClient) -> None:
    pair = await signed_up(client)
    stranger = OAuthApp("no-such-client", "secret", "")
    response = await client.post(
        TOKEN, data={"grant_type": "refresh_token", "refresh_token": pair["refreshToken"]},
        headers=stranger.basic(),
    )
    assert_oauth_error(response, "invalid_client", status=401)


@pytest.mark.parametrize("path", [TOKEN, "/api/oauth/token/introspect", "/api/oauth/revoke"])
async def test_a_client_id_with_a_nul_is_invalid_client(
    client: httpx.AsyncClient, path: str
) -> None:
    # Found while fuzzing on PostgreSQL: it refuses NUL in a query, which was a 500.
    data = {"grant_type": "client_credentials", "token": "t", "client_id": "app\x00",
            "client_secret": "s"}
    assert_oauth_error(await client.post(path, data=data), "invalid_client", status=401)
    body = {"grant_type": "client_credentials"} if path == TOKEN else {"token": "t"}
    response = await client.post(path, json=body, headers=OAuthApp("app\x00", "s", "").basic())
    assert_oauth_error(response, "invalid_client", status=401)


async def test_a_malformed_basic_header_is_invalid_client(client: httpx.AsyncClient) -> None:
    pair = await signed_up(client)
    response = await client.post(
        TOKEN, data={"grant_type": "refresh_token", "refresh_token": pair["refreshToken"]},
        headers={"Authorization": "Basic %%%not-base64"},
    )
    assert_oauth_error(response, "invalid_client", status=401)


async def test_another_clients_refresh_token_is_invalid_grant(
    client: httpx.AsyncClient, app: FastAPI, oauth_app: OAuthApp
) -> None:
    pair = await signed_up(client)
    other = create_oauth_app(app, owner_email="other-owner@example.com")
    issued = client_session(app, other.client_id)
    # A client's token, by another client...
    response = await client.post(
        TOKEN, data={"grant_type": "refresh_token", "refresh_token": issued.refresh_token},
        headers=oauth_app.basic(),
    )
    assert_oauth_error(response, "invalid_grant", message="Invalid refresh token")
    # ...and a first-party token, by a client.
    response = await client.post(
        TOKEN, data={"grant_type": "refresh_token", "refresh_token": pair["refreshToken"]},
        headers=oauth_app.basic(),
    )
    assert_oauth_error(response, "invalid_grant", message="Invalid refresh token")


async def test_an_expired_refresh_token_is_invalid_grant(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    pair = await signed_up(client)
    clock.advance(30 * 86_400)
    response = await client.post(
        TOKEN, data={"grant_type": "refresh_token", "refresh_token": pair["refreshToken"]}
    )
    assert_oauth_error(response, "invalid_grant", message="Refresh token expired")


async def test_the_scope_parameter_must_be_the_granted_scope(
    client: httpx.AsyncClient, app: FastAPI, oauth_app: OAuthApp
) -> None:
    await register(client)
    issued = client_session(app, oauth_app.client_id, scopes=("openid", "email"))
    data = {"grant_type": "refresh_token", "refresh_token": issued.refresh_token}
    for scope in ("openid", "openid email profile"):
        response = await client.post(
            TOKEN, data={**data, "scope": scope}, headers=oauth_app.basic()
        )
        assert_oauth_error(response, "invalid_scope")
    # The refusals rolled the rotation back: the token is still the family's head.
    response = await client.post(
        TOKEN, data={**data, "scope": "email openid"}, headers=oauth_app.basic()
    )
    assert assert_token_answer(response)["scope"] == "openid email"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"refresh_token": "x"}, "Missing parameter: grant_type"),
        ({"grant_type": "refresh_token"}, "Missing parameter: refresh_token"),
        ({"grant_type": "refresh_token", "refresh_token": ""}, "Missing parameter: refresh_token"),
    ],
)
async def test_missing_parameters_are_invalid_request(
    client: httpx.AsyncClient, data: dict[str, str], message: str
) -> None:
    response = await client.post(TOKEN, data=data)
    assert_oauth_error(response, "invalid_request", message=message)


async def test_an_unknown_grant_type_is_unsupported(client: httpx.AsyncClient) -> None:
    response = await client.post(TOKEN, data={"grant_type": "password", "username": "a"})
    assert_oauth_error(response, "unsupported_grant_type")


async def test_an_unknown_refresh_token_is_invalid_grant(client: httpx.AsyncClient) -> None:
    response = await client.post(
        TOKEN, data={"grant_type": "refresh_token", "refresh_token": "made-up"}
    )
    assert_oauth_error(response, "invalid_grant", message="Invalid refresh token")


async def test_a_repeated_form_parameter_is_invalid_request(client: httpx.AsyncClient) -> None:
    response = await client.post(
        TOKEN, content=b"grant_type=refresh_token&refresh_token=a&refresh_token=b",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert_oauth_error(response, "invalid_request", message="Parameter refresh_token is repeated")


async def test_unknown_form_parameters_are_ignored(client: httpx.AsyncClient) -> None:
    pair = await signed_up(client)
    response = await client.post(
        TOKEN, data={"grant_type": "refresh_token", "refresh_token": pair["refreshToken"],
                     "something_else": "1"},
    )
    assert_token_answer(response)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"grant_type": "refresh_token", "refresh_token": "a", "extra": 1}, "Unknown field: extra"),
        ({"grant_type": "refresh_token", "refresh_token": 5},
         "Invalid field refresh_token: expected a string"),
        (["grant_type"], "The request body must be a JSON object"),
    ],
)
async def test_bad_json_bodies_are_invalid_request(
    client: httpx.AsyncClient, body: Any, message: str
) -> None:
    response = await client.post(TOKEN, json=body)
    assert_oauth_error(response, "invalid_request", message=message)


async def test_malformed_json_and_other_media_types_are_invalid_request(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        TOKEN, content=b"{not json", headers={"content-type": "application/json"}
    )
    assert_oauth_error(response, "invalid_request", message="Malformed JSON body")
    response = await client.post(
        TOKEN, content=b"grant_type=refresh_token", headers={"content-type": "text/plain"}
    )
    assert_oauth_error(response, "invalid_request")


async def test_a_registered_grant_is_dispatched_with_its_json_parameters(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[grants.TokenRequest] = []

    def handler(_ctx: object, request: grants.TokenRequest) -> grants.IssuedTokens:
        seen.append(request)
        return grants.IssuedTokens("an-access-token", 60, "openid")

    monkeypatch.setitem(
        grants.GRANTS, "urn:test:echo", grants.Grant("urn:test:echo", frozenset({"code"}), handler)
    )
    response = await client.post(TOKEN, json={"grant_type": "urn:test:echo", "code": "abc"})
    assert response.status_code == 200
    assert response.json() == {
        "access_token": "an-access-token", "token_type": "Bearer", "expires_in": 60,
        "scope": "openid",
    }
    assert seen[0].params == {"grant_type": "urn:test:echo", "code": "abc"}
    assert seen[0].client is None
