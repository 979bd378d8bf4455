"""An operator's scopes and their descriptions from a TOML file (``TEKCIFY_SCOPES_FILE``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tekcify_auth.server.services import accounts
from tekcify_auth.server.settings import SettingsError, load_settings

from .conftest import PASSWORD, FakeClock, asgi_client, make_settings, running
from .test_authorize import Browser, authorization, make_client

ORDERS = """\
# The scopes of the orders API.
[scopes]
"read:orders" = "Read your orders, invoices included"
"write:orders" = "Place orders for you"
"""


def scopes_file(tmp_path: Path, text: str | bytes = ORDERS) -> Path:
    path = tmp_path / "scopes.toml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_the_files_scopes_are_added_with_their_descriptions(tmp_path: Path) -> None:
    settings = load_settings({"TEKCIFY_SCOPES_FILE": str(scopes_file(tmp_path))})
    assert settings.scopes[-2:] == ("read:orders", "write:orders")
    # A comma is fine in the file's descriptions (the variable separates entries by it).
    assert settings.scope_descriptions == {
        "read:orders": "Read your orders, invoices included",
        "write:orders": "Place orders for you",
    }


def test_the_file_merges_with_the_variable_whose_descriptions_win(tmp_path: Path) -> None:
    settings = load_settings({
        "TEKCIFY_SCOPES_FILE": str(scopes_file(tmp_path)),
        "TEKCIFY_EXTRA_SCOPES": "write:orders=Order for you, read:orders, admin:x",
    })
    assert settings.scopes[-3:] == ("read:orders", "write:orders", "admin:x")
    assert settings.scope_descriptions == {
        "read:orders": "Read your orders, invoices included",  # a bare name keeps the file's
        "write:orders": "Order for you",
    }


def test_an_empty_variable_means_no_file(tmp_path: Path) -> None:
    assert load_settings({"TEKCIFY_SCOPES_FILE": " "}).scopes_file is None


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('[scopes]\n"read:orders" "Read"\n', "it is not valid TOML: Expected '=' after a key "
         "in a key/value pair (at line 2, column 15)"),
        ('"read:orders" = "Read"\n', "'read:orders' is not allowed: the file holds a [scopes]"),
        ("# nothing\n", "it has no [scopes] table"),
        ('scopes = "read:orders"\n', "it has no [scopes] table"),
        ('[scopes]\n"read:orders" = 1\n', "the description of 'read:orders' is not a string"),
        ('[scopes]\n"read orders" = "Read"\n', "'read orders' is not a scope name"),
        ('[scopes]\n\'bad"quote\' = "Read"\n', "'bad\"quote' is not a scope name"),
        ('[scopes]\n"read:orders" = ""\n', "must be 1 to 120 printable characters"),
        ('[scopes]\n"x" = "bidi\\u202eevil"\n', "the description of 'x' must be 1 to 120"),
        ('[scopes]\n"x" = "' + "y" * 121 + '"\n', "the description of 'x' must be 1 to 120"),
        ("[scopes]\n" + "".join(f'"s{i}" = "S"\n' for i in range(101)),
         "it has more than 100 scopes"),
        (b'[scopes]\n"x" = "\xff"\n', "it is not UTF-8 text"),
    ],
)
def test_a_bad_file_is_refused_naming_the_file_and_the_problem(
    tmp_path: Path, text: str | bytes, problem: str
) -> None:
    path = scopes_file(tmp_path, text)
    with pytest.raises(SettingsError) as refused:
        load_settings({"TEKCIFY_SCOPES_FILE": str(path)})
    [said] = refused.value.problems
    assert said.startswith(f"TEKCIFY_SCOPES_FILE={path} is not valid ("), said
    assert problem in said


def test_a_missing_or_unreadable_file_is_refused(tmp_path: Path) -> None:
    for path, problem in (
        (tmp_path / "absent.toml", "there is no such file"),
        (tmp_path, "it cannot be read: Is a directory"),
    ):
        with pytest.raises(SettingsError) as refused:
            load_settings({"TEKCIFY_SCOPES_FILE": str(path)})
        assert refused.value.problems[0].startswith(f"TEKCIFY_SCOPES_FILE={path} is not valid")
        assert problem in refused.value.problems[0]


async def test_the_consent_page_says_the_files_words(
    clean_db: str, tmp_path: Path, clock: FakeClock
) -> None:
    settings = make_settings(
        database_url=clean_db, data_dir=tmp_path / "data", scopes_file=scopes_file(tmp_path)
    )
    async with running(settings, clock) as (app, client), asgi_client(app) as http:
        discovered = (await client.get("/.well-known/openid-configuration")).json()
        assert {"read:orders", "write:orders"} <= set(discovered["scopes_supported"])
        ctx = app.state.ctx
        with ctx.db.write() as db:
            accounts.create_user(
                db, ctx, email="ada@example.com", password_hash=ctx.passwords.hash(PASSWORD)
            )
        client_app = make_client(app, scopes=("openid", "read:orders"))
        browser = Browser(http)
        page = await browser.get(authorization(client_app, scope="openid read:orders").url)
        page = await browser.follow(await browser.sign_in(page))
        assert ">Allow</button>" in page.text, page.text
        assert "Read your orders, invoices included" in page.text


def test_a_long_path_is_named_whole_and_a_longer_value_is_cut_visibly(tmp_path: Path) -> None:
    deep = tmp_path / ("a-folder-with-a-rather-long-name-" * 3) / "scopes.toml"
    deep.parent.mkdir()
    deep.write_text("not toml at all [", encoding="utf-8")
    assert len(str(deep)) > 100
    with pytest.raises(SettingsError) as refused:
        load_settings({"TEKCIFY_SCOPES_FILE": str(deep)})
    assert refused.value.problems[0].startswith(f"TEKCIFY_SCOPES_FILE={deep} is not valid (")
    with pytest.raises(SettingsError) as refused:
        load_settings({"TEKCIFY_SCOPES_FILE": "/x" * 400})
    shown = refused.value.problems[0].split(" is not valid")[0]
    assert shown.endswith("…")
    assert len(shown) < 300
