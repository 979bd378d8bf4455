"""TEKCIFY_TRUSTED_PROXIES: X-Forwarded-For and X-Forwarded-Proto, believed only from
the proxies named, for the rate limits, the access log and the sessions' ipAddress."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tekcify_auth.server.proxies import TrustedProxies, parse_networks
from tekcify_auth.server.settings import SettingsError, load_settings

from .conftest import PASSWORD, FakeClock, asgi_client, bearer, make_settings, register, running

PROXY = "10.0.0.5"
INNER_PROXY = "10.1.2.3"
CLIENT = "198.51.100.23"
OTHER_CLIENT = "198.51.100.99"


def proxies(value: str = "10.0.0.0/8, 192.0.2.1") -> TrustedProxies:
    return TrustedProxies(parse_networks(value))


# -- who the client is ---------------------------------------------------------------------


def test_an_untrusted_peer_is_the_client_whatever_it_claims() -> None:
    assert proxies().client(CLIENT, [OTHER_CLIENT], ["https"]) == (CLIENT, None)
    assert proxies("").client(PROXY, [CLIENT]) == (PROXY, None)


def test_a_trusted_peer_names_the_client() -> None:
    assert proxies().client(PROXY, [CLIENT]) == (CLIENT, None)
    assert proxies().client("192.0.2.1", [f"  {CLIENT} "]) == (CLIENT, None)


def test_the_right_most_untrusted_address_wins_over_what_the_client_wrote() -> None:
    # The client sent "X-Forwarded-For: 1.2.3.4"; the proxy appended the real address.
    assert proxies().client(PROXY, [f"1.2.3.4, {CLIENT}"]) == (CLIENT, None)
    assert proxies().client(PROXY, ["1.2.3.4", CLIENT]) == (CLIENT, None)  # two headers


def test_a_chain_of_trusted_proxies_is_walked_through() -> None:
    chain = [f"1.2.3.4, {CLIENT}, {INNER_PROXY}, 10.9.9.9"]
    assert proxies().client(PROXY, chain) == (CLIENT, None)
    # A proxy in the chain that is not trusted is where belief stops.
    assert proxies("10.0.0.5").client(PROXY, chain) == ("10.9.9.9", None)


def test_every_hop_trusted_makes_the_left_most_the_client() -> None:
    assert proxies().client(PROXY, [f"{INNER_PROXY}, 10.7.7.7"]) == (INNER_PROXY, None)


def test_an_entry_that_is_no_address_stops_at_the_proxy_that_wrote_it() -> None:
    assert proxies().client(PROXY, ["unknown"]) == (PROXY, None)
    assert proxies().client(PROXY, [f"{CLIENT}, unknown, {INNER_PROXY}"]) == (INNER_PROXY, None)
    assert proxies().client(PROXY, [""]) == (PROXY, None)
    assert proxies().client(PROXY, ["fe80::1%eth0"]) == (PROXY, None)
    assert proxies().client(PROXY, ["1" * 5000]) == (PROXY, None)


def test_ports_brackets_and_mapped_addresses_are_understood() -> None:
    assert proxies().client(PROXY, [f"{CLIENT}:4711"]) == (CLIENT, None)
    assert proxies().client(PROXY, ["[2001:db8::7]:4711"]) == ("2001:db8::7", None)
    assert proxies().client(PROXY, ["2001:DB8::7"]) == ("2001:db8::7", None)
    assert proxies().client("::ffff:10.0.0.5", [CLIENT]) == (CLIENT, None)
    assert proxies("2001:db8:1::/48").client("2001:db8:1::9", [CLIENT]) == (CLIENT, None)


def test_the_scheme_comes_from_a_trusted_peer_only() -> None:
    assert proxies().client(PROXY, [CLIENT], ["https"]) == (CLIENT, "https")
    assert proxies().client(PROXY, [], ["HTTPS"]) == (PROXY, "https")
    assert proxies().client(PROXY, [CLIENT], ["gopher"]) == (CLIENT, None)
    assert proxies().client(CLIENT, [], ["https"]) == (CLIENT, None)


def test_with_one_scheme_per_hop_the_clients_own_is_taken() -> None:
    # The edge proxy took https from the client and spoke http to the inner one.
    chain, schemes = [f"{CLIENT}, {INNER_PROXY}"], ["https, http"]
    assert proxies().client(PROXY, chain, schemes) == (CLIENT, "https")
    # Lists that do not line up: the nearest proxy's word.
    assert proxies().client(PROXY, chain, ["https, https, http"]) == (CLIENT, "http")


# -- the setting ---------------------------------------------------------------------------


def test_no_proxy_is_trusted_by_default() -> None:
    assert make_settings().trusted_proxies == ""
    assert make_settings().trusted_proxy_networks == ()


def test_the_setting_takes_addresses_and_networks() -> None:
    settings = load_settings({"TEKCIFY_TRUSTED_PROXIES": "10.1.2.3/8, 127.0.0.1 ::1,fd00::/8"})
    assert settings.trusted_proxies == "10.0.0.0/8,127.0.0.1/32,::1/128,fd00::/8"
    assert [str(n) for n in settings.trusted_proxy_networks] == [
        "10.0.0.0/8", "127.0.0.1/32", "::1/128", "fd00::/8",
    ]


@pytest.mark.parametrize(
    "value", ["*", "10.0.0.0/33", "localhost", "10.0.0.1-10.0.0.9", "fe80::1%eth0",
              ",".join(f"10.0.0.{i}" for i in range(101))],
)
def test_a_bad_setting_stops_start_up_naming_the_variable(value: str) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings({"TEKCIFY_TRUSTED_PROXIES": value})
    assert "TEKCIFY_TRUSTED_PROXIES" in str(raised.value)
    assert "CIDR" in str(raised.value)


# -- through the server --------------------------------------------------------------------


@pytest.fixture
async def behind_proxy(
    clean_db: str, tmp_path: Path, clock: FakeClock
) -> AsyncIterator[FastAPI]:
    """The server trusting 10.0.0.0/8, with its own limits (3 failures per account+address)."""
    settings = make_settings(
        database_url=clean_db, data_dir=tmp_path / "data", trusted_proxies="10.0.0.0/8",
        login_max_failures=3,
    )
    async with running(settings, clock) as (application, _client):
        yield application


async def _login(
    client: httpx.AsyncClient, forwarded: str | None, password: str = PASSWORD
) -> httpx.Response:
    headers = {"X-Forwarded-For": forwarded} if forwarded is not None else {}
    return await client.post(
        "/api/auth/login", json={"email": "ada@example.com", "password": password},
        headers=headers,
    )


async def _session_addresses(client: httpx.AsyncClient, token: str) -> list[Any]:
    listed = await client.get("/api/auth/sessions", headers=bearer(token))
    assert listed.status_code == 200, listed.text
    return sorted(s["ipAddress"] for s in listed.json()["sessions"])


async def test_sessions_record_the_client_behind_a_trusted_proxy(behind_proxy: FastAPI) -> None:
    async with asgi_client(behind_proxy, PROXY) as via_proxy, \
            asgi_client(behind_proxy, CLIENT) as direct:
        await register(via_proxy)
        token = (await _login(via_proxy, f"1.2.3.4, {OTHER_CLIENT}")).json()["accessToken"]
        # Sent straight to the server, the same header is the client's own word: ignored.
        await _login(direct, "1.2.3.4")
        assert await _session_addresses(direct, token) == [CLIENT, OTHER_CLIENT]


async def test_a_spoofed_x_forwarded_for_does_not_escape_the_login_limit(
    behind_proxy: FastAPI,
) -> None:
    async with asgi_client(behind_proxy, CLIENT) as direct:
        await register(direct)
        for n in range(3):
            failed = await _login(direct, f"203.0.113.{n}", password="not the password")
            assert failed.status_code == 401
        assert (await _login(direct, "203.0.113.77")).status_code == 429


async def test_clients_behind_the_proxy_are_limited_each_on_their_own(
    behind_proxy: FastAPI,
) -> None:
    async with asgi_client(behind_proxy, PROXY) as via_proxy:
        await register(via_proxy)
        for _ in range(3):
            failed = await _login(via_proxy, CLIENT, password="not the password")
            assert failed.status_code == 401
        # Whatever the attacker prepends, the proxy's entry is the one believed.
        assert (await _login(via_proxy, f"{OTHER_CLIENT}, {CLIENT}")).status_code == 429
        assert (await _login(via_proxy, OTHER_CLIENT)).status_code == 200


async def test_the_access_log_names_the_client(
    behind_proxy: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tekcify_auth.server.access")
    async with asgi_client(behind_proxy, PROXY) as via_proxy, \
            asgi_client(behind_proxy, CLIENT) as direct:
        await via_proxy.get("/health", headers={"X-Forwarded-For": OTHER_CLIENT})
        await direct.get("/health", headers={"X-Forwarded-For": OTHER_CLIENT})
    lines = [
        json.loads(r.getMessage()) for r in caplog.records
        if r.name == "tekcify_auth.server.access"
    ]
    assert [line["client"] for line in lines] == [OTHER_CLIENT, CLIENT]


async def test_x_forwarded_proto_from_the_proxy_makes_the_server_say_https(
    behind_proxy: FastAPI,
) -> None:
    path = "/.well-known/oauth-authorization-server"
    async with asgi_client(behind_proxy, PROXY) as via_proxy, \
            asgi_client(behind_proxy, CLIENT) as direct:
        proxied = await via_proxy.get(path, headers={"X-Forwarded-Proto": "https"})
        spoofed = await direct.get(path, headers={"X-Forwarded-Proto": "https"})
    assert proxied.json()["token_endpoint"].startswith("https://tekcify.test/")
    assert spoofed.json()["token_endpoint"].startswith("http://tekcify.test/")


async def test_without_the_setting_forwarded_headers_change_nothing(
    clean_db: str, tmp_path: Path, clock: FakeClock
) -> None:
    settings = make_settings(database_url=clean_db, data_dir=tmp_path / "data")
    async with running(settings, clock) as (application, _client), \
            asgi_client(application, "127.0.0.1") as local:
        await register(local)
        token = (await _login(local, CLIENT)).json()["accessToken"]
        assert await _session_addresses(local, token) == ["127.0.0.1"]
