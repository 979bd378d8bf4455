"""The account console's own pages (``routers/pages/account.py``): Profile, Email,
Password and Your data, driven over HTTP as a browser with the page sign-in does, each
action checked in the database; every form's CSRF refusal, escaping, and the refusal of
a bearer token without the cookie."""

from __future__ import annotations

import io
import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi import FastAPI
from PIL import Image
from sqlalchemy import func, select

from tekcify_auth.server.db.images import StoredImage
from tekcify_auth.server.db.models import User, UserSession
from tekcify_auth.server.db.security import MailMessage
from tekcify_auth.server.routers.pages import EXPIRED_FORM
from tekcify_auth.server.services import login_sessions

from .conftest import PASSWORD, FakeClock, asgi_client, bearer, login, register
from .console_helpers import console_browser, form, notice, post_form
from .mfa_helpers import code_at, enable_mfa, next_step
from .recovery_helpers import last_mail, mails

NEW_PASSWORD = "a brand new passphrase"


def user_row(app: FastAPI, email: str = "ada@example.com") -> User | None:
    with app.state.ctx.db.read() as db:
        found = db.execute(select(User).where(User.email == email)).scalar_one_or_none()
        if found is not None:
            db.expunge(found)
        return found


def state(app: FastAPI) -> dict[str, Any]:
    """What a refused form must leave as it was: the users, their images and mail."""
    with app.state.ctx.db.read() as db:
        users = [
            (u.id, u.email, u.first_name, u.last_name, u.avatar_url, u.password_hash,
             u.email_verified)
            for u in db.execute(select(User).order_by(User.id)).scalars()
        ]
        images = db.execute(select(func.count()).select_from(StoredImage)).scalar_one()
        mail = db.execute(select(func.count()).select_from(MailMessage)).scalar_one()
    return {"users": users, "images": images, "mail": mail}


def mailed_code(app: FastAPI, to: str = "ada@example.com") -> str:
    """The 6-digit code of the newest sensitive-action mail to ``to``."""
    found = re.search(r"\b(\d{6})\b", last_mail(app, "sensitive_action_code", to).text)
    assert found is not None
    return found.group(1)


def png(size: tuple[int, int] = (300, 200)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (30, 90, 200)).save(out, "PNG")
    return out.getvalue()


async def follow(http: httpx.AsyncClient, answer: httpx.Response) -> httpx.Response:
    assert answer.status_code == 303, answer.text
    return await http.get(answer.headers["location"])


async def upload(
    http: httpx.AsyncClient, page: httpx.Response, data: bytes, csrf: str | None = "",
    name: str = "me.png",
) -> httpx.Response:
    fields = dict(form(page, "/account/avatar").fields)
    if csrf is None:
        fields.pop("csrf_token")
    elif csrf:
        fields["csrf_token"] = csrf
    return await http.post(
        "/account/avatar", data=fields, files={"file": (name, data, "image/png")}
    )


def marked_invalid(page: httpx.Response) -> list[str]:
    """The ids of the page's fields marked invalid and pointing at its error message."""
    found = re.findall(r"<input id=\"([a-z_]+)\"[^>]*>", page.text)
    tags = re.findall(r"<input id=\"[a-z_]+\"[^>]*>", page.text)
    return [
        name for name, tag in zip(found, tags, strict=True)
        if 'aria-invalid="true"' in tag and re.search(r'aria-describedby="[^"]*form-error', tag)
    ]


@contextmanager
def unchanged(app: FastAPI) -> Iterator[None]:
    before = state(app)
    yield
    assert state(app) == before


# -- Profile ---------------------------------------------------------------------------


