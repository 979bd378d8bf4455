"""Client addresses behind reverse proxies (``TEKCIFY_TRUSTED_PROXIES``).

Behind a reverse proxy the socket's peer is the proxy; the client's address travels in
``X-Forwarded-For``, to which every proxy appends the address of its own peer. Anyone
can send that header, so it is believed only as far as proxies the operator named
wrote it:

* when the direct peer is not a trusted proxy, the headers are ignored and the peer is
  the client (the default: no proxy is trusted);
* otherwise the list is read from the right, the entry the nearest proxy appended, and
  the first address that is not a trusted proxy is the client. Entries to its left were
  written by the client itself or by proxies nobody vouches for, and are never read. When
  every entry is a trusted proxy, the left-most one is the client;
* an entry that is not an IP address (a trusted proxy wrote ``unknown``, say) ends the
  walk: the client is the last hop known, the proxy that wrote it.

``X-Forwarded-Proto`` from a trusted peer (``http`` or ``https``; with one value per hop,
the one written where the client connected) becomes the request's scheme, so the
authorization pages set ``Secure`` cookies and the server's own URLs say ``https`` when
TLS ended at the proxy. ``X-Forwarded-Host`` is not read: many proxies pass a client's
value through untouched, and the host names the issuer's URLs and image links. Set
``TEKCIFY_PUBLIC_URL`` instead; it is the recommended way to give the public URL anyway.
Without it, ``Host`` must be one the server was started for or one of
``TEKCIFY_ALLOWED_HOSTS`` (``hosts.py``), which is where to name the ``Host`` a proxy
passes on.

:func:`behind_proxies` rewrites the ASGI scope's ``client`` (and ``scheme``)
before anything else reads them, so the login rate limits, the access log and the
``ipAddress`` of sessions all see the same client.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from typing import Final

from starlette.types import Scope

__all__ = [
    "MAX_TRUSTED_PROXIES",
    "Network",
    "TrustedProxies",
    "behind_proxies",
    "parse_networks",
]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

#: The most addresses or networks ``TEKCIFY_TRUSTED_PROXIES`` may name.
MAX_TRUSTED_PROXIES: Final = 100
_SCHEMES: Final = frozenset({"http", "https"})


def parse_networks(value: str) -> tuple[Network, ...]:
    """The networks of a comma- or space-separated list of IP addresses and CIDRs.

    An address is a network of one (``10.0.0.7`` is ``10.0.0.7/32``); host bits of a
    CIDR are dropped (``10.1.2.3/8`` is ``10.0.0.0/8``). Raises :class:`ValueError`
    naming the first item that is neither, or when there are more than
    :data:`MAX_TRUSTED_PROXIES`.
    """
    items = value.replace(",", " ").split()
    if len(items) > MAX_TRUSTED_PROXIES:
        raise ValueError(f"more than {MAX_TRUSTED_PROXIES} addresses or networks")
    networks: list[Network] = []
    for item in items:
        try:
            if "%" in item:  # a zone index names an interface of one host, not a network
                raise ValueError(item)
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"{item[:80]!r} is not an IP address or CIDR network") from None
    return tuple(dict.fromkeys(networks))


def _address(text: str) -> Address | None:
    """``text`` as an IP address, or ``None``. Accepts the forms proxies write:
    ``203.0.113.7``, ``203.0.113.7:4711``, ``2001:db8::1``, ``[2001:db8::1]:4711``."""
    text = text.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:  # IPv4 with a port; an IPv6 address has two colons or more
        text = text.partition(":")[0]
    if not text or len(text) > 45 or "%" in text:
        return None
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class TrustedProxies:
    """Decides who the client is, from the peer and the proxies' headers."""

    def __init__(self, networks: Iterable[Network]) -> None:
        self.networks = tuple(networks)

    def trusts(self, address: Address) -> bool:
        """Whether ``address`` is one of the trusted proxies."""
        return any(address in network for network in self.networks)

    def trusts_peer(self, peer: str) -> bool:
        """Whether the socket's peer ``peer`` (as the ASGI scope gives it) is trusted."""
        known = _address(peer)
        return known is not None and self.trusts(known)

    def client(
        self, peer: str, forwarded_for: Sequence[str], forwarded_proto: Sequence[str] = ()
    ) -> tuple[str, str | None]:
        """The client's address and, if the proxies said it, the scheme it used.

        ``peer`` is the socket's peer; ``forwarded_for`` and ``forwarded_proto`` are the
        values of every ``X-Forwarded-For`` and ``X-Forwarded-Proto`` header, in order.
        Returns ``(peer, None)`` unless the peer is a trusted proxy.
        """
        known = _address(peer)
        if known is None or not self.trusts(known):
            return peer, None
        hops = [hop for value in forwarded_for for hop in value.split(",")]
        index = len(hops) - 1
        while index >= 0:
            address = _address(hops[index])
            if address is None:  # the proxy that appended it could not say: stop at it
                index += 1
                break
            known = address
            if not self.trusts(address):
                break
            index -= 1
        return str(known), _scheme(forwarded_proto, len(hops), max(index, 0))


def _scheme(values: Sequence[str], hops: int, index: int) -> str | None:
    schemes = [item.strip().lower() for value in values for item in value.split(",")]
    if not schemes:
        return None
    # One value per hop: the one written where the client connected; else the nearest.
    chosen = schemes[index] if len(schemes) == hops and index < hops else schemes[-1]
    return chosen if chosen in _SCHEMES else None


def behind_proxies(
    proxies: TrustedProxies, scope: Scope, forwarded_for: Sequence[str],
    forwarded_proto: Sequence[str],
) -> Scope:
    """``scope`` with the client behind trusted ``proxies`` as its ``client`` (and the
    scheme they said); ``scope`` itself when there is nothing to change.

    ``forwarded_for`` and ``forwarded_proto`` are the values of every ``X-Forwarded-For``
    and ``X-Forwarded-Proto`` header, in order. Applied first, so every other part of the
    server (the rate limits, the access log, the sessions' ``ipAddress``) sees the same
    client.
    """
    if not (forwarded_for or forwarded_proto):
        return scope
    peer_host = scope["client"][0]
    host, scheme = proxies.client(peer_host, forwarded_for, forwarded_proto)
    if host == peer_host and scheme is None:
        return scope
    scope = dict(scope)
    if host != peer_host:
        scope["client"] = (host, 0)  # the client's own port is not forwarded
    if scheme is not None:
        scope["scheme"] = scheme
    return scope
