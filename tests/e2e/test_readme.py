"""Every code block of the README, run against the real server.

Each fenced block must carry a marker on the line above it, ``<!-- test: KIND -->``:

- ``e2e`` (``python``): run on its own, in a fresh namespace, with the environment the
  README tells the reader to set (``AUTH_SERVER_URL``, ``JWT_ACCESS_SECRET`` and
  ``APP_CLIENT_ID`` pointing at the session's server and an application on it) and the
  names the README lists for the reader's own values: ``access_token``,
  ``refresh_token``, ``password`` (a new user's), ``client_id`` and ``client_secret`` (an
  application that user registered and consented to, and the operator allowed
  ``client_credentials``), ``png_bytes``, files ``avatar.png`` and ``logo.png`` in the
  working folder, and ``the_user_signs_in(url)`` (a browser signing in on the server's
  pages and allowing access). Top-level ``await`` is allowed, as in an async REPL.
  ``e2e /path``: the block leaves a FastAPI, Starlette or Flask ``app`` behind, which is
  then called: ``GET /path`` must answer 200 with the user's ``userId`` for a token the
  server issued to ``APP_CLIENT_ID``, and 401 without a token. ``e2e, after BLOCK-ID
  (...)`` runs that other block first, in the same namespace.
- ``django`` (``python``): the parts after ``# settings.py``, ``# views.py`` and ``# DRF``
  go into a minimal Django project (settings, views), driven with Django's test client in
  a subprocess, with the same environment and token.
- ``shell`` (``bash``): run by ``bash`` with ``AUTH_SERVER_URL`` and ``JWT_ACCESS_SECRET``
  set, as printed; every JSON answer it prints must be a success.
- ``partial (why)`` or ``not run (why)``: deliberately not run, with the reason. A
  ``python`` one must still compile.

A block with no marker, or one this suite does not know, fails the suite; so does an
unmarked ``python`` block in the client sections (from "Calling the auth server" to the
migration table).
"""

from __future__ import annotations

import ast
import inspect
import io
import json
import os
import re
import subprocess
import sys
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
_MARKER = re.compile(r"^<!-- test: (.+) -->$")
_E2E = re.compile(r"^e2e(?: (?P<path>/\S*))?(?:, after (?P<after>[a-z0-9-]+) \(.+\))?$")
_NOT_RUN = re.compile(r"^(?:partial|not run) \(.+\)$")


@dataclass(frozen=True)
class Block:
    """One fenced block of the README."""

    line: int
    heading: str
    lang: str
    code: str
    marker: str | None  # what follows "test:" on the line above, if anything

    @property
    def marked(self) -> bool:
        """Marked to run with the README's names (``e2e``)."""
        return self.marker is not None and _E2E.match(self.marker) is not None

    @property
    def kind(self) -> str | None:
        """``e2e``, ``django``, ``shell`` or ``not run``; ``None`` when unknown or missing."""
        if self.marker is None:
            return None
        if self.lang == "python" and self.marked:
            return "e2e"
        if self.lang == "python" and self.marker == "django":
            return "django"
        if self.lang == "bash" and self.marker == "shell":
            return "shell"
        if _NOT_RUN.match(self.marker):
            return "not run"
        return None


def all_blocks(text: str) -> list[Block]:
    """Every fenced block, with its line, heading, language and marker."""
    blocks: list[Block] = []
    lines = text.splitlines()
    heading = ""
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.startswith("#") and not line.startswith("#!"):
            heading = line
        if line.startswith("```"):
            previous = next((lines[i] for i in range(index - 1, -1, -1) if lines[i].strip()), "")
            marker = _MARKER.match(previous.strip())
            end = lines.index("```", index + 1)
            blocks.append(Block(
                index + 2, heading, line[3:].strip(), "\n".join(lines[index + 1 : end]) + "\n",
                marker.group(1) if marker else None,
            ))
            index = end
        index += 1
    return blocks


def python_blocks(text: str) -> list[Block]:
    """Every fenced ``python`` block."""
    return [block for block in all_blocks(text) if block.lang == "python"]


def owned_blocks(text: str) -> list[Block]:
    """The ``python`` blocks of the client sections of the README."""
    start = text.index(FIRST_SECTION)
    first = text[:start].count("\n") + 1
    last = text[: text.index(AFTER_LAST_SECTION, start)].count("\n") + 1
    return [block for block in python_blocks(text) if first <= block.line <= last]


TEXT = README.read_text(encoding="utf-8")
BLOCKS = all_blocks(TEXT)
RUNNABLE = [block for block in BLOCKS if block.kind == "e2e"]


