"""The developer console (``routers/pages/developer.py``): each page and the database
effect of each action; every form's CSRF refusal; names holding HTML shown escaped;
another user's application a 404 in every URL; no page for a bearer token without the
page sign-in; the notice after each 303; bad input refused with its message and kept."""

from __future__ import annotations

import base64
import hashlib
import html
import io
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from PIL import Image
from sqlalchemy import func, select

from tekcify_auth.server.db.applications import Application
from tekcify_auth.server.db.images import StoredImage
from tekcify_auth.server.db.security import SecurityActivity
from tekcify_auth.server.routers.pages import EXPIRED_FORM
from tekcify_auth.server.services import accounts, applications

from .conftest import asgi_client, bearer, login, register
from .console_helpers import console_browser, form, notice, post_form

ADA = "ada@example.com"
BOB = "bob@example.com"
REDIRECT = "https://app.example.com/callback"
ESCAPED_EXPIRED = html.escape(EXPIRED_FORM, quote=True)


def make_app(
    app: FastAPI, owner_email: str = ADA, *, name: str = "Photo Printer",
    confidential: bool = True, active: bool = True, description: str | None = "Prints",
) -> str:
    """An application of ``owner_email`` (registered), made through the service."""
    ctx = app.state.ctx
    with ctx.db.write() as db:
        owner = accounts.find_by_email(db, owner_email)
        assert owner is not None
        row, _secret = applications.create_application(
            db, owner_id=owner.id, name=name, description=description,
            redirect_uris=[REDIRECT], scopes=["openid", "profile"], now=ctx.clock(),
            confidential=confidential,
        )
        row.is_active = active
        return row.client_id


def row(app: FastAPI, client_id: str) -> dict[str, Any] | None:
    """Every column of the application's row, or ``None`` when it is gone."""
    with app.state.ctx.db.read() as db:
        found = db.get(Application, client_id)
        if found is None:
            return None
        return {c.key: getattr(found, c.key) for c in Application.__table__.columns}


def count_apps(app: FastAPI) -> int:
    with app.state.ctx.db.read() as db:
        return int(db.execute(select(func.count()).select_from(Application)).scalar_one())


def count_images(app: FastAPI) -> int:
    with app.state.ctx.db.read() as db:
        return int(db.execute(select(func.count()).select_from(StoredImage)).scalar_one())


def activity_types(app: FastAPI) -> list[str]:
    with app.state.ctx.db.read() as db:
        return list(db.execute(select(SecurityActivity.activity_type)).scalars())


def secret_on(page: httpx.Response) -> str:
    found = re.search(r'id="client-secret">([^<]+)</code>', page.text)
    assert found is not None, page.text
    return found.group(1)


def secret_works(app: FastAPI, client_id: str, secret: str) -> bool:
    stored = row(app, client_id)
    assert stored is not None
    return applications.secret_matches(stored["client_secret_hash"], secret)


def png(size: tuple[int, int] = (64, 64), colour: str = "teal") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "PNG")
    return out.getvalue()


def new_fields(**changes: str | list[str] | None) -> dict[str, Any]:
    """The fields of the new-application form, filled in, with ``changes``."""
    fields: dict[str, Any] = {
        "name": "Photo Printer", "description": "Prints the photos of your albums",
        "kind": "confidential", "redirect_uris": f"{REDIRECT}\n\nhttp://127.0.0.1:8080/cb\n",
        "authorized_origins": "https://app.example.com",
        "post_logout_redirect_uris": "https://app.example.com/bye",
        "scopes": ["openid", "email"], "primary_color": "#0F766E",
    }
    fields.update(changes)
    return {k: v for k, v in fields.items() if v is not None}


async def post_page_form(
    http: httpx.AsyncClient, page: httpx.Response, action: str, **fields: Any
) -> httpx.Response:
    """:func:`post_form` for fields that may be lists (the scopes' checkboxes)."""
    data = {**form(page, action).fields, **fields}
    return await http.post(action, data={k: v for k, v in data.items() if v is not None})


# -- the list ----------------------------------------------------------------------------


