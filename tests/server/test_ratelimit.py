"""Login rate limiting: per account+address, per address, per account; memory and Redis."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from fastapi import FastAPI

from services import free_port, private_redis
from tekcify_auth.server.errors import ApiError
from tekcify_auth.server.services.ratelimit import (
    LimitStore,
    LoginLimiter,
    MemoryLimitStore,
    RedisLimitStore,
    SqliteLimitStore,
    client_key,
)

from .conftest import PASSWORD, FakeClock, asgi_client, make_settings, register, running

REDIS_URL_VAR = "TEKCIFY_TEST_REDIS_URL"
STORES = ["memory", "file", pytest.param("redis", marks=pytest.mark.needs("redis"))]


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Redis for these tests: ``TEKCIFY_TEST_REDIS_URL`` or a private redis-server."""
    given = os.environ.get(REDIS_URL_VAR)
    if given:
        yield given
        return
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail(
            f"redis-server is not installed and {REDIS_URL_VAR} is not set: install it "
            "(apt-get install redis-server); mark the test pytest.mark.needs('redis')",
            pytrace=False,
        )
    with private_redis(binary, tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest) -> Iterator[LimitStore]:
    """Each limit store: in memory, in a file shared by workers, and Redis (emptied first)."""
    if request.param == "memory":
        yield MemoryLimitStore()
        return
    if request.param == "file":
        tmp_path: Path = request.getfixturevalue("tmp_path")
        yield SqliteLimitStore(tmp_path / "limits.sqlite3")
        return
    client = redis.Redis.from_url(request.getfixturevalue("redis_url"))
    client.flushdb()
    try:
        yield RedisLimitStore(client)
    finally:
        client.close()


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def limiter(store: LimitStore, clock: Clock) -> LoginLimiter:
    return LoginLimiter(
        store, window=60, per_account_address=3, per_address=10, per_account=5, clock=clock
    )


def blocked_for(limits: LoginLimiter, email: str, address: str) -> int | None:
    try:
        limits.check(email, address)
    except ApiError as exc:
        refusal = exc
    else:
        return None
    assert refusal.status_code == 429
    return int(refusal.headers["Retry-After"])


def test_failures_per_account_and_address_block_that_pair_only(store: LimitStore) -> None:
    clock = Clock()
    limits = limiter(store, clock)
    for _ in range(3):
        assert blocked_for(limits, "ada@example.com", "10.0.0.1") is None
        limits.failed("ada@example.com", "10.0.0.1")
        clock.now += 10
    assert blocked_for(limits, "ada@example.com", "10.0.0.1") == 30
    assert blocked_for(limits, "ada@example.com", "10.0.0.2") is None
    assert blocked_for(limits, "bob@example.com", "10.0.0.1") is None


def test_a_block_ends_one_window_after_the_failures_that_caused_it(store: LimitStore) -> None:
    clock = Clock()
    limits = limiter(store, clock)
    for _ in range(3):
        limits.failed("ada@example.com", "10.0.0.1")
    for _ in range(24):  # hammering while blocked neither counts nor extends the block
        assert blocked_for(limits, "ada@example.com", "10.0.0.1") is not None
        clock.now += 2.5
    assert blocked_for(limits, "ada@example.com", "10.0.0.1") is None


def test_retry_after_never_exceeds_the_window(store: LimitStore) -> None:
    clock = Clock()
    limits = limiter(store, clock)
    for _ in range(3):
        limits.failed("ada@example.com", "10.0.0.1")
    wait = blocked_for(limits, "ada@example.com", "10.0.0.1")
    assert wait is not None
    assert 1 <= wait <= 60


def test_success_clears_the_pairs_failures(store: LimitStore) -> None:
    clock = Clock()
    limits = limiter(store, clock)
    for _ in range(2):
        limits.failed("ada@example.com", "10.0.0.1")
    limits.succeeded("ada@example.com", "10.0.0.1")
    for _ in range(2):
        limits.failed("ada@example.com", "10.0.0.1")
    assert blocked_for(limits, "ada@example.com", "10.0.0.1") is None


