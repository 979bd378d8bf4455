"""``tekcify-auth users reset-mfa``: MFA off, backup codes gone, the event recorded."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from tekcify_auth.server.db.mfa import BackupCode, TotpFactor
from tekcify_auth.server.db.security import SecurityActivity
from tekcify_auth.server.settings import load_settings

from .conftest import PASSWORD, FakeClock, bearer, running
from .mfa_helpers import enable_mfa
from .test_cli import cli_env  # noqa: F401  (the fixture)
from .test_cli_set_password import _cli


async def test_reset_mfa_turns_it_off_and_deletes_the_backup_codes(
    cli_env: Path,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TEKCIFY_MAIL_POLL_INTERVAL", "0")
    code, _, _ = _cli(
        ["users", "create", "--email", "ada@example.com", "--password-stdin"],
        capsys, monkeypatch, stdin=PASSWORD + "\n",
    )
    assert code == 0
    settings = load_settings()
    clock = FakeClock()
    credentials = {"email": "ada@example.com", "password": PASSWORD}
    async with running(settings, clock) as (_app, server):
        pair = (await server.post("/api/auth/login", json=credentials)).json()
        await enable_mfa(server, pair["accessToken"], clock)
        assert (await server.post("/api/auth/login", json=credentials)).json()["mfaRequired"]
    code, out, err = _cli(["users", "reset-mfa", "Ada@Example.com"], capsys, monkeypatch)
    assert code == 0, err
    assert "two-factor sign-in is off for ada@example.com" in out
    async with running(settings, clock) as (app, server):
        answer = (await server.post("/api/auth/login", json=credentials)).json()
        assert "accessToken" in answer
        export = await server.get("/api/user/export-data", headers=bearer(answer["accessToken"]))
        assert export.json()["profile"]["mfaEnabled"] is False
        with app.state.ctx.db.read() as db:
            assert db.execute(select(TotpFactor)).first() is None
            assert db.execute(select(BackupCode)).first() is None
            reset = db.execute(
                select(SecurityActivity).where(SecurityActivity.activity_type == "mfa_disabled")
            ).scalar_one()
    assert reset.details == {"by": "operator"}
    code, out, _ = _cli(["users", "reset-mfa", "ada@example.com"], capsys, monkeypatch)
    assert code == 0
    assert "nothing left to reset" in out
    code, _, err = _cli(["users", "reset-mfa", "nobody@example.com"], capsys, monkeypatch)
    assert code != 0
    assert "User not found" in err