async def test_the_list_is_empty_at_first_then_paged_with_its_counts(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client)
    await register(client, BOB)
    make_app(app, BOB, name="Bob's own")
    async with console_browser(app) as http:
        empty = await http.get("/developer")
        assert empty.status_code == 200
        assert "You have no applications yet" in empty.text
        assert 'aria-current="page">Applications</a>' in empty.text
        assert 'href="/developer/apps/new"' in empty.text
        for number in range(22):
            make_app(app, name=f"App {number:02d}", active=number not in (3, 4))
        first = await http.get("/developer")
        assert "You have 22 applications: <strong>20 active</strong>, <strong>2 inactive</strong>" \
            in first.text
        assert first.text.count('<th scope="row">') == 20
        assert "Bob&#39;s own" not in first.text
        assert "Bob's own" not in first.text
        assert 'href="/developer?page=2">Next page</a>' in first.text
        assert "Page 1 of 2" in first.text
        second = await http.get("/developer?page=2")
        assert second.text.count('<th scope="row">') == 2
        assert 'href="/developer?page=1">Previous page</a>' in second.text
        assert ">Inactive</span>" in second.text + first.text
        assert (await http.get("/developer?page=abc")).text.count('<th scope="row">') == 20
        beyond = await http.get("/developer?page=99")
        assert beyond.status_code == 200
        assert "There are no applications on page 99" in beyond.text


# -- create ------------------------------------------------------------------------------


async def test_a_confidential_application_is_registered_and_its_secret_shown_once(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client)
    async with console_browser(app) as http:
        page = await http.get("/developer/apps/new")
        assert page.status_code == 200
        assert 'aria-current="page">New application</a>' in page.text
        assert '<label for="redirect_uris">' in page.text
        # openid, profile and email are ticked to start with.
        assert re.search(r'value="email" checked', page.text)
        made = await post_page_form(http, page, "/developer/apps/new", **new_fields())
        assert made.status_code == 200, made.text
        secret = secret_on(made)
        assert "This is the only time the client secret is shown" in made.text
        assert notice(made) == "Your application is registered."
        assert made.headers["cache-control"] == "no-store"
        assert "script-src 'self'" in made.headers["content-security-policy"]
        assert '<script src="/api/oauth/static/developer.js" defer></script>' in made.text
        assert 'data-copy="client-secret"' in made.text
        assert " hidden>" in made.text
        (client_id,) = re.findall(r'id="client-id">([0-9a-f]{32})<', made.text)
        stored = row(app, client_id)
        assert stored is not None
        assert stored["name"] == "Photo Printer"
        assert stored["description"] == "Prints the photos of your albums"
        assert stored["redirect_uris"] == [REDIRECT, "http://127.0.0.1:8080/cb"]
        assert stored["authorized_origins"] == ["https://app.example.com"]
        assert stored["post_logout_redirect_uris"] == ["https://app.example.com/bye"]
        assert stored["scopes"] == ["openid", "email"]
        assert stored["primary_color"] == "#0f766e"
        assert stored["is_active"] is True
        assert secret_works(app, client_id, secret)
        assert "application_created" in activity_types(app)
        # Never again: the application's page and the list do not hold it.
        later = await http.get(f"/developer/apps/{client_id}")
        assert later.status_code == 200
        assert secret not in later.text
        assert secret not in (await http.get("/developer")).text


async def test_a_public_application_has_no_secret_and_goes_to_its_page(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client)
    async with console_browser(app) as http:
        page = await http.get("/developer/apps/new")
        made = await post_page_form(
            http, page, "/developer/apps/new", **new_fields(kind="public")
        )
        assert made.status_code == 303
        location = made.headers["location"]
        assert location.endswith("?notice=developer_app_created")
        client_id = urlsplit(location).path.rsplit("/", 1)[1]
        stored = row(app, client_id)
        assert stored is not None
        assert stored["client_secret_hash"] is None
        shown = await http.get(location)
        assert notice(shown) == "Your application is registered."
        assert "A public client has no secret" in shown.text
        assert f'href="/developer/apps/{client_id}/secret"' not in shown.text
        # Nothing to regenerate: the confirmation goes back to the page.
        back = await http.get(f"/developer/apps/{client_id}/secret")
        assert back.status_code == 303
        assert back.headers["location"] == f"/developer/apps/{client_id}"


