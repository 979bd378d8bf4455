"""The mail sender against real SMTP servers on 127.0.0.1 (``aiosmtpd``), on both databases:
plain, STARTTLS, implicit TLS, AUTH, refusals, dropped connections, retries."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tekcify_auth.server.db.engine import Database
from tekcify_auth.server.services.mail_sender import MailSender
from tekcify_auth.server.settings import Settings

from .conftest import FakeClock, make_settings
from .mailboxes import (
    SECRET_LINK,
    Inbox,
    dropping_server,
    hanging_server,
    queue_message,
    queued,
    self_signed,
    smtp_server,
)

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def database(clean_db: str) -> Iterator[Database]:
    """The session's database (SQLite or PostgreSQL), emptied after the test."""
    db = Database(clean_db)
    try:
        yield db
    finally:
        db.dispose()


@pytest.fixture
def make_sender(
    database: Database, clean_db: str, tmp_path: Path, clock: FakeClock
) -> Any:
    """``make_sender(smtp_url=..., **settings)``: a sender on the test's database."""

    def make(**overrides: Any) -> MailSender:
        settings: Settings = make_settings(**{
            "database_url": clean_db, "data_dir": tmp_path / "data", "smtp_timeout": 2,
            **overrides,
        })
        return MailSender(database, settings, clock)

    return make


def _only(inbox: Inbox) -> EmailMessage:
    assert len(inbox.messages) == 1, inbox.messages
    return inbox.messages[0]


def test_plain_delivery_sends_text_and_html_and_wipes_the_bodies(
    database: Database, make_sender: Any, clock: FakeClock
) -> None:
    message_id = queue_message(database, clock())
    with smtp_server() as (inbox, port):
        report = make_sender(smtp_url=f"smtp://127.0.0.1:{port}").deliver_due()
    assert report.sent == [message_id]
    received = _only(inbox)
    assert inbox.envelopes == [("no-reply@localhost", ["ada@example.com"])]
    assert received["From"] == "Tekcify <no-reply@localhost>"
    assert received["To"] == "ada@example.com"
    assert received["Subject"] == "Tekcify test message"
    assert received["Message-ID"] == f"<{message_id}@localhost>"
    assert received["Date"]
    assert received.get_content_type() == "multipart/alternative"
    text = received.get_body(("plain",))
    html = received.get_body(("html",))
    assert text is not None
    assert html is not None
    assert SECRET_LINK in text.get_content()
    assert "https://auth.example.com" in html.get_content()
    row = queued(database, message_id)
    assert row.sent_at == clock()
    assert (row.text_body, row.html_body) == ("", "")  # nothing secret stays behind
    assert row.claimed_by is None
    assert row.failed_at is None
    assert row.last_error is None
    # Sent once: another pass has nothing to do.
    with smtp_server() as (again, port):
        assert make_sender(smtp_url=f"smtp://127.0.0.1:{port}").deliver_due().sent == []
    assert again.messages == []


def test_starttls_with_a_self_signed_certificate_is_refused_while_verification_is_on(
    database: Database, make_sender: Any, clock: FakeClock, tmp_path: Path
) -> None:
    cert = self_signed(tmp_path / "tls")
    message_id = queue_message(database, clock())
    with smtp_server(starttls=cert) as (inbox, port):
        report = make_sender(smtp_url=f"smtp://127.0.0.1:{port}").deliver_due()
        assert report.retrying == [message_id]
        assert inbox.messages == []
        row = queued(database, message_id)
        assert row.last_error is not None
        assert "TLS certificate not verified" in row.last_error
        assert row.sent_at is None
        assert row.failed_at is None
        assert row.text_body
        # The operator accepts that certificate: the next attempt goes through STARTTLS.
        clock.advance(31)
        relaxed = make_sender(smtp_url=f"smtp://127.0.0.1:{port}", smtp_tls_verify=False)
        assert relaxed.deliver_due().sent == [message_id]
    assert _only(inbox)["Message-ID"] == f"<{message_id}@localhost>"
    assert queued(database, message_id).attempts == 2


def test_starttls_is_used_whenever_the_server_offers_it(
    database: Database, make_sender: Any, clock: FakeClock, tmp_path: Path
) -> None:
    cert = self_signed(tmp_path / "tls")
    queue_message(database, clock())
    seen: list[bool] = []

    class Watching(Inbox):
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            seen.append(session.ssl is not None)
            return await super().handle_DATA(server, session, envelope)

    with smtp_server(starttls=cert, inbox=Watching()) as (inbox, port):
        make_sender(smtp_url=f"smtp://127.0.0.1:{port}", smtp_tls_verify=False).deliver_due()
    assert len(inbox.messages) == 1
    assert seen == [True]


