"""Access-token claims and refresh-token rotation, reuse detection and retry grace."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from tekcify_auth import decode_token, verify_access_token
from tekcify_auth.server.context import ServerContext
from tekcify_auth.server.db.models import RefreshToken, User, UserSession
from tekcify_auth.server.services import tokens as token_service

from .conftest import (
    FakeClock,
    bearer,
    make_settings,
    running,
    signed_up,
)


async def refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/api/auth/refresh", json={"refreshToken": token})


def live_families(ctx: ServerContext) -> int:
    """Unrotated refresh tokens of sessions that are not revoked (at most one per login)."""
    with ctx.db.read() as db:
        return int(
            db.execute(
                select(func.count())
                .select_from(RefreshToken)
                .join(UserSession, RefreshToken.session_id == UserSession.id)
                .where(RefreshToken.rotated_at.is_(None), UserSession.revoked_at.is_(None))
            ).scalar_one()
        )


def session_revoked(ctx: ServerContext) -> bool:
    with ctx.db.read() as db:
        return db.execute(select(UserSession.revoked_at)).scalar_one() is not None


async def test_access_token_has_every_claim_and_verifies_with_the_persisted_secret(
    client: httpx.AsyncClient, settings: Any, clock: FakeClock
) -> None:
    pair = await signed_up(client)
    secret = (Path(settings.data_dir) / "jwt_access_secret").read_text().strip()
    result = verify_access_token(pair["accessToken"], secret=secret)
    assert result.valid, result.error
    claims = result.payload
    assert set(claims) == {
        "iss", "aud", "sub", "type", "scopes", "email", "role", "sid", "jti", "iat", "exp",
        "amr",
    }
    assert claims["amr"] == ["pwd"]
    assert claims["iss"] == "tekcify-auth"
    assert claims["aud"] == "tekcify-api"
    assert claims["type"] == "access"
    assert claims["email"] == "ada@example.com"
    assert claims["role"] == "user"
    assert "read:profile" in claims["scopes"]
    assert claims["iat"] == int(clock.now.timestamp())
    assert claims["exp"] - claims["iat"] == 900
    assert verify_access_token(pair["accessToken"], secret="another secret").error == (
        "bad_signature"
    )


async def test_issuer_audience_and_lifetime_follow_the_settings(
    clean_db: str, tmp_path: Path, clock: FakeClock
) -> None:
    settings = make_settings(
        database_url=clean_db, data_dir=tmp_path, issuer="https://auth.example.com",
        audience="orders-api", access_token_ttl=60, jwt_access_secret="s" * 40,
    )
    async with running(settings, clock) as (_app, client):
        pair = await signed_up(client)
        assert pair["expiresIn"] == 60
        token = pair["accessToken"]
        assert verify_access_token(token, secret="s" * 40).error == "wrong_issuer"
        assert verify_access_token(
            token, secret="s" * 40, issuer="https://auth.example.com"
        ).error == "wrong_audience"
        assert verify_access_token(
            token, secret="s" * 40, issuer="https://auth.example.com", audience="orders-api"
        ).valid
        # With JWT_ACCESS_SECRET set, no secret file is made.
        assert not (Path(tmp_path) / "jwt_access_secret").exists()


async def test_a_token_for_another_audience_is_refused_by_the_server(
    client: httpx.AsyncClient, settings: Any
) -> None:
    from tekcify_auth.testing import mint_access_token

    pair = await signed_up(client)
    claims = decode_token(pair["accessToken"])
    assert claims is not None
    secret = (Path(settings.data_dir) / "jwt_access_secret").read_text().strip()
    foreign = mint_access_token(
        claims["sub"], secret=secret, audience="another-api", sid=claims["sid"]
    )
    response = await client.get("/api/auth/sessions", headers=bearer(foreign))
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert (await client.get("/api/auth/sessions", headers=bearer(pair["accessToken"]))
            ).status_code == 200


async def test_refresh_rotates_both_tokens(client: httpx.AsyncClient, app: FastAPI) -> None:
    pair = await signed_up(client)
    response = await refresh(client, pair["refreshToken"])
    assert response.status_code == 200
    new = response.json()
    assert new["refreshToken"] != pair["refreshToken"]
    assert new["accessToken"] != pair["accessToken"]
    assert new["tokenType"] == "Bearer"
    assert response.headers["cache-control"] == "no-store"
    assert len(new["refreshToken"]) >= 43  # 256 bits, base64url
    old_claims, new_claims = decode_token(pair["accessToken"]), decode_token(new["accessToken"])
    assert old_claims is not None
    assert new_claims is not None
    assert new_claims["sid"] == old_claims["sid"]
    assert new_claims["jti"] != old_claims["jti"]
    assert (await refresh(client, new["refreshToken"])).status_code == 200
    assert live_families(app.state.ctx) == 1


async def test_refresh_tokens_are_stored_only_as_hashes(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    pair = await signed_up(client)
    with app.state.ctx.db.read() as db:
        stored = db.execute(select(RefreshToken.token_hash)).scalar_one()
    assert stored == token_service.hash_token(pair["refreshToken"])
    assert pair["refreshToken"] not in stored


async def test_a_reused_refresh_token_revokes_the_whole_session(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    pair = await signed_up(client)
    new = (await refresh(client, pair["refreshToken"])).json()
    reused = await refresh(client, pair["refreshToken"])
    assert reused.status_code == 401
    assert reused.json()["message"] == "Refresh token already used; the session has been revoked"
    assert session_revoked(app.state.ctx)
    # Everything of that session is dead now: the successor and both access tokens.
    assert (await refresh(client, new["refreshToken"])).status_code == 401
    for access in (pair["accessToken"], new["accessToken"]):
        assert (await client.get("/api/auth/sessions", headers=bearer(access))).status_code == 401
    assert live_families(app.state.ctx) == 0


async def test_an_expired_refresh_token_is_refused(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    pair = await signed_up(client)
    clock.advance(30 * 86_400 + 1)
    response = await refresh(client, pair["refreshToken"])
    assert response.status_code == 401
    assert response.json()["message"] == "Refresh token expired"


async def test_a_refresh_token_is_good_until_its_last_second(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    pair = await signed_up(client)
    clock.advance(30 * 86_400 - 1)
    assert (await refresh(client, pair["refreshToken"])).status_code == 200


async def test_a_revoked_sessions_refresh_token_is_refused(client: httpx.AsyncClient) -> None:
    pair = await signed_up(client)
    logout = await client.post("/api/auth/sessions/logout", headers=bearer(pair["accessToken"]))
    assert logout.status_code == 200
    response = await refresh(client, pair["refreshToken"])
    assert response.status_code == 401
    assert response.json()["message"] == "The session of this refresh token has been revoked"


@pytest.mark.parametrize("token", ["not-a-token", "x" * 43, "x" * 512])
async def test_an_unknown_refresh_token_is_refused(
    client: httpx.AsyncClient, token: str
) -> None:
    response = await refresh(client, token)
    assert response.status_code == 401
    assert response.json() == {
        "statusCode": 401, "error": "Unauthorized", "message": "Invalid refresh token",
    }


async def test_a_too_long_or_wrong_typed_refresh_token_is_400(client: httpx.AsyncClient) -> None:
    assert (await refresh(client, "x" * 513)).status_code == 400
    response = await client.post("/api/auth/refresh", json={"refreshToken": 42})
    assert response.status_code == 400
    assert response.json()["message"].startswith("Invalid field refreshToken")


async def test_a_foreign_refresh_token_is_refused_and_left_alone(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    await signed_up(client)
    ctx: ServerContext = app.state.ctx
    with ctx.db.write() as db:
        user = db.execute(select(User)).scalar_one()
        issued = token_service.start_session(
            db, ctx, user, scopes=["openid", "read:profile"], client_id="other-app"
        )
    claims = decode_token(issued.access_token)
    assert claims is not None
    assert claims["clientId"] == "other-app"
    # The first-party endpoint does not take an OAuth client's token...
    response = await refresh(client, issued.refresh_token)
    assert response.status_code == 401
    assert response.json()["message"] == "Invalid refresh token"
    # ...nor does another client, and neither attempt harmed the session.
    with ctx.db.write() as db, pytest.raises(token_service.RefreshRefused) as refused:
        token_service.rotate_refresh_token(db, ctx, issued.refresh_token, client_id="third-app")
    assert refused.value.reason == "foreign"
    with ctx.db.write() as db:
        pair = token_service.rotate_refresh_token(
            db, ctx, issued.refresh_token, client_id="other-app"
        )
    assert pair.scope == "openid read:profile"


async def test_fifty_parallel_refreshes_without_grace_give_at_most_one_pair_then_revoke(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    pair = await signed_up(client)
    responses = await asyncio.gather(*(refresh(client, pair["refreshToken"]) for _ in range(50)))
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {200, 401}, statuses
    assert statuses.count(200) <= 1
    assert session_revoked(app.state.ctx)
    assert live_families(app.state.ctx) == 0
    for response in responses:
        if response.status_code == 200:
            assert (await refresh(client, response.json()["refreshToken"])).status_code == 401


async def test_fifty_parallel_refreshes_with_grace_all_get_the_same_pair(
    clean_db: str, tmp_path: Path, clock: FakeClock
) -> None:
    settings = make_settings(database_url=clean_db, data_dir=tmp_path, refresh_retry_grace=10)
    async with running(settings, clock) as (app, client):
        pair = await signed_up(client)
        responses = await asyncio.gather(
            *(refresh(client, pair["refreshToken"]) for _ in range(50))
        )
        assert [r.status_code for r in responses] == [200] * 50
        pairs = {(r.json()["accessToken"], r.json()["refreshToken"]) for r in responses}
        assert len(pairs) == 1
        assert live_families(app.state.ctx) == 1
        assert not session_revoked(app.state.ctx)
        (access, new_refresh), = pairs
        assert (await client.get("/api/auth/sessions", headers=bearer(access))).status_code == 200
        assert (await refresh(client, new_refresh)).status_code == 200


async def test_grace_ends_after_its_window(
    clean_db: str, tmp_path: Path, clock: FakeClock
) -> None:
    settings = make_settings(database_url=clean_db, data_dir=tmp_path, refresh_retry_grace=5)
    async with running(settings, clock) as (app, client):
        pair = await signed_up(client)
        first = (await refresh(client, pair["refreshToken"])).json()
        clock.advance(5)
        again = await refresh(client, pair["refreshToken"])
        assert again.status_code == 200
        assert again.json()["refreshToken"] == first["refreshToken"]
        assert again.json()["accessToken"] == first["accessToken"]
        assert again.json()["expiresIn"] == 895
        clock.advance(1)
        late = await refresh(client, pair["refreshToken"])
        assert late.status_code == 401
        assert session_revoked(app.state.ctx)


async def test_grace_does_not_replay_a_pair_whose_refresh_token_was_used(
    clean_db: str, tmp_path: Path, clock: FakeClock
) -> None:
    settings = make_settings(database_url=clean_db, data_dir=tmp_path, refresh_retry_grace=30)
    async with running(settings, clock) as (app, client):
        pair = await signed_up(client)
        first = (await refresh(client, pair["refreshToken"])).json()
        assert (await refresh(client, first["refreshToken"])).status_code == 200
        stale = await refresh(client, pair["refreshToken"])
        assert stale.status_code == 401
        assert session_revoked(app.state.ctx)


async def test_the_retry_pair_is_stored_encrypted(
    clean_db: str, tmp_path: Path, clock: FakeClock
) -> None:
    settings = make_settings(database_url=clean_db, data_dir=tmp_path, refresh_retry_grace=10)
    async with running(settings, clock) as (app, client):
        pair = await signed_up(client)
        new = (await refresh(client, pair["refreshToken"])).json()
        with app.state.ctx.db.read() as db:
            blobs = [b for b in db.execute(select(RefreshToken.retry_blob)).scalars() if b]
        assert len(blobs) == 1
        assert new["refreshToken"].encode() not in blobs[0]
        assert new["accessToken"].encode()[:20] not in blobs[0]


async def test_rotation_state_survives_a_restart(
    clean_db: str, tmp_path: Path, clock: FakeClock
) -> None:
    settings = make_settings(database_url=clean_db, data_dir=tmp_path, refresh_retry_grace=10)
    async with running(settings, clock) as (_app, client):
        pair = await signed_up(client)
        first = (await refresh(client, pair["refreshToken"])).json()
    async with running(settings, clock) as (_app, client):
        retried = await refresh(client, pair["refreshToken"])
        assert retried.json()["refreshToken"] == first["refreshToken"]
        clock.advance(11)
        assert (await refresh(client, pair["refreshToken"])).status_code == 401
        assert (await refresh(client, first["refreshToken"])).status_code == 401
