"""One URL for the server: the canonical base URL and the hosts that are its aliases.

The library's default ``AUTH_SERVER_URL`` is ``http://localhost:7001``; a browser that
reaches the pages at ``http://127.0.0.1:7001`` instead keeps its cookies (the CSRF
secret, the login session) under another host, and a sign-in started on one is unknown
on the other (issue 11, item 8). So when the server knows its URL it names itself one
way everywhere:

* ``TEKCIFY_PUBLIC_URL`` set: every URL the server builds is under it, whatever
  ``Host`` says, and nothing is redirected: behind a reverse proxy the ``Host`` the
  server sees is often the proxy's upstream address, and sending the browser to the
  public URL would bring it back with the same ``Host``, for ever.
* else ``TEKCIFY_CANONICAL_URL`` (``tekcify-auth serve`` sets it from ``--host`` and
  ``--port``, see :func:`serve_url`): requests to its aliases, the loopback names
  (``localhost``, ``127.0.0.1``, ``[::1]``) and the canonical host itself, at its port,
  are answered with URLs under it (discovery, image links), and the sign-in pages
  answer a ``GET`` on an alias that is not the canonical host with a redirect there,
  before any cookie is set. Other hosts the server answers (its interface address when
  it listens on all of them, ``TEKCIFY_ALLOWED_HOSTS``) keep their own URLs.
* neither (an app built by ``create_app`` and served by another ASGI server, as the
  tests do): each request's own base URL, whose host ``hosts.py`` has checked.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import urlsplit

from .hosts import LOOPBACK_NAMES, default_port, split_host, url_host
from .settings import Settings

__all__ = ["Canonical", "every_interface", "serve_url"]

#: ``--host`` values that listen on every interface, the loopback one included.
_WILDCARDS: Final = frozenset({"0.0.0.0", "::", ""})  # noqa: S104 (recognised, not bound)
#: ``--host`` values whose canonical host is ``localhost``: the address ``localhost``
#: resolves to everywhere, and the wildcards.
_LOCALHOST_ADDRESSES: Final = frozenset({"localhost", "127.0.0.1", *_WILDCARDS})


def _name(host: str) -> str:
    name = host.strip().lower()
    return name[1:-1] if name.startswith("[") and name.endswith("]") else name


def every_interface(host: str) -> bool:
    """Whether ``--host HOST`` listens on every interface (``0.0.0.0``, ``::``)."""
    return _name(host) in _WILDCARDS


def serve_url(host: str, port: int) -> str:
    """The canonical URL of ``tekcify-auth serve --host HOST --port PORT``.

    ``http://localhost:PORT`` when the server listens on 127.0.0.1 (the default), on
    ``localhost`` or on every interface (``0.0.0.0``, ``::``), as the library's
    ``AUTH_SERVER_URL`` default says; else the address or name given, which is then the
    only way to reach it (``--host 192.0.2.10`` is ``http://192.0.2.10:PORT``; IPv6 in
    brackets, ``--host ::1`` is ``http://[::1]:PORT``).
    """
    name = _name(host)
    if name in _LOCALHOST_ADDRESSES:
        return f"http://localhost:{port}"
    return f"http://{url_host(name)}:{port}"


class Canonical:
    """The server's base URL for a request, and where the pages belong."""

    def __init__(self, settings: Settings) -> None:
        self.public_url = settings.public_url
        self.url = settings.canonical_url
        self.host: tuple[str, int] | None = None
        self.aliases: frozenset[str] = frozenset()
        if self.url is not None:
            parts = urlsplit(self.url)
            split = split_host(parts.netloc)
            assert split is not None, self.url  # checked by the settings
            name, port = split
            self.host = (name, port or default_port(parts.scheme))
            self.aliases = frozenset({*LOOPBACK_NAMES, name})

    @property
    def allowed(self) -> tuple[str, ...]:
        """The canonical ``host:port``, which the ``Host`` check must let through."""
        return () if self.host is None else (f"{self.host[0]}:{self.host[1]}",)

    def _alias(self, host: str | None, scheme: str) -> tuple[str, int] | None:
        """``host`` as ``(name, port)`` when it is an alias of the canonical host."""
        if self.host is None or host is None:
            return None
        split = split_host(host)
        if split is None:
            return None
        name, port = split
        port = port or default_port(scheme)
        return (name, port) if name in self.aliases and port == self.host[1] else None

    def base_url(self, host: str | None, scheme: str, request_base_url: str) -> str:
        """The base of the URLs answered to a request with this ``Host`` header."""
        if self.public_url is not None:
            return self.public_url
        if self.url is not None and self._alias(host, scheme) is not None:
            return self.url
        return request_base_url.rstrip("/")

    def elsewhere(self, host: str | None, scheme: str) -> str | None:
        """The canonical URL when a page asked for with this ``Host`` belongs there.

        ``None`` when it is served here: no canonical URL (or a public URL, see the
        module docstring), the canonical host itself, or a host that is no alias.
        """
        if self.public_url is not None:
            return None
        alias = self._alias(host, scheme)
        if alias is None or alias == self.host:
            return None
        return self.url
