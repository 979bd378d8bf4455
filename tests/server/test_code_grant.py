"""``grant_type=authorization_code``: single use, binding, PKCE, lifetime, one winner.

Every failed redemption is a named test: wrong, missing or malformed verifier; a code
used twice (which revokes the tokens of its first use), by another client (which
changes nothing, spent or not), with
another redirect URI, after 60 seconds. Concurrent redemptions: exactly one 200.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from tekcify_auth import decode_token, verify_access_token
from tekcify_auth.server.db.models import RefreshToken
from tekcify_auth.server.db.oauth import AuthorizationCode

from .conftest import (
    FakeClock,
    asgi_client,
    bearer,
    login,
    make_settings,
    register,
    running,
)
from .test_authorize import (
    LOOPBACK_URI,
    TOKEN,
    Authorization,
    Browser,
    Client,
    authorization,
    get_code,
    make_client,
    redeem,
)
from .test_oauth_token import assert_oauth_error, assert_token_answer


@pytest.fixture
async def ada(client: httpx.AsyncClient) -> dict[str, Any]:
    """The registered user ada@example.com."""
    return await register(client)


@pytest.fixture
def oauth_client(app: FastAPI) -> Client:
    """A confidential application."""
    return make_client(app)


@pytest.fixture
async def issued(
    app: FastAPI, ada: dict[str, Any], oauth_client: Client
) -> tuple[str, Authorization]:
    """A fresh code of ``oauth_client`` for ada and its authorization request."""
    async with asgi_client(app) as http:
        return await get_code(Browser(http), oauth_client)


async def assert_spent(
    client: httpx.AsyncClient, oauth_client: Client, code: str, request: Authorization
) -> None:
    """The right redemption now fails too: the code was spent by the failed one."""
    again = await redeem(client, oauth_client, code, request)
    assert_oauth_error(again, "invalid_grant")


async def test_a_code_becomes_an_access_and_a_refresh_token(
    client: httpx.AsyncClient, oauth_client: Client, issued: tuple[str, Authorization],
    ada: dict[str, Any],
) -> None:
    code, request = issued
    response = await redeem(client, oauth_client, code, request)
    body = assert_token_answer(response)
    assert body["scope"] == "openid profile email offline_access"
    claims = decode_token(body["access_token"])
    assert claims is not None
    assert claims["sub"] == ada["userId"]
    assert claims["clientId"] == oauth_client.client_id
    assert claims["scopes"] == ["openid", "profile", "email", "offline_access"]
    assert claims["sid"]
    # The refresh token belongs to the client.
    refreshed = await client.post(
        TOKEN, data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"]},
        headers=oauth_client.basic(),
    )
    assert_token_answer(refreshed)
    # The user sees the session among theirs.
    me = await client.get("/api/oauth/userinfo", headers=bearer(body["access_token"]))
    assert me.status_code == 200


async def test_without_offline_access_an_application_gets_no_refresh_token(
    app: FastAPI, client: httpx.AsyncClient, oauth_client: Client, clock: FakeClock,
    ada: dict[str, Any],
) -> None:
    # OIDC Core §11: only offline_access gets a third-party application a refresh token.
    async with asgi_client(app) as http:
        code, request = await get_code(
            Browser(http), oauth_client, authorization(oauth_client, scope="openid profile")
        )
    response = await redeem(client, oauth_client, code, request)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope", "id_token"}
    assert body["scope"] == "openid profile"
    claims = decode_token(body["access_token"])
    assert claims is not None
    # No refresh token is stored for its session, which ends with the access token.
    ctx = app.state.ctx
    with ctx.db.read() as db:
        stored = db.execute(
            select(RefreshToken).where(RefreshToken.session_id == claims["sid"])
        ).scalars().all()
    assert stored == []
    first_party = await login(client)
    listed = await client.get("/api/auth/sessions", headers=bearer(first_party["accessToken"]))
    assert claims["sid"] in {entry["id"] for entry in listed.json()["sessions"]}
    clock.advance(900)
    fresh = await login(client)
    listed = await client.get("/api/auth/sessions", headers=bearer(fresh["accessToken"]))
    assert claims["sid"] not in {entry["id"] for entry in listed.json()["sessions"]}


async def test_with_offline_access_the_refresh_token_works(
    app: FastAPI, client: httpx.AsyncClient, oauth_client: Client, ada: dict[str, Any]
) -> None:
    async with asgi_client(app) as http:
        code, request = await get_code(
            Browser(http), oauth_client,
            authorization(oauth_client, scope="openid offline_access"),
        )
    body = assert_token_answer(await redeem(client, oauth_client, code, request))
    refreshed = await client.post(
        TOKEN, data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"]},
        headers=oauth_client.basic(),
    )
    assert assert_token_answer(refreshed)["scope"] == "openid offline_access"


async def test_client_secret_post_works_too(
    client: httpx.AsyncClient, oauth_client: Client, issued: tuple[str, Authorization]
) -> None:
    code, request = issued
    response = await client.post(
        TOKEN,
        data={
            "grant_type": "authorization_code", "code": code,
            "redirect_uri": request.redirect_uri, "code_verifier": request.verifier,
            "client_id": oauth_client.client_id, "client_secret": oauth_client.client_secret,
        },
    )
    assert_token_answer(response)


async def test_a_json_body_works_too(
    client: httpx.AsyncClient, oauth_client: Client, issued: tuple[str, Authorization]
) -> None:
    code, request = issued
    response = await client.post(
        TOKEN,
        json={
            "grant_type": "authorization_code", "code": code,
            "redirect_uri": request.redirect_uri, "code_verifier": request.verifier,
        },
        headers=oauth_client.basic(),
    )
    assert_token_answer(response)


async def test_a_public_client_names_itself_with_client_id(
    app: FastAPI, client: httpx.AsyncClient, ada: dict[str, Any]
) -> None:
    public = make_client(app, confidential=False, name="Single page app")
    async with asgi_client(app) as http:
        code, request = await get_code(Browser(http), public)
    assert_token_answer(await redeem(client, public, code, request))


async def test_basic_and_post_credentials_at_once_are_refused(
    client: httpx.AsyncClient, oauth_client: Client, issued: tuple[str, Authorization]
) -> None:
    code, request = issued
    response = await redeem(
        client, oauth_client, code, request, client_id=oauth_client.client_id,
        client_secret=oauth_client.client_secret or "",
    )
    assert_oauth_error(response, "invalid_request")


async def test_a_confidential_client_without_its_secret_is_invalid_client(
    client: httpx.AsyncClient, oauth_client: Client, issued: tuple[str, Authorization]
) -> None:
    code, request = issued
    response = await client.post(
        TOKEN,
        data={
            "grant_type": "authorization_code", "code": code, "client_id": oauth_client.client_id,
            "redirect_uri": request.redirect_uri, "code_verifier": request.verifier,
        },
    )
    assert_oauth_error(response, "invalid_client", 401)
    # Client authentication failed before the code was looked at: it still works.
    assert_token_answer(await redeem(client, oauth_client, code, request))


async def test_no_client_at_all_is_invalid_client(
    client: httpx.AsyncClient, issued: tuple[str, Authorization]
) -> None:
    code, request = issued
    response = await client.post(
        TOKEN,
        data={
            "grant_type": "authorization_code", "code": code,
            "redirect_uri": request.redirect_uri, "code_verifier": request.verifier,
        },
    )
    assert_oauth_error(response, "invalid_client", 401)


async def test_an_unknown_code_is_invalid_grant(
    client: httpx.AsyncClient, oauth_client: Client, issued: tuple[str, Authorization]
) -> None:
    _code, request = issued
    response = await redeem(client, oauth_client, secrets.token_urlsafe(32), request)
    assert_oauth_error(response, "invalid_grant", message="Invalid authorization code")


async def test_the_code_is_stored_only_as_its_hash(
    app: FastAPI, issued: tuple[str, Authorization]
) -> None:
    code, _request = issued
    with app.state.ctx.db.read() as db:
        rows = db.execute(select(AuthorizationCode)).scalars().all()
    assert len(rows) == 1
    assert code not in {rows[0].code_hash, rows[0].id}
    assert len(rows[0].code_hash) == 64


# -- PKCE ----------------------------------------------------------------------------------


async def test_a_wrong_verifier_is_invalid_grant_and_burns_the_code(
    client: httpx.AsyncClient, oauth_client: Client, issued: tuple[str, Authorization]
) -> None:
    code, request = issued
    response = await redeem(
        client, oauth_client, code, request, code_verifier=secrets.token_urlsafe(48)
    )
    assert_oauth_error(
        response, "invalid_grant", message="code_verifier does not match the code_challenge"
    )
    await assert_spent(client, oauth_client, code, request)


@pytest.mark.parametrize(
    "verifier",
    [
        pytest.param("short", id="too-short"),
        pytest.param("a" * 129, id="too-long"),
        pytest.param("a" * 42 + "!", id="bad-character"),
        pytest.param("a" * 42 + " ", id="space"),
    ],
)
async def test_a_malformed_verifier_is_invalid_grant_and_burns_the_code(
    client: httpx.AsyncClient, oauth_client: Client, issued: tuple[str, Authorization],
    verifier: str,
) -> None:
    code, request = issued
    response = await redeem(client, oauth_client, code, request, code_verifier=verifier)
    body = assert_oauth_error(response, "invalid_grant")
    assert "RFC 7636" in body["message"]
    await assert_spent(client, oauth_client, code, request)


async def test_the_challenge_itself_is_not_a_verifier(
    client: httpx.AsyncClient, oauth_client: Client, issued: tuple[str, Authorization]
) -> None:
    code, request = issued
    response = await redeem(
        client, oauth_client, code, request, code_verifier=request.params["code_challenge"]
    )
    assert_oauth_error(response, "invalid_grant")


async def test_a_missing_verifier_is_invalid_request_and_spends_nothing(
    client: httpx.AsyncClient, oauth_client: Client, issued: tuple[str, Authorization]
) -> None:
    code, request = issued
    response = await client.post(
        TOKEN,
        data={"grant_type": "authorization_code", "code": code,
              "redirect_uri": request.redirect_uri},
        headers=oauth_client.basic(),
    )
    assert_oauth_error(response, "invalid_request", message="Missing parameter: code_verifier")
    assert_token_answer(await redeem(client, oauth_client, code, request))


# -- single use ----------------------------------------------------------------------------


async def test_a_code_used_twice_is_refused_and_revokes_the_first_tokens(
    client: httpx.AsyncClient, oauth_client: Client, issued: tuple[str, Authorization]
) -> None:
    code, request = issued
    first = assert_token_answer(await redeem(client, oauth_client, code, request))
    second = await redeem(client, oauth_client, code, request)
    assert_oauth_error(
        second, "invalid_grant",
        message="Authorization code already used; the tokens issued with it have been revoked",
    )
    # The first redemption's session is revoked: its refresh token and access token die.
    refreshed = await client.post(
        TOKEN, data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
        headers=oauth_client.basic(),
    )
    assert_oauth_error(refreshed, "invalid_grant")
    me = await client.get("/api/oauth/userinfo", headers=bearer(first["access_token"]))
    assert me.status_code == 401
    status = await client.post(
        "/api/oauth/token/introspect", data={"token": first["access_token"]}
    )
    assert status.json() == {"active": False}


async def test_a_code_by_another_client_is_refused_and_left_alone(
    app: FastAPI, client: httpx.AsyncClient, oauth_client: Client,
    issued: tuple[str, Authorization],
) -> None:
    code, request = issued
    thief = make_client(app, name="Thief")
    response = await redeem(client, thief, code, request)
    # The answer of an unknown code: the thief learns nothing about it...
    assert_oauth_error(response, "invalid_grant", message="Invalid authorization code")
    # ...and burns nothing: the code's own client still redeems it.
    assert_token_answer(await redeem(client, oauth_client, code, request))


async def test_another_client_replaying_a_spent_code_revokes_nothing(
    app: FastAPI, client: httpx.AsyncClient, oauth_client: Client,
    issued: tuple[str, Authorization],
) -> None:
    code, request = issued
    first = assert_token_answer(await redeem(client, oauth_client, code, request))
    thief = make_client(app, name="Thief")
    replay = await redeem(client, thief, code, request)
    # Plain invalid_grant, not "already used": and the victim's session lives on.
    assert_oauth_error(replay, "invalid_grant", message="Invalid authorization code")
    status = await client.post(
        "/api/oauth/token/introspect", data={"token": first["access_token"]}
    )
    assert status.json()["active"] is True
    refreshed = await client.post(
        TOKEN, data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
        headers=oauth_client.basic(),
    )
    assert_token_answer(refreshed)
    # The code's own client replaying it is still reuse, and revokes.
    again = await redeem(client, oauth_client, code, request)
    assert_oauth_error(
        again, "invalid_grant",
        message="Authorization code already used; the tokens issued with it have been revoked",
    )


async def test_a_code_by_a_public_client_that_is_not_its_own_is_refused(
    app: FastAPI, client: httpx.AsyncClient, oauth_client: Client,
    issued: tuple[str, Authorization],
) -> None:
    code, request = issued
    public = make_client(app, name="Public", confidential=False)
    assert_oauth_error(await redeem(client, public, code, request), "invalid_grant")


async def test_a_code_with_another_redirect_uri_is_refused_and_burnt(
    client: httpx.AsyncClient, oauth_client: Client, issued: tuple[str, Authorization]
) -> None:
    code, request = issued
    response = await redeem(client, oauth_client, code, request, redirect_uri=LOOPBACK_URI)
    assert_oauth_error(
        response, "invalid_grant",
        message="redirect_uri differs from the one of the authorization request",
    )
    await assert_spent(client, oauth_client, code, request)


async def test_a_loopback_code_is_bound_to_the_port_of_its_request(
    app: FastAPI, client: httpx.AsyncClient, oauth_client: Client, ada: dict[str, Any]
) -> None:
    request = authorization(oauth_client, redirect_uri="http://127.0.0.1:40001/callback")
    async with asgi_client(app) as http:
        code, _ = await get_code(Browser(http), oauth_client, request)
    other_port = await redeem(
        client, oauth_client, code, request, redirect_uri="http://127.0.0.1:40002/callback"
    )
    assert_oauth_error(other_port, "invalid_grant")


# -- lifetime ------------------------------------------------------------------------------


async def test_a_code_after_60_seconds_is_refused(
    client: httpx.AsyncClient, oauth_client: Client, issued: tuple[str, Authorization],
    clock: FakeClock,
) -> None:
    code, request = issued
    clock.advance(60)
    response = await redeem(client, oauth_client, code, request)
    assert_oauth_error(response, "invalid_grant", message="Authorization code expired")


async def test_a_code_just_before_60_seconds_is_accepted(
    client: httpx.AsyncClient, oauth_client: Client, issued: tuple[str, Authorization],
    clock: FakeClock,
) -> None:
    code, request = issued
    clock.advance(59)
    assert_token_answer(await redeem(client, oauth_client, code, request))


async def test_the_code_lifetime_is_a_setting(
    database_url: str, tmp_path: Any, clock: FakeClock, clean_db: str
) -> None:
    settings = make_settings(
        database_url=database_url, data_dir=tmp_path / "d", authorization_code_ttl=10
    )
    async with running(settings, clock) as (app, client):
        await register(client)
        oauth_client = make_client(app)
        code, request = await get_code(Browser(client), oauth_client)
        clock.advance(10)
        expired = await redeem(client, oauth_client, code, request)
        assert_oauth_error(expired, "invalid_grant", message="Authorization code expired")


def test_the_code_lifetime_cannot_exceed_60_seconds() -> None:
    from tekcify_auth.server.settings import SettingsError, load_settings

    with pytest.raises(SettingsError, match="TEKCIFY_AUTHORIZATION_CODE_TTL"):
        load_settings({"TEKCIFY_AUTHORIZATION_CODE_TTL": "61"})


# -- concurrency ---------------------------------------------------------------------------


async def test_concurrent_redemptions_have_exactly_one_winner(
    app: FastAPI, client: httpx.AsyncClient, oauth_client: Client,
    issued: tuple[str, Authorization],
) -> None:
    code, request = issued
    answers = await asyncio.gather(
        *(redeem(client, oauth_client, code, request) for _ in range(8))
    )
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200] + [400] * 7, [a.text for a in answers]
    for answer in answers:
        if answer.status_code == 400:
            assert answer.json()["error"] == "invalid_grant"
    # Every loser was a second use: the winner's tokens are revoked too.
    [winner] = [answer.json() for answer in answers if answer.status_code == 200]
    status = await client.post(
        "/api/oauth/token/introspect", data={"token": winner["access_token"]}
    )
    assert status.json() == {"active": False}
    with app.state.ctx.db.read() as db:
        row = db.execute(select(AuthorizationCode)).scalar_one()
    assert row.used_at is not None
    assert row.session_id is not None


async def test_concurrent_wrong_and_right_verifiers_never_both_win(
    client: httpx.AsyncClient, oauth_client: Client, issued: tuple[str, Authorization]
) -> None:
    code, request = issued
    answers = await asyncio.gather(
        redeem(client, oauth_client, code, request, code_verifier=secrets.token_urlsafe(48)),
        redeem(client, oauth_client, code, request),
        redeem(client, oauth_client, code, request, code_verifier=secrets.token_urlsafe(48)),
    )
    assert sum(answer.status_code == 200 for answer in answers) <= 1


# -- what the code's tokens are ------------------------------------------------------------


async def test_a_disabled_account_cannot_redeem_its_code(
    app: FastAPI, client: httpx.AsyncClient, oauth_client: Client,
    issued: tuple[str, Authorization],
) -> None:
    from tekcify_auth.server.services import accounts

    code, request = issued
    ctx = app.state.ctx
    with ctx.db.write() as db:
        accounts.disable_user(db, ctx, "ada@example.com")
    response = await redeem(client, oauth_client, code, request)
    assert_oauth_error(response, "invalid_grant")


async def test_deleting_the_application_deletes_its_codes(
    app: FastAPI, client: httpx.AsyncClient, oauth_client: Client,
    issued: tuple[str, Authorization],
) -> None:
    from tekcify_auth.server.services import applications

    code, request = issued
    ctx = app.state.ctx
    with ctx.db.write() as db:
        owner = applications.find_application(db, oauth_client.client_id)
        assert owner is not None
        applications.delete_application(db, owner.owner_id, oauth_client.client_id, ctx.clock())
    response = await redeem(client, oauth_client, code, request)
    assert_oauth_error(response, "invalid_client", 401)
    with ctx.db.read() as db:
        assert db.execute(select(AuthorizationCode)).first() is None


async def test_an_applications_tokens_name_it_in_their_audience(
    app: FastAPI, client: httpx.AsyncClient, oauth_client: Client,
    issued: tuple[str, Authorization],
) -> None:
    # Issue 10 item 5: with aud "tekcify-api" alone, app B's backend accepted app A's
    # tokens. The configured audience stays first, so a verifier that checks that one
    # of the audiences matches (the Node package's) keeps accepting them.
    code, request = issued
    body = assert_token_answer(await redeem(client, oauth_client, code, request))
    refreshed = assert_token_answer(await client.post(
        TOKEN, data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"]},
        headers=oauth_client.basic(),
    ))
    secret = app.state.ctx.settings.secret_file.read_text().strip()
    for token in (body["access_token"], refreshed["access_token"]):
        claims = decode_token(token)
        assert claims is not None
        assert claims["aud"] == ["tekcify-api", oauth_client.client_id]
        assert verify_access_token(token, secret=secret).valid
        mine = verify_access_token(token, secret=secret, clients=[oauth_client.client_id])
        assert mine.valid
        theirs = verify_access_token(token, secret=secret, clients=["another-client"])
        assert theirs.error == "wrong_client"