def block_id(block: Block) -> str:
    """``<heading>-<n>``: the n-th block under its heading (stable when lines move)."""
    slug = re.sub(r"[^a-z0-9]+", "-", block.heading.lower().lstrip("#")).strip("-")
    same = [b for b in BLOCKS if b.heading == block.heading]
    return f"{slug}-{same.index(block) + 1}"


def by_id(wanted: str) -> Block:
    """The block called ``wanted`` by :func:`block_id`."""
    found = [block for block in BLOCKS if block_id(block) == wanted]
    assert found, f"no README block {wanted!r}"
    return found[0]


def test_every_block_of_the_readme_is_classified() -> None:
    unknown = [f"{block_id(block)} ({block.lang}, line {block.line}): {block.marker!r}"
               for block in BLOCKS if block.kind is None]
    assert unknown == [], (
        "mark each README block with one of <!-- test: e2e [/path] -->, <!-- test: django -->,"
        f" <!-- test: shell -->, <!-- test: partial (why) -->: {unknown}"
    )
    for block in BLOCKS:
        marker = _E2E.match(block.marker or "")
        if marker and marker["after"]:
            assert by_id(marker["after"]).kind == "e2e", block_id(block)


def test_the_classifier_refuses_what_it_cannot_run() -> None:
    text = "\n".join([
        "# A", "```python", "print(1)", "```",                         # no marker
        "<!-- test: shell -->", "```python", "print(2)", "```",        # wrong language
        "<!-- test: partial -->", "```bash", "make run", "```",        # no reason
        "<!-- test: e2e /x -->", "```python", "app = 1", "```",
        "<!-- test: not run (serves until stopped) -->", "```bash", "make run", "```",
    ])
    assert [block.kind for block in all_blocks(text)] == [None, None, None, "e2e", "not run"]


def test_unrun_python_blocks_still_compile() -> None:
    for block in BLOCKS:
        if block.kind == "not run" and block.lang == "python":
            compile(block.code, f"README.md:{block.line}", "exec",
                    flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)


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


@dataclass
class Reader:
    """A reader of the README: the names its blocks use, and what the test checks with."""

    names: dict[str, Any]
    user_id: str
    app_token: str  # a token the server issued to APP_CLIENT_ID for the user
    server: ServerProcess
    folder: Path


#: The environment the README tells the reader to set, and what they name.
READER_ENVIRONMENT = ("AUTH_SERVER_URL", "JWT_ACCESS_SECRET", "APP_CLIENT_ID")


@pytest.fixture
async def reader(
    auth_server: ServerProcess,
    make_account: MakeAccount,
    client: AuthClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Reader]:
    """A new user and application, and the names a README block may use."""
    account = make_account("readme")
    app = client.create_application(
        account.access_token,
        app_data("README App", redirect_uris=[REDIRECT_URI], scopes=SCOPES),
    )
    auth_server.allow_client_credentials(app.client_id, SCOPES)  # the operator's leave
    monkeypatch.setenv("AUTH_SERVER_URL", auth_server.url)
    monkeypatch.setenv("JWT_ACCESS_SECRET", auth_server.secret)
    monkeypatch.setenv("APP_CLIENT_ID", app.client_id)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "avatar.png").write_bytes(png())
    (tmp_path / "logo.png").write_bytes(png((32, 32)))
    tekcify_auth.close_default_client()
    await aio.close_default_client()

    def the_user_signs_in(url: str) -> dict[str, str]:
        browser = Browser(auth_server.url)
        try:
            return browser.authorize(url, account.email, account.password)
        finally:
            browser.close()

    # The user consents to the application once, so it is among their connected apps,
    # and the application has a token of the user's.
    with OAuthClient(app.client_id, app.client_secret, REDIRECT_URI, SCOPES) as oauth:
        verifier = generate_code_verifier()
        callback = the_user_signs_in(
            oauth.build_authorize_url("s", generate_code_challenge(verifier))
        )
        app_token = oauth.exchange_code(callback["code"], verifier).access_token

    names = {
        "__name__": "readme_example",
        "access_token": account.access_token,
        "refresh_token": account.tokens.refresh_token,
        "password": account.password,
        "client_id": app.client_id,
        "client_secret": app.client_secret,
        "png_bytes": png(),
        "the_user_signs_in": the_user_signs_in,
    }
    yield Reader(names, account.user_id, app_token, auth_server, tmp_path)
    default = get_default_client() if tekcify_auth._default._default is not None else None
    tekcify_auth.close_default_client()
    if default is not None:
        default.close()  # set_default_client(...) in an example leaves its client to us
    await aio.close_default_client()


def test_the_readme_lists_the_names_its_examples_use(reader: Reader) -> None:
    listed = set(re.findall(r"`([a-z_]+)(?:\(url\))?`", TEXT))
    assert set(reader.names) - {"__name__"} <= listed
    for variable in READER_ENVIRONMENT:
        assert f"`{variable}`" in TEXT[: TEXT.index(FIRST_SECTION)], variable


