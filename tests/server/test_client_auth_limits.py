"""Failed client authentication is limited per address and per client id (issue 17,
item 4): the token, introspection and revocation endpoints answer 429 ``invalid_client``
with ``Retry-After`` past a limit, the right secret too, until the window has passed."""

from __future__ import annotations

import base64
from pathlib import Path

import httpx
import pytest
import redis
from fastapi import FastAPI

from tekcify_auth.server.errors import OAuthError
from tekcify_auth.server.services.ratelimit import ClientAuthLimiter, LimitStore

from .conftest import (
    FakeClock,
    OAuthApp,
    Server,
    allow_client_credentials,
    asgi_client,
    create_oauth_app,
    make_settings,
    running,
)
from .test_ratelimit import redis_url, store  # noqa: F401  (the fixtures)

TOKEN = "/api/oauth/token"
INTROSPECT = "/api/oauth/token/introspect"
REVOKE = "/api/oauth/revoke"
WINDOW = 900


def _made(app: FastAPI) -> OAuthApp:
    made = create_oauth_app(app)
    allow_client_credentials(app, made.client_id)
    return made


def _wrong(made: OAuthApp) -> dict[str, str]:
    return OAuthApp(made.client_id, "not-the-secret", made.owner_id).basic()


async def _token(http: httpx.AsyncClient, headers: dict[str, str]) -> httpx.Response:
    return await http.post(TOKEN, data={"grant_type": "client_credentials"}, headers=headers)


