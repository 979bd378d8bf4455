"""One URL for the server (issue 11, item 8): ``http://localhost:7001``, as the library says.

``tekcify-auth serve`` sets ``TEKCIFY_CANONICAL_URL`` from ``--host`` and ``--port``
(``http://localhost:PORT`` for the default 127.0.0.1). The API still answers
``127.0.0.1`` and ``[::1]``, with every URL it names under the canonical one; the sign-in
pages send a browser there before setting any cookie, so the CSRF secret and the sign-in
live on one host. Here the app is served in-process with the transport reporting
``127.0.0.1:7001`` (or another address) as the server's own, as uvicorn does; the last
test runs the real command.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from tekcify_auth.cli import _banner
from tekcify_auth.server import create_app
from tekcify_auth.server.canonical import serve_url
from tekcify_auth.server.context import ServerContext
from tekcify_auth.server.db.models import User
from tekcify_auth.server.db.oauth import LoginSession
from tekcify_auth.server.settings import SettingsError, load_settings

from .conftest import PASSWORD, FakeClock, asgi_client, make_settings, register
from .test_authorize import (
    AUTHORIZE,
    Browser,
    authorization,
    get_code,
    hidden_fields,
    make_client,
    redeem,
)

CANONICAL = "http://localhost:7001"
LOOPBACK = "http://127.0.0.1:7001"
IPV6_LOOPBACK = "http://[::1]:7001"
LOGIN = "/api/oauth/login"
REGISTER = "/api/oauth/register"
CONSENT = "/api/oauth/consent"
DISCOVERY = ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server")


@asynccontextmanager
async def started(
    clean_db: str, tmp_path: Path, clock: FakeClock, **settings: Any
) -> AsyncIterator[FastAPI]:
    configured = make_settings(database_url=clean_db, data_dir=tmp_path / "data", **settings)
    app = create_app(configured, clock=clock)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def app(clean_db: str, tmp_path: Path, clock: FakeClock) -> AsyncIterator[FastAPI]:
    """The server as ``tekcify-auth serve`` runs it by default: canonically localhost:7001."""
    async with started(clean_db, tmp_path, clock, canonical_url=CANONICAL) as application:
        yield application


def _count(app: FastAPI, model: type[Any]) -> int:
    with app.state.ctx.db.read() as db:
        return int(db.execute(select(func.count()).select_from(model)).scalar_one())


def _page_paths(app: FastAPI) -> list[str]:
    request = authorization(make_client(app)).url
    next_query = quote(request, safe="")
    return [request, f"{LOGIN}?next={next_query}", f"{REGISTER}?next={next_query}"]


@pytest.mark.parametrize("alias", [LOOPBACK, IPV6_LOOPBACK])
async def test_a_page_on_another_loopback_name_is_sent_to_localhost_before_any_cookie(
    app: FastAPI, alias: str
) -> None:
    async with asgi_client(app, base_url=alias) as http:
        for path in _page_paths(app):
            moved = await http.get(path)
            assert moved.status_code == 302, moved.text
            assert moved.headers["location"] == CANONICAL + path
            assert "set-cookie" not in moved.headers
            assert moved.headers["cache-control"] == "no-store"


async def test_the_pages_on_the_canonical_host_set_their_cookies(app: FastAPI) -> None:
    for path in _page_paths(app):
        async with asgi_client(app, base_url=CANONICAL) as http:
            page = await http.get(path)
            assert page.status_code == 200, page.text
            assert "tekcify_csrf=" in page.headers["set-cookie"]


async def test_a_sign_in_started_on_127_0_0_1_ends_on_localhost_with_a_code(
    app: FastAPI,
) -> None:
    client = make_client(app)
    async with asgi_client(app, base_url=LOOPBACK) as loopback, asgi_client(
        app, base_url=CANONICAL
    ) as canonical:
        await register(loopback)  # the API answers 127.0.0.1
        request = authorization(client)
        moved = await loopback.get(request.url)
        assert moved.headers["location"] == CANONICAL + request.url
        browser = Browser(canonical)
        code, _ = await get_code(browser, client, request)
        assert {r.url.host for r in browser.visited} == {"localhost"}
        tokens = await redeem(loopback, client, code, request)
        assert tokens.status_code == 200, tokens.text


async def test_a_form_posted_to_127_0_0_1_is_refused_and_nothing_is_done(app: FastAPI) -> None:
    client = make_client(app)
    request = authorization(client)
    async with asgi_client(app, base_url=LOOPBACK) as loopback, asgi_client(
        app, base_url=CANONICAL
    ) as canonical:
        await register(loopback)
        users = _count(app, User)
        page = await canonical.get(request.url)
        fields = hidden_fields(page)
        loopback.cookies.update(canonical.cookies)  # even with the right cookie and token
        posts = {
            LOGIN: ({**fields, "email": "ada@example.com", "password": PASSWORD},
                    f"{LOGIN}?next={quote(fields['next'], safe='')}"),
            REGISTER: ({**fields, "email": "new@example.com", "password": PASSWORD},
                       f"{REGISTER}?next={quote(fields['next'], safe='')}"),
            CONSENT: ({"csrf_token": fields["csrf_token"], "request": request.url.split("?")[1],
                       "decision": "allow"}, request.url),
        }
        for path, (form, again) in posts.items():
            refused = await loopback.post(path, data=form)
            assert refused.status_code == 400, refused.text
            assert "set-cookie" not in refused.headers
            assert "location" not in refused.headers
            assert "http://localhost:7001" in refused.text
            assert f'href="{CANONICAL}{again}"'.replace("&", "&amp;") in refused.text
        assert _count(app, LoginSession) == 0
        assert _count(app, User) == users


async def test_a_redirect_or_link_never_names_a_host_the_request_chose(app: FastAPI) -> None:
    hostile = "//evil.example/@x?y=https://evil.example#z"
    async with asgi_client(app, base_url=LOOPBACK) as http:
        moved = await http.get(LOGIN, params={"next": hostile})
        assert moved.status_code == 302
        location = urlsplit(moved.headers["location"])
        assert (location.scheme, location.netloc) == ("http", "localhost:7001")
        assert location.path == LOGIN
        refused = await http.post(LOGIN, data={"next": "javascript:alert(1)", "email": "x"})
        assert refused.status_code == 400
        links = re.findall(r'<a href="([^"]*)"', refused.text)
        assert links == [f"{CANONICAL}{LOGIN}?next=javascript%3Aalert%281%29"], links


async def test_the_api_names_the_canonical_url_to_every_loopback_name(app: FastAPI) -> None:
    documents = []
    for base in (LOOPBACK, IPV6_LOOPBACK, CANONICAL):
        async with asgi_client(app, base_url=base) as http:
            assert (await http.get("/health")).status_code == 200
            for path in DISCOVERY:
                answer = await http.get(path)
                assert answer.status_code == 200, answer.text
                documents.append(answer.json())
    assert all(document == documents[0] for document in documents)
    assert documents[0]["authorization_endpoint"] == CANONICAL + AUTHORIZE
    assert documents[0]["jwks_uri"] == CANONICAL + "/api/.well-known/jwks.json"


async def test_an_avatar_uploaded_on_127_0_0_1_is_named_under_localhost(app: FastAPI) -> None:
    from .conftest import bearer, signed_up
    from .test_applications import png

    async with asgi_client(app, base_url=LOOPBACK) as http:
        token = (await signed_up(http))["accessToken"]
        uploaded = await http.post(
            "/api/user/profile/picture", files={"file": ("me.png", png(), "image/png")},
            headers=bearer(token),
        )
        assert uploaded.status_code == 200, uploaded.text
        assert uploaded.json()["avatarUrl"].startswith(CANONICAL + "/api/images/")
        profile = await http.get("/api/user/profile", headers=bearer(token))
        assert profile.json()["avatarUrl"] == uploaded.json()["avatarUrl"]


async def test_another_address_of_the_server_keeps_its_own_urls(app: FastAPI) -> None:
    # Listening on every interface, the server also answers its LAN address: not an alias
    # of localhost, so its pages stay there and its URLs name it.
    lan = "http://192.0.2.10:7001"
    async with asgi_client(app, base_url=lan) as http:
        document = (await http.get(DISCOVERY[0])).json()
        assert document["token_endpoint"] == lan + "/api/oauth/token"
        page = await http.get(_page_paths(app)[0])
        assert page.status_code == 200, page.text
        assert "tekcify_csrf=" in page.headers["set-cookie"]


async def test_a_canonical_name_is_answered_and_the_loopback_names_go_there(
    clean_db: str, tmp_path: Path, clock: FakeClock
) -> None:
    internal = "http://auth.internal:7001"
    async with started(clean_db, tmp_path, clock, canonical_url=internal) as app, asgi_client(
        app, base_url=LOOPBACK
    ) as http:
        # The canonical host is one of the allowed ones, without TEKCIFY_ALLOWED_HOSTS.
        named = await http.get(DISCOVERY[0], headers={"Host": "auth.internal:7001"})
        assert named.status_code == 200, named.text
        assert named.json()["token_endpoint"] == internal + "/api/oauth/token"
        other_port = await http.get(DISCOVERY[0], headers={"Host": "auth.internal:7002"})
        assert other_port.status_code == 400
        path = _page_paths(app)[1]
        moved = await http.get(path)
        assert moved.headers["location"] == internal + path


async def test_with_a_public_url_nothing_is_redirected(
    clean_db: str, tmp_path: Path, clock: FakeClock
) -> None:
    # Behind a reverse proxy Host is often the upstream's address: sending the browser
    # to the public URL would bring it back with that Host, for ever.
    async with started(
        clean_db, tmp_path, clock, public_url="https://auth.example.com", canonical_url=CANONICAL
    ) as app, asgi_client(app, base_url=LOOPBACK) as http:
        page = await http.get(_page_paths(app)[0])
        assert page.status_code == 200, page.text
        document = (await http.get(DISCOVERY[0])).json()
        assert document["token_endpoint"] == "https://auth.example.com/api/oauth/token"


async def test_without_a_canonical_url_nothing_is_redirected(
    clean_db: str, tmp_path: Path, clock: FakeClock
) -> None:
    async with started(clean_db, tmp_path, clock) as app, asgi_client(
        app, base_url=LOOPBACK
    ) as http:
        page = await http.get(_page_paths(app)[0])
        assert page.status_code == 200, page.text
        assert (await http.get(DISCOVERY[0])).json()["token_endpoint"].startswith(LOOPBACK)


@pytest.mark.parametrize(
    ("host", "url"),
    [("127.0.0.1", "http://localhost:7001"), ("localhost", "http://localhost:7001"),
     ("0.0.0.0", "http://localhost:7001"), ("::", "http://localhost:7001"),
     ("::1", "http://[::1]:7001"), ("192.0.2.10", "http://192.0.2.10:7001"),
     ("2001:DB8::1", "http://[2001:db8::1]:7001"), ("Auth.Internal", "http://auth.internal:7001")],
)
def test_the_serve_commands_canonical_url(host: str, url: str) -> None:
    assert serve_url(host, 7001) == url
    assert load_settings({}, canonical_url=url).canonical_url == url


@pytest.mark.parametrize(
    "value", ["localhost:7001", "ftp://localhost", "http://localhost/auth", "http://a@b:1",
              "http://localhost:7001/?x=1", "http://bad host"],
)
def test_a_canonical_url_is_a_scheme_host_and_port_only(value: str) -> None:
    with pytest.raises(SettingsError, match="TEKCIFY_CANONICAL_URL"):
        load_settings({"TEKCIFY_CANONICAL_URL": value})


def test_the_banner_names_the_pages_host(tmp_path: Path) -> None:
    settings = make_settings(data_dir=tmp_path / "data")
    said = _banner(settings, ServerContext(settings), CANONICAL, every_interface=True)
    assert f"listening on {CANONICAL}" in said
    assert f"sign-in pages: {CANONICAL} (127.0.0.1 and [::1] are sent there" in said
    assert "TEKCIFY_PUBLIC_URL" in said
    public = make_settings(data_dir=tmp_path / "data", public_url="https://auth.example.com")
    assert "sign-in pages" not in _banner(public, ServerContext(public), "https://auth.example.com")


# -- the real command ------------------------------------------------------------------


def _wait(url: str, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(url + "/health", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the server did not come up"
        time.sleep(0.1)


@pytest.mark.slow
def test_serve_names_localhost_and_sends_127_0_0_1_pages_there(tmp_path: Path) -> None:
    env = {
        k: v for k, v in os.environ.items()
        if not k.startswith("TEKCIFY_") and k != "JWT_ACCESS_SECRET"
    }
    env.update(
        TEKCIFY_DATA_DIR=str(tmp_path / "data"), TEKCIFY_ARGON2_TIME_COST="1",
        TEKCIFY_ARGON2_MEMORY_COST="8", TEKCIFY_ARGON2_PARALLELISM="1",
    )
    proc = subprocess.Popen(  # port 0: serve picks a free one and names it
        [sys.executable, "-m", "tekcify_auth.cli", "serve", "--port", "0"],
        env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline()
        found = re.search(r"listening on http://localhost:(\d+)$", banner.strip())
        assert found, banner
        port = int(found.group(1))
        assert port > 0
        canonical, loopback = f"http://localhost:{port}", f"http://127.0.0.1:{port}"
        _wait(canonical, proc)
        with httpx.Client(base_url=loopback, timeout=10) as api:
            assert api.get("/health").status_code == 200
            document = api.get(DISCOVERY[0]).json()
            assert document["jwks_uri"] == f"{canonical}/api/.well-known/jwks.json"
            api.post("/api/auth/register", json={"email": "ada@example.com", "password": PASSWORD})
            token = api.post(
                "/api/auth/login", json={"email": "ada@example.com", "password": PASSWORD}
            ).json()["accessToken"]
            created = api.post(
                "/api/applications", headers={"Authorization": f"Bearer {token}"},
                json={"name": "Canonical", "redirectUris": ["http://127.0.0.1:9/callback"],
                      "scopes": ["openid"]},
            )
            assert created.status_code == 201, created.text
            path = (
                f"{AUTHORIZE}?response_type=code&client_id={created.json()['clientId']}"
                "&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcallback&scope=openid"
                "&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
                "&code_challenge_method=S256"
            )
            moved = api.get(path)
            assert moved.status_code == 302, moved.text
            assert moved.headers["location"] == canonical + path
            assert "set-cookie" not in moved.headers
        page = httpx.get(canonical + path, timeout=10)
        assert page.status_code == 200, page.text
        assert "tekcify_csrf=" in page.headers["set-cookie"]
    finally:
        proc.terminate()
        proc.communicate(timeout=20)


def test_a_port_of_zero_is_resolved_and_held_until_the_server_listens() -> None:
    from tekcify_auth.cli import _check_port

    with _check_port("127.0.0.1", 0) as probe:
        port = probe.getsockname()[1]
        assert port > 0
        # Nobody else is handed the port meanwhile.
        with socket.socket() as other, pytest.raises(OSError):
            other.bind(("127.0.0.1", port))
        with socket.socket() as server:  # but the server binds it, as uvicorn does
            server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            server.bind(("127.0.0.1", port))
            server.listen()
