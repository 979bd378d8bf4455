"""The mail sender: delivers the ``mail_queue`` off the request path.

Every server process runs one :class:`MailSender` in its lifespan (``app.py``). Every
``TEKCIFY_MAIL_POLL_INTERVAL`` seconds it looks for due messages (a read), and when some
are due it **claims** a batch with one conditional UPDATE: ``claimed_by`` names this
sender, ``claimed_until`` ends its lease, and only rows unclaimed or whose lease ran out
(a crashed instance) are taken. Before each send the claim is renewed under the same
condition, so of several workers or instances sharing the database exactly one sends a
message. A message is then:

* **sent**: ``sent_at`` set and both bodies wiped (they may hold a reset link or a code:
  nothing secret stays in the database);
* **retried** after a transient failure (connection refused or dropped, a timeout, a TLS
  or AUTH problem, a 4xx reply): ``next_attempt_at`` moves on by :class:`RetryPolicy`
  (30 s doubling, at most an hour apart) until the message is a day old, then it fails;
* **failed** at once on a permanent one (a 5xx reply to MAIL FROM, RCPT TO or DATA, an
  address that cannot be written in a header): ``failed_at`` set, bodies wiped.

``last_error`` and the log say the message id, its kind, the stage and the SMTP code,
never the body, a link, a code or the server's reply text (which may echo them).

Two transports: :class:`SmtpTransport` (``TEKCIFY_SMTP_URL``; ``smtplib`` in a worker
thread, every socket operation bounded by ``TEKCIFY_SMTP_TIMEOUT`` and the whole exchange
by :data:`DEADLINE_FACTOR` times it) and :class:`OutboxTransport` (no URL: each message an
``.eml`` file in ``<data dir>/outbox/``, written atomically, mode 0600).

An SMTP server that accepts a message and drops the connection before its ``250`` makes
the message look failed although it arrived: SMTP itself cannot tell, so that message
may arrive twice. Every other failure leaves it unsent, and it is sent once later.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import secrets
import smtplib
import socket
import ssl
import tempfile
import threading
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP, SMTPUTF8
from email.utils import format_datetime, parseaddr
from pathlib import Path
from typing import Any, Final, Protocol

import anyio.to_thread
from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.exc import DBAPIError

from .. import metrics
from ..db.engine import Database
from ..db.security import MailMessage
from ..settings import Settings
from ..smtp_url import SmtpTarget

__all__ = [
    "BATCH", "DEADLINE_FACTOR", "DeliveryFailed", "DeliveryReport", "MailSender",
    "OutboxTransport", "Outgoing", "QueueCounts", "RetryPolicy", "SmtpTransport",
    "Transport", "build_message", "queue_counts", "transport_for",
]

logger = logging.getLogger("tekcify_auth.server.mail")

#: Messages claimed per pass.
BATCH: Final = 20
#: The whole SMTP exchange of one message may take this many times ``smtp_timeout``
#: (each socket operation at most once ``smtp_timeout``); then its socket is shut.
DEADLINE_FACTOR: Final = 3
Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When a transient failure is retried: ``first`` after the first, doubling up to
    ``cap``; a message still unsent ``give_up`` after it was queued fails."""

    first: timedelta = timedelta(seconds=30)
    cap: timedelta = timedelta(hours=1)
    give_up: timedelta = timedelta(days=1)

    def delay(self, attempts: int) -> timedelta:
        """The wait after the ``attempts``-th failed attempt (1 for the first)."""
        return min(self.first * (1 << min(max(attempts - 1, 0), 32)), self.cap)


