"""Registration: limits per address and network, closed and invite-only registration,
invite codes, and hiding existing accounts (issue 17, item 4)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
import redis
from fastapi import FastAPI

from tekcify_auth.server.services import invites
from tekcify_auth.server.services.ratelimit import network_key

from .conftest import PASSWORD, FakeClock, Server, asgi_client, make_settings, register, running
from .recovery_helpers import mails
from .test_authorize import Browser, alert_text, authorization, hidden_fields, make_client
from .test_ratelimit import redis_url  # noqa: F401  (the fixture)

REGISTER = "/api/auth/register"


def _body(email: str, **more: str) -> dict[str, str]:
    return {"email": email, "password": PASSWORD, **more}


async def _post_from(app: FastAPI, address: str, email: str, **more: str) -> httpx.Response:
    async with asgi_client(app, address=address) as http:
        return await http.post(REGISTER, json=_body(email, **more))


def _assert_429(response: httpx.Response, window: int) -> None:
    assert response.status_code == 429, response.text
    assert 1 <= int(response.headers["Retry-After"]) <= window
    body = response.json()
    assert body["statusCode"] == 429
    assert body["message"] == "Too many registrations from this network; try again later"


# -- limits --------------------------------------------------------------------------------


def test_network_keys_are_ipv4_24_and_ipv6_56() -> None:
    assert network_key("203.0.113.7") == "203.0.113.0/24"
    assert network_key("::ffff:203.0.113.200") == "203.0.113.0/24"
    assert network_key("2001:db8:0:12::1") == "2001:db8::/56"
    assert network_key("2001:db8:0:100::1") == "2001:db8:0:100::/56"
    assert network_key(None) == "-"


async def test_registration_is_limited_per_address(server: Server, clock: FakeClock) -> None:
    async with server(registration_max_per_address=3) as (app, client):
        for n in range(3):
            assert (await client.post(REGISTER, json=_body(f"u{n}@example.com"))).status_code == 201
        refused = await client.post(REGISTER, json=_body("u9@example.com"))
        _assert_429(refused, 3600)
        # Another network is not affected, and the block ends with the window.
        assert (await _post_from(app, "198.51.100.1", "other@example.com")).status_code == 201
        clock.advance(3601)
        assert (await client.post(REGISTER, json=_body("u9@example.com"))).status_code == 201


async def test_refused_registrations_count_too(server: Server) -> None:
    # Probing which emails have accounts (409) spends the allowance as registering does.
    async with server(registration_max_per_address=3) as (_app, client):
        await register(client, "ada@example.com")
        for _ in range(2):
            assert (await client.post(REGISTER, json=_body("ada@example.com"))).status_code == 409
        _assert_429(await client.post(REGISTER, json=_body("ada@example.com")), 3600)


async def test_registration_is_limited_per_ipv4_network(server: Server) -> None:
    async with server(
        registration_max_per_address=10, registration_max_per_network=3
    ) as (app, _client):
        for n in range(3):
            created = await _post_from(app, f"192.0.2.{n + 1}", f"u{n}@example.com")
            assert created.status_code == 201
        _assert_429(await _post_from(app, "192.0.2.200", "u9@example.com"), 3600)
        assert (await _post_from(app, "192.0.3.1", "u9@example.com")).status_code == 201


async def test_an_ipv6_client_counts_by_its_64_and_its_56(server: Server) -> None:
    async with server(
        registration_max_per_address=2, registration_max_per_network=3
    ) as (app, _client):
        # Two addresses of one /64 are one client.
        assert (await _post_from(app, "2001:db8:0:1::1", "a@example.com")).status_code == 201
        assert (await _post_from(app, "2001:db8:0:1::2", "b@example.com")).status_code == 201
        _assert_429(await _post_from(app, "2001:db8:0:1::3", "c@example.com"), 3600)
        # Another /64 of the same /56 has its own address count, not its own network count.
        assert (await _post_from(app, "2001:db8:0:2::1", "d@example.com")).status_code == 201
        _assert_429(await _post_from(app, "2001:db8:0:3::1", "e@example.com"), 3600)
        assert (await _post_from(app, "2001:db8:1::1", "e@example.com")).status_code == 201


async def test_the_registration_page_is_limited_too(server: Server) -> None:
    async with server(registration_max_per_address=1) as (app, client):
        await register(client, "first@example.com")
        oauth_client = make_client(app)
        async with asgi_client(app) as http:
            browser = Browser(http)
            next_path = hidden_fields(await browser.get(authorization(oauth_client).url))["next"]
            form = await browser.get(f"/api/oauth/register?next={quote(next_path, safe='')}")
            refused = await browser.submit(form, {"email": "x@example.com", "password": PASSWORD})
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["Retry-After"]) <= 3600
        assert alert_text(refused) == "Too many registrations from this network; try again later"


@pytest.mark.needs("redis")
async def test_instances_share_the_registration_limits_through_redis(
    redis_url: str,  # noqa: F811
    clean_db: str,
    tmp_path: Path,
    clock: FakeClock,
) -> None:
    redis.Redis.from_url(redis_url).flushdb()
    settings = make_settings(
        database_url=clean_db, data_dir=tmp_path, redis_url=redis_url,
        registration_max_per_address=2,
    )
    async with running(settings, clock) as (_a, first), running(settings, clock) as (_b, second):
        await register(first, "a@example.com")
        await register(second, "b@example.com")
        _assert_429(await first.post(REGISTER, json=_body("c@example.com")), 3600)
        _assert_429(await second.post(REGISTER, json=_body("c@example.com")), 3600)


def test_the_workers_file_keeps_registrations_past_the_login_window(tmp_path: Path) -> None:
    # One file serves both limiters: a login's clean-up (15 minute window) must not drop
    # the registrations of the last hour.
    from tekcify_auth.server.services.ratelimit import EventLimiter, SqliteLimitStore

    now = [1_700_000_000.0]
    store = SqliteLimitStore(tmp_path / "limits.sqlite3", keep_for=3600)
    try:
        registrations = EventLimiter(store, window=3600, clock=lambda: now[0])
        keys = [("reg:ad:192.0.2.1", 2)]
        registrations.add(keys)
        registrations.add(keys)
        now[0] += 1000
        store.add("ad:192.0.2.9", 900, now[0], keep=5)  # a failed login, later
        assert registrations.wait(keys) == pytest.approx(2600)
    finally:
        store.close()


# -- who may register ----------------------------------------------------------------------


async def test_closed_registration_is_403_on_the_api_and_the_page(server: Server) -> None:
    async with server(registration="closed") as (app, client):
        refused = await client.post(REGISTER, json=_body("new@example.com"))
        assert refused.status_code == 403
        assert refused.json()["message"] == (
            "Registration is closed on this server; ask its administrator for an account"
        )
        oauth_client = make_client(app)
        async with asgi_client(app) as http:
            browser = Browser(http)
            next_path = hidden_fields(await browser.get(authorization(oauth_client).url))["next"]
            page = await browser.get(f"/api/oauth/register?next={quote(next_path, safe='')}")
            assert page.status_code == 403
            assert "Registration is closed" in alert_text(page)
            assert "<form" not in page.text
            posted = await http.post("/api/oauth/register", data={"next": next_path})
            assert posted.status_code == 403
        with app.state.ctx.db.read() as db:
            from tekcify_auth.server.services.accounts import find_by_email

            assert find_by_email(db, "new@example.com") is None


def _invite(app: FastAPI, uses: int = 1, expires_in: timedelta | None = None) -> tuple[str, str]:
    ctx = app.state.ctx
    with ctx.db.write() as db:
        info, code = invites.create_invite(db, ctx.clock(), uses=uses, expires_in=expires_in)
    return info.id, code


async def test_invite_registration_needs_a_usable_code(server: Server, clock: FakeClock) -> None:
    async with server(registration="invite") as (app, client):
        missing = await client.post(REGISTER, json=_body("a@example.com"))
        assert missing.status_code == 403
        assert missing.json()["message"] == "Registration needs an invite code (inviteCode)"
        wrong = await client.post(REGISTER, json=_body("a@example.com", inviteCode="nope"))
        assert wrong.status_code == 403
        assert "not valid" in wrong.json()["message"]
        _id, code = _invite(app, uses=2)
        assert (await client.post(
            REGISTER, json=_body("a@example.com", inviteCode=code)
        )).status_code == 201
        # A refused registration (the email is taken) spends nothing.
        taken = await client.post(REGISTER, json=_body("a@example.com", inviteCode=code))
        assert taken.status_code == 409
        assert (await client.post(
            REGISTER, json=_body("b@example.com", inviteCode=code)
        )).status_code == 201
        used_up = await client.post(REGISTER, json=_body("c@example.com", inviteCode=code))
        assert used_up.status_code == 403
        # Expired and revoked codes register nobody.
        _id, soon = _invite(app, expires_in=timedelta(hours=1))
        clock.advance(3601)
        assert (await client.post(
            REGISTER, json=_body("c@example.com", inviteCode=soon)
        )).status_code == 403
        revoked_id, revoked = _invite(app)
        with app.state.ctx.db.write() as db:
            assert invites.revoke_invite(db, revoked_id, clock())
        assert (await client.post(
            REGISTER, json=_body("c@example.com", inviteCode=revoked)
        )).status_code == 403


async def test_an_invite_code_is_ignored_when_registration_is_open(server: Server) -> None:
    async with server() as (_app, client):
        assert (await client.post(
            REGISTER, json=_body("a@example.com", inviteCode="anything")
        )).status_code == 201


async def test_two_registrations_cannot_both_spend_a_last_use(server: Server) -> None:
    async with server(registration="invite") as (app, client):
        _id, code = _invite(app, uses=1)
        answers = await asyncio.gather(*(
            client.post(REGISTER, json=_body(f"u{n}@example.com", inviteCode=code))
            for n in range(4)
        ))
        assert sorted(a.status_code for a in answers) == [201, 403, 403, 403]


async def test_the_invite_only_page_asks_for_the_code(server: Server) -> None:
    async with server(registration="invite") as (app, _client):
        _id, code = _invite(app)
        oauth_client = make_client(app)
        async with asgi_client(app) as http:
            browser = Browser(http)
            next_path = hidden_fields(await browser.get(authorization(oauth_client).url))["next"]
            form = await browser.get(f"/api/oauth/register?next={quote(next_path, safe='')}")
            assert ">Invite code</label>" in form.text
            refused = await browser.submit(form, {"email": "x@example.com", "password": PASSWORD})
            assert refused.status_code == 403
            assert alert_text(refused) == "Registration needs an invite code (inviteCode)"
            created = await browser.submit(
                form, {"email": "x@example.com", "password": PASSWORD, "invite_code": code}
            )
            assert created.status_code == 303


def test_invite_codes_are_stored_hashed(database_url: str, clean_db: str) -> None:
    from sqlalchemy import select

    from tekcify_auth.server.db.engine import Database
    from tekcify_auth.server.db.invites import Invite
    from tekcify_auth.server.services.invites import create_invite

    from .conftest import FakeClock as Clock

    db = Database(clean_db)
    try:
        with db.write() as session:
            _info, code = create_invite(session, Clock()(), uses=3)
        with db.read() as session:
            row = session.execute(select(Invite)).scalar_one()
        assert code not in (row.code_hash, row.id)
        assert len(code) >= 24
    finally:
        db.dispose()


# -- hiding existing accounts --------------------------------------------------------------


async def test_hidden_existing_accounts_answer_as_new_ones_and_mail_the_owner(
    server: Server,
) -> None:
    async with server(hide_existing_accounts=True) as (app, client):
        await register(client, "ada@example.com")
        new = await client.post(REGISTER, json=_body("new@example.com", firstName="Nina"))
        existing = await client.post(REGISTER, json=_body("ada@example.com", firstName="Nina"))
        assert new.status_code == existing.status_code == 201
        assert new.headers.keys() == existing.headers.keys()
        one, two = new.json(), existing.json()
        assert one.keys() == two.keys()
        assert {k: v for k, v in one.items() if k not in ("userId", "email")} == {
            k: v for k, v in two.items() if k not in ("userId", "email")
        }
        assert len(one["userId"]) == len(two["userId"])
        # The stand-in's id is no account's.
        with app.state.ctx.db.read() as db:
            from tekcify_auth.server.db.models import User

            assert db.get(User, two["userId"]) is None
        notices = mails(app, "account_exists", "ada@example.com")
        assert len(notices) == 1
        assert "already has an account" in notices[0].text
        assert "/account/forgot-password" in notices[0].text
        assert PASSWORD not in notices[0].text
        # No verification message went to the existing owner for that attempt.
        assert len(mails(app, "verify_email", "ada@example.com")) == 1
        # The existing account's password is unchanged.
        login = await client.post(
            "/api/auth/login", json={"email": "ada@example.com", "password": PASSWORD}
        )
        assert login.status_code == 200


async def test_hidden_existing_accounts_take_as_long_as_new_ones(server: Server) -> None:
    # Both hash the password and write once: the same timing class (not the same
    # microsecond): the median of each stays within a factor of two of the other.
    import statistics
    import time

    async with server(
        hide_existing_accounts=True, registration_max_per_address=1000,
        registration_max_per_network=1000, argon2_time_cost=2, argon2_memory_cost=4096,
    ) as (_app, client):
        await register(client, "ada@example.com")
        times: dict[str, list[float]] = {"new": [], "existing": []}
        for n in range(12):
            for kind, email in (("new", f"n{n}@example.com"), ("existing", "ada@example.com")):
                started = time.perf_counter()
                answer = await client.post(REGISTER, json=_body(email))
                times[kind].append(time.perf_counter() - started)
                assert answer.status_code == 201
        new, existing = (statistics.median(times[k]) for k in ("new", "existing"))
        assert 0.5 < new / existing < 2.0, times


async def test_by_default_an_existing_email_is_the_contracts_409(server: Server) -> None:
    async with server() as (app, client):
        await register(client, "ada@example.com")
        taken = await client.post(REGISTER, json=_body("ada@example.com"))
        assert taken.status_code == 409
        assert taken.json()["message"] == "An account with this email already exists"
        assert mails(app, "account_exists") == []


async def test_hidden_existing_accounts_on_the_page_look_like_new_ones(server: Server) -> None:
    async with server(hide_existing_accounts=True) as (app, client):
        await register(client, "ada@example.com")
        oauth_client = make_client(app)
        pages = []
        for email in ("ada@example.com", "new@example.com"):
            async with asgi_client(app) as http:
                browser = Browser(http)
                next_path = hidden_fields(
                    await browser.get(authorization(oauth_client).url)
                )["next"]
                form = await browser.get(f"/api/oauth/register?next={quote(next_path, safe='')}")
                pages.append(await browser.submit(form, {"email": email, "password": PASSWORD}))
        existing, new = pages
        assert existing.status_code == new.status_code == 200
        assert alert_text(existing).replace("ada@", "new@") == alert_text(new)
        for page in pages:  # neither is signed in
            assert "tekcify_login" not in " ".join(page.headers.get_list("set-cookie"))


def test_the_defaults_are_open_with_limits() -> None:
    from tekcify_auth.server.settings import load_settings

    settings = load_settings({})
    assert settings.registration == "open"
    assert settings.hide_existing_accounts is False
    assert (settings.registration_max_per_address, settings.registration_max_per_network) == (
        10, 50
    )
    assert (
        settings.client_auth_max_failures, settings.client_auth_max_failures_per_client
    ) == (20, 100)
