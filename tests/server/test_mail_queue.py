"""The mail queue: exactly once across senders, claims of crashed instances, header
injection refused at enqueue, the purge, and ``TEKCIFY_SMTP_URL`` checked at load."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from jinja2 import ChoiceLoader, DictLoader
from sqlalchemy import func, select, update

from tekcify_auth.server.db.engine import Database
from tekcify_auth.server.db.security import MailMessage
from tekcify_auth.server.services import mail
from tekcify_auth.server.services.mail_sender import DeliveryReport, MailSender, RetryPolicy
from tekcify_auth.server.services.purge import purge
from tekcify_auth.server.settings import SettingsError, load_settings

from .conftest import FakeClock, make_settings
from .mailboxes import Inbox, queue_message, queued, smtp_server

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def database(clean_db: str) -> Iterator[Database]:
    db = Database(clean_db)
    try:
        yield db
    finally:
        db.dispose()


def test_two_instances_on_one_database_deliver_each_message_exactly_once(
    clean_db: str, tmp_path: Path, clock: FakeClock
) -> None:
    # Two senders, each with its own engine (two instances of a fleet), claim from one
    # queue at the same time; the server is slow enough for their passes to overlap.
    seed = Database(clean_db)
    ids = [queue_message(seed, clock(), to=f"user{n}@example.com") for n in range(30)]
    seed.dispose()

    class Slow(Inbox):
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            import asyncio

            await asyncio.sleep(0.02)
            return await super().handle_DATA(server, session, envelope)

    with smtp_server(inbox=Slow()) as (inbox, port):
        settings = make_settings(
            database_url=clean_db, data_dir=tmp_path / "data",
            smtp_url=f"smtp://127.0.0.1:{port}", smtp_timeout=5,
        )
        databases = [Database(clean_db), Database(clean_db)]
        senders = [MailSender(db, settings, clock, batch=4) for db in databases]
        assert senders[0].holder != senders[1].holder
        reports: list[Any] = []
        go = threading.Barrier(2)

        def run(sender: MailSender) -> None:
            go.wait()
            reports.append(sender.deliver_due())

        threads = [threading.Thread(target=run, args=(s,)) for s in senders]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        for db in databases:
            db.dispose()
    received = inbox.message_ids()
    assert sorted(received) == sorted(f"<{i}@localhost>" for i in ids)  # each exactly once
    assert sorted(reports[0].sent + reports[1].sent) == sorted(ids)
    assert reports[0].sent
    assert reports[1].sent
    check = Database(clean_db)
    try:
        with check.read() as db:
            unsent = db.scalar(
                select(func.count()).select_from(MailMessage).where(MailMessage.sent_at.is_(None))
            )
        assert unsent == 0
    finally:
        check.dispose()


def test_a_crashed_instances_claim_is_taken_over_once_its_lease_ends(
    database: Database, clean_db: str, tmp_path: Path, clock: FakeClock
) -> None:
    message_id = queue_message(database, clock())
    # An instance claimed it and died before sending.
    with database.write() as db:
        db.execute(update(MailMessage).where(MailMessage.id == message_id).values(
            claimed_by="dead-host:4242:abcd", claimed_until=clock() + timedelta(minutes=2),
        ))
    with smtp_server() as (inbox, port):
        settings = make_settings(
            database_url=clean_db, data_dir=tmp_path / "data", smtp_url=f"smtp://127.0.0.1:{port}"
        )
        sender = MailSender(database, settings, clock)
        assert sender.deliver_due().sent == []  # its claim is still good
        assert inbox.messages == []
        clock.advance(121)
        assert sender.deliver_due().sent == [message_id]
    assert len(inbox.messages) == 1
    row = queued(database, message_id)
    assert row.claimed_by is None
    assert row.claimed_until is None


def test_a_sender_that_lost_its_claim_does_not_send(
    database: Database, clean_db: str, tmp_path: Path, clock: FakeClock
) -> None:
    message_id = queue_message(database, clock())
    with smtp_server() as (inbox, port):
        settings = make_settings(
            database_url=clean_db, data_dir=tmp_path / "data", smtp_url=f"smtp://127.0.0.1:{port}"
        )
        slow, other = MailSender(database, settings, clock), MailSender(database, settings, clock)
        claimed = slow._claim(None)  # claimed, then paused past its lease...
        assert [r.id for r in claimed] == [message_id]
        clock.advance(slow.lease.total_seconds() + 1)
        assert other.deliver_due().sent == [message_id]  # ...and taken over
        report = DeliveryReport()
        slow._deliver(claimed[0], report)  # the paused one wakes up: nothing to send
        assert report.sent == []
    assert len(inbox.messages) == 1


def test_the_retry_policy_doubles_and_is_capped() -> None:
    policy = RetryPolicy()
    assert [policy.delay(n).total_seconds() for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert policy.delay(10) == timedelta(hours=1)
    assert policy.delay(10_000) == timedelta(hours=1)


@pytest.mark.parametrize(
    "address",
    ["ada@example.com\r\nBcc: eve@example.com", "ada@example.com\nBcc: eve@example.com",
     "ada@example.com\rX: y", "ada@example.com\x00"],
)
def test_a_line_break_in_the_recipient_is_refused_at_enqueue(
    database: Database, clock: FakeClock, address: str
) -> None:
    with pytest.raises(ValueError, match="line breaks"), database.write() as db:
        mail.enqueue(db, kind="test_message", to=address, values={}, base_url="https://a.example",
                     now=clock())
    with database.read() as db:
        assert db.scalar(select(func.count()).select_from(MailMessage)) == 0


def test_a_line_break_in_the_subject_is_refused_at_enqueue(
    database: Database, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A template whose subject carries a value (a name), as the account mails will.
    templates = DictLoader({
        "named.txt": "Subject: Hello {{ name }}\n\nHi {{ name }}.\n",
        "named.html": "<p>Hi {{ name }}</p>",
    })
    monkeypatch.setattr(
        mail._environment, "loader", ChoiceLoader([templates, mail._environment.loader])
    )
    with database.write() as db:
        mail.enqueue(db, kind="named", to="ada@example.com", values={"name": "Ada"},
                     base_url="https://a.example", now=clock())
    for name in ("Ada\r\nBcc: eve@example.com", "Ada\nBcc: eve@example.com"):
        with pytest.raises(ValueError, match="line breaks"), database.write() as db:
            mail.enqueue(db, kind="named", to="ada@example.com", values={"name": name},
                         base_url="https://a.example", now=clock())
    with database.read() as db:
        assert db.scalar(select(func.count()).select_from(MailMessage)) == 1


def test_the_purge_deletes_sent_and_failed_mail_after_the_retention(
    database: Database, clock: FakeClock
) -> None:
    now = clock()
    old_sent, old_failed, recent, pending = (queue_message(database, now) for _ in range(4))
    with database.write() as db:
        for message_id, values in (
            (old_sent, {"sent_at": now - timedelta(days=31)}),
            (old_failed, {"failed_at": now - timedelta(days=31)}),
            (recent, {"sent_at": now - timedelta(days=1)}),
            (pending, {"next_attempt_at": now - timedelta(days=60)}),
        ):
            db.execute(update(MailMessage).where(MailMessage.id == message_id).values(**values))
    report = purge(database, now, timedelta(days=30))
    assert report.mail == 2
    with database.read() as db:
        left = set(db.scalars(select(MailMessage.id)))
    assert left == {recent, pending}  # a message not yet sent is never purged


def _problem(env: dict[str, str]) -> str:
    with pytest.raises(SettingsError) as caught:
        load_settings(env)
    return str(caught.value)


def test_the_smtp_url_is_checked_at_load_and_its_password_never_shown() -> None:
    for url, reason in (
        ("http://mail.example.com", "smtp:// (STARTTLS) or smtps://"),
        ("smtp://", "no host"),
        ("smtp://:hunter2@", "no host"),
        ("smtp://user:hunter2@mail.example.com:99999", "port"),
        ("smtp://user:hunter2@mail.example.com:0", "port"),
        ("smtp://user:hunter2@mail.example.com:abc", "port"),
        ("smtps://mail.example.com/inbox", "path"),
    ):
        said = _problem({"TEKCIFY_SMTP_URL": url})
        assert said.startswith("invalid configuration:\n  TEKCIFY_SMTP_URL is not valid"), said
        assert reason in said, said
        assert "hunter2" not in said
    settings = load_settings(
        {"TEKCIFY_SMTP_URL": "smtps://me%40example.com:p%40ss%3A@Mail.Example.com"}
    )
    target = settings.smtp_target
    assert target is not None
    assert (target.host, target.port, target.implicit_tls) == ("mail.example.com", 465, True)
    assert (target.user, target.password) == ("me@example.com", "p@ss:")
    assert "p@ss" not in repr(settings)
    assert "p@ss" not in repr(target)
    assert "p@ss" not in target.describe()
    plain = load_settings({"TEKCIFY_SMTP_URL": "smtp://relay.internal"}).smtp_target
    assert plain is not None
    assert (plain.port, plain.implicit_tls, plain.user) == (587, False, None)
    assert load_settings({"TEKCIFY_SMTP_URL": ""}).smtp_url is None
    assert load_settings({}).smtp_tls_verify is True  # verification on by default


def test_mail_from_is_checked_at_load() -> None:
    assert load_settings({}).mail_from == "Tekcify <no-reply@localhost>"
    assert load_settings({"TEKCIFY_MAIL_FROM": "Acme <auth@acme.example>"}).mail_from == (
        "Acme <auth@acme.example>"
    )
    for bad in ("nobody", "Acme <auth@acme.example>\r\nBcc: eve@example.com"):
        assert _problem({"TEKCIFY_MAIL_FROM": bad}).startswith(
            "invalid configuration:\n  TEKCIFY_MAIL_FROM"
        )
