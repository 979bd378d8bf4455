"""The README's client examples, run against the real server.

Every fenced ``python`` block right after a ``<!-- test: e2e -->`` line is run on its own,
in a fresh namespace, with ``AUTH_SERVER_URL`` and ``JWT_ACCESS_SECRET`` pointing at the
session's server and the names the examples use for the reader's own values:
``access_token``, ``refresh_token``, ``password`` (a new user's), ``client_id`` and
``client_secret`` (an application that user registered and consented to, and the
operator allowed ``client_credentials``), ``png_bytes``,
files ``avatar.png`` and ``logo.png`` in the working folder, and ``the_user_signs_in(url)``
(a browser signing in on the server's pages and allowing access). Top-level ``await`` is
allowed, as in an async REPL. A block that leaves a FastAPI or Flask ``app`` behind is then
called: ``GET /me`` must answer 200 for the user's token and 401 without one.

In the sections this suite owns (from "Calling the auth server" to the migration table)
every ``python`` block must be runnable: an unmarked one fails the suite.
"""

from __future__ import annotations

import ast
import inspect
import io
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

import tekcify_auth
from tekcify_auth import AuthClient, IntrospectionVerifier, aio
from tekcify_auth._default import get_default_client
from tekcify_auth.oauth import OAuthClient, generate_code_challenge, generate_code_verifier

from .support import Browser, MakeAccount, ServerProcess, app_data

pytestmark = pytest.mark.slow

README = Path(__file__).resolve().parents[2] / "README.md"
MARK = "<!-- test: e2e -->"
FIRST_SECTION = "## Calling the auth server"
AFTER_LAST_SECTION = "## The server"
REDIRECT_URI = "https://app.example.com/callback"
SCOPES = ["openid", "profile", "email", "offline_access", "read:profile", "write:profile"]


@dataclass(frozen=True)
class Block:
    """One fenced ``python`` block of the README."""

    line: int
    heading: str
    code: str
    marked: bool


def python_blocks(text: str) -> list[Block]:
    """Every fenced ``python`` block, with its line, heading and whether it is marked."""
    blocks: list[Block] = []
    lines = text.splitlines()
    heading = ""
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.startswith("#") and not line.startswith("#!"):
            heading = line
        if line.strip() == "```python":
            previous = next((lines[i] for i in range(index - 1, -1, -1) if lines[i].strip()), "")
            end = lines.index("```", index + 1)
            blocks.append(Block(
                index + 2, heading, "\n".join(lines[index + 1 : end]) + "\n",
                previous.strip() == MARK,
            ))
            index = end
        index += 1
    return blocks


def owned_blocks(text: str) -> list[Block]:
    """The blocks of this suite's sections of the README."""
    start = text.index(FIRST_SECTION)
    first = text[:start].count("\n") + 1
    last = text[: text.index(AFTER_LAST_SECTION, start)].count("\n") + 1
    return [block for block in python_blocks(text) if first <= block.line <= last]


TEXT = README.read_text(encoding="utf-8")
RUNNABLE = [block for block in python_blocks(TEXT) if block.marked]


def block_id(block: Block) -> str:
    """``<heading>-<n>``: the n-th block under its heading (stable when lines move)."""
    slug = re.sub(r"[^a-z0-9]+", "-", block.heading.lower().lstrip("#")).strip("-")
    same = [b for b in python_blocks(TEXT) if b.heading == block.heading]
    return f"{slug}-{same.index(block) + 1}"


def test_every_example_of_the_client_sections_is_runnable() -> None:
    owned = owned_blocks(TEXT)
    assert len(owned) >= 15
    unmarked = [block_id(block) for block in owned if not block.marked]
    assert unmarked == [], f"mark these README blocks {MARK!r} (and make them run): {unmarked}"


def test_the_migration_table_names_exist() -> None:
    # Every Python name the table promises can be imported.
    table = TEXT[TEXT.index("## Migrating from the Node package") : TEXT.index(AFTER_LAST_SECTION)]
    modules = {
        "tekcify_auth": tekcify_auth,
        "tekcify_auth.fastapi": __import__("tekcify_auth.fastapi", fromlist=["_"]),
        "tekcify_auth.flask": __import__("tekcify_auth.flask", fromlist=["_"]),
        "tekcify_auth.starlette": __import__("tekcify_auth.starlette", fromlist=["_"]),
        "tekcify_auth.django": __import__("tekcify_auth.django", fromlist=["_"]),
        "tekcify_auth.oauth": __import__("tekcify_auth.oauth", fromlist=["_"]),
    }
    named = re.findall(r"`(tekcify_auth(?:\.[a-z_]+)*)\.([A-Za-z_]+)", table)
    assert len(named) >= 30
    for module_name, name in named:
        assert hasattr(modules[module_name], name), f"{module_name}.{name}"