def test_one_address_guessing_at_many_accounts_is_blocked(store: LimitStore) -> None:
    clock = Clock()
    limits = limiter(store, clock)
    for n in range(10):
        limits.failed(f"user{n}@example.com", "10.0.0.9")
    assert blocked_for(limits, "someone-else@example.com", "10.0.0.9") is not None
    assert blocked_for(limits, "someone-else@example.com", "10.0.0.8") is None


def test_many_addresses_cannot_lock_the_user_out_of_a_known_address(store: LimitStore) -> None:
    clock = Clock()
    limits = limiter(store, clock)
    limits.succeeded("ada@example.com", "192.0.2.1")  # Ada's laptop, logged in before
    for n in range(5):  # a botnet, one failure per address
        limits.failed("ada@example.com", f"10.1.0.{n}")
    assert blocked_for(limits, "ada@example.com", "10.1.0.99") is not None
    assert blocked_for(limits, "ada@example.com", "192.0.2.1") is None


@pytest.mark.needs("redis")
def test_redis_store_keeps_no_email_address(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    try:
        limits = limiter(RedisLimitStore(client), Clock())
        limits.failed("ada@example.com", "10.0.0.1")
        limits.succeeded("ada@example.com", "10.0.0.2")
        keys = [k.decode() for k in client.keys("*")]
        assert keys
        assert not any("ada" in k for k in keys)
    finally:
        client.close()


async def _fail(client: httpx.AsyncClient, times: int) -> None:
    for _ in range(times):
        response = await client.post(
            "/api/auth/login", json={"email": "ada@example.com", "password": "not the password"}
        )
        assert response.status_code == 401


async def test_login_answers_429_with_retry_after(app: FastAPI, client: httpx.AsyncClient) -> None:
    await register(client)
    await _fail(client, 5)
    response = await client.post(
        "/api/auth/login", json={"email": "ada@example.com", "password": PASSWORD}
    )
    assert response.status_code == 429
    assert response.json() == {
        "statusCode": 429, "error": "Too Many Requests",
        "message": "Too many failed login attempts; try again later",
    }
    assert 1 <= int(response.headers["retry-after"]) <= 900
    async with asgi_client(app, "198.51.100.50") as elsewhere:
        ok = await elsewhere.post(
            "/api/auth/login", json={"email": "ada@example.com", "password": PASSWORD}
        )
        assert ok.status_code == 200


async def test_the_login_block_lifts_after_the_window(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    await register(client)
    await _fail(client, 5)
    clock.advance(900)
    response = await client.post(
        "/api/auth/login", json={"email": "ada@example.com", "password": PASSWORD}
    )
    assert response.status_code == 200


@pytest.mark.needs("redis")
async def test_workers_share_the_limits_through_redis(
    redis_url: str, clean_db: str, tmp_path: Path, clock: FakeClock
) -> None:
    redis.Redis.from_url(redis_url).flushdb()
    settings = make_settings(database_url=clean_db, data_dir=tmp_path, redis_url=redis_url)
    async with running(settings, clock) as (_one, first), running(settings, clock) as (_, second):
        await register(first)
        await _fail(first, 5)
        response = await second.post(
            "/api/auth/login", json={"email": "ada@example.com", "password": PASSWORD}
        )
        assert response.status_code == 429


async def test_redis_gone_is_503_not_a_free_pass(
    clean_db: str, tmp_path: Path, clock: FakeClock
) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    settings = make_settings(database_url=clean_db, data_dir=tmp_path, redis_url=dead)
    async with running(settings, clock) as (_app, client):
        # Registration counts there too (issue 17): it is refused as the login is.
        registered = await client.post(
            "/api/auth/register", json={"email": "ada@example.com", "password": PASSWORD}
        )
        assert registered.status_code == 503
        response = await client.post(
            "/api/auth/login", json={"email": "ada@example.com", "password": PASSWORD}
        )
        assert response.status_code == 503
        body: dict[str, Any] = response.json()
        assert body["statusCode"] == 503
        assert "unavailable" in body["message"]


# -- successful logins per account (issue 10, item 12) -------------------------------------


def test_successful_logins_per_account_are_limited(store: LimitStore) -> None:
    clock = Clock()
    limits = LoginLimiter(
        store, window=60, per_account_address=3, per_address=10, per_account=5,
        per_account_successes=4, clock=clock,
    )
    for n in range(4):
        limits.check("ada@example.com", f"10.0.0.{n}", login=True)
        limits.succeeded("ada@example.com", f"10.0.0.{n}")
        clock.now += 10
    with pytest.raises(ApiError) as refused:
        limits.check("ada@example.com", "10.9.9.9", login=True)
    assert refused.value.status_code == 429
    assert refused.value.message == "Too many logins to this account; try again later"
    assert int(refused.value.headers["Retry-After"]) == 20  # the first success leaves then
    # Other accounts, and the password checks that are not logins, are not affected.
    limits.check("bob@example.com", "10.9.9.9", login=True)
    limits.check("ada@example.com", "10.9.9.9")
    clock.now += 20
    limits.check("ada@example.com", "10.9.9.9", login=True)


async def test_login_answers_429_past_the_successful_logins_of_an_account(
    clean_db: str, tmp_path: Path, clock: FakeClock
) -> None:
    settings = make_settings(
        database_url=clean_db, data_dir=tmp_path, login_max_successes_per_account=3
    )
    async with running(settings, clock) as (app, client):
        await register(client)
        body = {"email": "ada@example.com", "password": PASSWORD}
        for _ in range(3):
            assert (await client.post("/api/auth/login", json=body)).status_code == 200
        async with asgi_client(app, "198.51.100.50") as elsewhere:
            refused = await elsewhere.post("/api/auth/login", json=body)
        assert refused.status_code == 429
        assert refused.json()["message"] == "Too many logins to this account; try again later"
        assert 1 <= int(refused.headers["retry-after"]) <= 900
        clock.advance(900)
        assert (await client.post("/api/auth/login", json=body)).status_code == 200


# -- client addresses: IPv6 networks, IPv4-mapped addresses (issue 10, item 13) ------------


@pytest.mark.parametrize(
    ("address", "prefix", "key"),
    [
        ("203.0.113.7", 64, "203.0.113.7"),
        ("::ffff:203.0.113.7", 64, "203.0.113.7"),
        ("::FFFF:cb00:7107", 64, "203.0.113.7"),
        ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", 64, "2001:db8:1:2::/64"),
        ("2001:DB8:1:2::1", 64, "2001:db8:1:2::/64"),
        ("2001:db8:1:2::1", 48, "2001:db8:1::/48"),
        ("2001:db8:1:2::1", 128, "2001:db8:1:2::1/128"),
        ("fe80::1%eth0", 64, "fe80::/64"),
        ("::1", 64, "::/64"),
        (None, 64, "-"),
        ("", 64, "-"),
        ("testclient", 64, "testclient"),
    ],
)
def test_client_key_groups_ipv6_by_network_and_unmaps_ipv4(
    address: str | None, prefix: int, key: str
) -> None:
    assert client_key(address, prefix) == key


def test_addresses_of_one_ipv6_network_count_as_one_client(store: LimitStore) -> None:
    clock = Clock()
    limits = limiter(store, clock)  # the default /64
    for n in range(1, 4):
        limits.failed("ada@example.com", f"2001:db8:1:2::{n}")
    assert blocked_for(limits, "ada@example.com", "2001:db8:1:2:ffff::99") is not None
    assert blocked_for(limits, "ada@example.com", "2001:db8:1:3::1") is None
    for n in range(10):  # one /64 guessing at many accounts
        limits.failed(f"user{n}@example.com", f"2001:db8:9:9::{n + 1:x}")
    assert blocked_for(limits, "someone@example.com", "2001:db8:9:9::abcd") is not None


def test_the_ipv6_prefix_is_configurable(store: LimitStore) -> None:
    clock = Clock()
    limits = LoginLimiter(
        store, window=60, per_account_address=3, per_address=10, per_account=5, clock=clock,
        ipv6_prefix=128,
    )
    for _ in range(3):
        limits.failed("ada@example.com", "2001:db8:1:2::1")
    assert blocked_for(limits, "ada@example.com", "2001:db8:1:2::1") is not None
    assert blocked_for(limits, "ada@example.com", "2001:db8:1:2::2") is None


def test_an_ipv4_mapped_address_counts_as_its_ipv4(store: LimitStore) -> None:
    clock = Clock()
    limits = limiter(store, clock)
    for _ in range(3):
        limits.failed("ada@example.com", "::ffff:192.0.2.1")
    assert blocked_for(limits, "ada@example.com", "192.0.2.1") is not None
    limits.succeeded("ada@example.com", "192.0.2.1")  # clears the mapped spelling's count
    assert blocked_for(limits, "ada@example.com", "::ffff:192.0.2.1") is None


def test_redis_keys_hold_the_ipv6_network(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    try:
        limits = limiter(RedisLimitStore(client), Clock())
        limits.failed("ada@example.com", "2001:db8:1:2::1")
        limits.failed("ada@example.com", "::ffff:192.0.2.1")
        keys = [k.decode() for k in client.keys("*")]
        assert any(k.endswith(":2001:db8:1:2::/64") for k in keys), keys
        assert any(k.endswith(":192.0.2.1") for k in keys), keys
        assert not any("2001:db8:1:2::1" in k or "ffff" in k for k in keys), keys
    finally:
        client.close()


async def test_a_login_from_another_address_of_the_same_ipv6_network_is_limited(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client)
    body = {"email": "ada@example.com", "password": "not the password"}
    for n in range(1, 6):
        async with asgi_client(app, f"2001:db8:1:2::{n}") as one:
            assert (await one.post("/api/auth/login", json=body)).status_code == 401
    right = {"email": "ada@example.com", "password": PASSWORD}
    async with asgi_client(app, "2001:db8:1:2:ffff::1") as neighbour:
        assert (await neighbour.post("/api/auth/login", json=right)).status_code == 429
    async with asgi_client(app, "2001:db8:1:3::1") as elsewhere:
        assert (await elsewhere.post("/api/auth/login", json=right)).status_code == 200


def test_workers_without_redis_share_the_limits_through_one_file(tmp_path: Path) -> None:
    # `serve --workers N` sets TEKCIFY_WORKERS for its workers: each builds its own
    # context, and without Redis they must count in one place, exactly as one process.
    from tekcify_auth.server.context import LIMITS_FILE, ServerContext

    settings = make_settings(data_dir=tmp_path, workers=2, login_max_failures=3)
    workers = [ServerContext(settings), ServerContext(settings)]
    for worker in workers:
        worker.start()
    try:
        assert all(isinstance(w.limiter.store, SqliteLimitStore) for w in workers)
        assert (tmp_path / LIMITS_FILE).exists()
        first, second = (worker.limiter for worker in workers)
        for limiter in (first, second, first):  # three failures, spread over both
            limiter.check("ada@example.com", "198.51.100.7")
            limiter.failed("ada@example.com", "198.51.100.7")
        for limiter in (first, second):
            with pytest.raises(ApiError) as refused:
                limiter.check("ada@example.com", "198.51.100.7")
            assert refused.value.status_code == 429
        # Another address is not blocked, and a success there clears only its own count.
        second.check("ada@example.com", "203.0.113.9")
    finally:
        for worker in workers:
            worker.stop()


def test_one_worker_counts_in_its_own_memory(tmp_path: Path) -> None:
    from tekcify_auth.server.context import LIMITS_FILE, ServerContext

    ctx = ServerContext(make_settings(data_dir=tmp_path, workers=1))
    ctx.start()
    try:
        assert isinstance(ctx.limiter.store, MemoryLimitStore)
        assert not (tmp_path / LIMITS_FILE).exists()
    finally:
        ctx.stop()


def test_with_redis_workers_count_in_redis(tmp_path: Path) -> None:
    from tekcify_auth.server.context import ServerContext

    settings = make_settings(
        data_dir=tmp_path, workers=4,
        redis_url="redis://127.0.0.1:1/0",  # never reached: the client connects lazily
    )
    ctx = ServerContext(settings)
    ctx.start()
    try:
        assert isinstance(ctx.limiter.store, RedisLimitStore)
    finally:
        ctx.stop()