@pytest.mark.parametrize(
    ("changes", "message", "field"),
    [
        ({"name": "  "}, "Name: must not be empty", "name"),
        ({"redirect_uris": "\n \n"}, "Add at least one redirect URI, one a line.",
         "redirect_uris"),
        ({"redirect_uris": f"{REDIRECT}\nhttp://example.com/cb"},
         "Redirect URIs, line 2: http is allowed only for the loopback hosts", "redirect_uris"),
        ({"redirect_uris": f"{REDIRECT}\n{REDIRECT}"},
         f"Redirect URIs: lists {REDIRECT} twice", "redirect_uris"),
        ({"authorized_origins": "https://App.example.com/"},
         "Allowed origins, line 1: must be only scheme://host[:port]", "authorized_origins"),
        ({"post_logout_redirect_uris": "javascript:alert(1)"},
         "Post-logout redirect URIs, line 1: must be absolute", "post_logout_redirect_uris"),
        ({"scopes": None}, "Choose at least one scope.", "scopes"),
        ({"scopes": ["openid", "launch:rockets"]}, "unknown scope &#39;launch:rockets&#39;",
         "scopes"),
        ({"primary_color": "teal"}, "Primary colour: must be a colour written #rrggbb",
         "primary_color"),
        ({"kind": "secretive"}, "Choose whether the application is confidential or public.",
         "kind"),
        ({"description": "x" * 1001}, "Description: must be at most 1000 characters",
         "description"),
    ],
)
async def test_registering_refuses_bad_input_keeps_it_and_makes_nothing(
    app: FastAPI, client: httpx.AsyncClient, changes: dict[str, Any], message: str,
    field: str,
) -> None:
    await register(client)
    async with console_browser(app) as http:
        page = await http.get("/developer/apps/new")
        refused = await post_page_form(
            http, page, "/developer/apps/new", **new_fields(**changes)
        )
    assert refused.status_code == 400, refused.text
    assert message in refused.text
    assert count_apps(app) == 0
    # What was typed is shown again, and the field is marked and linked to the message.
    if field != "name":
        assert 'value="Photo Printer"' in refused.text
    if field not in ("scopes", "kind"):
        tag = re.search(rf'<(?:input|textarea) id="{field}"[^>]*>', refused.text)
        assert tag is not None
        assert 'aria-invalid="true"' in tag.group(0)
        assert "form-error" in tag.group(0)
    assert 'id="form-error"' in refused.text


# -- edit --------------------------------------------------------------------------------


async def test_the_settings_are_saved_and_a_notice_follows(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client)
    client_id = make_app(app)
    path = f"/developer/apps/{client_id}"
    async with console_browser(app) as http:
        page = await http.get(path)
        assert page.status_code == 200
        assert "<h1>Photo Printer</h1>" in page.text
        saved = await post_page_form(
            http, page, path, name=" Photo Printer 2 ", description="",
            redirect_uris="com.example.printer:/callback\nhttps://printer.example/cb",
            authorized_origins="http://localhost:3000",
            post_logout_redirect_uris="", scopes=["openid", "email", "offline_access"],
            primary_color="#ABCDEF",
        )
        assert saved.status_code == 303
        assert saved.headers["location"] == f"{path}?notice=developer_app_saved"
        shown = await http.get(saved.headers["location"])
        assert notice(shown) == "Your changes are saved."
        assert "<h1>Photo Printer 2</h1>" in shown.text
        assert '<link rel="stylesheet" href="/api/oauth/static/colour/abcdef.css">' in shown.text
    stored = row(app, client_id)
    assert stored is not None
    assert stored["name"] == "Photo Printer 2"
    assert stored["description"] is None
    assert stored["redirect_uris"] == [
        "com.example.printer:/callback", "https://printer.example/cb",
    ]
    assert stored["authorized_origins"] == ["http://localhost:3000"]
    assert stored["post_logout_redirect_uris"] == []
    assert stored["scopes"] == ["openid", "email", "offline_access"]
    assert stored["primary_color"] == "#abcdef"


async def test_bad_settings_are_refused_kept_and_change_nothing(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client)
    client_id = make_app(app)
    before = row(app, client_id)
    path = f"/developer/apps/{client_id}"
    async with console_browser(app) as http:
        page = await http.get(path)
        refused = await post_page_form(
            http, page, path, name="Renamed", redirect_uris=f"{REDIRECT}\nftp://x.example/cb",
        )
    assert refused.status_code == 400
    assert "Redirect URIs, line 2: must use https" in refused.text
    assert 'value="Renamed"' in refused.text
    assert "ftp://x.example/cb</textarea>" in refused.text
    assert row(app, client_id) == before


# -- the try-it panel ----------------------------------------------------------------------