def _assert_limited(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert 1 <= int(response.headers["Retry-After"]) <= WINDOW
    body = response.json()
    assert body["error"] == "invalid_client"
    assert body["error_description"].startswith("Too many failed client authentications")
    assert body["message"] == body["error_description"]
    assert response.headers["Cache-Control"] == "no-store"


async def test_wrong_secrets_from_one_address_are_limited_and_the_right_one_waits(
    server: Server, clock: FakeClock
) -> None:
    async with server(client_auth_max_failures=3) as (app, client):
        made = _made(app)
        for _ in range(3):
            assert (await _token(client, _wrong(made))).status_code == 401
        _assert_limited(await _token(client, _wrong(made)))
        # The right secret is refused too until the window has passed.
        _assert_limited(await _token(client, made.basic()))
        clock.advance(WINDOW - 10)
        _assert_limited(await _token(client, made.basic()))
        clock.advance(11)
        assert (await _token(client, made.basic())).status_code == 200


async def test_refused_attempts_are_not_counted(server: Server, clock: FakeClock) -> None:
    # A block ends one window after the failures that caused it, however long one goes on.
    async with server(client_auth_max_failures=2) as (app, client):
        made = _made(app)
        for _ in range(2):
            await _token(client, _wrong(made))
        for _ in range(5):
            clock.advance(100)
            _assert_limited(await _token(client, _wrong(made)))
        clock.advance(WINDOW - 500 + 1)
        assert (await _token(client, made.basic())).status_code == 200


async def test_other_addresses_are_not_held_by_one_addresss_failures(server: Server) -> None:
    async with server(client_auth_max_failures=3) as (app, client):
        made = _made(app)
        for _ in range(3):
            await _token(client, _wrong(made))
        _assert_limited(await _token(client, made.basic()))
        async with asgi_client(app, address="198.51.100.9") as elsewhere:
            assert (await _token(elsewhere, made.basic())).status_code == 200


async def test_one_client_guessed_at_from_many_addresses_is_limited(server: Server) -> None:
    async with server(
        client_auth_max_failures=100, client_auth_max_failures_per_client=4
    ) as (app, client):
        made = _made(app)
        # The client's own server authenticated before the attack.
        assert (await _token(client, made.basic())).status_code == 200
        for n in range(4):
            async with asgi_client(app, address=f"192.0.2.{n + 1}") as attacker:
                assert (await _token(attacker, _wrong(made))).status_code == 401
        async with asgi_client(app, address="192.0.2.99") as attacker:
            _assert_limited(await _token(attacker, _wrong(made)))
            # Guessing right from a new address is refused as well.
            _assert_limited(await _token(attacker, made.basic()))
        # The client's own address keeps working through the attack.
        assert (await _token(client, made.basic())).status_code == 200
        # Another client is not affected.
        other = create_oauth_app(app, owner_email="other@example.com")
        allow_client_credentials(app, other.client_id)
        async with asgi_client(app, address="192.0.2.99") as stranger:
            assert (await _token(stranger, other.basic())).status_code == 200


async def test_introspection_and_revocation_count_and_refuse_alike(server: Server) -> None:
    async with server(client_auth_max_failures=2) as (app, client):
        made = _made(app)
        assert (await client.post(
            INTROSPECT, data={"token": "x"}, headers=_wrong(made)
        )).status_code == 401
        revoked = await client.post(REVOKE, data={"token": "x"}, headers=_wrong(made))
        assert revoked.status_code == 401
        _assert_limited(await client.post(INTROSPECT, data={"token": "x"}, headers=made.basic()))
        _assert_limited(await client.post(REVOKE, data={"token": "x"}, headers=made.basic()))
        _assert_limited(await _token(client, made.basic()))


async def test_unknown_clients_and_malformed_credentials_count(server: Server) -> None:
    async with server(client_auth_max_failures=3) as (app, client):
        made = _made(app)
        unknown = OAuthApp("no-such-client", "secret", "").basic()
        assert (await _token(client, unknown)).status_code == 401
        malformed = {"Authorization": "Basic " + base64.b64encode(b"no colon").decode()}
        assert (await _token(client, malformed)).status_code == 401
        public = {"grant_type": "client_credentials", "client_id": "nobody-public"}
        assert (await client.post(TOKEN, data=public)).status_code == 401
        _assert_limited(await _token(client, made.basic()))


async def test_successes_spend_nothing(server: Server) -> None:
    async with server(client_auth_max_failures=2, client_auth_max_failures_per_client=2) as (
        app, client,
    ):
        made = _made(app)
        for _ in range(10):
            assert (await _token(client, made.basic())).status_code == 200


@pytest.mark.needs("redis")
async def test_instances_share_the_client_limits_through_redis(
    redis_url: str,  # noqa: F811
    clean_db: str,
    tmp_path: Path,
    clock: FakeClock,
) -> None:
    redis.Redis.from_url(redis_url).flushdb()
    settings = make_settings(
        database_url=clean_db, data_dir=tmp_path, redis_url=redis_url,
        client_auth_max_failures=3,
    )
    async with running(settings, clock) as (app, first), running(settings, clock) as (_b, second):
        made = _made(app)
        for _ in range(3):
            assert (await _token(first, _wrong(made))).status_code == 401
        _assert_limited(await _token(second, made.basic()))


# -- the limiter on each store -------------------------------------------------------------


def test_the_client_limits_hold_on_every_store(store: LimitStore) -> None:  # noqa: F811
    now = [1_700_000_000.0]
    limits = ClientAuthLimiter(
        store, window=60, per_address=3, per_client=4, clock=lambda: now[0]
    )
    # The client's own server authenticates once: its address is remembered.
    assert limits.check("orders", "10.0.0.1") is False
    limits.succeeded("orders", "10.0.0.1", trusted=False)
    assert limits.check("orders", "10.0.0.1") is True
    for n in range(4):
        limits.failed("orders", f"192.0.2.{n}")
        now[0] += 1
    with pytest.raises(OAuthError) as refused:
        limits.check("orders", "192.0.2.200")
    assert refused.value.status_code == 429
    assert refused.value.error == "invalid_client"
    assert refused.value.headers["Retry-After"] == "56"
    assert limits.check("orders", "10.0.0.1") is True  # its own address is not held
    assert limits.check("other", "192.0.2.200") is False
    for _ in range(3):
        limits.failed(None, "198.51.100.7")  # malformed credentials: the address only
    with pytest.raises(OAuthError):
        limits.check("other", "198.51.100.7")
    now[0] += 61
    assert limits.check("orders", "192.0.2.200") is False
    assert limits.check("other", "198.51.100.7") is False