def png(size: tuple[int, int] = (16, 16)) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", size, (20, 120, 200, 255)).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
async def namespace(
    auth_server: ServerProcess,
    make_account: MakeAccount,
    client: AuthClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[dict[str, Any]]:
    """The names a README block may use, for a new user and application."""
    monkeypatch.setenv("AUTH_SERVER_URL", auth_server.url)
    monkeypatch.setenv("JWT_ACCESS_SECRET", auth_server.secret)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "avatar.png").write_bytes(png())
    (tmp_path / "logo.png").write_bytes(png((32, 32)))
    tekcify_auth.close_default_client()
    await aio.close_default_client()

    account = make_account("readme")
    app = client.create_application(
        account.access_token,
        app_data("README App", redirect_uris=[REDIRECT_URI], scopes=SCOPES),
    )
    auth_server.allow_client_credentials(app.client_id, SCOPES)  # the operator's leave

    def the_user_signs_in(url: str) -> dict[str, str]:
        browser = Browser(auth_server.url)
        try:
            return browser.authorize(url, account.email, account.password)
        finally:
            browser.close()

    # The user consents to the application once, so it is among their connected apps.
    with OAuthClient(app.client_id, app.client_secret, REDIRECT_URI, SCOPES) as oauth:
        url = oauth.build_authorize_url("s", generate_code_challenge(generate_code_verifier()))
        assert "code" in the_user_signs_in(url)

    yield {
        "__name__": "readme_example",
        "access_token": account.access_token,
        "refresh_token": account.tokens.refresh_token,
        "password": account.password,
        "user_id": account.user_id,
        "client_id": app.client_id,
        "client_secret": app.client_secret,
        "png_bytes": png(),
        "the_user_signs_in": the_user_signs_in,
    }
    default = get_default_client() if tekcify_auth._default._default is not None else None
    tekcify_auth.close_default_client()
    if default is not None:
        default.close()  # set_default_client(...) in an example leaves its client to us
    await aio.close_default_client()


async def call_app(app: Any, token: str) -> tuple[int, int, Any]:
    """``GET /me`` with and without ``token``: both statuses and the JSON body."""
    from fastapi import FastAPI
    from flask import Flask

    if isinstance(app, FastAPI):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app), base_url="http://app"
        ) as web:
            ok = await web.get("/me", headers={"Authorization": f"Bearer {token}"})
            refused = await web.get("/me")
        return ok.status_code, refused.status_code, ok.json()
    assert isinstance(app, Flask)
    with app.test_client() as web:
        ok_flask = web.get("/me", headers={"Authorization": f"Bearer {token}"})
        refused_flask = web.get("/me")
    return ok_flask.status_code, refused_flask.status_code, ok_flask.json


def verifiers_in(namespace: dict[str, Any]) -> list[IntrospectionVerifier]:
    """The introspection verifiers an example made, directly or inside a guard."""
    from tekcify_auth.fastapi import JwtAuthGuard
    from tekcify_auth.flask import FlaskAuth

    found = []
    for value in namespace.values():
        if isinstance(value, JwtAuthGuard | FlaskAuth):
            value = value.core.verifier
        if isinstance(value, IntrospectionVerifier):
            found.append(value)
    return found


@pytest.mark.parametrize("block", RUNNABLE, ids=block_id)
async def test_readme_example_runs(block: Block, namespace: dict[str, Any]) -> None:
    code = compile(
        block.code, f"README.md:{block.line}", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    )
    token = namespace["access_token"]
    try:
        result = eval(code, namespace)  # the README's own examples
        if inspect.iscoroutine(result):
            await result
        app = namespace.get("app")
        if app is not None and hasattr(app, "route") and not hasattr(app, "client_id"):
            ok, refused, body = await call_app(app, token)
            assert (ok, refused) == (200, 401), body
            assert body["userId"] == namespace["user_id"]
    finally:
        for verifier in verifiers_in(namespace):
            verifier.close()
