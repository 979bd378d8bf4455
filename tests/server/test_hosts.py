"""The ``Host`` header never names the server's URLs (issue 10, item 14).

Without ``TEKCIFY_PUBLIC_URL`` only the hosts the server was started for are answered
(its own address, the loopback names, ``TEKCIFY_ALLOWED_HOSTS``); any other is a 400
that names the settings, before anything is stored or a cacheable document is built.
With a public URL every URL comes from it, whatever ``Host`` says. The test client's
base URL is ``http://tekcify.test``: the ASGI transport reports that host as the
server's own address, as uvicorn reports the address a connection reached.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from tekcify_auth.server.db.images import StoredImage
from tekcify_auth.server.hosts import AllowedHosts, parse_hosts
from tekcify_auth.server.settings import SettingsError, load_settings

from .conftest import FakeClock, bearer, make_settings, running, signed_up
from .test_applications import create, png

EVIL: dict[str, str] = {"Host": "tracker.evil.example"}
DISCOVERY = ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server")


def _images(app: FastAPI) -> int:
    with app.state.ctx.db.read() as db:
        return int(db.execute(select(func.count()).select_from(StoredImage)).scalar_one())


def _assert_foreign_host_refused(response: httpx.Response) -> None:
    assert response.status_code == 400, response.text
    message = response.json()["message"]
    assert "tracker.evil.example" in message
    assert "TEKCIFY_PUBLIC_URL" in message
    assert "TEKCIFY_ALLOWED_HOSTS" in message
    assert "public" not in response.headers.get("cache-control", "")


async def test_a_logo_uploaded_with_a_foreign_host_is_refused_without_a_public_url(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    token = (await signed_up(client))["accessToken"]
    created = await create(client, token)
    response = await client.post(
        f"/api/applications/{created['clientId']}/logo",
        files={"file": ("logo.png", png(), "image/png")}, headers={**bearer(token), **EVIL},
    )
    _assert_foreign_host_refused(response)
    assert _images(app) == 0
    public = await client.get(f"/api/applications/public/{created['clientId']}")
    assert public.json()["logoUrl"] is None


async def test_an_avatar_uploaded_with_a_foreign_host_is_refused(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    token = (await signed_up(client))["accessToken"]
    response = await client.post(
        "/api/user/profile/picture", files={"file": ("me.png", png(), "image/png")},
        headers={**bearer(token), **EVIL},
    )
    _assert_foreign_host_refused(response)
    assert _images(app) == 0


@pytest.mark.parametrize("path", [*DISCOVERY, "/api/.well-known/jwks.json", "/health"])
async def test_discovery_and_jwks_do_not_follow_a_foreign_host(
    client: httpx.AsyncClient, path: str
) -> None:
    _assert_foreign_host_refused(await client.get(path, headers=EVIL))


async def test_with_a_public_url_a_foreign_host_changes_nothing(
    clean_db: str, tmp_path: Path, clock: FakeClock
) -> None:
    settings = make_settings(
        database_url=clean_db, data_dir=tmp_path / "data", public_url="https://auth.example.com"
    )
    async with running(settings, clock) as (_app, client):
        token = (await signed_up(client))["accessToken"]
        created = await create(client, token)
        uploaded = await client.post(
            f"/api/applications/{created['clientId']}/logo",
            files={"file": ("logo.png", png(), "image/png")}, headers={**bearer(token), **EVIL},
        )
        assert uploaded.status_code == 200, uploaded.text
        logo = uploaded.json()["logoUrl"]
        assert logo.startswith("https://auth.example.com/api/images/")
        public = await client.get(f"/api/applications/public/{created['clientId']}")
        assert public.json()["logoUrl"] == logo
        for path in DISCOVERY:
            document = (await client.get(path, headers=EVIL)).json()
            assert document["token_endpoint"] == "https://auth.example.com/api/oauth/token"
            assert "evil" not in str(document)


@pytest.mark.parametrize(
    "host", ["tekcify.test", "TEKCIFY.test", "tekcify.test:80", "localhost", "127.0.0.1",
             "[::1]", "[0:0::1]:80"],
)
async def test_the_servers_own_hosts_are_answered(client: httpx.AsyncClient, host: str) -> None:
    response = await client.get(DISCOVERY[0], headers={"Host": host})
    assert response.status_code == 200, response.text
    assert response.json()["issuer"]


@pytest.mark.parametrize(
    "host", ["localhost:8080", "tekcify.test:8443", "127.0.0.2", "tekcify.test.evil.example",
             "", "a b", "tekcify.test@evil.example", "[::1", "localhost:0", "localhost:99999"],
)
async def test_other_ports_and_hosts_are_refused(client: httpx.AsyncClient, host: str) -> None:
    response = await client.get(DISCOVERY[0], headers={"Host": host})
    assert response.status_code == 400, response.text


async def test_x_forwarded_host_is_never_followed(
    clean_db: str, tmp_path: Path, clock: FakeClock
) -> None:
    settings = make_settings(
        database_url=clean_db, data_dir=tmp_path / "data", trusted_proxies="203.0.113.0/24"
    )
    async with running(settings, clock) as (_app, client):
        spoofed = {"X-Forwarded-Host": "tracker.evil.example", "X-Forwarded-Proto": "https"}
        document = (await client.get(DISCOVERY[0], headers=spoofed)).json()
        assert document["token_endpoint"] == "https://tekcify.test/api/oauth/token"
        refused = await client.get(
            DISCOVERY[0], headers={**EVIL, "X-Forwarded-Host": "tekcify.test"}
        )
        assert refused.status_code == 400


async def test_allowed_hosts_admits_the_hosts_an_operator_names(
    clean_db: str, tmp_path: Path, clock: FakeClock
) -> None:
    settings = make_settings(
        database_url=clean_db, data_dir=tmp_path / "data",
        allowed_hosts="auth.internal, Other.Internal:8443",
    )
    async with running(settings, clock) as (_app, client):
        for host, status in [("auth.internal", 200), ("auth.internal:9000", 200),
                             ("other.internal:8443", 200), ("other.internal", 400),
                             ("tracker.evil.example", 400), ("localhost", 200)]:
            response = await client.get(DISCOVERY[0], headers={"Host": host})
            assert response.status_code == status, (host, response.text)
        document = (await client.get(DISCOVERY[0], headers={"Host": "auth.internal:9000"})).json()
        assert document["token_endpoint"] == "http://auth.internal:9000/api/oauth/token"


def test_the_server_address_and_port_are_those_uvicorn_reports() -> None:
    hosts = AllowedHosts()
    server = ("10.1.2.3", 7001)
    assert hosts.allows("10.1.2.3:7001", server, "http")
    assert hosts.allows("localhost:7001", server, "http")
    assert hosts.allows("[::1]:7001", server, "http")
    assert not hosts.allows("localhost", server, "http")
    assert not hosts.allows("10.1.2.3:7002", server, "http")
    assert not hosts.allows("auth.example.com:7001", server, "http")
    assert hosts.allows("[2001:db8::1]:7001", ("2001:db8::1", 7001), "http")
    assert hosts.allows(None, server, "http")  # HTTP/1.0: nothing to follow
    assert not hosts.allows("localhost:7001", None, "http")


def test_allowed_hosts_is_checked_at_start() -> None:
    assert parse_hosts("A.example.com:8443 b.example.com,[::1]") == (
        "a.example.com:8443", "b.example.com", "[::1]",
    )
    assert load_settings({"TEKCIFY_ALLOWED_HOSTS": "auth.internal"}).allowed_host_list == (
        "auth.internal",
    )
    for bad in ("https://auth.example.com", "auth.example.com/path", "a:b", "*.example.com"):
        with pytest.raises(SettingsError, match="TEKCIFY_ALLOWED_HOSTS"):
            load_settings({"TEKCIFY_ALLOWED_HOSTS": bad})
