"""Real SMTP servers on 127.0.0.1 for the mail tests (``aiosmtpd``), and broken ones.

* :func:`smtp_server` — an ``aiosmtpd`` server that keeps what it receives in an
  :class:`Inbox`; plain, STARTTLS or implicit TLS (a self-signed certificate made here
  with ``cryptography``), with AUTH, and replies chosen per stage (``inbox.refuse``).
* :func:`dropping_server` — accepts connections and closes them at once.
* :func:`hanging_server` — accepts connections and never says a word.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from services import free_port
from tekcify_auth.server.db.engine import Database
from tekcify_auth.server.db.security import MailMessage
from tekcify_auth.server.services import mail


@dataclass
class Inbox:
    """What the server received, and how it answers.

    ``refuse`` maps a stage (``"RCPT"``, ``"MAIL"``, ``"DATA"``) to a list of replies
    used one per command (``"451 4.3.0 later"``); ``"drop"`` closes the connection
    instead. An empty or missing list accepts.
    """

    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)
    refuse: dict[str, list[str]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _answer(self, stage: str, server: SMTP) -> str | None:
        with self.lock:
            replies = self.refuse.get(stage) or []
            reply = replies.pop(0) if replies else None
        if reply == "drop":
            assert server.transport is not None
            server.transport.close()
            return "421 4.3.0 gone"
        return reply

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str,
        options: list[str],
    ) -> str:
        refused = self._answer("MAIL", server)
        if refused is not None:
            return refused
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str,
        options: list[str],
    ) -> str:
        refused = self._answer("RCPT", server)
        if refused is not None:
            return refused
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        refused = self._answer("DATA", server)
        if refused is not None:
            return refused
        content = envelope.original_content or envelope.content
        assert isinstance(content, bytes)
        parsed = message_from_bytes(content, policy=default)
        assert isinstance(parsed, EmailMessage)
        with self.lock:
            self.messages.append(parsed)
            self.envelopes.append((str(envelope.mail_from), list(envelope.rcpt_tos)))
        return "250 OK queued"

    def message_ids(self) -> list[str]:
        with self.lock:
            return [str(m["Message-ID"]) for m in self.messages]


@dataclass(frozen=True)
class Certificate:
    """A self-signed certificate for 127.0.0.1 and localhost, and its key, as files."""

    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        return context


def self_signed(folder: Path) -> Certificate:
    """Make a self-signed certificate in ``folder`` (for 127.0.0.1 and localhost)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        ]), critical=False)
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    paths = Certificate(folder / "cert.pem", folder / "key.pem")
    paths.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths.key.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ))
    return paths


@contextlib.contextmanager
def smtp_server(
    *,
    port: int | None = None,
    starttls: Certificate | None = None,
    implicit_tls: Certificate | None = None,
    users: dict[str, str] | None = None,
    inbox: Inbox | None = None,
    smtputf8: bool = False,
) -> Iterator[tuple[Inbox, int]]:
    """An SMTP server on 127.0.0.1; yields its inbox and port, then stops."""
    inbox = inbox or Inbox()
    port = port or free_port()
    kwargs: dict[str, Any] = {"enable_SMTPUTF8": smtputf8}
    if starttls is not None:
        kwargs["tls_context"] = starttls.server_context()
    if implicit_tls is not None:
        kwargs["ssl_context"] = implicit_tls.server_context()
    if users is not None:
        def authenticate(
            server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
        ) -> AuthResult:
            ok = isinstance(data, LoginPassword) and users.get(
                data.login.decode()) == data.password.decode()
            if ok:
                inbox.logins.append((data.login.decode(), data.password.decode()))
            return AuthResult(success=ok, handled=False)

        kwargs["authenticator"] = authenticate
        kwargs["auth_required"] = True
        kwargs["auth_require_tls"] = implicit_tls is None
    controller = Controller(inbox, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


class _Listener:
    def __init__(self, port: int | None, drop: bool, drip: bool = False) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port or 0))
        self.sock.listen(16)
        self.port: int = self.sock.getsockname()[1]
        self.accepted = 0
        self.drop = drop
        self.drip = drip
        self.held: list[socket.socket] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            if self.drop:
                conn.close()
            else:
                self.held.append(conn)
                if self.drip:
                    threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    @staticmethod
    def _drip(conn: socket.socket) -> None:
        # A greeting that never ends: one byte every 0.2 s, so no read ever times out.
        while True:
            try:
                conn.sendall(b"2")
            except OSError:
                return
            time.sleep(0.2)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        for conn in self.held:
            conn.close()
        self.thread.join(timeout=5)


@contextlib.contextmanager
def dropping_server(port: int | None = None) -> Iterator[_Listener]:
    """A server on 127.0.0.1 that closes every connection as soon as it accepts it."""
    listener = _Listener(port, drop=True)
    try:
        yield listener
    finally:
        listener.close()


@contextlib.contextmanager
def hanging_server(*, drip: bool = False) -> Iterator[_Listener]:
    """A server on 127.0.0.1 that accepts connections and never answers (or, with
    ``drip``, answers one byte at a time and never ends its line)."""
    listener = _Listener(None, drop=False, drip=drip)
    try:
        yield listener
    finally:
        listener.close()


# -- the queue side -----------------------------------------------------------------

#: A stand-in for a reset link in a message's body: it must never reach a log or
#: ``last_error``, and must be gone from the database once the message is sent.
SECRET_LINK = "https://auth.example.com/reset?token=NEVER-LOGGED-7f3a9c"


def queue_message(
    database: Database, now: datetime, to: str = "ada@example.com", note: str = SECRET_LINK
) -> str:
    """Queue a ``test_message`` to ``to`` whose body holds ``note``; its id."""
    with database.write() as db:
        return mail.enqueue(
            db, kind="test_message", to=to, values={"note": note},
            base_url="https://auth.example.com", now=now,
        )


def queued(database: Database, message_id: str) -> MailMessage:
    """The ``mail_queue`` row ``message_id``, as it is now."""
    with database.read() as db:
        row = db.get(MailMessage, message_id)
        assert row is not None, message_id
        return row