async def test_the_profile_shows_the_names_escaped(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await client.post(
        "/api/auth/register",
        json={"email": "ada@example.com", "password": PASSWORD,
              "firstName": '<script>x</script>"', "lastName": "Lovelace"},
    )
    async with console_browser(app) as http:
        page = await http.get("/account")
    assert page.status_code == 200
    assert "<h1>Profile</h1>" in page.text
    assert "<script>x</script>" not in page.text
    assert 'value="&lt;script&gt;x&lt;/script&gt;&#34;"' in page.text
    assert 'aria-current="page">Profile</a>' in page.text
    assert "You have no picture yet." in page.text


async def test_saving_the_names_stores_them_and_says_so(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client)
    async with console_browser(app) as http:
        page = await http.get("/account")
        answer = await post_form(
            http, page, "/account/profile", first_name="  Grace ", last_name="Hopper"
        )
        assert answer.headers["location"] == "/account?notice=account_profile_saved"
        shown = await follow(http, answer)
        assert notice(shown) == "Your profile is saved."
        assert 'value="Grace"' in shown.text
        row = user_row(app)
        assert row is not None
        assert (row.first_name, row.last_name) == ("Grace", "Hopper")
        cleared = await post_form(http, shown, "/account/profile", first_name="", last_name="")
        assert cleared.status_code == 303
    row = user_row(app)
    assert row is not None
    assert (row.first_name, row.last_name) == (None, None)


@pytest.mark.parametrize(
    ("first", "last", "field"),
    [("x" * 101, "Hopper", "first_name"), ("Grace", "a\u202eb", "last_name")],
)
async def test_a_bad_name_is_400_with_the_message_and_the_form_kept(
    app: FastAPI, client: httpx.AsyncClient, first: str, last: str, field: str
) -> None:
    await register(client)
    async with console_browser(app) as http:
        page = await http.get("/account")
        with unchanged(app):
            answer = await post_form(
                http, page, "/account/profile", first_name=first, last_name=last
            )
    assert answer.status_code == 400
    assert "must be at most 100 characters, without control characters" in answer.text
    assert marked_invalid(answer) == [field]
    assert 'value="Grace"' in answer.text or 'value="' + "x" * 101 + '"' in answer.text


async def test_a_picture_is_stored_re_encoded_shown_and_removed_after_confirming(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client)
    async with console_browser(app) as http:
        page = await http.get("/account")
        shown = await follow(http, await upload(http, page, png()))
        assert notice(shown).startswith("Your new picture is saved.")
        row = user_row(app)
        assert row is not None
        assert row.avatar_url is not None
        src = f"http://tekcify.test{row.avatar_url}"
        assert f'<img class="avatar" src="{src}"' in shown.text
        stored = await http.get(src)
        assert stored.status_code == 200
        assert stored.headers["content-type"] in ("image/png", "image/jpeg")
        assert Image.open(io.BytesIO(stored.content)).size[0] <= 512
        assert state(app)["images"] == 1

        # A second picture replaces the first, which is deleted.
        again = await upload(http, shown, png((64, 64)))
        assert again.status_code == 303
        assert state(app)["images"] == 1

        confirm = await http.get("/account/avatar/remove")
        assert confirm.status_code == 200
        assert "<h1>Remove your picture?</h1>" in confirm.text
        assert state(app)["images"] == 1  # the GET only asks
        removed = await follow(http, await post_form(http, confirm, "/account/avatar/remove"))
        assert notice(removed) == "Your picture is removed."
        assert "You have no picture yet." in removed.text
    row = user_row(app)
    assert row is not None
    assert row.avatar_url is None
    assert state(app)["images"] == 0
    async with console_browser(app) as http:
        nothing = await http.get("/account/avatar/remove")
    assert nothing.status_code == 303
    assert nothing.headers["location"] == "/account"


@pytest.mark.parametrize(
    ("data", "name", "status", "message"),
    [
        (b"<svg onload=alert(1)>", "me.svg", 400, "not"),
        (b"", "me.png", 400, "The file is empty"),
        (png((5000, 10)), "big.png", 413, ""),
    ],
)
async def test_a_file_that_is_no_acceptable_picture_is_refused_on_the_page(
    app: FastAPI, client: httpx.AsyncClient, data: bytes, name: str, status: int, message: str
) -> None:
    await register(client)
    async with console_browser(app) as http:
        page = await http.get("/account")
        with unchanged(app):
            answer = await upload(http, page, data, name=name)
    assert answer.status_code == status, answer.text
    assert 'role="alert"' in answer.text
    assert message in answer.text
    assert 'aria-invalid="true"' in answer.text


async def test_an_upload_without_a_file_asks_for_one(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client)
    async with console_browser(app) as http:
        page = await http.get("/account")
        answer = await http.post("/account/avatar", data=form(page, "/account/avatar").fields)
    assert answer.status_code == 400
    assert "Choose a picture to upload." in answer.text


# -- Email -----------------------------------------------------------------------------


async def test_an_unverified_address_is_verified_with_the_mailed_code(
    app: FastAPI, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    await register(client)
    async with console_browser(app) as http:
        page = await http.get("/account/email")
        assert page.status_code == 200
        assert "Not verified" in page.text
        clock.advance(1)  # the new mail is the newest (mails of one instant have no order)
        sent = await follow(http, await post_form(http, page, "/account/email/resend"))
        assert notice(sent).startswith("A new verification link and code")
        assert len(mails(app, "verify_email")) == 2
        wrong = await post_form(http, sent, "/account/email/verify", code="000000")
        assert wrong.status_code == 400
        assert 'aria-invalid="true"' in wrong.text
        row = user_row(app)
        assert row is not None
        assert not row.email_verified
        empty = await post_form(http, sent, "/account/email/verify", code=" ")
        assert empty.status_code == 400
        assert "Enter the 6-digit code" in empty.text
        code = last_mail(app, "verify_email").code
        done = await follow(http, await post_form(http, sent, "/account/email/verify", code=code))
        assert notice(done) == "Your email address is verified."
        assert ">Verified</span>" in done.text
        assert "/account/email/resend" not in done.text
    row = user_row(app)
    assert row is not None
    assert row.email_verified


async def test_too_many_verification_mails_are_refused_with_retry_after(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client)
    async with console_browser(app) as http:
        page = await http.get("/account/email")
        answers = [await post_form(http, page, "/account/email/resend") for _ in range(6)]
    refused = answers[-1]
    assert [a.status_code for a in answers[:-1]] == [303] * 5
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) > 0
    assert 'role="alert"' in refused.text
    assert "Too many messages" in refused.text


async def test_a_change_of_address_is_mailed_to_the_new_one_and_changes_nothing_yet(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client)
    async with console_browser(app) as http:
        page = await http.get("/account/email")
        with unchanged(app):
            wrong = await post_form(
                http, page, "/account/email/change", new_email="grace@example.com",
                password="not the password",
            )
            bad = await post_form(
                http, page, "/account/email/change", new_email="not an address",
                password=PASSWORD,
            )
            missing = await post_form(
                http, page, "/account/email/change", new_email="grace@example.com",
                password="",
            )
        assert wrong.status_code == 400
        assert "The password is incorrect" in wrong.text
        assert 'value="grace@example.com"' in wrong.text  # what was typed is kept
        assert bad.status_code == 400
        assert "Enter a valid email address." in bad.text
        assert missing.status_code == 400
        assert "Enter your password" in missing.text
        sent = await follow(
            http,
            await post_form(
                http, page, "/account/email/change", new_email="Grace@Example.com",
                password=PASSWORD,
            ),
        )
        assert notice(sent).startswith("We sent a link to the new address")
    assert last_mail(app, "email_change_confirm").to == "grace@example.com"
    assert last_mail(app, "email_change_notice").to == "ada@example.com"
    assert user_row(app) is not None  # still ada@example.com until the link is opened


async def test_an_address_another_account_has_is_409(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client)
    await register(client, "grace@example.com")
    async with console_browser(app) as http:
        page = await http.get("/account/email")
        answer = await post_form(
            http, page, "/account/email/change", new_email="grace@example.com",
            password=PASSWORD,
        )
    assert answer.status_code == 409
    assert 'value="grace@example.com"' in answer.text


# -- Password --------------------------------------------------------------------------


async def test_changing_the_password_keeps_this_browser_and_signs_out_the_rest(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client)
    tokens = await login(client)
    async with console_browser(app) as other, console_browser(app) as http:
        page = await http.get("/account/password")
        assert "<h1>Password</h1>" in page.text
        assert "Change your password" in page.text
        answer = await post_form(
            http, page, "/account/password", current_password=PASSWORD,
            new_password=NEW_PASSWORD, new_password_again=NEW_PASSWORD,
        )
        assert answer.headers["location"] == "/account/password?notice=account_password_changed"
        shown = await http.get(answer.headers["location"])
        assert shown.status_code == 200  # still signed in on the pages
        assert notice(shown).startswith("Your password is changed.")
        assert (await other.get("/account")).status_code == 302  # the other browser is out
    old = await client.get("/api/user/profile", headers=bearer(tokens["accessToken"]))
    assert old.status_code == 401
    assert (await client.post(
        "/api/auth/login", json={"email": "ada@example.com", "password": NEW_PASSWORD}
    )).status_code == 200


@pytest.mark.parametrize(
    ("current", "new", "again", "message", "field"),
    [
        ("wrong password", NEW_PASSWORD, NEW_PASSWORD, "The current password is incorrect",
         "current_password"),
        ("", NEW_PASSWORD, NEW_PASSWORD, "Enter your current password.", "current_password"),
        (PASSWORD, "short", "short", "Choose a new password of 8 to 1024 characters.",
         "new_password"),
        (PASSWORD, NEW_PASSWORD, NEW_PASSWORD + "!", "The two new passwords are not the same.",
         "new_password_again"),
    ],
)
async def test_a_refused_password_change_is_400_and_changes_nothing(
    app: FastAPI, client: httpx.AsyncClient, current: str, new: str, again: str, message: str,
    field: str,
) -> None:
    await register(client)
    async with console_browser(app) as http:
        page = await http.get("/account/password")
        with unchanged(app):
            answer = await post_form(
                http, page, "/account/password", current_password=current, new_password=new,
                new_password_again=again,
            )
    assert answer.status_code == 400
    assert message in answer.text
    assert marked_invalid(answer) == [field]


async def test_with_two_factor_on_the_password_change_asks_for_a_code(
    app: FastAPI, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    await register(client)
    async with console_browser(app) as http:
        tokens = await login(client)
        setup = await enable_mfa(client, tokens["accessToken"], clock)
        page = await http.get("/account/password")
        assert 'name="mfa_code"' in page.text
        fields = {
            "current_password": PASSWORD, "new_password": NEW_PASSWORD,
            "new_password_again": NEW_PASSWORD,
        }
        with unchanged(app):
            missing = await post_form(http, page, "/account/password", **fields)
            wrong = await post_form(http, page, "/account/password", mfa_code="000000", **fields)
        assert missing.status_code == 400
        assert "Enter the code from your authenticator app" in missing.text
        assert wrong.status_code == 403
        assert "two-factor code is incorrect" in wrong.text
        next_step(clock)
        done = await post_form(
            http, page, "/account/password", mfa_code=code_at(setup["secret"], clock), **fields
        )
        assert done.status_code == 303
        assert (await http.get("/account/password")).status_code == 200


async def no_password_browser(
    app: FastAPI, client: httpx.AsyncClient, *, registered: bool = False
) -> httpx.AsyncClient:
    """A browser signed in on the pages as an account without a password (as one made at
    an upstream provider is), through the service the social sign-in uses."""
    if not registered:
        await register(client)
    ctx = app.state.ctx
    with ctx.db.write() as db:
        user = db.execute(select(User).where(User.email == "ada@example.com")).scalar_one()
        user.password_hash = ""
        db.flush()
        token, _row = login_sessions.start_login_session(
            db, ctx, user.id, password_hash="", amr="fed", via="social:corp"
        )
    http = asgi_client(app)
    http.cookies.set("tekcify_login", token, domain="tekcify.test")
    return http


async def test_an_account_without_a_password_sets_one_with_a_mailed_code(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    async with await no_password_browser(app, client) as http:
        page = await http.get("/account/password")
        assert page.status_code == 200
        assert "Set a password" in page.text
        assert "current_password" not in page.text
        empty = await post_form(
            http, page, "/account/password/set", code="", new_password=NEW_PASSWORD,
            new_password_again=NEW_PASSWORD,
        )
        assert empty.status_code == 400
        assert "Enter the 6-digit code" in empty.text
        sent = await follow(http, await post_form(http, page, "/account/password/code"))
        assert notice(sent).startswith("We sent a 6-digit code")
        code = mailed_code(app)
        wrong = await post_form(
            http, sent, "/account/password/set", code="000000", new_password=NEW_PASSWORD,
            new_password_again=NEW_PASSWORD,
        )
        assert wrong.status_code == 400
        row = user_row(app)
        assert row is not None
        assert row.password_hash == ""
        done = await post_form(
            http, sent, "/account/password/set", code=code, new_password=NEW_PASSWORD,
            new_password_again=NEW_PASSWORD,
        )
        assert done.headers["location"] == "/account/password?notice=account_password_set"
        shown = await http.get(done.headers["location"])
        assert shown.status_code == 200
        assert notice(shown).startswith("Your password is set.")
        assert "Change your password" in shown.text
    await login(client, password=NEW_PASSWORD)


async def test_setting_a_password_keeps_the_accepted_code_when_the_two_factor_code_is_wrong(
    app: FastAPI, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    await register(client)
    tokens = await login(client)
    setup = await enable_mfa(client, tokens["accessToken"], clock)
    async with await no_password_browser(app, client, registered=True) as http:
        page = await http.get("/account/password")
        assert 'name="mfa_code"' in page.text
        sent = await follow(http, await post_form(http, page, "/account/password/code"))
        fields = {"new_password": NEW_PASSWORD, "new_password_again": NEW_PASSWORD}
        wrong = await post_form(
            http, sent, "/account/password/set", code=mailed_code(app), mfa_code="000000",
            **fields,
        )
        assert wrong.status_code == 403
        assert marked_invalid(wrong) == ["mfa_code"]
        assert 'name="proof"' in wrong.text
        assert 'name="code"' not in wrong.text
        row = user_row(app)
        assert row is not None
        assert row.password_hash == ""
        next_step(clock)
        done = await post_form(
            http, wrong, "/account/password/set", mfa_code=code_at(setup["secret"], clock),
            **fields,
        )
        assert done.status_code == 303, done.text
        assert (await http.get("/account/password")).status_code == 200
    signed_in = await client.post(
        "/api/auth/login", json={"email": "ada@example.com", "password": NEW_PASSWORD}
    )
    assert signed_in.json()["mfaRequired"] is True  # the new password is right


async def test_a_picture_larger_than_other_requests_may_be_is_taken(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    noise = Image.frombytes("RGB", (800, 600), os.urandom(800 * 600 * 3))
    out = io.BytesIO()
    noise.save(out, "PNG", compress_level=0)
    assert 1024 * 1024 < len(out.getvalue()) < 5 * 1024 * 1024
    await register(client)
    async with console_browser(app) as http:
        page = await http.get("/account")
        answer = await upload(http, page, out.getvalue())
    assert answer.status_code == 303, answer.text
    assert state(app)["images"] == 1


# -- Your data -------------------------------------------------------------------------


async def test_the_export_is_a_json_download_of_the_account(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client)
    async with console_browser(app) as http:
        page = await http.get("/account/data")
        assert "<h1>Your data</h1>" in page.text
        answer = await post_form(http, page, "/account/data/export")
    assert answer.status_code == 200
    assert answer.headers["content-disposition"] == (
        'attachment; filename="tekcify-data-export.json"'
    )
    assert answer.headers["cache-control"] == "no-store"
    data = answer.json()
    assert data["profile"]["email"] == "ada@example.com"
    assert {"sessions", "applications", "securityActivity", "exportedAt"} <= set(data)
    assert "password" not in json.dumps(data["profile"]).lower()


async def test_deleting_the_account_needs_the_password_and_deletes_everything(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client)
    await register(client, "eve@example.com")
    async with console_browser(app) as http:
        data = await http.get("/account/data")
        confirm = await http.get("/account/data/delete")
        assert 'href="/account/data/delete"' in data.text
        assert "<h1>Delete your account</h1>" in confirm.text
        assert "cannot be undone" in confirm.text
        with unchanged(app):
            wrong = await post_form(http, confirm, "/account/data/delete", password="nope")
            none = await post_form(http, confirm, "/account/data/delete")
            both = await post_form(
                http, confirm, "/account/data/delete", password=PASSWORD, code="123456"
            )
        assert wrong.status_code == 403
        assert "The password is incorrect" in wrong.text
        assert none.status_code == 400
        assert "Enter your password, or ask for a code" in none.text
        assert both.status_code == 400
        assert "not both" in both.text
        gone = await post_form(http, confirm, "/account/data/delete", password=PASSWORD)
        assert gone.status_code == 200
        assert "Your account is deleted" in gone.text
        assert user_row(app) is None
        assert user_row(app, "eve@example.com") is not None
        after = await http.get("/account")
        assert after.status_code == 302
        assert after.headers["location"].startswith("/api/oauth/login?")
    with app.state.ctx.db.read() as db:
        assert db.execute(select(func.count()).select_from(UserSession).where(
            UserSession.user_id.not_in(select(User.id))
        )).scalar_one() == 0


async def test_deleting_with_a_mailed_code_and_two_factor_on(
    app: FastAPI, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    await register(client)
    async with console_browser(app) as http:
        tokens = await login(client)
        setup = await enable_mfa(client, tokens["accessToken"], clock)
        confirm = await http.get("/account/data/delete")
        assert 'name="mfa_code"' in confirm.text
        sent = await follow(http, await post_form(http, confirm, "/account/data/delete/code"))
        assert notice(sent).startswith("We sent a 6-digit code")
        code = mailed_code(app)
        wrong_mfa = await post_form(
            http, sent, "/account/data/delete", code=code, mfa_code="000000"
        )
        assert wrong_mfa.status_code == 403
        assert user_row(app) is not None
        # The accepted code rides in the form shown again: no new mail is needed.
        assert 'name="proof"' in wrong_mfa.text
        assert 'name="code"' not in wrong_mfa.text
        next_step(clock)
        gone = await post_form(
            http, wrong_mfa, "/account/data/delete", mfa_code=code_at(setup["secret"], clock)
        )
        assert gone.status_code == 200, gone.text
    assert user_row(app) is None


async def test_another_users_proof_does_not_delete_this_account(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    from tekcify_auth.server.services import reauth
    from tekcify_auth.server.services.accounts import Client

    await register(client)
    await register(client, "eve@example.com")
    eve = user_row(app, "eve@example.com")
    assert eve is not None
    ctx = app.state.ctx
    reauth.send_code(ctx, eve.id, "delete_account", base_url="http://tekcify.test")
    eve_code = mailed_code(app, "eve@example.com")
    eve_token = reauth.verify_code(ctx, eve.id, "delete_account", eve_code, client=Client())
    async with console_browser(app) as http:
        confirm = await http.get("/account/data/delete")
        with unchanged(app):
            answer = await post_form(http, confirm, "/account/data/delete", proof=eve_token)
    assert answer.status_code == 403
    assert "Ask for a new one" in answer.text
    assert 'name="proof"' not in answer.text


# -- every form ------------------------------------------------------------------------

#: (the page holding the form, the form's action, fields that would make it act)
FORMS = [
    ("/account", "/account/profile", {"first_name": "Eve", "last_name": "X"}),
    ("/account/avatar/remove", "/account/avatar/remove", {}),
    ("/account/email", "/account/email/resend", {}),
    ("/account/email", "/account/email/verify", {"code": "123456"}),
    ("/account/email", "/account/email/change",
     {"new_email": "eve@example.com", "password": PASSWORD}),
    ("/account/password", "/account/password",
     {"current_password": PASSWORD, "new_password": NEW_PASSWORD,
      "new_password_again": NEW_PASSWORD}),
    ("/account/data", "/account/data/export", {}),
    ("/account/data/delete", "/account/data/delete/code", {}),
    ("/account/data/delete", "/account/data/delete", {"password": PASSWORD}),
]


async def with_picture(app: FastAPI, http: httpx.AsyncClient) -> None:
    page = await http.get("/account")
    assert (await upload(http, page, png((32, 32)))).status_code == 303


@pytest.mark.parametrize(("page_path", "action", "fields"), FORMS)
async def test_every_form_refuses_a_missing_or_foreign_csrf_token(
    app: FastAPI, client: httpx.AsyncClient, page_path: str, action: str,
    fields: dict[str, str],
) -> None:
    await register(client)
    await register(client, "eve@example.com")
    async with console_browser(app, "eve@example.com") as eves:
        await with_picture(app, eves)
        foreign = form(await eves.get(page_path), action).fields["csrf_token"]
    async with console_browser(app) as http:
        await with_picture(app, http)
        page = await http.get(page_path)
        other = "/account/avatar" if action == "/account/profile" else "/account/profile"
        other_form = form(await http.get("/account"), other).fields["csrf_token"]
        with unchanged(app):
            for token in (None, foreign, other_form, ""):
                answer = await post_form(http, page, action, csrf_token=token, **fields)
                assert answer.status_code == 403, (token, answer.text)
                assert EXPIRED_FORM in answer.text
                assert 'role="alert"' in answer.text


async def test_the_picture_upload_refuses_a_missing_or_foreign_csrf_token(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client)
    await register(client, "eve@example.com")
    async with console_browser(app, "eve@example.com") as eves:
        foreign = form(await eves.get("/account"), "/account/avatar").fields["csrf_token"]
    async with console_browser(app) as http:
        page = await http.get("/account")
        with unchanged(app):
            for token in (None, foreign):
                answer = await upload(http, page, png(), csrf=token)
                assert answer.status_code == 403
                assert EXPIRED_FORM in answer.text


PAGES = ["/account", "/account/email", "/account/password", "/account/data",
         "/account/data/delete", "/account/avatar/remove"]


@pytest.mark.parametrize("path", PAGES)
async def test_a_bearer_token_without_the_cookie_is_sent_to_sign_in(
    app: FastAPI, client: httpx.AsyncClient, path: str
) -> None:
    await register(client)
    tokens = await login(client)
    async with asgi_client(app) as http:
        answer = await http.get(path, headers=bearer(tokens["accessToken"]))
    assert answer.status_code == 302
    assert answer.headers["location"].startswith("/api/oauth/login?next=")


@pytest.mark.parametrize(("page_path", "action", "fields"), FORMS)
async def test_a_form_posted_without_the_cookie_does_nothing(
    app: FastAPI, client: httpx.AsyncClient, page_path: str, action: str,
    fields: dict[str, str],
) -> None:
    await register(client)
    tokens = await login(client)
    async with asgi_client(app) as http:
        with unchanged(app):
            answer = await http.post(action, data=fields, headers=bearer(tokens["accessToken"]))
    assert answer.status_code == 303
    assert answer.headers["location"] == "/api/oauth/login?next=" + quote(action, safe="")


async def test_an_upload_without_the_cookie_is_not_read(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client)
    tokens = await login(client)
    async with asgi_client(app) as http:
        with unchanged(app):
            answer = await http.post(
                "/account/avatar", files={"file": ("me.png", png(), "image/png")},
                headers=bearer(tokens["accessToken"]),
            )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/api/oauth/login?next=%2Faccount%2Favatar"


async def test_the_email_page_of_an_account_without_a_password_sends_it_to_set_one(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    async with await no_password_browser(app, client) as http:
        page = await http.get("/account/email")
        delete = await http.get("/account/data/delete")
    assert 'href="/account/password">Set a password</a> first' in page.text
    assert 'name="new_email"' not in page.text
    assert 'name="password"' not in delete.text  # the mailed code is the way
    assert 'name="code"' in delete.text