def test_implicit_tls(
    database: Database, make_sender: Any, clock: FakeClock, tmp_path: Path
) -> None:
    cert = self_signed(tmp_path / "tls")
    message_id = queue_message(database, clock())
    with smtp_server(implicit_tls=cert) as (inbox, port):
        verified = make_sender(smtp_url=f"smtps://127.0.0.1:{port}").deliver_due()
        assert verified.retrying == [message_id]  # self-signed, verification on
        clock.advance(31)
        sender = make_sender(smtp_url=f"smtps://127.0.0.1:{port}", smtp_tls_verify=False)
        assert sender.deliver_due().sent == [message_id]
    assert len(inbox.messages) == 1


def test_auth_with_percent_encoded_credentials_over_starttls(
    database: Database, make_sender: Any, clock: FakeClock, tmp_path: Path
) -> None:
    cert = self_signed(tmp_path / "tls")
    user, password = "mailer@example.com", "p@ss:w/rd%é"
    url = f"smtp://{quote(user, safe='')}:{quote(password, safe='')}@127.0.0.1:{{port}}"
    first = queue_message(database, clock())
    with smtp_server(starttls=cert, users={user: "another password"}) as (inbox, port):
        sender = make_sender(smtp_url=url.format(port=port), smtp_tls_verify=False)
        assert sender.deliver_due().retrying == [first]  # wrong password: kept, retried
        row = queued(database, first)
        assert row.last_error is not None
        assert "535 at AUTH" in row.last_error
        assert password not in row.last_error
    clock.advance(31)
    with smtp_server(starttls=cert, users={user: password}) as (inbox, port):
        sender = make_sender(smtp_url=url.format(port=port), smtp_tls_verify=False)
        assert sender.deliver_due().sent == [first]
    assert inbox.logins == [(user, password)]
    assert len(inbox.messages) == 1


def test_credentials_are_never_sent_without_tls(
    database: Database, make_sender: Any, clock: FakeClock
) -> None:
    message_id = queue_message(database, clock())
    with smtp_server() as (inbox, port):  # offers no STARTTLS
        report = make_sender(smtp_url=f"smtp://user:secret@127.0.0.1:{port}").deliver_due()
    assert report.retrying == [message_id]
    assert inbox.messages == []
    assert inbox.logins == []
    last_error = queued(database, message_id).last_error
    assert last_error is not None
    assert "offers no STARTTLS" in last_error


