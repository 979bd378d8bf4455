"""The ``Host`` values a server without ``TEKCIFY_PUBLIC_URL`` answers for.

Without a configured public URL the server's own URLs (discovery, the issuer's
endpoints, image links) are built from the request's base URL, that is from the
``Host`` header the client chose: a request with ``Host: tracker.evil.example`` would
make the server name a host of the attacker's, in answers that shared caches keep
(discovery is ``Cache-Control: public``). So the server's front layer (``middleware.py``) lets
through only the hosts the server was started for:

* ``localhost``, ``127.0.0.1``, ``[::1]`` and the address the connection reached (the
  ASGI ``server``: the ``--host`` address, or the interface's address when it listens
  on all of them), each at the port the server listens on;
* the names of ``TEKCIFY_ALLOWED_HOSTS`` (``auth.internal`` on any port, or
  ``auth.internal:8443`` on that port only), for operators without a public URL.

Anything else is a 400 that names the settings to fix it. With ``TEKCIFY_PUBLIC_URL``
every URL is built from it and ``Host`` names nothing: no check is made. Behind a
reverse proxy ``X-Forwarded-Host`` is never read (see ``proxies.py``): set
``TEKCIFY_PUBLIC_URL``, or name the ``Host`` the proxy sends in ``TEKCIFY_ALLOWED_HOSTS``.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Iterable
from typing import Final

from starlette.responses import Response

from .errors import ApiError

__all__ = [
    "LOOPBACK_NAMES", "AllowedHosts", "default_port", "parse_hosts", "refused_host",
    "split_host", "url_host",
]

#: Allowed on the server's own port whatever the settings.
LOOPBACK_NAMES: Final = ("localhost", "127.0.0.1", "[::1]")
_DEFAULT_PORTS: Final = {"http": 80, "https": 443, "ws": 80, "wss": 443}
_LABEL: Final = r"[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?"
_NAME: Final = re.compile(rf"(?:{_LABEL}\.)*{_LABEL}")
_MAX_HOSTS: Final = 100


# Every request's Host is split (the Host check, the canonical URL), and the same few
# values come again and again: remembered, in a bounded cache.
@functools.lru_cache(maxsize=1024)
def split_host(host: str) -> tuple[str, int | None] | None:
    """``host[:port]`` as ``(name, port)``, the name lower-cased and an IPv6 address in
    brackets; ``None`` when it is not a host name or address."""
    host = host.strip().lower()
    if host.startswith("["):
        name, bracket, rest = host[1:].partition("]")
        try:
            name = f"[{ipaddress.IPv6Address(name).compressed}]"
        except ValueError:
            return None
        if not bracket:
            return None
    else:
        name, colon, port_text = host.partition(":")
        rest = colon + port_text
        if not _NAME.fullmatch(name) or len(name) > 253:
            return None
    if not rest:
        return name, None
    if not rest.startswith(":") or not rest[1:].isdigit() or len(rest) > 6:
        return None
    port = int(rest[1:])
    return (name, port) if 0 < port < 65536 else None


def parse_hosts(value: str) -> tuple[str, ...]:
    """The hosts of a comma- or space-separated list (``TEKCIFY_ALLOWED_HOSTS``), each
    ``name`` or ``name:port``, written canonically. Raises :class:`ValueError` naming the
    first item that is not a host, or when there are more than 100."""
    items = value.replace(",", " ").split()
    if len(items) > _MAX_HOSTS:
        raise ValueError(f"more than {_MAX_HOSTS} hosts")
    hosts = []
    for item in items:
        split = split_host(item)
        if split is None:
            raise ValueError(f"{item[:80]!r} is not a host name or address, with an optional port")
        name, port = split
        hosts.append(name if port is None else f"{name}:{port}")
    return tuple(dict.fromkeys(hosts))


def default_port(scheme: str) -> int:
    """The port a URL or ``Host`` of ``scheme`` means when it names none."""
    return _DEFAULT_PORTS.get(scheme, 80)


def url_host(address: str) -> str:
    """An address or name as it stands in a URL's host: IPv6 in brackets, names lowered."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address.lower()
    return f"[{parsed.compressed}]" if parsed.version == 6 else str(parsed)


class AllowedHosts:
    """Decides whether a request's ``Host`` is one the server answers for."""

    def __init__(self, extra: Iterable[str] = ()) -> None:
        self.any_port: frozenset[str] = frozenset(h for h in extra if split_host(h) == (h, None))
        self.exact: frozenset[str] = frozenset(extra) - self.any_port
        self._allows = functools.lru_cache(maxsize=1024)(self._decide)

    def allows(self, host: str | None, server: tuple[str, int | None] | None, scheme: str) -> bool:
        """Whether ``host`` (the header; ``None`` when absent) may be answered.

        ``server`` is the ASGI scope's ``(address, port)`` of the listening side.
        Remembered per distinct question (a bounded cache): every request asks it, and
        parsing the addresses cost a fifth of the JWKS route's time (issue 12 profile).
        """
        if host is None:  # HTTP/1.0: the server's own address is used, nothing to follow
            return True
        return self._allows(host, None if server is None else tuple(server), scheme)

    def _decide(self, host: str, server: tuple[str, int | None] | None, scheme: str) -> bool:
        split = split_host(host)
        if split is None:
            return False
        name, port = split
        default = default_port(scheme)
        if name in self.any_port or f"{name}:{port or default}" in self.exact:
            return True
        if server is None:
            return False
        server_port = server[1] or default
        own = {*LOOPBACK_NAMES, url_host(server[0])}
        return name in own and (port or default) == server_port


def refused_host(host: str | None) -> Response:
    """The 400 answering a request whose ``Host`` the server was not started for."""
    shown = (host or "")[:100]
    return ApiError(
        400,
        f"This server does not answer for the host {shown!r} (the Host header). Set "
        "TEKCIFY_PUBLIC_URL to the server's public URL, or add the host to "
        "TEKCIFY_ALLOWED_HOSTS",
    ).response()
