"""The account console's ways to sign in (``routers/pages/account_security.py``):
Two-factor sign-in, Passkeys and Social accounts, driven over HTTP as a browser with the
page sign-in does, each action checked in the database; every form's CSRF refusal,
another user's objects, escaping, and the refusal of a bearer token without the cookie."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from tekcify_auth.server.db.mfa import BackupCode, TotpFactor
from tekcify_auth.server.db.models import User
from tekcify_auth.server.db.passkeys import Passkey
from tekcify_auth.server.db.social import SocialAccount
from tekcify_auth.server.routers.pages import EXPIRED_FORM
from tekcify_auth.server.services import mfa

from .conftest import PASSWORD, FakeClock, asgi_client, bearer, login, register
from .console_helpers import console_browser, form, forms, notice, post_form
from .mfa_helpers import code_at, enable_mfa, next_step
from .social_support import CALLBACK
from .test_console_account import follow, mailed_code, no_password_browser
from .test_passkeys import ORIGIN, add_passkey
from .test_social import Site, start_site  # noqa: F401  (fixture)
from .webauthn_soft import SoftAuthenticator

TWO_FACTOR = "/account/two-factor"
PASSKEYS = "/account/passkeys"
SOCIAL = "/account/social"


def user_id(app: FastAPI, email: str = "ada@example.com") -> str:
    with app.state.ctx.db.read() as db:
        return str(db.execute(select(User.id).where(User.email == email)).scalar_one())


def state(app: FastAPI) -> dict[str, Any]:
    """What a refused form must leave as it was: factors, codes, passkeys, links."""
    with app.state.ctx.db.read() as db:
        return {
            "totp": sorted(
                (r.user_id, r.enabled_at is not None, r.secret_sealed)
                for r in db.execute(select(TotpFactor)).scalars()
            ),
            "codes": sorted(
                (r.user_id, r.code_hash, r.used_at is not None)
                for r in db.execute(select(BackupCode)).scalars()
            ),
            "passkeys": sorted(
                (r.id, r.user_id, r.name) for r in db.execute(select(Passkey)).scalars()
            ),
            "links": sorted(
                (r.user_id, r.provider, r.subject)
                for r in db.execute(select(SocialAccount)).scalars()
            ),
        }


@contextmanager
def unchanged(app: FastAPI) -> Iterator[None]:
    before = state(app)
    yield
    assert state(app) == before


def mfa_on(app: FastAPI, email: str = "ada@example.com") -> bool:
    with app.state.ctx.db.read() as db:
        return mfa.is_enabled(db, user_id(app, email))


def hidden(page: httpx.Response, action: str, name: str) -> str:
    return form(page, action).fields[name]


def link(app: FastAPI, email: str, provider: str, subject: str = "sub-1",
         shown: str | None = None) -> None:
    """A provider identity linked to ``email``'s account, as a social sign-in leaves one."""
    ctx = app.state.ctx
    with ctx.db.write() as db:
        now = ctx.clock()
        db.add(SocialAccount(
            user_id=user_id(app, email), provider=provider, subject=subject, email=shown,
            linked_at=now, last_used_at=now,
        ))


async def api_token(client: httpx.AsyncClient, email: str = "ada@example.com") -> str:
    return str((await login(client, email))["accessToken"])


# -- Two-factor --------------------------------------------------------------------------


async def start_setup(http: httpx.AsyncClient, **proof: str) -> httpx.Response:
    page = await http.get(TWO_FACTOR)
    assert page.status_code == 200
    answer = await post_form(http, page, f"{TWO_FACTOR}/setup", **proof)
    assert answer.status_code == 200, answer.text
    return answer


def secret_of(page: httpx.Response) -> str:
    return hidden(page, f"{TWO_FACTOR}/confirm", "secret")


def codes_on(page: httpx.Response) -> list[str]:
    found = re.search(r'<pre class="codes" id="backup-codes">(.*?)</pre>', page.text, re.S)
    assert found is not None, page.text
    return found.group(1).split()