class DeliveryFailed(Exception):
    """A message was not delivered; ``reason`` is safe to log (no body, link or code)."""

    def __init__(self, reason: str, *, permanent: bool, code: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.code = code


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message ready to go: its queue id, envelope and MIME message."""

    id: str
    kind: str
    sender: str
    recipient: str
    message: EmailMessage
    created_at: datetime


class Transport(Protocol):
    """Delivers one message, or raises :class:`DeliveryFailed`."""

    def describe(self) -> str:
        """Where mail goes, for the log and the ``serve`` banner."""
        ...

    def send(self, outgoing: Outgoing) -> str:
        """Deliver ``outgoing``; returns where it went (a server, a file)."""
        ...

    def interrupt(self) -> None:
        """End a delivery in progress (from another thread) so it fails soon."""
        ...


def _is_ascii(text: str) -> bool:
    return text.isascii()


def build_message(
    row: MailMessage, *, mail_from: str, now: datetime
) -> Outgoing:
    """The MIME message of ``row`` (text and HTML alternatives, From, To, Date,
    Message-ID); raises :class:`DeliveryFailed` (permanent) for an unusable address."""
    _name, sender = parseaddr(mail_from)
    if "@" not in sender:
        raise DeliveryFailed("TEKCIFY_MAIL_FROM holds no address", permanent=True)
    domain = sender.rpartition("@")[2]
    message = EmailMessage(policy=SMTP if _is_ascii(row.to_address + mail_from) else SMTPUTF8)
    try:
        message["From"] = mail_from
        message["To"] = row.to_address
        message["Subject"] = row.subject
        # Exactly the one address of the envelope (no list, no display-name tricks).
        recipients = message["To"].addresses
        if len(recipients) != 1 or recipients[0].addr_spec != row.to_address:
            raise ValueError("not one address")
    except (ValueError, IndexError, TypeError, AttributeError):  # a line break, not one address
        raise DeliveryFailed("the recipient or subject cannot be written in a header",
                             permanent=True) from None
    message["Date"] = format_datetime(now)
    # The queue id: a retry sends the same Message-ID, so a receiver can tell it apart.
    message["Message-ID"] = f"<{row.id}@{domain}>"
    # ASCII text goes as it is (7bit allows lines up to 998 octets, RFC 5322 §2.1.1), so a
    # link in an outbox .eml reads and copies whole; anything else quoted-printable.
    if row.text_body.isascii() and all(len(line) <= 998 for line in row.text_body.splitlines()):
        message.set_content(row.text_body, cte="7bit")
    else:
        message.set_content(row.text_body)
    message.add_alternative(row.html_body, subtype="html")
    # The email package would draw the MIME boundary from the random module's shared
    # generator; a boundary of our own leaves that state to the application.
    message.set_boundary(f"=_{secrets.token_hex(16)}")
    return Outgoing(row.id, row.kind, sender, row.to_address, message, row.created_at)


def tls_context(verify: bool) -> ssl.SSLContext:
    """The TLS context of SMTP: the system's trust store and host-name check, unless
    ``verify`` is false (``TEKCIFY_SMTP_TLS_VERIFY=false``, for a self-signed relay)."""
    context = ssl.create_default_context()
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class _Smtp(smtplib.SMTP):
    # smtplib names the TLS server only from the constructor's host, which would also
    # connect there and then: connect() here remembers it, so the constructor need not.
    def connect(
        self, host: str = "localhost", port: int = 0, source_address: Any = None
    ) -> tuple[int, bytes]:
        self._host = host
        return super().connect(host, port, source_address)


class _SmtpSsl(smtplib.SMTP_SSL):
    def connect(
        self, host: str = "localhost", port: int = 0, source_address: Any = None
    ) -> tuple[int, bytes]:
        self._host = host
        return super().connect(host, port, source_address)


_PERMANENT_STAGES: Final = frozenset({"MAIL FROM", "RCPT TO", "DATA"})


def _failure(exc: BaseException, stage: str) -> DeliveryFailed:
    """What ``exc`` at ``stage`` means for the message; the reason never holds the
    server's reply text, which may echo an address or more."""
    if isinstance(exc, DeliveryFailed):
        return exc
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _text in exc.recipients.values()]
        exc = smtplib.SMTPResponseException(codes[0] if codes else 0, b"")
        stage = "RCPT TO"
    if isinstance(exc, smtplib.SMTPResponseException):
        code = int(exc.smtp_code)
        permanent = 500 <= code < 600 and stage in _PERMANENT_STAGES
        hint = " (check the user and password of TEKCIFY_SMTP_URL)" if stage == "AUTH" else ""
        return DeliveryFailed(f"SMTP {code} at {stage}{hint}", permanent=permanent, code=code)
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return DeliveryFailed(f"the server does not support {stage}", permanent=False)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return DeliveryFailed(
            f"TLS certificate not verified at {stage} ({exc.verify_message}; "
            "TEKCIFY_SMTP_TLS_VERIFY=false accepts it)", permanent=False,
        )
    if isinstance(exc, ssl.SSLError):
        return DeliveryFailed(f"TLS error at {stage} ({exc.reason})", permanent=False)
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return DeliveryFailed(f"connection dropped at {stage}", permanent=False)
    if isinstance(exc, TimeoutError):
        return DeliveryFailed(f"timed out at {stage}", permanent=False)
    if isinstance(exc, ConnectionRefusedError):
        return DeliveryFailed(f"connection refused at {stage}", permanent=False)
    if isinstance(exc, OSError):
        what = exc.strerror or type(exc).__name__
        return DeliveryFailed(f"network error at {stage} ({what})", permanent=False)
    return DeliveryFailed(f"{type(exc).__name__} at {stage}", permanent=False)


