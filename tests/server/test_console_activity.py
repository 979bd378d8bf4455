"""The account console's Sessions, Connected apps and Security activity pages
(``routers/pages/account_activity.py``), driven over HTTP as a browser with the page
sign-in does: each action checked in the database and at the API it affects, every
form's CSRF refusal, escaping, another user's ids as 404, and no page for a bearer token
without the cookie."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from tekcify_auth.server.db.applications import Application
from tekcify_auth.server.db.models import User, UserSession
from tekcify_auth.server.db.oauth import Consent
from tekcify_auth.server.db.security import SecurityActivity
from tekcify_auth.server.routers.pages import EXPIRED_FORM
from tekcify_auth.server.routers.pages.account_activity import ACTIVITY_TEXT, device_text
from tekcify_auth.server.services import activity

from .conftest import CLIENT_ADDRESS, FakeClock, asgi_client, bearer, login, register
from .console_helpers import console_browser, form, notice, post_form
from .test_authorize import Browser, Client, authorization, get_code, make_client, redeem
from .test_connected_apps import connect

CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1"
)


def user_id(app: FastAPI, email: str = "ada@example.com") -> str:
    with app.state.ctx.db.read() as db:
        found: str = db.execute(select(User.id).where(User.email == email)).scalar_one()
        return found


def sessions_of(app: FastAPI, email: str = "ada@example.com") -> dict[str, Any]:
    """Each session of ``email``: its id -> when it was revoked (``None`` while live)."""
    uid = user_id(app, email)
    with app.state.ctx.db.read() as db:
        return dict(db.execute(
            select(UserSession.id, UserSession.revoked_at).where(UserSession.user_id == uid)
        ).all())


def state(app: FastAPI) -> dict[str, Any]:
    """What a refused form must leave as it was: sessions, consents and the activity log."""
    with app.state.ctx.db.read() as db:
        return {
            "sessions": sorted(
                (s.id, s.revoked_at) for s in db.execute(select(UserSession)).scalars()
            ),
            "consents": sorted(
                (c.user_id, c.client_id, c.scopes) for c in db.execute(select(Consent)).scalars()
            ),
            "activity": sorted(
                a.id for a in db.execute(select(SecurityActivity)).scalars()
            ),
        }


@contextmanager
def unchanged(app: FastAPI) -> Iterator[None]:
    before = state(app)
    yield
    assert state(app) == before


async def api_login(client: httpx.AsyncClient, agent: str, email: str = "ada@example.com") -> str:
    """A first-party login from a browser saying ``agent``; returns its access token."""
    answer = await client.post(
        "/api/auth/login", json={"email": email, "password": "correct horse battery"},
        headers={"User-Agent": agent},
    )
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["accessToken"]
    return token


async def api_session_id(client: httpx.AsyncClient, token: str) -> str:
    listed = await client.get("/api/auth/sessions", headers=bearer(token))
    [mine] = [s for s in listed.json()["sessions"] if s["current"]]
    found: str = mine["id"]
    return found


async def follow(http: httpx.AsyncClient, answer: httpx.Response) -> httpx.Response:
    assert answer.status_code == 303, answer.text
    return await http.get(answer.headers["location"])


# -- the device and browser ---------------------------------------------------------------


def test_the_device_is_read_from_the_user_agent() -> None:
    assert device_text(CHROME) == "Chrome 120 on Linux"
    assert device_text(IPHONE) == "Mobile Safari 17 on iPhone (iOS 17)"
    assert device_text(None) == "Unknown device"
    assert device_text("") == "Unknown device"
    assert device_text("python-httpx/0.27") == "Unknown device"


def test_every_activity_type_has_words() -> None:
    assert set(ACTIVITY_TEXT) == activity.TYPES


# -- Sessions ----------------------------------------------------------------------------


async def test_the_sessions_page_lists_each_session_and_marks_this_device(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client)
    await api_login(client, CHROME)
    async with console_browser(app) as http:
        page = await http.get("/account/sessions")
    assert page.status_code == 200
    assert "<h1>Sessions</h1>" in page.text
    assert 'aria-current="page">Sessions</a>' in page.text
    assert "Chrome 120 on Linux" in page.text
    assert CLIENT_ADDRESS in page.text
    assert page.text.count('<span class="badge">This device</span>') == 1
    assert "Signed in on the pages" in page.text
    assert "Signed in through the API" in page.text
    assert ">Revoke session on Chrome 120 on Linux</a>" in page.text
    assert 'href="/api/oauth/logout">Sign out</a>' in page.text
    assert "Revoke all other sessions (1)" in page.text
    # this device first
    assert page.text.index("This device</span>") < page.text.index("Chrome 120 on Linux")


async def test_a_user_agent_holding_html_is_shown_escaped(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client)
    token = await api_login(client, '<script>alert(1)</script>"')
    session_id = await api_session_id(client, token)
    async with console_browser(app) as http:
        page = await http.get("/account/sessions")
        confirm = await http.get(f"/account/sessions/{session_id}/revoke")
    for shown in (page, confirm):
        assert "<script>alert(1)</script>" not in shown.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;&#34;" in shown.text


async def test_revoking_a_session_asks_first_then_signs_it_out(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client)
    token = await api_login(client, CHROME)
    session_id = await api_session_id(client, token)
    async with console_browser(app) as http:
        confirm = await http.get(f"/account/sessions/{session_id}/revoke")
        assert confirm.status_code == 200
        assert "<h1>Revoke this session?</h1>" in confirm.text
        assert ">Revoke session on Chrome 120 on Linux</button>" in confirm.text
        assert f'<dd><span class="agent">{CHROME}</span></dd>' in confirm.text
        assert sessions_of(app)[session_id] is None  # the GET changed nothing
        answer = await post_form(http, confirm, f"/account/sessions/{session_id}/revoke")
        assert answer.headers["location"] == "/account/sessions?notice=sessions_revoked_one"
        shown = await follow(http, answer)
    assert notice(shown) == "The session is revoked: it is signed out."
    assert "Chrome 120 on Linux" not in shown.text
    assert sessions_of(app)[session_id] is not None
    assert (await client.get("/api/user/profile", headers=bearer(token))).status_code == 401
    with app.state.ctx.db.read() as db:
        [logged] = db.execute(
            select(SecurityActivity).where(SecurityActivity.activity_type == "session_revoked")
        ).scalars()
        assert logged.details == {"sessionId": session_id}


async def test_this_devices_session_is_not_revoked_here(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client)
    async with console_browser(app) as http:
        [current] = [sid for sid, revoked in sessions_of(app).items() if revoked is None]
        path = f"/account/sessions/{current}/revoke"
        confirm = await http.get(path)
        assert confirm.status_code == 200
        assert "To end it, <a href=\"/api/oauth/logout\">sign out</a>" in confirm.text
        assert f'action="{path}"' not in confirm.text
        # A hand-made post with the revoke form's token is refused too.
        other = await api_session_id(client, await api_login(client, CHROME))
        other_path = f"/account/sessions/{other}/revoke"
        token = form(await http.get(other_path), other_path).fields["csrf_token"]
        with unchanged(app):
            answer = await http.post(path, data={"csrf_token": token})
        assert answer.status_code == 400
        assert "To end it, sign out instead." in answer.text
        assert (await http.get("/account/sessions")).status_code == 200


async def test_revoking_the_other_sessions_keeps_this_browser(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client)
    first = await api_login(client, CHROME)
    second = await api_login(client, IPHONE)
    async with console_browser(app) as http:
        page = await http.get("/account/sessions")
        assert "Revoke all other sessions (2)" in page.text
        confirm = await http.get("/account/sessions/revoke-others")
        assert "<h1>Revoke your other sessions?</h1>" in confirm.text
        assert "Chrome 120 on Linux" in confirm.text
        assert "Mobile Safari 17 on iPhone (iOS 17)" in confirm.text
        answer = await post_form(http, confirm, "/account/sessions/revoke-others")
        assert answer.headers["location"] == "/account/sessions?notice=sessions_revoked_others"
        shown = await follow(http, answer)
        assert shown.status_code == 200
        assert notice(shown) == "Your other sessions are revoked: they are signed out."
        assert "Revoke all other sessions" not in shown.text
    live = [sid for sid, revoked in sessions_of(app).items() if revoked is None]
    assert len(live) == 1  # this browser's
    for token in (first, second):
        assert (await client.get("/api/user/profile", headers=bearer(token))).status_code == 401


async def test_another_users_session_is_not_found(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client)
    await register(client, "eve@example.com")
    eves = await api_session_id(client, await api_login(client, CHROME, "eve@example.com"))
    mine = await api_session_id(client, await api_login(client, IPHONE))
    async with console_browser(app) as http:
        own_form = await http.get(f"/account/sessions/{mine}/revoke")
        csrf = form(own_form, f"/account/sessions/{mine}/revoke").fields["csrf_token"]
        with unchanged(app):
            for path in (f"/account/sessions/{eves}/revoke", "/account/sessions/nothing/revoke"):
                assert (await http.get(path)).status_code == 404
                answer = await http.post(path, data={"csrf_token": csrf})
                assert answer.status_code == 404
                assert "This session" in answer.text
    assert sessions_of(app, "eve@example.com")[eves] is None


# -- Connected apps ----------------------------------------------------------------------


@pytest.fixture
def oauth_client(app: FastAPI) -> Client:
    return make_client(app)


async def test_the_connected_apps_page_shows_each_app_with_its_scopes_in_words(
    app: FastAPI, client: httpx.AsyncClient, oauth_client: Client
) -> None:
    await register(client)
    async with console_browser(app) as http:
        empty = await http.get("/account/apps")
        assert "You have not allowed any application to use your account." in empty.text
        await connect(app, client, oauth_client, scope="openid profile email")
        page = await http.get("/account/apps")
    assert page.status_code == 200
    assert "<h1>Connected apps</h1>" in page.text
    assert 'aria-current="page">Connected apps</a>' in page.text
    assert "Photo Printer" in page.text
    assert "Prints your photos" in page.text
    assert "See your name and profile picture <code>profile</code>" in page.text
    assert "See your email address <code>email</code>" in page.text
    assert "Know who you are on Tekcify <code>openid</code>" in page.text
    revoke = f"/account/apps/{oauth_client.client_id}/revoke"
    assert f'href="{revoke}">Withdraw access from Photo Printer</a>' in page.text


async def test_a_configured_scope_is_described_in_its_words(
    server: Any, clock: FakeClock
) -> None:
    async with server(extra_scopes="read:orders=Read your orders") as (app, client):
        await register(client)
        oauth = make_client(app, scopes=("openid", "read:orders"))
        await connect(app, client, oauth, scope="openid read:orders")
        async with console_browser(app) as http:
            page = await http.get("/account/apps")
    assert "Read your orders <code>read:orders</code>" in page.text


async def test_the_logo_and_an_html_name_are_shown_safely(
    app: FastAPI, client: httpx.AsyncClient, oauth_client: Client
) -> None:
    await register(client)
    await connect(app, client, oauth_client)
    with app.state.ctx.db.write() as db:
        db.execute(
            update(Application)
            .where(Application.client_id == oauth_client.client_id)
            .values(name="<b>Bold</b> & co", logo_url="/api/images/logo-1.webp")
        )
    async with console_browser(app) as http:
        page = await http.get("/account/apps")
        confirm = await http.get(f"/account/apps/{oauth_client.client_id}/revoke")
    for shown in (page, confirm):
        assert "<b>Bold</b>" not in shown.text
        assert "&lt;b&gt;Bold&lt;/b&gt; &amp; co" in shown.text
    assert '<img class="app-logo" src="http://tekcify.test/api/images/logo-1.webp"' in page.text


async def test_withdrawing_access_asks_first_then_revokes_the_apps_tokens(
    app: FastAPI, client: httpx.AsyncClient, oauth_client: Client
) -> None:
    await register(client)
    tokens = await connect(app, client, oauth_client)
    assert (await client.get("/api/oauth/userinfo", headers=bearer(tokens["access_token"]))
            ).status_code == 200
    revoke = f"/account/apps/{oauth_client.client_id}/revoke"
    async with console_browser(app) as http:
        confirm = await http.get(revoke)
        assert confirm.status_code == 200
        assert "<h1>Withdraw access from Photo Printer?</h1>" in confirm.text
        assert ">Withdraw access from Photo Printer</button>" in confirm.text
        answer = await post_form(http, confirm, revoke)
        assert answer.headers["location"] == "/account/apps?notice=apps_revoked"
        shown = await follow(http, answer)
    assert notice(shown) == (
        "The application can no longer use your account: its tokens are revoked."
    )
    assert "Photo Printer" not in shown.text
    with app.state.ctx.db.read() as db:
        assert db.execute(select(Consent)).first() is None
        kinds = list(db.execute(select(SecurityActivity.activity_type)).scalars())
    assert "connected_app_revoked" in kinds
    assert (await client.get("/api/oauth/userinfo", headers=bearer(tokens["access_token"]))
            ).status_code == 401


async def test_another_users_connected_app_is_not_found(
    app: FastAPI, client: httpx.AsyncClient, oauth_client: Client
) -> None:
    await register(client)
    await register(client, "eve@example.com")
    theirs = make_client(app, name="Eve's app")
    await connect(app, client, oauth_client)  # ada's
    await connect_as(app, client, theirs, "eve@example.com")
    async with console_browser(app) as http:
        own = await http.get(f"/account/apps/{oauth_client.client_id}/revoke")
        csrf = form(own, f"/account/apps/{oauth_client.client_id}/revoke").fields["csrf_token"]
        with unchanged(app):
            for path in (f"/account/apps/{theirs.client_id}/revoke", "/account/apps/nope/revoke"):
                assert (await http.get(path)).status_code == 404
                answer = await http.post(path, data={"csrf_token": csrf})
                assert answer.status_code == 404
                assert "This connected application" in answer.text


# -- Security activity -------------------------------------------------------------------


def record(app: FastAPI, clock: FakeClock, kind: str, n: int = 1, **extra: Any) -> None:
    uid = user_id(app)
    with app.state.ctx.db.write() as db:
        for _ in range(n):
            clock.advance(1)
            activity.record(db, clock(), user_id=uid, activity_type=kind, **extra)


async def test_the_activity_page_marks_failures(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client)
    bad = await client.post(
        "/api/auth/login", json={"email": "ada@example.com", "password": "wrong password!"},
        headers={"User-Agent": CHROME},
    )
    assert bad.status_code == 401
    async with console_browser(app) as http:
        page = await http.get("/account/activity")
    assert page.status_code == 200
    assert "<h1>Security activity</h1>" in page.text
    assert 'aria-current="page">Security activity</a>' in page.text
    row = page.text.split('<tr class="failure">', 1)[1].split("</tr>", 1)[0]
    assert "Sign-in failed" in row
    assert '<span class="badge failure">Failed</span>' in row
    assert "Chrome 120 on Linux" in row
    assert CLIENT_ADDRESS in row
    assert "Signed in" in page.text  # the console's own sign-in, a success
    assert page.text.count('<tr class="failure">') == 1


async def test_the_activity_is_paged_and_filtered_by_type(
    app: FastAPI, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    await register(client)
    record(app, clock, "passkey_used", 25)
    record(app, clock, "mfa_failed", 3, success=False)
    async with console_browser(app) as http:
        first = await http.get("/account/activity")
        second = await http.get("/account/activity?page=2")
        filtered = await http.get("/account/activity?type=mfa_failed")
        passkeys_two = await http.get("/account/activity?type=passkey_used&page=2")
        beyond = await http.get("/account/activity?page=9")
        nonsense = await http.get("/account/activity?page=abc")
    # 25 + 3 recorded, and the console's own sign-in
    assert "29 events (page 1 of 2)" in first.text
    assert first.text.count("<tr") == 21  # the head and 20 events
    assert 'href="/account/activity?page=2">Next page</a>' in first.text
    assert "29 events (page 2 of 2)" in second.text
    assert second.text.count("<tr") == 10
    assert 'href="/account/activity?page=1">Previous page</a>' in second.text
    assert "3 events of this type (page 1 of 1)" in filtered.text
    assert filtered.text.count('<tr class="failure">') == 3
    assert "Passkey" not in filtered.text.split("<tbody>")[1]
    assert '<option value="mfa_failed" selected>' in filtered.text
    assert "25 events of this type (page 2 of 2)" in passkeys_two.text
    assert 'href="/account/activity?type=passkey_used&amp;page=1">Previous page</a>' in (
        passkeys_two.text
    )
    assert "There are no events on page 9." in beyond.text
    assert "29 events (page 1 of 2)" in nonsense.text


async def test_an_unknown_type_is_refused_with_the_message(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client)
    async with console_browser(app) as http:
        page = await http.get("/account/activity?type=<script>")
    assert page.status_code == 400
    assert "Choose a type of event from the list." in page.text
    assert 'aria-describedby="form-error"' in page.text
    assert "<script>" not in page.text


async def test_activity_details_holding_html_are_shown_escaped(
    app: FastAPI, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    await register(client)
    record(
        app, clock, "passkey_renamed", user_agent="<i>agent</i>",
        metadata={"credentialId": "c1", "from": "<b>old</b>", "to": "<script>x</script>"},
    )
    async with console_browser(app) as http:
        page = await http.get("/account/activity?type=passkey_renamed")
    assert "<script>x</script>" not in page.text
    assert "<b>old</b>" not in page.text
    assert "From &lt;b&gt;old&lt;/b&gt; to &lt;script&gt;x&lt;/script&gt;" in page.text
    assert "c1" not in page.text  # ids are not shown


# -- every form: CSRF; without the cookie ------------------------------------------------


async def forms_of(client: httpx.AsyncClient, oauth_client: Client) -> list[str]:
    """The action of each form (each is also its confirmation page's address), with
    something for each to act on."""
    session = await api_session_id(client, await api_login(client, CHROME))
    return [
        f"/account/sessions/{session}/revoke",
        "/account/sessions/revoke-others",
        f"/account/apps/{oauth_client.client_id}/revoke",
    ]


async def connect_as(app: FastAPI, client: httpx.AsyncClient, oauth: Client, email: str) -> None:
    """``email`` consents to ``oauth`` on the pages and the code is redeemed."""
    async with asgi_client(app) as raw:
        code, request = await get_code(
            Browser(raw), oauth, authorization(oauth, scope="openid"), email=email
        )
    assert (await redeem(client, oauth, code, request)).status_code == 200


@pytest.mark.parametrize("which", [0, 1, 2])
async def test_every_form_refuses_a_missing_or_foreign_csrf_token(
    app: FastAPI, client: httpx.AsyncClient, oauth_client: Client, which: int
) -> None:
    await register(client)
    await register(client, "eve@example.com")
    await connect(app, client, oauth_client)
    await connect_as(app, client, oauth_client, "eve@example.com")
    # Eve's token for the same form (her own session to revoke, her own connection).
    async with console_browser(app, "eve@example.com") as eves:
        eve_session = await api_session_id(
            client, await api_login(client, IPHONE, "eve@example.com")
        )
        eve_action = [
            f"/account/sessions/{eve_session}/revoke", "/account/sessions/revoke-others",
            f"/account/apps/{oauth_client.client_id}/revoke",
        ][which]
        foreign = form(await eves.get(eve_action), eve_action).fields["csrf_token"]
    async with console_browser(app) as http:
        actions = await forms_of(client, oauth_client)
        action = actions[which]
        page = await http.get(action)
        other = actions[(which + 1) % len(actions)]
        other_token = form(await http.get(other), other).fields["csrf_token"]
        with unchanged(app):
            for token in (None, foreign, other_token, ""):
                answer = await post_form(http, page, action, csrf_token=token)
                assert answer.status_code == 403, (token, answer.text)
                assert EXPIRED_FORM in answer.text
                assert 'role="alert"' in answer.text


PAGES = ["/account/sessions", "/account/sessions/revoke-others", "/account/apps",
         "/account/activity"]


@pytest.mark.parametrize("path", PAGES)
async def test_a_bearer_token_without_the_cookie_is_sent_to_sign_in(
    app: FastAPI, client: httpx.AsyncClient, path: str
) -> None:
    await register(client)
    tokens = await login(client)
    async with asgi_client(app) as http:
        answer = await http.get(path, headers=bearer(tokens["accessToken"]))
    assert answer.status_code == 302
    assert answer.headers["location"] == "/api/oauth/login?next=" + quote(path, safe="")


async def test_a_form_posted_without_the_cookie_does_nothing(
    app: FastAPI, client: httpx.AsyncClient, oauth_client: Client
) -> None:
    await register(client)
    tokens = await login(client)
    await connect(app, client, oauth_client)
    session = await api_session_id(client, tokens["accessToken"])
    actions = [f"/account/sessions/{session}/revoke", "/account/sessions/revoke-others",
               f"/account/apps/{oauth_client.client_id}/revoke"]
    async with asgi_client(app) as http:
        with unchanged(app):
            for action in actions:
                answer = await http.post(
                    action, data={"csrf_token": "x"}, headers=bearer(tokens["accessToken"])
                )
                assert answer.status_code == 303
                assert answer.headers["location"] == (
                    "/api/oauth/login?next=" + quote(action, safe="")
                )


async def test_every_page_cannot_be_framed_or_cached_and_runs_no_script(
    app: FastAPI, client: httpx.AsyncClient, oauth_client: Client
) -> None:
    await register(client)
    await connect(app, client, oauth_client)
    async with console_browser(app) as http:
        paths = [*PAGES, *(await forms_of(client, oauth_client))]
        for path in paths:
            page = await http.get(path)
            assert page.status_code == 200, path
            policy = page.headers["content-security-policy"]
            assert "frame-ancestors 'none'" in policy, path
            assert "script-src" not in policy, path
            assert "<script" not in page.text, path
            assert page.headers["x-frame-options"] == "DENY", path
            assert page.headers["cache-control"] == "no-store", path
