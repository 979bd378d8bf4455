"""The mail sender in the server: started by the lifespan, quick to deliver, never in a
request's way (a hanging SMTP server included), stopped cleanly; the outbox; the CLI."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import stat
import sys
import time
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from tekcify_auth.cli import _banner, main
from tekcify_auth.server import create_app
from tekcify_auth.server.context import ServerContext
from tekcify_auth.server.db.security import MailMessage
from tekcify_auth.server.services import mail
from tekcify_auth.server.services.mail_sender import build_message
from tekcify_auth.server.settings import Settings

from .conftest import FakeClock, asgi_client, make_settings
from .mailboxes import SECRET_LINK, hanging_server, queued, smtp_server

pytestmark = pytest.mark.timeout(60)


def _with_enqueue_route(application: FastAPI) -> FastAPI:
    """``POST /test/mail``: an action that queues a message in its transaction, as the
    account flows do (they are built elsewhere)."""

    def enqueue() -> dict[str, str]:
        ctx = application.state.ctx
        with ctx.db.write() as db:
            message_id = mail.enqueue(
                db, kind="test_message", to="ada@example.com", values={"note": SECRET_LINK},
                base_url="https://auth.example.com", now=ctx.clock(),
            )
        return {"id": message_id}

    application.add_api_route("/test/mail", enqueue, methods=["POST"])
    return application


def _settings(clean_db: str, tmp_path: Path, **overrides: Any) -> Settings:
    return make_settings(**{
        "database_url": clean_db, "data_dir": tmp_path / "data", "mail_poll_interval": 0.05,
        **overrides,
    })


async def _eventually(check: Any, seconds: float = 5.0) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_the_server_writes_mail_to_the_outbox_without_smtp_settings(
    clean_db: str, tmp_path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tekcify_auth.server.mail")
    settings = _settings(clean_db, tmp_path)
    application = _with_enqueue_route(create_app(settings, clock=clock))
    outbox = settings.data_dir / "outbox"
    async with application.router.lifespan_context(application), asgi_client(application) as c:
        message_id = (await c.post("/test/mail")).json()["id"]
        files = await _eventually(lambda: list(outbox.glob("*.eml")))
    assert [f.name for f in files] == [
        f"{clock().strftime('%Y%m%dT%H%M%S%fZ')}-{message_id}.eml"
    ]
    path = files[0]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(outbox.stat().st_mode) == 0o700
    assert [p.name for p in outbox.iterdir()] == [path.name]  # no temporary file left
    parsed = message_from_bytes(path.read_bytes(), policy=default)
    assert isinstance(parsed, EmailMessage)
    assert parsed["To"] == "ada@example.com"
    assert parsed["From"] == "Tekcify <no-reply@localhost>"
    assert parsed["Subject"] == "Tekcify test message"
    assert parsed["Message-ID"] == f"<{message_id}@localhost>"
    assert parsed["Date"]
    assert parsed.get_content_type() == "multipart/alternative"
    text, html = parsed.get_body(("plain",)), parsed.get_body(("html",))
    assert text is not None
    assert html is not None
    assert SECRET_LINK in text.get_content()  # the user can click the link
    assert "<html" in html.get_content().lower()
    row = queued(application.state.ctx.db, message_id)
    assert row.sent_at is not None
    assert (row.text_body, row.html_body) == ("", "")
    # One line at start says where mail goes; the rest names the file, not the body.
    where = [r.getMessage() for r in caplog.records if "written as .eml files" in r.getMessage()]
    assert where == [f"mail: written as .eml files to {outbox.resolve()}"]
    assert "NEVER-LOGGED" not in caplog.text


async def test_the_server_delivers_by_smtp_within_a_moment(
    clean_db: str, tmp_path: Path, clock: FakeClock
) -> None:
    with smtp_server() as (inbox, port):
        settings = _settings(clean_db, tmp_path, smtp_url=f"smtp://127.0.0.1:{port}")
        application = _with_enqueue_route(create_app(settings, clock=clock))
        async with application.router.lifespan_context(application), asgi_client(
            application
        ) as c:
            started = time.monotonic()
            message_id = (await c.post("/test/mail")).json()["id"]
            await _eventually(lambda: inbox.messages)
            assert time.monotonic() - started < 2
    assert inbox.message_ids() == [f"<{message_id}@localhost>"]
    assert not (settings.data_dir / "outbox").exists()


async def test_a_hanging_smtp_server_never_holds_a_request(
    clean_db: str, tmp_path: Path, clock: FakeClock
) -> None:
    with hanging_server() as hanging:
        settings = _settings(
            clean_db, tmp_path, smtp_url=f"smtp://127.0.0.1:{hanging.port}", smtp_timeout=30
        )
        application = _with_enqueue_route(create_app(settings, clock=clock))
        lifespan = application.router.lifespan_context(application)
        await lifespan.__aenter__()
        try:
            async with asgi_client(application) as c:
                first = (await c.post("/test/mail")).json()["id"]
                await _eventually(lambda: hanging.accepted == 1)  # the sender is stuck
                await asyncio.sleep(0.2)
                for _ in range(3):  # requests, mail-sending ones too, answer at once
                    started = time.monotonic()
                    assert (await c.post("/test/mail")).status_code == 200
                    assert (await c.get("/health")).status_code == 200
                    assert time.monotonic() - started < 1.0
        finally:
            started = time.monotonic()
            await lifespan.__aexit__(None, None, None)
            stopped_in = time.monotonic() - started
    # The shutdown did not wait for the SMTP timeout (30 s): it ended the exchange, and
    # the message stays queued, not counted as an attempt.
    assert stopped_in < 5
    check = ServerContext(settings)
    try:
        row = queued(check.db, first)
        assert row.sent_at is None
        assert row.failed_at is None
        assert row.claimed_by is None
        assert row.attempts == 0
    finally:
        check.db.dispose()


async def test_mail_poll_interval_zero_leaves_delivery_to_other_instances(
    clean_db: str, tmp_path: Path, clock: FakeClock
) -> None:
    settings = _settings(clean_db, tmp_path, mail_poll_interval=0)
    application = _with_enqueue_route(create_app(settings, clock=clock))
    async with application.router.lifespan_context(application), asgi_client(application) as c:
        message_id = (await c.post("/test/mail")).json()["id"]
        await asyncio.sleep(0.3)
        assert queued(application.state.ctx.db, message_id).sent_at is None
    assert not (settings.data_dir / "outbox").exists()


def test_the_serve_banner_says_where_mail_goes(tmp_path: Path) -> None:
    outbox = make_settings(data_dir=tmp_path / "data")
    said = _banner(outbox, ServerContext(outbox), "http://127.0.0.1:7001")
    assert f"mail: written as .eml files to {(tmp_path / 'data' / 'outbox').resolve()}" in said
    smtp = make_settings(
        data_dir=tmp_path / "data", smtp_url="smtp://mailer:hunter2@mail.example.com"
    )
    said = _banner(smtp, ServerContext(smtp), "http://127.0.0.1:7001")
    assert "mail: SMTP to mail.example.com:587 (STARTTLS, AUTH as mailer)" in said
    assert "hunter2" not in said


# -- tekcify-auth mail ----------------------------------------------------------------


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(os.environ):
        if name.startswith("TEKCIFY_") or name == "JWT_ACCESS_SECRET":
            monkeypatch.delenv(name)
    monkeypatch.setenv("TEKCIFY_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(sys, "stdin", None)
    return tmp_path / "data"


def test_mail_test_writes_to_the_outbox_and_status_counts(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["mail", "test", "Ada@Example.com"]) == 0
    out = capsys.readouterr().out
    files = list((cli_env / "outbox").glob("*.eml"))
    assert len(files) == 1
    assert out.strip() == f"test message to ada@example.com delivered to {files[0].resolve()}"
    parsed = message_from_bytes(files[0].read_bytes(), policy=default)
    assert parsed["To"] == "ada@example.com"
    assert parsed["Subject"] == "Tekcify test message"
    assert main(["mail", "status"]) == 0
    out = capsys.readouterr().out
    assert f"mail: written as .eml files to {(cli_env / 'outbox').resolve()}" in out
    assert "0 due, 0 retrying, 0 failed, 1 sent" in out


def test_mail_test_through_smtp_and_a_refusal(
    cli_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from .mailboxes import Inbox

    with smtp_server() as (inbox, port):
        monkeypatch.setenv("TEKCIFY_SMTP_URL", f"smtp://127.0.0.1:{port}")
        assert main(["mail", "test", "ada@example.com"]) == 0
        assert capsys.readouterr().out.strip() == (
            f"test message to ada@example.com delivered through 127.0.0.1:{port}"
        )
    assert len(inbox.messages) == 1
    refusing = Inbox(refuse={"RCPT": ["550 5.1.1 no such user"]})
    with smtp_server(inbox=refusing) as (_inbox, port):
        monkeypatch.setenv("TEKCIFY_SMTP_URL", f"smtp://127.0.0.1:{port}")
        assert main(["mail", "test", "nobody@example.com"]) == 1
        assert "failed for good: SMTP 550 at RCPT TO" in capsys.readouterr().err
    assert main(["mail", "test", "not an address"]) == 1
    assert "not a valid email address" in capsys.readouterr().err
    monkeypatch.setenv("TEKCIFY_SMTP_URL", "smtp://127.0.0.1:1")  # nothing listens there
    assert main(["mail", "test", "ada@example.com"]) == 1
    assert "connection refused" in capsys.readouterr().err
    assert main(["mail", "status"]) == 0
    assert "0 due, 1 retrying, 1 failed, 1 sent" in capsys.readouterr().out


async def test_a_database_away_is_logged_once_and_the_sender_carries_on(
    tmp_path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    from tekcify_auth.server.db.engine import Database
    from tekcify_auth.server.db.models import Base
    from tekcify_auth.server.services.mail_sender import MailSender

    caplog.set_level(logging.INFO, logger="tekcify_auth.server.mail")
    url = f"sqlite:///{tmp_path / 'empty.sqlite3'}"  # no tables yet: every pass fails
    database = Database(url)
    sender = MailSender(database, make_settings(data_dir=tmp_path / "data"), clock)
    running = asyncio.create_task(sender.run(0.01))
    try:
        await asyncio.sleep(0.3)
        failures = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(failures) == 1  # not one per pass
        assert "tries again every" in failures[0].getMessage()
        # A database error is expected weather: said in one line, without a traceback
        # (the fault tests count tracebacks as errors nobody handled) or the SQL's values.
        assert failures[0].exc_info is None
        assert "OperationalError" in failures[0].getMessage()
        Base.metadata.create_all(database.engine)
        await _eventually(lambda: "the mail sender works again" in caplog.text)
    finally:
        sender.stop()
        await asyncio.wait_for(running, 5)
        database.dispose()


def test_a_long_link_stays_whole_in_the_message_and_other_text_is_encoded() -> None:
    # Mail clients decode either; a person reading an outbox .eml sees a 7bit link whole.
    link = "http://localhost:7001/account/reset-password?token=" + "x" * 43
    when = datetime(2026, 12, 3, tzinfo=UTC)

    def built(text: str) -> bytes:
        row = MailMessage(id="m1", kind="password_reset", to_address="ada@example.com",
                          subject="Reset", text_body=text, html_body="<p>hi</p>")
        return bytes(build_message(row, mail_from="Tekcify <no-reply@localhost>",
                                   now=when).message)

    assert link.encode() in built(f"Open this link:\n\n{link}\n")
    accented = built(f"Bonjour Zoë,\n\n{link}\n")
    assert b"quoted-printable" in accented or b"base64" in accented
    parsed = message_from_bytes(accented, policy=default)
    assert isinstance(parsed, EmailMessage)
    body = parsed.get_body(("plain",))
    assert body is not None
    assert link in body.get_content()


def test_building_a_message_leaves_the_random_module_alone() -> None:
    # The email package draws MIME boundaries from random's shared generator; a fuzzer
    # (Hypothesis) running beside the sender took that for its own state going astray.
    row = MailMessage(id="m2", kind="test_message", to_address="ada@example.com",
                      subject="Hi", text_body="hello", html_body="<p>hello</p>")
    before = random.getstate()
    raw = bytes(build_message(row, mail_from="Tekcify <no-reply@localhost>",
                              now=datetime(2026, 12, 3, tzinfo=UTC)).message)
    assert random.getstate() == before
    assert b"boundary=" in raw