def _login(smtp: smtplib.SMTP, user: str, password: str) -> None:
    """AUTH: ``smtplib``'s for ASCII credentials; PLAIN in UTF-8 (RFC 4616) otherwise,
    which ``smtplib`` cannot encode."""
    if (user + password).isascii():
        smtp.login(user, password)
        return
    if "plain" not in smtp.esmtp_features.get("auth", "").lower().split():
        raise smtplib.SMTPNotSupportedError("AUTH PLAIN for non-ASCII credentials")
    secret = base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode()).decode()
    code, _text = smtp.docmd("AUTH", f"PLAIN {secret}")
    if code != 235:
        raise smtplib.SMTPAuthenticationError(code, b"")


class SmtpTransport:
    """Sends through an SMTP server: STARTTLS (``smtp://``) or implicit TLS (``smtps://``).

    With ``smtp://``, STARTTLS is used whenever the server offers it, and credentials are
    never sent without it; a server that offers no STARTTLS gets mail in clear text only
    when no credentials are configured (a relay on the host's own network).
    """

    def __init__(self, target: SmtpTarget, *, verify: bool, timeout: float) -> None:
        self.target = target
        self.verify = verify
        self.timeout = timeout
        self._lock = threading.Lock()
        self._current: smtplib.SMTP | None = None
        # Set by interrupt(): a connection still being opened then is given up once open.
        self._interrupted = threading.Event()

    def describe(self) -> str:
        verified = "" if self.verify else ", certificate not verified"
        return f"SMTP to {self.target.describe()}{verified}"

    def interrupt(self) -> None:
        with self._lock:
            self._interrupted.set()
            sock = self._current.sock if self._current is not None else None
        if sock is not None:
            # The plain socket's shutdown, even under TLS: it wakes a blocked read.
            with suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)

    def send(self, outgoing: Outgoing) -> str:
        target = self.target
        context = tls_context(self.verify)
        smtp: smtplib.SMTP = (
            _SmtpSsl(timeout=self.timeout, context=context) if target.implicit_tls
            else _Smtp(timeout=self.timeout)
        )
        with self._lock:
            self._current = smtp
            self._interrupted.clear()
        watchdog = threading.Timer(DEADLINE_FACTOR * self.timeout, self.interrupt)
        watchdog.daemon = True
        watchdog.start()
        stage = "connect"
        try:
            code, _text = smtp.connect(target.host, target.port)
            if self._interrupted.is_set():
                raise TimeoutError("interrupted while connecting")
            if code != 220:
                raise smtplib.SMTPConnectError(code, b"")
            stage = "EHLO"
            smtp.ehlo_or_helo_if_needed()
            if not target.implicit_tls:
                if smtp.has_extn("starttls"):
                    stage = "STARTTLS"
                    smtp.starttls(context=context)
                    stage = "EHLO"
                    smtp.ehlo()
                elif target.user:
                    raise DeliveryFailed(
                        "the server offers no STARTTLS: the credentials of TEKCIFY_SMTP_URL "
                        "are not sent in clear text", permanent=False,
                    )
            if target.user:
                stage = "AUTH"
                _login(smtp, target.user, target.password or "")
            self._transfer(smtp, outgoing)
        except Exception as exc:
            if self._interrupted.is_set() and not isinstance(exc, DeliveryFailed):
                raise DeliveryFailed(
                    f"interrupted at {stage} (the shutdown, or more than "
                    f"{DEADLINE_FACTOR * self.timeout:g} s for the whole exchange)",
                    permanent=False,
                ) from None
            raise _failure(exc, stage) from None
        finally:
            watchdog.cancel()
            with self._lock:
                self._current = None
            smtp.close()
        return f"through {target.host}:{target.port}"

    @staticmethod
    def _transfer(smtp: smtplib.SMTP, outgoing: Outgoing) -> None:
        options: list[str] = []
        if not _is_ascii(outgoing.sender + outgoing.recipient):
            if not smtp.has_extn("smtputf8"):
                raise DeliveryFailed(
                    "the server does not accept non-ASCII addresses (SMTPUTF8)", permanent=True
                )
            options = ["SMTPUTF8", "BODY=8BITMIME"]
        code, _text = smtp.mail(outgoing.sender, options)
        if code != 250:
            raise _failure(smtplib.SMTPResponseException(code, b""), "MAIL FROM")
        code, _text = smtp.rcpt(outgoing.recipient)
        if code not in (250, 251):
            raise _failure(smtplib.SMTPResponseException(code, b""), "RCPT TO")
        try:
            code, _text = smtp.data(outgoing.message.as_bytes())
        except smtplib.SMTPResponseException as exc:
            raise _failure(exc, "DATA") from None
        if code != 250:
            raise _failure(smtplib.SMTPResponseException(code, b""), "DATA")
        # Accepted: whatever QUIT does now, the message must not be sent again.
        with suppress(smtplib.SMTPException, OSError):
            smtp.quit()


