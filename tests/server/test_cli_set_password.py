"""``tekcify-auth users set-password``: without echo or from stdin; every session ends."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from tekcify_auth.cli import main
from tekcify_auth.server.settings import load_settings

from .conftest import PASSWORD, running
from .recovery_helpers import mails
from .test_cli import cli_env  # noqa: F401  (the fixture)

NEW_PASSWORD = "an administrator's choice"


def _cli(
    args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    stdin: str = "",
) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


async def test_set_password_from_stdin_ends_every_session(
    cli_env: Path,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TEKCIFY_PUBLIC_URL", "https://auth.example.com")
    # No mail sender in these servers: the test reads the notice from the queue itself.
    monkeypatch.setenv("TEKCIFY_MAIL_POLL_INTERVAL", "0")
    code, _, _ = _cli(
        ["users", "create", "--email", "ada@example.com", "--password-stdin"],
        capsys, monkeypatch, stdin=PASSWORD + "\n",
    )
    assert code == 0
    settings = load_settings()
    async with running(settings) as (_app, server):
        pair = (await server.post(
            "/api/auth/login", json={"email": "ada@example.com", "password": PASSWORD}
        )).json()
    code, out, err = _cli(
        ["users", "set-password", "Ada@Example.com", "--password-stdin"],
        capsys, monkeypatch, stdin=NEW_PASSWORD + "\n",
    )
    assert code == 0, err
    assert "1 session signed out" in out
    assert NEW_PASSWORD not in out + err
    async with running(settings) as (app, server):
        refreshed = await server.post(
            "/api/auth/refresh", json={"refreshToken": pair["refreshToken"]}
        )
        assert refreshed.status_code == 401
        old = await server.post(
            "/api/auth/login", json={"email": "ada@example.com", "password": PASSWORD}
        )
        assert old.status_code == 401
        new = await server.post(
            "/api/auth/login", json={"email": "ada@example.com", "password": NEW_PASSWORD}
        )
        assert new.status_code == 200
        notice = [m for m in mails(app, "password_changed")]
        assert len(notice) == 1
        assert "https://auth.example.com/account/forgot-password" in notice[0].text


def test_set_password_prompts_twice_without_echo(
    cli_env: Path,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _cli(
        ["users", "create", "--email", "ada@example.com", "--password-stdin"],
        capsys, monkeypatch, stdin=PASSWORD + "\n",
    )
    import getpass

    prompts: list[str] = []
    answers = iter([NEW_PASSWORD, NEW_PASSWORD + "typo"])
    monkeypatch.setattr(getpass, "getpass", lambda prompt="": prompts.append(prompt) or next(
        answers))
    code, _, err = _cli(["users", "set-password", "ada@example.com"], capsys, monkeypatch)
    assert code == 1
    assert "the passwords differ" in err
    assert prompts == ["Password: ", "Repeat it: "]
    answers = iter([NEW_PASSWORD, NEW_PASSWORD])
    code, out, _ = _cli(["users", "set-password", "ada@example.com"], capsys, monkeypatch)
    assert code == 0
    assert "set the password of ada@example.com" in out


def test_set_password_refuses_unknown_accounts_and_short_passwords(
    cli_env: Path,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code, _, err = _cli(
        ["users", "set-password", "nobody@example.com", "--password-stdin"],
        capsys, monkeypatch, stdin=NEW_PASSWORD + "\n",
    )
    assert code == 1
    assert "User not found" in err
    code, _, err = _cli(
        ["users", "set-password", "nobody@example.com", "--password-stdin"],
        capsys, monkeypatch, stdin="short\n",
    )
    assert code == 1
    assert "8 to 1024" in err