async def test_the_try_it_panel_gives_a_working_authorization_url(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client)
    client_id = make_app(app)
    async with console_browser(app) as http:
        page = await http.get(f"/developer/apps/{client_id}")
        assert "http://tekcify.test/.well-known/openid-configuration" in page.text
        found = re.search(r'<pre class="url" id="authorize-url">([^<]+)</pre>', page.text)
        assert found is not None
        url = html.unescape(found.group(1))
        assert url.startswith("http://tekcify.test/api/oauth/authorize?")
        query = parse_qs(urlsplit(url).query)
        assert query["client_id"] == [client_id]
        assert query["redirect_uri"] == [REDIRECT]
        assert query["scope"] == ["openid profile"]
        assert query["code_challenge_method"] == ["S256"]
        verifier = re.search(r'id="verifier">([^<]+)</code>', page.text)
        assert verifier is not None
        digest = hashlib.sha256(verifier.group(1).encode()).digest()
        assert query["code_challenge"] == [
            base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        ]
        assert f"code_verifier={verifier.group(1)}" in page.text  # the curl example
        # Pasted in this (signed-in) browser, it asks for consent to the application.
        consent = await http.get(url.removeprefix("http://tekcify.test"))
        assert consent.status_code == 200, consent.text
        assert "Photo Printer" in consent.text
        assert 'value="allow"' in consent.text


# -- logo --------------------------------------------------------------------------------


async def test_a_logo_is_uploaded_shown_as_stored_and_removed(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client)
    client_id = make_app(app)
    path = f"/developer/apps/{client_id}"
    async with console_browser(app) as http:
        page = await http.get(path)
        assert "No logo yet" in page.text
        uploaded = await post_form(
            http, page, f"{path}/logo", files={"file": ("logo.png", png((900, 900)), "image/png")}
        )
        assert uploaded.status_code == 303
        assert uploaded.headers["location"] == f"{path}?notice=developer_logo_saved"
        stored = row(app, client_id)
        assert stored is not None
        assert stored["logo_url"].startswith("/api/images/")
        shown = await http.get(uploaded.headers["location"])
        assert notice(shown).startswith("The new logo is saved.")
        assert f'src="http://tekcify.test{stored["logo_url"]}"' in shown.text
        image = await http.get(stored["logo_url"])
        assert image.status_code == 200
        assert Image.open(io.BytesIO(image.content)).size == (512, 512)  # re-encoded
        # Not an image: refused with the reason, the logo kept.
        bad = await post_form(
            http, shown, f"{path}/logo", files={"file": ("logo.png", b"<svg/>", "image/png")}
        )
        assert bad.status_code == 400
        assert 'aria-invalid="true"' in re.search(r'<input id="logo"[^>]*>', bad.text)[0]  # type: ignore[index]
        none = await post_form(http, shown, f"{path}/logo", files={"file": ("", b"", "")})
        assert none.status_code == 400
        assert "Choose a logo to upload." in none.text
        assert row(app, client_id) == stored
        confirm = await http.get(f"{path}/logo/remove")
        assert confirm.status_code == 200
        assert "<h1>Remove the logo of Photo Printer</h1>" in confirm.text
        removed = await post_form(http, confirm, f"{path}/logo/remove")
        assert removed.status_code == 303
        assert removed.headers["location"] == f"{path}?notice=developer_logo_removed"
        assert notice(await http.get(removed.headers["location"])) == "The logo is removed."
        after = row(app, client_id)
        assert after is not None
        assert after["logo_url"] is None
        assert count_images(app) == 0
        # Nothing left to remove: the confirmation goes back to the page.
        again = await http.get(f"{path}/logo/remove")
        assert again.status_code == 303
        assert again.headers["location"] == path


