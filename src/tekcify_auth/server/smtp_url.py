"""``TEKCIFY_SMTP_URL``: where the mail sender delivers, read once at settings load.

``smtp://[user:password@]host[:port]`` speaks STARTTLS (port 587 by default);
``smtps://[user:password@]host[:port]`` implicit TLS (port 465 by default). The user
and password are percent-encoded in the URL and decoded here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final
from urllib.parse import unquote, urlsplit

__all__ = ["DEFAULT_PORTS", "SmtpTarget", "parse_smtp_url"]

#: The port of each scheme when the URL names none.
DEFAULT_PORTS: Final = {"smtp": 587, "smtps": 465}


@dataclass(frozen=True, slots=True)
class SmtpTarget:
    """An SMTP server: ``implicit_tls`` for ``smtps://``, else STARTTLS when offered."""

    host: str
    port: int
    implicit_tls: bool
    user: str | None = None
    password: str | None = field(default=None, repr=False)

    def describe(self) -> str:
        """``host:port (STARTTLS|implicit TLS[, AUTH as user])``, never the password."""
        how = "implicit TLS" if self.implicit_tls else "STARTTLS"
        auth = f", AUTH as {self.user}" if self.user else ""
        return f"{self.host}:{self.port} ({how}{auth})"


def parse_smtp_url(url: str) -> SmtpTarget:
    """Read an ``smtp://`` or ``smtps://`` URL; raises :class:`ValueError` saying what is
    wrong (the message never holds the password)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise ValueError("the port is not a number from 1 to 65535") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise ValueError("the scheme must be smtp:// (STARTTLS) or smtps:// (implicit TLS)")
    host = parts.hostname
    if not host:
        raise ValueError("no host")
    if port == 0:
        raise ValueError("the port is not a number from 1 to 65535")
    if parts.path not in {"", "/"} or parts.query or parts.fragment:
        raise ValueError("a path, query or fragment is not understood")
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    if password is not None and not user:
        raise ValueError("a password without a user")
    return SmtpTarget(
        host=host, port=port or DEFAULT_PORTS[scheme], implicit_tls=scheme == "smtps",
        user=user, password=password if user else None,
    )
