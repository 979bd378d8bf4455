"""``docs/deploy.md`` and ``docs/security.md`` name only settings and commands that exist.

Every ``TEKCIFY_*`` / ``JWT_ACCESS_SECRET`` variable they mention is a field of the server's
:class:`~tekcify_auth.server.settings.Settings` (``TEKCIFY_LOGIN_*`` stands for the fields
with that prefix), and every ``tekcify-auth ...`` command line they show is accepted by
the real command-line parser. The test files and folders it points at exist.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from tekcify_auth.cli import _build_parser
from tekcify_auth.server.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "docs" / "deploy.md", ROOT / "docs" / "security.md"]

_VARIABLE = re.compile(r"\b(?:TEKCIFY_[A-Z0-9_]+\*?|JWT_ACCESS_SECRET)")
# The program at the start of a line, after a space or backtick, or in a bin/ folder (not a
# data folder such as /var/lib/tekcify-auth); its arguments end at a comment or backtick.
_COMMAND = re.compile(r"(?:^|(?<=[\s`])|(?<=/bin/))tekcify-auth( [^`#\n]*)", re.MULTILINE)


def setting_names() -> set[str]:
    """The environment variable of every server setting."""
    names = set()
    for field in Settings.model_fields.values():
        extra = field.json_schema_extra
        assert isinstance(extra, dict)
        names.add(str(extra["env"]))
    return names


def unknown_variables(text: str, known: set[str]) -> list[str]:
    """The variables ``text`` mentions that are not settings (a ``*`` suffix is a prefix)."""
    missing = []
    for name in sorted(set(_VARIABLE.findall(text))):
        if name.endswith("*"):
            if not any(k.startswith(name[:-1]) for k in known):
                missing.append(name)
        elif name not in known:
            missing.append(name)
    return missing


def command_lines(text: str) -> list[list[str]]:
    """The arguments of each ``tekcify-auth`` command line in ``text``."""
    lines = []
    for match in _COMMAND.finditer(text):
        words = shlex.split(match.group(1))
        if words:
            lines.append(words)
    return lines


def refused_commands(lines: list[list[str]]) -> list[str]:
    """The command lines the parser does not accept."""
    parser = _build_parser()
    refused = []
    for words in lines:
        try:
            parser.parse_args(words)
        except SystemExit:
            refused.append(" ".join(words))
    return refused


@pytest.mark.parametrize("doc", DOCS, ids=lambda path: path.name)
def test_every_variable_named_is_a_setting(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    assert unknown_variables(text, setting_names()) == []


def test_the_deploy_page_names_the_settings_it_is_about() -> None:
    text = DOCS[0].read_text(encoding="utf-8")
    for name in ("TEKCIFY_PUBLIC_URL", "TEKCIFY_TRUSTED_PROXIES", "TEKCIFY_REDIS_URL",
                 "TEKCIFY_KEY_ENCRYPTION_SECRET", "TEKCIFY_MIGRATE_ON_START",
                 "TEKCIFY_KEY_RELOAD_INTERVAL", "JWT_ACCESS_SECRET"):
        assert name in text, name


@pytest.mark.parametrize("doc", DOCS, ids=lambda path: path.name)
def test_every_command_shown_is_accepted(
    doc: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = command_lines(doc.read_text(encoding="utf-8"))
    assert refused_commands(lines) == [], capsys.readouterr().err


def test_every_test_path_named_exists() -> None:
    text = DOCS[0].read_text(encoding="utf-8")
    named = set(re.findall(r"`(tests/[A-Za-z0-9_/]+(?:\.py)?)`", text))
    assert named, "deploy.md points at the tests that show its claims"
    assert sorted(path for path in named if not (ROOT / path).exists()) == []


def test_the_deploy_page_shows_the_commands_it_is_about() -> None:
    shown = {" ".join(words[:2]) for words in command_lines(DOCS[0].read_text(encoding="utf-8"))}
    assert {"db upgrade", "keys rotate", "keys list"} <= shown
    assert any(name.startswith("serve") for name in shown)


# -- the checks themselves -----------------------------------------------------------------


def test_an_unknown_variable_or_prefix_is_reported() -> None:
    known = {"TEKCIFY_LOGIN_WINDOW", "TEKCIFY_PUBLIC_URL"}
    text = "Set TEKCIFY_PUBLIC_URL, TEKCIFY_LOGIN_* and TEKCIFY_PUBLIC_HOST, TEKCIFY_MAIL_*."
    assert unknown_variables(text, known) == ["TEKCIFY_MAIL_*", "TEKCIFY_PUBLIC_HOST"]


def test_an_unknown_command_or_option_is_reported(capsys: pytest.CaptureFixture[str]) -> None:
    text = (
        "Run `tekcify-auth keys rotate` and\n"
        "```bash\n/opt/venv/bin/tekcify-auth serve --port 7001 --threads 4\n"
        "tekcify-auth db migrate   # a comment\n```\n"
    )
    lines = command_lines(text)
    assert lines == [["keys", "rotate"], ["serve", "--port", "7001", "--threads", "4"],
                     ["db", "migrate"]]
    assert refused_commands(lines) == ["serve --port 7001 --threads 4", "db migrate"]
    capsys.readouterr()