class OutboxTransport:
    """Writes each message as ``<folder>/<timestamp>-<id>.eml`` (mode 0600, atomically)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def describe(self) -> str:
        return f"written as .eml files to {self.folder.resolve()}"

    def interrupt(self) -> None:
        return None

    def send(self, outgoing: Outgoing) -> str:
        stamp = outgoing.created_at.strftime("%Y%m%dT%H%M%S%fZ")
        path = self.folder / f"{stamp}-{outgoing.id}.eml"
        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            # mkstemp makes the file 0600; the rename makes it appear whole or not at all.
            fd, temporary = tempfile.mkstemp(dir=self.folder, prefix=".", suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(outgoing.message.as_bytes())
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(temporary, path)
            except BaseException:
                with suppress(OSError):
                    os.unlink(temporary)
                raise
        except OSError as exc:
            raise DeliveryFailed(
                f"cannot write to the outbox ({exc.strerror or type(exc).__name__})",
                permanent=False,
            ) from None
        return f"to {path.resolve()}"


def transport_for(settings: Settings) -> Transport:
    """SMTP when ``TEKCIFY_SMTP_URL`` is set, else the outbox folder."""
    target = settings.smtp_target
    if target is None:
        return OutboxTransport(settings.outbox)
    return SmtpTransport(target, verify=settings.smtp_tls_verify, timeout=settings.smtp_timeout)


@dataclass
class DeliveryReport:
    """What one pass did: ids sent, retrying and failed, and where each sent one went."""

    sent: list[str] = field(default_factory=list)
    retrying: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    where: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def _pending() -> ColumnElement[bool]:
    return and_(MailMessage.sent_at.is_(None), MailMessage.failed_at.is_(None))


def _due(now: datetime) -> ColumnElement[bool]:
    return and_(
        MailMessage.sent_at.is_(None), MailMessage.failed_at.is_(None),
        MailMessage.next_attempt_at <= now,
        or_(MailMessage.claimed_until.is_(None), MailMessage.claimed_until < now),
    )


class MailSender:
    """Delivers the due messages of ``database`` through ``transport``.

    ``deliver_due()`` is one pass (blocking: run it in a thread); ``run()`` is the
    server's loop; ``stop()`` (any thread) ends a pass in progress soon.
    """

    def __init__(
        self,
        database: Database,
        settings: Settings,
        clock: Clock,
        *,
        transport: Transport | None = None,
        retry: RetryPolicy | None = None,
        batch: int = BATCH,
    ) -> None:
        self.database = database
        self.settings = settings
        self.clock = clock
        self.transport = transport if transport is not None else transport_for(settings)
        self.retry = retry or RetryPolicy()
        self.batch = batch
        self.holder = f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(4)}"
        # Long enough for one message's whole exchange; renewed before each message.
        self.lease = timedelta(seconds=DEADLINE_FACTOR * settings.smtp_timeout + 30)
        self._stopping = threading.Event()
        self._wake: Callable[[], object] | None = None

    # -- the loop ------------------------------------------------------------------

    async def run(self, every: float) -> None:
        """Deliver due mail every ``every`` seconds until :meth:`stop`; a failed pass
        (the database away for a moment) is logged and tried again.

        Stop it with :meth:`stop` and await it, rather than cancel it: a cancelled task
        would leave its pass running on in its thread, past the server's shutdown.
        """
        logger.info("mail: %s", self.transport.describe())
        loop = asyncio.get_running_loop()
        wake = asyncio.Event()
        self._wake = lambda: loop.call_soon_threadsafe(wake.set)
        failing = False  # a database away for a while is logged once, not every pass
        while not self._stopping.is_set():
            try:
                await anyio.to_thread.run_sync(self.deliver_due)
            except DBAPIError as exc:
                # The database away (a restart, a failover): expected, so no traceback, and
                # only the driver's error class (its text may quote bound values).
                if not failing:
                    logger.warning(
                        "the mail sender cannot reach the database (%s); it tries again "
                        "every %g s", type(exc.orig).__name__, every,
                    )
                failing = True
            except Exception:
                if not failing:
                    logger.exception("the mail sender's pass failed; it tries again every %g s",
                                     every)
                failing = True
            else:
                if failing:
                    logger.info("the mail sender works again")
                failing = False
            with suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), every)
            wake.clear()

    def stop(self) -> None:
        """Stop sending (from any thread): a delivery in progress is interrupted and its
        message stays queued, and :meth:`run` returns."""
        self._stopping.set()
        self.transport.interrupt()
        if self._wake is not None:
            self._wake()

    # -- one pass ------------------------------------------------------------------

    def deliver_due(self, only: Sequence[str] | None = None) -> DeliveryReport:
        """Claim and deliver the due messages (those of ``only``, when given)."""
        report = DeliveryReport()
        while not self._stopping.is_set():
            rows = self._claim(only)
            if not rows:
                break
            for index, row in enumerate(rows):
                if self._stopping.is_set():
                    self._release([r.id for r in rows[index:]])
                    break
                self._deliver(row, report)
            if len(rows) < self.batch:
                break
        return report

    def _claim(self, only: Sequence[str] | None) -> list[MailMessage]:
        now = self.clock()
        due = _due(now)
        scope = [MailMessage.id.in_(list(only))] if only is not None else []
        # A read first: most passes find nothing and need no write lock.
        with self.database.read() as db:
            if db.scalar(select(MailMessage.id).where(due, *scope).limit(1)) is None:
                return []
        for _ in range(3):  # another sender may win every row picked: pick again
            with self.database.write() as db:
                # PostgreSQL: skip the rows another sender is claiming right now (SQLite
                # has one writer at a time, and ignores it).
                ids = list(db.scalars(
                    select(MailMessage.id).where(due, *scope)
                    .order_by(MailMessage.next_attempt_at).limit(self.batch)
                    .with_for_update(skip_locked=True)
                ))
                if not ids:
                    return []
                # Conditional: a row claimed meanwhile by another no longer matches ``due``.
                db.execute(
                    update(MailMessage).where(MailMessage.id.in_(ids), due)
                    .values(claimed_by=self.holder, claimed_until=now + self.lease)
                )
                rows = list(db.scalars(
                    select(MailMessage).where(
                        MailMessage.id.in_(ids), MailMessage.claimed_by == self.holder
                    ).order_by(MailMessage.next_attempt_at)
                ))
            if rows:
                return rows
        return []

    def _renew(self, message_id: str) -> bool:
        """Extend this sender's claim on one message; false if it lost it."""
        now = self.clock()
        with self.database.write() as db:
            renewed = db.execute(
                update(MailMessage).where(
                    MailMessage.id == message_id, MailMessage.claimed_by == self.holder,
                    _pending(),
                ).values(claimed_until=now + self.lease)
            )
        return int(renewed.rowcount) == 1  # type: ignore[attr-defined]

    def _release(self, ids: list[str]) -> None:
        with self.database.write() as db:
            db.execute(
                update(MailMessage)
                .where(MailMessage.id.in_(ids), MailMessage.claimed_by == self.holder)
                .values(claimed_by=None, claimed_until=None)
            )

    def _deliver(self, row: MailMessage, report: DeliveryReport) -> None:
        if not self._renew(row.id):
            return  # taken over after this sender's lease ran out
        try:
            outgoing = build_message(row, mail_from=self.settings.mail_from, now=self.clock())
            where = self.transport.send(outgoing)
        except DeliveryFailed as failure:
            if self._stopping.is_set() and not failure.permanent:
                self._release([row.id])  # interrupted by the shutdown: not an attempt
                return
            self._failed(row, failure, report)
            return
        now = self.clock()
        with self.database.write() as db:
            db.execute(
                update(MailMessage).where(MailMessage.id == row.id).values(
                    sent_at=now, text_body="", html_body="", attempts=row.attempts + 1,
                    claimed_by=None, claimed_until=None, last_error=None,
                )
            )
        report.sent.append(row.id)
        report.where[row.id] = where
        logger.info("mail %s (%s) delivered %s", row.id, row.kind, where)

    def _failed(self, row: MailMessage, failure: DeliveryFailed, report: DeliveryReport) -> None:
        now = self.clock()
        attempts = row.attempts + 1
        report.errors[row.id] = failure.reason
        gave_up = not failure.permanent and now - row.created_at >= self.retry.give_up
        metrics.mail_failed(final=failure.permanent or gave_up)
        if failure.permanent or gave_up:
            why = (
                "permanent failure" if failure.permanent
                else f"still failing after {attempts} attempts"
            )
            with self.database.write() as db:
                db.execute(
                    update(MailMessage).where(MailMessage.id == row.id).values(
                        failed_at=now, attempts=attempts,
                        last_error=f"{why}: {failure.reason}"[:500],
                        text_body="", html_body="", claimed_by=None, claimed_until=None,
                    )
                )
            report.failed.append(row.id)
            logger.error(
                "mail %s (%s) not delivered, given up (%s): %s", row.id, row.kind, why,
                failure.reason,
            )
            return
        delay = self.retry.delay(attempts)
        with self.database.write() as db:
            db.execute(
                update(MailMessage).where(MailMessage.id == row.id).values(
                    next_attempt_at=now + delay, attempts=attempts,
                    last_error=f"attempt {attempts}: {failure.reason}"[:500],
                    claimed_by=None, claimed_until=None,
                )
            )
        report.retrying.append(row.id)
        logger.warning(
            "mail %s (%s) not delivered (attempt %d): %s; next attempt in %d s",
            row.id, row.kind, attempts, failure.reason, delay.total_seconds(),
        )


@dataclass(frozen=True)
class QueueCounts:
    """The queue at a glance: waiting for a first attempt, retrying, failed, sent."""

    due: int
    retrying: int
    failed: int
    sent: int


def queue_counts(database: Database) -> QueueCounts:
    """Count the queue's messages by state (``tekcify-auth mail status``)."""
    pending = and_(MailMessage.sent_at.is_(None), MailMessage.failed_at.is_(None))
    with database.read() as db:
        def count(*where: ColumnElement[bool]) -> int:
            return int(db.scalar(select(func.count()).select_from(MailMessage).where(*where)) or 0)

        return QueueCounts(
            due=count(pending, MailMessage.attempts == 0),
            retrying=count(pending, MailMessage.attempts > 0),
            failed=count(MailMessage.failed_at.is_not(None)),
            sent=count(MailMessage.sent_at.is_not(None)),
        )
