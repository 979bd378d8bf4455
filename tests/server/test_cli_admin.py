"""The administration commands (issue 17, items 4 and 5), run as the real command line
on SQLite and PostgreSQL: ``invites``, and ``users`` and ``apps`` beyond create/list."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from tekcify_auth.cli import main
from tekcify_auth.server.settings import load_settings

from .conftest import PASSWORD, running
from .test_cli import cli_env  # noqa: F401  (the fixture)


@pytest.fixture
def admin_env(
    cli_env: Path,  # noqa: F811
    clean_db: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    """The CLI's environment on this run's database (SQLite or PostgreSQL)."""
    monkeypatch.setenv("TEKCIFY_DATABASE_URL", clean_db)
    monkeypatch.setenv("TEKCIFY_MAIL_POLL_INTERVAL", "0")
    return cli_env


def cli(
    args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    stdin: str = "",
) -> tuple[int, str, str]:
    """Run ``tekcify-auth ARGS``; its exit status, output and errors."""
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    try:
        code = main(args)
    except SystemExit as exc:  # argparse refusing the arguments
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# -- invites -------------------------------------------------------------------------------


async def test_invites_create_list_revoke(
    admin_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = cli(["invites", "create", "--uses", "2", "--expires", "7d", "--json"],
                         capsys, monkeypatch)
    assert code == 0, err
    made = json.loads(out.split("\nnote:")[0])
    assert made["maxUses"] == 2
    assert made["expiresAt"] is not None
    assert "TEKCIFY_REGISTRATION=invite" in out  # registration is open: it says so
    code, out, _ = cli(["invites", "list", "--json"], capsys, monkeypatch)
    listed = json.loads(out)
    assert [(i["id"], i["state"], i["uses"]) for i in listed] == [(made["id"], "usable", 0)]
    assert made["code"] not in out  # never shown again

    monkeypatch.setenv("TEKCIFY_REGISTRATION", "invite")
    settings = load_settings()
    async with running(settings) as (_app, client):
        body = {"email": "ada@example.com", "password": PASSWORD, "inviteCode": made["code"]}
        assert (await client.post("/api/auth/register", json=body)).status_code == 201
    code, out, _ = cli(["invites", "list"], capsys, monkeypatch)
    assert "1/2" in out
    assert "usable" in out

    code, out, _ = cli(["invites", "revoke", made["id"]], capsys, monkeypatch)
    assert code == 0
    assert "revoked" in out
    async with running(settings) as (_app, client):
        body = {"email": "bob@example.com", "password": PASSWORD, "inviteCode": made["code"]}
        assert (await client.post("/api/auth/register", json=body)).status_code == 403
    code, _, err = cli(["invites", "revoke", made["id"]], capsys, monkeypatch)
    assert code == 1
    assert "tekcify-auth invites list" in err


def test_invites_refuse_a_bad_duration_or_count(
    admin_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _, err = cli(["invites", "create", "--expires", "soon"], capsys, monkeypatch)
    assert code == 2
    assert "e.g. 30m, 12h, 7d or 2w" in err
    code, _, err = cli(["invites", "create", "--uses", "0"], capsys, monkeypatch)
    assert code == 2
    assert "1 or more" in err