async def test_setting_up_two_factor_shows_the_qr_code_checks_a_code_then_the_codes(
    app: FastAPI, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    await register(client)
    async with console_browser(app) as http:
        page = await http.get(TWO_FACTOR)
        assert "<h1>Two-factor sign-in</h1>" in page.text
        assert 'class="badge">Off' in page.text
        assert 'aria-current="page">Two-factor sign-in</a>' in page.text
        scan = await start_setup(http, password=PASSWORD)
        assert 'src="data:image/png;base64,' in scan.text
        # Only the page showing the QR code it made lets data: images load.
        assert "img-src 'self' data:;" in scan.headers["content-security-policy"]
        assert "data:" not in page.headers["content-security-policy"]
        secret = secret_of(scan)
        assert f'<code class="secret" id="totp-secret">{secret}</code>' in scan.text
        assert not mfa_on(app)

        wrong = await post_form(http, scan, f"{TWO_FACTOR}/confirm", mfa_code="000000")
        assert wrong.status_code == 400
        assert mfa.WRONG_CODE in wrong.text
        assert secret_of(wrong) == secret  # the same QR code again, nothing to redo
        assert 'aria-invalid="true"' in wrong.text
        assert not mfa_on(app)
        empty = await post_form(http, scan, f"{TWO_FACTOR}/confirm", mfa_code=" ")
        assert empty.status_code == 400
        assert "Enter the 6-digit code" in empty.text

        done = await post_form(
            http, wrong, f"{TWO_FACTOR}/confirm", mfa_code=code_at(secret, clock)
        )
        assert done.status_code == 200, done.text
        assert "Two-factor sign-in is on" in notice(done)
        codes = codes_on(done)
        assert len(codes) == mfa.BACKUP_CODE_COUNT
        assert mfa_on(app)
        assert done.headers["cache-control"] == "no-store"

        text = await post_form(http, done, f"{TWO_FACTOR}/backup-codes.txt")
        assert text.status_code == 200
        assert text.headers["content-type"].startswith("text/plain")
        assert "attachment" in text.headers["content-disposition"]
        assert text.headers["cache-control"] == "no-store"
        assert all(code in text.text for code in codes)
        # Codes the form made up are not this server's to download.
        forged = await post_form(
            http, done, f"{TWO_FACTOR}/backup-codes.txt", codes="aaaa-bbbb-cccc"
        )
        assert forged.status_code == 403

        page = await http.get(TWO_FACTOR)
        assert 'class="badge">On' in page.text
        # A backup code shown works, as the login's second step.
        with app.state.ctx.db.write() as db:
            assert mfa.accept_code(
                db, app.state.ctx, user_id(app), clock.now,
                mfa_client(), code=codes[0],
            ) is not None


def mfa_client() -> Any:
    from tekcify_auth.server.services.accounts import Client

    return Client(address="127.0.0.1", user_agent="test")


async def test_a_confirmation_carrying_another_secret_is_refused(
    app: FastAPI, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    await register(client)
    async with console_browser(app) as http:
        scan = await start_setup(http, password=PASSWORD)
        made_up = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
        answer = await post_form(
            http, scan, f"{TWO_FACTOR}/confirm", secret=made_up,
            mfa_code=code_at(made_up, clock),
        )
        assert answer.status_code == 403
        assert EXPIRED_FORM in answer.text
        assert not mfa_on(app)


async def test_a_wrong_password_sets_nothing_up(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client)
    async with console_browser(app) as http:
        for off in ("/disable", "/backup-codes"):  # nothing to turn off or renew yet
            moved = await http.get(TWO_FACTOR + off)
            assert moved.status_code == 303
            assert moved.headers["location"] == TWO_FACTOR
        with unchanged(app):
            page = await http.get(TWO_FACTOR)
            answer = await post_form(http, page, f"{TWO_FACTOR}/setup", password="wrong one!")
            assert answer.status_code == 403
            assert "The password is incorrect" in answer.text
            missing = await post_form(http, page, f"{TWO_FACTOR}/setup")
            assert missing.status_code == 400
            assert "Enter your password, or ask for a code by email" in missing.text


async def test_an_account_without_a_password_sets_up_with_a_mailed_code(
    app: FastAPI, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    async with await no_password_browser(app, client) as http:
        page = await http.get(TWO_FACTOR)
        assert 'id="password"' not in page.text
        sent = await follow(http, await post_form(http, page, f"{TWO_FACTOR}/setup/code"))
        assert "We sent a 6-digit code" in notice(sent)
        wrong = await post_form(http, sent, f"{TWO_FACTOR}/setup", code="000000")
        assert wrong.status_code == 400
        scan = await post_form(http, sent, f"{TWO_FACTOR}/setup", code=mailed_code(app))
        assert scan.status_code == 200, scan.text
        done = await post_form(
            http, scan, f"{TWO_FACTOR}/confirm", mfa_code=code_at(secret_of(scan), clock)
        )
        assert done.status_code == 200
        assert mfa_on(app)


async def test_turning_two_factor_off_needs_the_password_and_a_code(
    app: FastAPI, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    await register(client)
    async with console_browser(app) as http:  # signed in before two-factor is on
        setup = await enable_mfa(client, await api_token(client), clock)
        page = await http.get(TWO_FACTOR)
        assert 'class="badge">On' in page.text
        assert f'href="{TWO_FACTOR}/disable"' in page.text
        confirm = await http.get(f"{TWO_FACTOR}/disable")
        assert "<h1>Turn off two-factor sign-in</h1>" in confirm.text
        action = f"{TWO_FACTOR}/disable"
        with unchanged(app):
            no_code = await post_form(http, confirm, action, password=PASSWORD)
            assert no_code.status_code == 400
            assert "Enter the code from your authenticator app" in no_code.text
            wrong = await post_form(http, confirm, action, password=PASSWORD, mfa_code="000000")
            assert wrong.status_code == 403
            assert mfa.WRONG_CODE in wrong.text
            bad_password = await post_form(
                http, confirm, action, password="not it at all", mfa_code=code_at(
                    setup["secret"], clock)
            )
            assert bad_password.status_code == 403
        next_step(clock)
        done = await post_form(
            http, confirm, action, password=PASSWORD, mfa_code=code_at(setup["secret"], clock)
        )
        page = await follow(http, done)
        assert notice(page) == "Two-factor sign-in is off. Your backup codes no longer work."
        assert not mfa_on(app)
        assert state(app)["codes"] == []


async def test_new_backup_codes_replace_the_old_ones(
    app: FastAPI, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    await register(client)
    async with console_browser(app) as http:  # signed in before two-factor is on
        setup = await enable_mfa(client, await api_token(client), clock)
        page = await http.get(f"{TWO_FACTOR}/backup-codes")
        assert "<h1>New backup codes</h1>" in page.text
        answer = await post_form(
            http, page, f"{TWO_FACTOR}/backup-codes", password=PASSWORD,
            mfa_code=setup["backupCodes"][0],
        )
        assert answer.status_code == 200, answer.text
        fresh = codes_on(answer)
        assert len(fresh) == mfa.BACKUP_CODE_COUNT
        assert set(fresh).isdisjoint(setup["backupCodes"])
        assert len(state(app)["codes"]) == mfa.BACKUP_CODE_COUNT
        with app.state.ctx.db.write() as db:
            ctx = app.state.ctx
            assert mfa.accept_code(
                db, ctx, user_id(app), clock.now, mfa_client(), code=setup["backupCodes"][1]
            ) is None
        text = await post_form(http, answer, f"{TWO_FACTOR}/backup-codes.txt")
        assert fresh[0] in text.text


# -- Passkeys ----------------------------------------------------------------------------


async def add_on_page(
    http: httpx.AsyncClient, name: str, key: SoftAuthenticator | None = None
) -> httpx.Response:
    """What the page's script does: options, the authenticator, the form."""
    page = await http.get(PASSKEYS)
    fields = form(page, PASSKEYS).fields
    options = await http.post(f"{PASSKEYS}/options", json={"csrfToken": fields["csrf_token"]})
    assert options.status_code == 200, options.text
    key = key or SoftAuthenticator()
    return await post_form(
        http, page, PASSKEYS, name=name, challenge=options.json()["challenge"],
        credential=json.dumps(key.register(options.json()["options"], origin=ORIGIN)),
    )


def passkey_rows(app: FastAPI, email: str = "ada@example.com") -> list[Passkey]:
    with app.state.ctx.db.read() as db:
        rows = list(db.execute(
            select(Passkey).where(Passkey.user_id == user_id(app, email))
            .order_by(Passkey.created_at)
        ).scalars())
        for row in rows:
            db.expunge(row)
        return rows


async def test_a_passkey_is_added_listed_renamed_and_removed(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client)
    async with console_browser(app) as http:
        page = await http.get(PASSKEYS)
        assert "You have no passkey yet." in page.text
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert '<script src="/api/oauth/static/passkey.js" defer></script>' in page.text
        refused = await http.post(f"{PASSKEYS}/options", json={"csrfToken": "0" * 64})
        assert refused.status_code == 403

        sent = await add_on_page(http, "<b>Laptop</b>\x07")
        # The same post again: its challenge served once.
        replayed = await http.post(PASSKEYS, data=dict(parse_qs(sent.request.content.decode())))
        assert replayed.status_code == 400
        added = await follow(http, sent)
        assert notice(added) == "Your new passkey is added."
        [row] = passkey_rows(app)
        assert row.name == "<b>Laptop</b>"
        assert "<b>Laptop</b>" not in added.text
        assert "&lt;b&gt;Laptop&lt;/b&gt;" in added.text
        assert "Never" in added.text  # not used yet

        rename = f"{PASSKEYS}/{row.id}/rename"
        assert f'href="{rename}"' in added.text
        form_page = await http.get(rename)
        assert 'value="&lt;b&gt;Laptop&lt;/b&gt;"' in form_page.text
        blank = await post_form(http, form_page, rename, name="  ")
        assert blank.status_code == 400
        assert 'aria-invalid="true"' in blank.text
        assert [p.name for p in passkey_rows(app)] == ["<b>Laptop</b>"]
        renamed = await follow(http, await post_form(http, form_page, rename, name="Phone"))
        assert notice(renamed) == "The passkey is renamed."
        assert [p.name for p in passkey_rows(app)] == ["Phone"]

        confirm = await http.get(f"{PASSKEYS}/{row.id}/remove")
        assert confirm.status_code == 200
        assert "<h1>Remove a passkey</h1>" in confirm.text
        assert "Remove passkey Phone" in confirm.text
        assert passkey_rows(app) != []
        gone = await follow(http, await post_form(http, confirm, f"{PASSKEYS}/{row.id}/remove"))
        assert notice(gone) == "The passkey is removed."
        assert passkey_rows(app) == []


async def test_a_refused_passkey_keeps_the_name_and_adds_nothing(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client)
    async with console_browser(app) as http:
        page = await http.get(PASSKEYS)
        with unchanged(app):
            answer = await post_form(
                http, page, PASSKEYS, name="Tablet", challenge="x" * 43, credential="{}"
            )
        assert answer.status_code == 400
        assert 'value="Tablet"' in answer.text


async def test_another_users_passkey_is_404_everywhere(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client)
    await register(client, "eve@example.com")
    await add_passkey(client, await api_token(client, "eve@example.com"), name="Eve's key")
    [eves] = passkey_rows(app, "eve@example.com")
    await add_passkey(client, await api_token(client), name="Mine")
    async with console_browser(app) as http:
        page = await http.get(PASSKEYS)
        assert "Eve&#39;s key" not in page.text
        with unchanged(app):
            assert (await http.get(f"{PASSKEYS}/{eves.id}/remove")).status_code == 404
            assert (await http.get(f"{PASSKEYS}/{eves.id}/rename")).status_code == 404
            mine = f"{PASSKEYS}/{passkey_rows(app)[0].id}/rename"
            token = hidden(await http.get(mine), mine, "csrf_token")
            renamed = await http.post(
                f"{PASSKEYS}/{eves.id}/rename", data={"csrf_token": token, "name": "Mine now"}
            )
            assert renamed.status_code == 404
            removed = await http.post(f"{PASSKEYS}/{eves.id}/remove", data={"csrf_token": token})
            assert removed.status_code == 404
            assert "This passkey" in removed.text


async def test_the_last_way_to_sign_in_cannot_be_removed(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client)
    token = await api_token(client)
    await add_passkey(client, token, name="First key")
    await add_passkey(client, token, name="Second key")
    first, second = passkey_rows(app)
    async with await no_password_browser(app, client, registered=True) as http:
        # Two passkeys and no password: either may go; the confirmation page of the first.
        confirm = await http.get(f"{PASSKEYS}/{first.id}/remove")
        assert form(confirm, f"{PASSKEYS}/{first.id}/remove")
        gone = await post_form(http, await http.get(f"{PASSKEYS}/{second.id}/remove"),
                               f"{PASSKEYS}/{second.id}/remove")
        assert gone.status_code == 303
        page = await http.get(PASSKEYS)
        assert "your only way to sign in, so it cannot be removed" in page.text
        assert f"{PASSKEYS}/{first.id}/remove" not in page.text
        assert f"{PASSKEYS}/{first.id}/rename" in page.text
        again = await http.get(f"{PASSKEYS}/{first.id}/remove")
        assert "cannot be removed" in again.text
        assert not [f for f in forms(again) if f.action.endswith("/remove")]
        # The form of the page of a moment ago: the service's rule refuses it.
        with unchanged(app):
            answer = await post_form(http, confirm, f"{PASSKEYS}/{first.id}/remove")
        assert answer.status_code == 409
        assert "only way to sign in" in answer.text
        assert [p.name for p in passkey_rows(app)] == ["First key"]


# -- Social accounts ---------------------------------------------------------------------


async def test_a_linked_account_is_listed_escaped_and_disconnected_after_confirming(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client)
    link(app, "ada@example.com", "corp", shown="<i>ada</i>@corp.example")
    async with console_browser(app) as http:
        page = await http.get(SOCIAL)
        assert "<h1>Social accounts</h1>" in page.text
        assert 'class="badge">Connected' in page.text
        assert "<i>ada</i>" not in page.text
        assert "&lt;i&gt;ada&lt;/i&gt;@corp.example" in page.text
        confirm = await http.get(f"{SOCIAL}/corp/unlink")
        assert "<h1>Disconnect corp</h1>" in confirm.text
        assert state(app)["links"] != []
        done = await follow(http, await post_form(http, confirm, f"{SOCIAL}/corp/unlink"))
        assert notice(done) == "The account is disconnected."
        assert state(app)["links"] == []
        assert (await http.get(f"{SOCIAL}/corp/unlink")).status_code == 404


async def test_another_users_link_is_404_and_the_last_way_stays(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client)
    await register(client, "eve@example.com")
    link(app, "eve@example.com", "corp", subject="eve-sub")
    link(app, "ada@example.com", "github", subject="ada-sub")
    async with await no_password_browser(app, client, registered=True) as http:
        confirm = await http.get(f"{SOCIAL}/github/unlink")
        token = hidden(confirm, f"{SOCIAL}/github/unlink", "csrf_token")
        with unchanged(app):
            assert (await http.get(f"{SOCIAL}/corp/unlink")).status_code == 404
            eves = await http.post(f"{SOCIAL}/corp/unlink", data={"csrf_token": token})
            assert eves.status_code == 404
            last = await post_form(http, confirm, f"{SOCIAL}/github/unlink")
            assert last.status_code == 409
            assert "only way to sign in" in last.text


def test_connecting_a_provider_goes_through_its_sign_in_and_links_this_account(
    start_site: Any,  # noqa: F811
) -> None:
    with start_site() as site, httpx.Client(timeout=30) as browser:
        site.add_user("ada@example.com", verified=True)
        base = site.base
        login_page = browser.get(f"{base}/api/oauth/login?next={quote(SOCIAL, safe='')}")
        fields = form(login_page, "/api/oauth/login").fields
        signed = browser.post(f"{base}/api/oauth/login", data={
            **fields, "email": "ada@example.com", "password": PASSWORD,
        })
        assert signed.status_code == 303, signed.text
        page = browser.get(base + SOCIAL)
        assert "Connect Fake" in page.text
        linked = _connect(site, browser, page)
        assert linked.status_code == 303, linked.text
        back = browser.get(base + linked.headers["location"])
        assert notice(back) == "The account is connected. You can sign in with it."
        # The provider's address (fresh@example.com) is not ada's: linked all the same,
        # since ada asked for it while signed in; no account was made for it.
        assert [(r.provider, r.subject) for r in site.links("ada@example.com")] == [
            ("fake", "fake-subject-1")
        ]
        assert site.user("fresh@example.com") is None
        assert "Disconnect Fake" in back.text


def _connect(site: Site, browser: httpx.Client, page: httpx.Response) -> httpx.Response:
    action = f"{SOCIAL}/fake/link"
    sent = browser.post(site.base + action, data=form(page, action).fields)
    assert sent.status_code == 303, sent.text
    params = {k: v[0] for k, v in parse_qs(urlsplit(sent.headers["location"]).query).items()}
    site.fake.nonces.append(params["nonce"])
    return browser.get(
        site.base + CALLBACK.format(name="fake"), params={"state": params["state"], "code": "c"}
    )


def test_an_identity_of_another_account_is_not_connected(
    start_site: Any,  # noqa: F811
) -> None:
    with start_site() as site, httpx.Client(timeout=30) as browser:
        site.add_user("ada@example.com", verified=True)
        site.add_user("eve@example.com", verified=True)
        ctx = site.app.state.ctx
        with ctx.db.write() as db:
            eve = db.execute(select(User).where(User.email == "eve@example.com")).scalar_one()
            db.add(SocialAccount(user_id=eve.id, provider="fake", subject="fake-subject-1",
                                 linked_at=datetime.now(UTC), last_used_at=None))
        login_page = browser.get(f"{site.base}/api/oauth/login?next={quote(SOCIAL, safe='')}")
        browser.post(f"{site.base}/api/oauth/login", data={
            **form(login_page, "/api/oauth/login").fields, "email": "ada@example.com",
            "password": PASSWORD,
        })
        answer = _connect(site, browser, browser.get(site.base + SOCIAL))
        assert answer.status_code == 409
        assert "already connected to another account" in answer.text
        assert site.links("ada@example.com") == []


# -- every form, and strangers -----------------------------------------------------------


async def prepared(app: FastAPI, client: httpx.AsyncClient, email: str, clock: FakeClock) -> str:
    """``email`` with MFA on, a passkey and a linked provider; its passkey's id."""
    token = await api_token(client, email)
    await enable_mfa(client, token, clock)
    await add_passkey(client, token, name="Key")
    link(app, email, "corp", subject=f"{email}-sub")
    return passkey_rows(app, email)[0].id


FORMS = [  # (page, action, fields); {id} is the user's passkey's id
    (TWO_FACTOR + "/disable", TWO_FACTOR + "/disable", {"password": PASSWORD, "mfa_code": "1"}),
    (TWO_FACTOR + "/disable", TWO_FACTOR + "/disable/code", {}),
    (TWO_FACTOR + "/backup-codes", TWO_FACTOR + "/backup-codes",
     {"password": PASSWORD, "mfa_code": "1"}),
    (TWO_FACTOR + "/backup-codes", TWO_FACTOR + "/backup-codes/code", {}),
    (PASSKEYS, PASSKEYS, {"name": "x", "challenge": "c", "credential": "{}"}),
    (PASSKEYS + "/{id}/rename", PASSKEYS + "/{id}/rename", {"name": "Renamed"}),
    (PASSKEYS + "/{id}/remove", PASSKEYS + "/{id}/remove", {}),
    (SOCIAL + "/corp/unlink", SOCIAL + "/corp/unlink", {}),
]


@pytest.mark.parametrize(("page_path", "action", "fields"), FORMS)
async def test_every_form_refuses_a_missing_or_foreign_csrf_token(
    app: FastAPI, client: httpx.AsyncClient, clock: FakeClock, page_path: str, action: str,
    fields: dict[str, str],
) -> None:
    await register(client)
    await register(client, "eve@example.com")
    async with console_browser(app, "eve@example.com") as eves:
        eves_key = await prepared(app, client, "eve@example.com", clock)
        eve_page = await eves.get(page_path.format(id=eves_key))
        foreign = form(eve_page, action.format(id=eves_key)).fields["csrf_token"]
    async with console_browser(app) as http:
        mine = await prepared(app, client, "ada@example.com", clock)
        page = await http.get(page_path.format(id=mine))
        assert page.status_code == 200
        other = form(await http.get(SOCIAL + "/corp/unlink"), SOCIAL + "/corp/unlink")
        other_token = other.fields["csrf_token"] if "corp/unlink" not in action else None
        with unchanged(app):
            for token in (None, foreign, other_token, ""):
                answer = await post_form(
                    http, page, action.format(id=mine), csrf_token=token, **fields
                )
                assert answer.status_code == 403, (token, answer.text)
                assert EXPIRED_FORM in answer.text
                assert 'role="alert"' in answer.text


async def test_the_setup_forms_refuse_a_missing_or_foreign_csrf_token(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client)
    await register(client, "eve@example.com")
    async with console_browser(app, "eve@example.com") as eves:
        eve_page = await eves.get(TWO_FACTOR)
        foreign = {a: form(eve_page, a).fields["csrf_token"]
                   for a in (f"{TWO_FACTOR}/setup", f"{TWO_FACTOR}/setup/code")}
        eve_scan = await start_setup(eves, password=PASSWORD)
    async with console_browser(app) as http:
        page = await http.get(TWO_FACTOR)
        with unchanged(app):
            for action, token in foreign.items():
                for sent in (None, token):
                    answer = await post_form(http, page, action, csrf_token=sent,
                                             password=PASSWORD)
                    assert answer.status_code == 403
                    assert EXPIRED_FORM in answer.text
        # Eve's set-up page posted by this browser: its signature is not this sign-in's.
        answer = await http.post(
            f"{TWO_FACTOR}/confirm", data=form(eve_scan, f"{TWO_FACTOR}/confirm").fields
        )
        assert answer.status_code == 403
        assert not mfa_on(app, "ada@example.com")
        # Its own set-up page without the form's token.
        scan = await start_setup(http, password=PASSWORD)
        answer = await post_form(http, scan, f"{TWO_FACTOR}/confirm", csrf_token=None,
                                 mfa_code="123456")
        assert answer.status_code == 403
        assert secret_of(answer) == secret_of(scan)
        # The social link's form.
        social = await http.get(SOCIAL)
        assert "This server offers no sign-in with other providers." in social.text


PAGES = [TWO_FACTOR, TWO_FACTOR + "/disable", TWO_FACTOR + "/backup-codes", PASSKEYS,
         PASSKEYS + "/x/rename", PASSKEYS + "/x/remove", SOCIAL, SOCIAL + "/corp/unlink"]


@pytest.mark.parametrize("path", PAGES)
async def test_a_bearer_token_without_the_cookie_is_sent_to_sign_in(
    app: FastAPI, client: httpx.AsyncClient, path: str
) -> None:
    await register(client)
    token = await api_token(client)
    async with asgi_client(app) as http:
        answer = await http.get(path, headers=bearer(token))
    assert answer.status_code == 302
    assert answer.headers["location"] == "/api/oauth/login?next=" + quote(path, safe="")


POSTS = [TWO_FACTOR + "/setup", TWO_FACTOR + "/setup/code", TWO_FACTOR + "/confirm",
         TWO_FACTOR + "/disable", TWO_FACTOR + "/backup-codes",
         TWO_FACTOR + "/backup-codes.txt", PASSKEYS, PASSKEYS + "/x/rename",
         PASSKEYS + "/x/remove", SOCIAL + "/corp/unlink", SOCIAL + "/corp/link"]


@pytest.mark.parametrize("action", POSTS)
async def test_a_form_posted_without_the_cookie_does_nothing(
    app: FastAPI, client: httpx.AsyncClient, action: str
) -> None:
    await register(client)
    token = await api_token(client)
    async with asgi_client(app) as http:
        with unchanged(app):
            answer = await http.post(
                action, data={"password": PASSWORD, "name": "x"}, headers=bearer(token)
            )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/api/oauth/login?next=" + quote(action, safe="")


async def test_the_options_of_the_passkey_script_need_the_cookie(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client)
    token = await api_token(client)
    async with asgi_client(app) as http:
        answer = await http.post(
            f"{PASSKEYS}/options", json={"csrfToken": "x"}, headers=bearer(token)
        )
    assert answer.status_code == 401