async def call_app(app: Any, path: str, token: str) -> tuple[int, int, Any]:
    """``GET path`` with and without ``token``: both statuses and the JSON body."""
    if hasattr(app, "test_client"):  # Flask
        with app.test_client() as web:
            ok_flask = web.get(path, headers={"Authorization": f"Bearer {token}"})
            refused_flask = web.get(path)
        return ok_flask.status_code, refused_flask.status_code, ok_flask.json
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app), base_url="http://app"
    ) as web:  # FastAPI, Starlette: any ASGI app
        ok = await web.get(path, headers={"Authorization": f"Bearer {token}"})
        refused = await web.get(path)
    return ok.status_code, refused.status_code, ok.json()


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


async def run_block(block: Block, namespace: dict[str, Any]) -> None:
    """Run ``block``'s code in ``namespace``, awaiting a top-level ``await``."""
    code = compile(
        block.code, f"README.md:{block.line}", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    )
    result = eval(code, namespace)  # the README's own examples
    if inspect.iscoroutine(result):
        await result


@pytest.mark.parametrize("block", RUNNABLE, ids=block_id)
async def test_readme_example_runs(block: Block, reader: Reader) -> None:
    marker = _E2E.match(block.marker or "")
    assert marker is not None
    namespace = reader.names
    try:
        if marker["after"]:
            await run_block(by_id(marker["after"]), namespace)
        await run_block(block, namespace)
        if marker["path"]:
            ok, refused, body = await call_app(namespace["app"], marker["path"], reader.app_token)
            assert (ok, refused) == (200, 401), body
            assert body["userId"] == reader.user_id
    finally:
        for verifier in verifiers_in(namespace):
            verifier.close()


def reader_env() -> dict[str, str]:
    """This process's environment (where ``reader`` put the README's variables), without
    the server's settings and without ``ACCESS_TOKEN``, which a block that uses it sets."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEKCIFY_")}
    env.pop("ACCESS_TOKEN", None)
    return env


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.kind == "shell"], ids=block_id)
def test_readme_shell_block_runs(block: Block, reader: Reader) -> None:
    done = subprocess.run(
        ["bash", "-c", block.code], cwd=reader.folder, env=reader_env(),
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 0, done.stderr
    answers, rest, decoder = [], done.stdout.strip(), json.JSONDecoder()
    while rest:
        answer, end = decoder.raw_decode(rest)
        answers.append(answer)
        rest = rest[end:].strip()
    assert answers, done.stdout
    failed = [a for a in answers if not isinstance(a, dict) or "statusCode" in a or "error" in a]
    assert failed == [], f"{failed} (stderr: {done.stderr})"


#: The rest of a Django project around the README's settings and views.
DJANGO_SETTINGS = """\
SECRET_KEY = "readme-test-only"
ALLOWED_HOSTS = ["testserver"]
ROOT_URLCONF = "urls"
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "rest_framework"]
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
DATABASES = {}
USE_TZ = True
"""
DJANGO_URLS = """\
from django.urls import path
import views

urlpatterns = [path("api/orders", views.orders), path("api/profile", views.Profile.as_view())]
"""
DJANGO_CALLS = """\
import json, sys
import django
django.setup()
from django.test import Client

answers = {}
for route in ("/api/orders", "/api/profile"):
    with_token = Client().get(route, HTTP_AUTHORIZATION="Bearer " + sys.argv[1])
    without = Client().get(route)
    answers[route] = [with_token.status_code, json.loads(with_token.content), without.status_code]
print(json.dumps(answers))
"""


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.kind == "django"], ids=block_id)
def test_readme_django_block_runs(block: Block, reader: Reader) -> None:
    settings, _, views = block.code.partition("# views.py")
    assert settings.startswith("# settings.py")
    assert "# DRF" in views
    project = reader.folder / "project"
    project.mkdir()
    (project / "settings.py").write_text(DJANGO_SETTINGS + settings, encoding="utf-8")
    (project / "views.py").write_text(views, encoding="utf-8")
    (project / "urls.py").write_text(DJANGO_URLS, encoding="utf-8")
    env = {**reader_env(), "DJANGO_SETTINGS_MODULE": "settings", "PYTHONPATH": str(project)}
    done = subprocess.run(
        [sys.executable, "-c", DJANGO_CALLS, reader.app_token], cwd=project, env=env,
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 0, done.stderr
    answers = json.loads(done.stdout)
    # The application's token lacks read:orders, and holds read:profile.
    assert answers["/api/orders"][0::2] == [403, 401], answers
    assert answers["/api/profile"] == [200, {"userId": reader.user_id}, 401], answers