async def test_a_logo_larger_than_the_general_body_limit_is_taken(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client)
    client_id = make_app(app)
    path = f"/developer/apps/{client_id}"
    big = Image.frombytes("RGB", (700, 700), bytes(range(256)) * (700 * 700 * 3 // 256 + 1))
    out = io.BytesIO()
    big.save(out, "PNG", compress_level=0)
    assert len(out.getvalue()) > app.state.ctx.settings.max_body_bytes
    async with console_browser(app) as http:
        page = await http.get(path)
        uploaded = await post_form(
            http, page, f"{path}/logo", files={"file": ("big.png", out.getvalue(), "image/png")}
        )
    assert uploaded.status_code == 303, uploaded.text


# -- secret, status, delete ------------------------------------------------------------------


async def test_regenerating_the_secret_shows_the_new_one_once_and_ends_the_old(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client)
    async with console_browser(app) as http:
        page = await http.get("/developer/apps/new")
        made = await post_page_form(http, page, "/developer/apps/new", **new_fields())
        old = secret_on(made)
        (client_id,) = re.findall(r'id="client-id">([0-9a-f]{32})<', made.text)
        path = f"/developer/apps/{client_id}"
        confirm = await http.get(f"{path}/secret")
        assert confirm.status_code == 200
        assert "<h1>Regenerate the client secret of Photo Printer</h1>" in confirm.text
        assert "The current secret stops working at once" in confirm.text
        assert secret_works(app, client_id, old)  # asking changed nothing
        fresh = await post_form(http, confirm, f"{path}/secret")
        assert fresh.status_code == 200
        new = secret_on(fresh)
        assert new != old
        assert "the previous secret has stopped working" in fresh.text
        assert fresh.headers["cache-control"] == "no-store"
    assert secret_works(app, client_id, new)
    assert not secret_works(app, client_id, old)
    assert "application_secret_regenerated" in activity_types(app)


async def test_a_public_clients_secret_cannot_be_regenerated(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client)
    confidential = make_app(app)
    public = make_app(app, confidential=False)
    async with console_browser(app) as http:
        # Its page has no such form (the confirmation goes back to the page, above): the
        # confidential one's token, posted to it, is refused.
        confirm = await http.get(f"/developer/apps/{confidential}/secret")
        token = form(confirm, f"/developer/apps/{confidential}/secret").fields["csrf_token"]
        refused = await http.post(
            f"/developer/apps/{public}/secret", data={"csrf_token": token}
        )
    assert refused.status_code == 403  # the token is the other application's form's
    stored = row(app, public)
    assert stored is not None
    assert stored["client_secret_hash"] is None


async def test_an_application_is_deactivated_after_confirming_and_activated_again(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client)
    client_id = make_app(app)
    path = f"/developer/apps/{client_id}"
    async with console_browser(app) as http:
        page = await http.get(path)
        assert f'href="{path}/deactivate">Deactivate Photo Printer</a>' in page.text
        confirm = await http.get(f"{path}/deactivate")
        assert "<h1>Deactivate Photo Printer</h1>" in confirm.text
        assert "Nothing is deleted or revoked" in confirm.text
        done = await post_form(http, confirm, f"{path}/deactivate")
        assert done.status_code == 303
        assert done.headers["location"] == f"{path}?notice=developer_app_deactivated"
        inactive = await http.get(done.headers["location"])
        assert notice(inactive).startswith("The application is inactive")
        assert row(app, client_id)["is_active"] is False  # type: ignore[index]
        assert applications_usable(app, client_id) is False
        # Inactive already: nothing to confirm.
        assert (await http.get(f"{path}/deactivate")).status_code == 303
        again = await post_form(http, inactive, f"{path}/activate")
        assert again.status_code == 303
        assert again.headers["location"] == f"{path}?notice=developer_app_activated"
        assert notice(await http.get(again.headers["location"])) == (
            "The application is active again."
        )
    assert row(app, client_id)["is_active"] is True  # type: ignore[index]
    assert applications_usable(app, client_id) is True


def applications_usable(app: FastAPI, client_id: str) -> bool:
    with app.state.ctx.db.read() as db:
        return applications.find_application(db, client_id) is not None


async def test_deleting_needs_the_name_typed(app: FastAPI, client: httpx.AsyncClient) -> None:
    await register(client)
    client_id = make_app(app)
    path = f"/developer/apps/{client_id}"
    async with console_browser(app) as http:
        confirm = await http.get(f"{path}/delete")
        assert confirm.status_code == 200
        assert "<h1>Delete Photo Printer</h1>" in confirm.text
        assert '<label for="confirm_name">' in confirm.text
        wrong = await post_form(http, confirm, f"{path}/delete", confirm_name="photo printer")
        assert wrong.status_code == 400
        assert "Type the application&#39;s name, Photo Printer, exactly" in wrong.text
        assert 'value="photo printer"' in wrong.text
        assert row(app, client_id) is not None
        gone = await post_form(http, confirm, f"{path}/delete", confirm_name=" Photo Printer ")
        assert gone.status_code == 303
        assert gone.headers["location"] == "/developer?notice=developer_app_deleted"
        listed = await http.get(gone.headers["location"])
        assert notice(listed).startswith("The application is deleted")
        assert "You have no applications yet" in listed.text
        assert (await http.get(path)).status_code == 404
    assert row(app, client_id) is None
    assert "application_deleted" in activity_types(app)


# -- every form: CSRF ------------------------------------------------------------------------


@dataclass(frozen=True)
class Action:
    """A form of the console: the page showing it, where it posts, what else it sends."""

    page: str
    action: str
    fields: dict[str, Any]
    upload: bool = False


def actions(client_id: str) -> list[Action]:
    path = f"/developer/apps/{client_id}"
    return [
        Action("/developer/apps/new", "/developer/apps/new", new_fields()),
        Action(path, path, {"name": "Changed", "redirect_uris": REDIRECT, "scopes": ["openid"]}),
        Action(path, f"{path}/logo", {}, upload=True),
        Action(f"{path}/secret", f"{path}/secret", {}),
        Action(f"{path}/deactivate", f"{path}/deactivate", {}),
        Action(f"{path}/delete", f"{path}/delete", {"confirm_name": "Photo Printer"}),
    ]


ACTION_NAMES = ["create", "edit", "logo", "secret", "deactivate", "delete"]


async def send(
    http: httpx.AsyncClient, action: Action, token: str | None
) -> httpx.Response:
    data = {**action.fields, **({"csrf_token": token} if token is not None else {})}
    files = {"file": ("logo.png", png(), "image/png")} if action.upload else None
    return await http.post(action.action, data=data, files=files)


def snapshot(app: FastAPI) -> tuple[int, int, list[dict[str, Any] | None]]:
    with app.state.ctx.db.read() as db:
        ids = sorted(db.execute(select(Application.client_id)).scalars())
    return count_apps(app), count_images(app), [row(app, i) for i in ids]


@pytest.mark.parametrize("index", range(len(ACTION_NAMES)), ids=ACTION_NAMES)
async def test_every_form_refuses_a_missing_or_foreign_csrf_token(
    app: FastAPI, client: httpx.AsyncClient, index: int
) -> None:
    await register(client)
    await register(client, BOB)
    mine = make_app(app)
    other = make_app(app, name="Other app")
    action = actions(mine)[index]
    before = snapshot(app)
    async with console_browser(app) as http, console_browser(app, BOB) as bob:
        missing = await send(http, action, None)
        assert missing.status_code == 403, missing.text
        assert ESCAPED_EXPIRED in missing.text
        # The same form of Ada's other application (tokens name the application).
        other_action = actions(other)[index]
        other_page = await http.get(other_action.page)
        foreign = form(other_page, other_action.action).fields["csrf_token"]
        if index > 0:
            assert (await send(http, action, foreign)).status_code == 403
        # Another form of this page.
        page = await http.get(action.page)
        for candidate in re.findall(r'name="csrf_token" value="([^"]+)"', page.text):
            if candidate != form(page, action.action).fields["csrf_token"]:
                assert (await send(http, action, candidate)).status_code == 403
        # Bob's browser's token for his own new-application form.
        bob_page = await bob.get("/developer/apps/new")
        bob_token = form(bob_page, "/developer/apps/new").fields["csrf_token"]
        assert (await send(http, action, bob_token)).status_code == 403
        assert (await send(http, action, "x" * 5000)).status_code == 403
    assert snapshot(app) == before


async def test_activating_refuses_a_missing_or_foreign_csrf_token(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client)
    client_id = make_app(app, active=False)
    other = make_app(app, active=False)
    async with console_browser(app) as http:
        other_page = await http.get(f"/developer/apps/{other}")
        foreign = form(other_page, f"/developer/apps/{other}/activate").fields["csrf_token"]
        for token in (None, foreign, ""):
            data = {} if token is None else {"csrf_token": token}
            refused = await http.post(f"/developer/apps/{client_id}/activate", data=data)
            assert refused.status_code == 403
            assert ESCAPED_EXPIRED in refused.text
    assert row(app, client_id)["is_active"] is False  # type: ignore[index]


async def test_logo_removal_refuses_a_missing_or_foreign_csrf_token(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client)
    client_id = make_app(app)
    path = f"/developer/apps/{client_id}"
    async with console_browser(app) as http:
        page = await http.get(path)
        await post_form(http, page, f"{path}/logo", files={"file": ("l.png", png(), "image/png")})
        before = row(app, client_id)
        confirm = await http.get(f"{path}/logo/remove")
        other_form = form(await http.get(path), path).fields["csrf_token"]
        for token in (None, other_form):
            data = {} if token is None else {"csrf_token": token}
            refused = await http.post(f"{path}/logo/remove", data=data)
            assert refused.status_code == 403
            assert "<h1>Remove the logo of Photo Printer</h1>" in refused.text
        assert form(confirm, f"{path}/logo/remove").fields["csrf_token"]
    assert row(app, client_id) == before
    assert count_images(app) == 1


# -- escaping, ownership, sign-in --------------------------------------------------------------


async def test_names_holding_html_are_shown_escaped_everywhere(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client)
    name = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    client_id = make_app(app, name=name, description="<b>bold</b>")
    path = f"/developer/apps/{client_id}"
    async with console_browser(app) as http:
        pages = [
            await http.get(p)
            for p in ("/developer", path, f"{path}/secret", f"{path}/deactivate",
                      f"{path}/delete")
        ]
        pages.append(await post_form(http, pages[2], f"{path}/secret"))  # the new secret
        pages.append(await post_form(http, pages[4], f"{path}/delete", confirm_name="no"))
    for page in pages:
        assert "&lt;script&gt;" in page.text, page.url
        assert "<script>alert" not in page.text
        assert "<img src=x" not in page.text
        assert "<b>bold</b>" not in page.text
    assert "&lt;b&gt;bold&lt;/b&gt;" in pages[1].text


def owned_paths(client_id: str) -> list[str]:
    path = f"/developer/apps/{client_id}"
    return [path, f"{path}/logo/remove", f"{path}/secret", f"{path}/deactivate",
            f"{path}/delete"]


async def test_another_users_application_is_not_found_in_every_url(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client)
    await register(client, BOB)
    mine = make_app(app)
    bobs = make_app(app, BOB, name="Bob's app")
    bobs_inactive = make_app(app, BOB, name="Bob's other", active=False)
    before = snapshot(app)
    async with console_browser(app) as http:
        for path in owned_paths(bobs):
            page = await http.get(path)
            assert page.status_code == 404, path
            assert "This application does not exist, or it is not yours." in page.text
            assert "Bob" not in page.text
        # Posts with tokens of Ada's own forms (the only ones she can have).
        mine_page = await http.get(f"/developer/apps/{mine}")
        mine_tokens = {
            a.action.replace(mine, bobs): form(await http.get(a.page), a.action).fields
            for a in actions(mine)[1:]
        }
        for action in actions(bobs)[1:]:
            answer = await send(http, action, mine_tokens[action.action]["csrf_token"])
            assert answer.status_code == 404, action.action
        remove = await http.post(
            f"/developer/apps/{bobs}/logo/remove",
            data={"csrf_token": form(mine_page, f"/developer/apps/{mine}").fields["csrf_token"]},
        )
        assert remove.status_code == 404
        activate = await http.post(f"/developer/apps/{bobs_inactive}/activate", data={})
        assert activate.status_code == 404
        assert (await http.get("/developer/apps/not-an-id")).status_code == 404
    assert snapshot(app) == before


async def test_a_bearer_token_without_the_page_sign_in_is_sent_to_sign_in(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client)
    tokens = await login(client)
    client_id = make_app(app)
    before = snapshot(app)
    async with asgi_client(app) as http:
        http.headers.update(bearer(tokens["accessToken"]))
        for path in ["/developer", "/developer/apps/new", *owned_paths(client_id)]:
            answer = await http.get(path)
            assert answer.status_code == 302, path
            assert answer.headers["location"].startswith("/api/oauth/login?next=")
        for action in actions(client_id):
            answer = await send(http, action, "anything")
            assert answer.status_code == 303, action.action
            assert answer.headers["location"].startswith("/api/oauth/login?next=")
        activate = await http.post(f"/developer/apps/{client_id}/activate", data={})
        assert activate.status_code == 303
    assert snapshot(app) == before


# -- the script ---------------------------------------------------------------------------


async def test_the_copy_script_is_served_from_here(client: httpx.AsyncClient) -> None:
    answer = await client.get("/api/oauth/static/developer.js")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/javascript; charset=utf-8"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert "navigator.clipboard" in answer.text