def test_a_550_fails_at_once_and_is_never_retried(
    database: Database, make_sender: Any, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tekcify_auth.server.mail")
    message_id = queue_message(database, clock(), to="nobody@example.com")
    inbox = Inbox(refuse={"RCPT": ["550 5.1.1 <nobody@example.com>: no such user"]})
    with smtp_server(inbox=inbox) as (inbox, port):
        sender = make_sender(smtp_url=f"smtp://127.0.0.1:{port}")
        assert sender.deliver_due().failed == [message_id]
        clock.advance(86_400 * 2)
        assert sender.deliver_due().sent == []
    assert inbox.messages == []
    row = queued(database, message_id)
    assert row.failed_at is not None
    assert row.sent_at is None
    assert row.attempts == 1
    assert row.last_error == "permanent failure: SMTP 550 at RCPT TO"
    assert (row.text_body, row.html_body) == ("", "")
    # The log says which message, what kind and the code; not the body, link or reply.
    failure = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(failure) == 1
    assert message_id in failure[0].getMessage()
    assert "550" in failure[0].getMessage()
    assert "test_message" in failure[0].getMessage()
    assert "NEVER-LOGGED" not in caplog.text
    assert "no such user" not in caplog.text


def test_a_5xx_at_data_fails_at_once(
    database: Database, make_sender: Any, clock: FakeClock
) -> None:
    message_id = queue_message(database, clock())
    with smtp_server(inbox=Inbox(refuse={"DATA": ["554 5.6.0 rejected"]})) as (_inbox, port):
        assert make_sender(smtp_url=f"smtp://127.0.0.1:{port}").deliver_due().failed == [
            message_id
        ]
    assert queued(database, message_id).last_error == "permanent failure: SMTP 554 at DATA"


def test_a_451_is_retried_with_backoff_and_delivered_later(
    database: Database, make_sender: Any, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tekcify_auth.server.mail")
    message_id = queue_message(database, clock())
    start = clock()
    inbox = Inbox(refuse={"RCPT": ["451 4.7.1 greylisted", "451 4.7.1 greylisted"]})
    with smtp_server(inbox=inbox) as (inbox, port):
        sender = make_sender(smtp_url=f"smtp://127.0.0.1:{port}")
        assert sender.deliver_due().retrying == [message_id]
        row = queued(database, message_id)
        assert row.next_attempt_at == start + timedelta(seconds=30)
        assert row.last_error == "attempt 1: SMTP 451 at RCPT TO"
        assert row.text_body  # kept for the next attempt
        assert sender.deliver_due().sent == []  # not due yet
        clock.advance(30)
        assert sender.deliver_due().retrying == [message_id]
        assert queued(database, message_id).next_attempt_at == clock() + timedelta(seconds=60)
        clock.advance(60)
        assert sender.deliver_due().sent == [message_id]
    assert len(inbox.messages) == 1
    assert queued(database, message_id).attempts == 3
    assert "NEVER-LOGGED" not in caplog.text


def test_a_dropped_connection_is_retried_and_the_message_arrives_once(
    database: Database, make_sender: Any, clock: FakeClock
) -> None:
    message_id = queue_message(database, clock())
    with dropping_server() as dropping:
        port = dropping.port
        sender = make_sender(smtp_url=f"smtp://127.0.0.1:{port}")
        assert sender.deliver_due().retrying == [message_id]
        assert dropping.accepted == 1
    last_error = queued(database, message_id).last_error
    assert last_error is not None
    assert "connection dropped at connect" in last_error
    # It recovers on the same port, but drops once more in the middle of a transaction.
    with smtp_server(port=port, inbox=Inbox(refuse={"MAIL": ["drop"]})) as (inbox, _):
        clock.advance(30)
        assert sender.deliver_due().retrying == [message_id]
        assert inbox.messages == []
        clock.advance(60)
        assert sender.deliver_due().sent == [message_id]
        clock.advance(3600)
        assert sender.deliver_due().sent == []
    assert inbox.message_ids() == [f"<{message_id}@localhost>"]


def test_a_server_that_stays_away_makes_the_message_fail_after_a_day(
    database: Database, make_sender: Any, clock: FakeClock
) -> None:
    with dropping_server() as nothing:
        port = nothing.port
    message_id = queue_message(database, clock())  # nothing listens on the port now
    sender = make_sender(smtp_url=f"smtp://127.0.0.1:{port}")
    assert sender.deliver_due().retrying == [message_id]
    assert "connection refused" in (queued(database, message_id).last_error or "")
    attempts = 1
    while queued(database, message_id).failed_at is None:
        clock.advance(3600)
        sender.deliver_due()
        attempts += 1
        assert attempts < 40
    row = queued(database, message_id)
    assert row.failed_at is not None
    assert row.failed_at - row.created_at >= timedelta(days=1)
    assert row.last_error is not None
    assert row.last_error.startswith("still failing after")
    assert (row.text_body, row.html_body) == ("", "")


@pytest.mark.parametrize("address", [
    "ada@example.com\r\nBcc: eve@example.com", "ada@example.com, eve@example.com",
    "Ada <eve@example.com>",
])
def test_an_address_with_a_line_break_in_the_queue_is_refused_by_the_sender(
    database: Database, make_sender: Any, clock: FakeClock, address: str
) -> None:
    # enqueue refuses it (test_mail_queue.py); a row written by other means is refused too.
    message_id = queue_message(database, clock())
    with database.write() as db:
        from tekcify_auth.server.db.security import MailMessage

        row = db.get(MailMessage, message_id)
        assert row is not None
        row.to_address = address
    with smtp_server() as (inbox, port):
        assert make_sender(smtp_url=f"smtp://127.0.0.1:{port}").deliver_due().failed == [
            message_id
        ]
    assert inbox.messages == []


def test_a_server_that_answers_byte_by_byte_is_cut_off_at_the_deadline(
    database: Database, make_sender: Any, clock: FakeClock
) -> None:
    # Every read gets a byte within the timeout, so only the whole-exchange deadline
    # (DEADLINE_FACTOR x TEKCIFY_SMTP_TIMEOUT) ends it, well within the claim's lease.
    message_id = queue_message(database, clock())
    with hanging_server(drip=True) as dripping:
        sender = make_sender(smtp_url=f"smtp://127.0.0.1:{dripping.port}", smtp_timeout=1)
        started = time.monotonic()
        assert sender.deliver_due().retrying == [message_id]
        took = time.monotonic() - started
    assert 2.5 < took < 6
    assert sender.lease.total_seconds() > 3
    last_error = queued(database, message_id).last_error
    assert last_error is not None
    assert "interrupted at connect" in last_error


def test_a_non_ascii_address_needs_a_server_that_speaks_smtputf8(
    database: Database, make_sender: Any, clock: FakeClock
) -> None:
    refused = queue_message(database, clock(), to="zoë@example.com")
    with smtp_server() as (inbox, port):  # no SMTPUTF8: it can never take that address
        assert make_sender(smtp_url=f"smtp://127.0.0.1:{port}").deliver_due().failed == [refused]
    assert inbox.messages == []
    assert "SMTPUTF8" in (queued(database, refused).last_error or "")
    accepted = queue_message(database, clock(), to="zoë@example.com")
    with smtp_server(smtputf8=True) as (inbox, port):
        assert make_sender(smtp_url=f"smtp://127.0.0.1:{port}").deliver_due().sent == [accepted]
    assert inbox.envelopes == [("no-reply@localhost", ["zoë@example.com"])]
    assert _only(inbox)["To"] == "zoë@example.com"
