"""Email addresses: checked and normalised once, compared in their normal form.

The normal form is trimmed, NFC-normalised and lower-cased as a whole: Tekcify compares
emails case-insensitively (``http-api.md``), so ``Ada@Example.com`` and
``ada@example.com`` are one account. A Unicode domain is kept in its IDNA (``xn--``)
form so that one domain has one spelling.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

__all__ = ["InvalidEmail", "normalise_email"]

MAX_EMAIL_LENGTH: Final = 254  # RFC 5321 §4.5.3.1.3 (path) less the angle brackets
# RFC 5322 dot-atom (RFC 6531 adds non-ASCII): no quoted local parts, no comments.
_ATEXT: Final = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~\-\u00a0-\U0010ffff]+"
_LOCAL: Final = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*")
_LABEL: Final = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
# Unicode line and paragraph separators, spaces, controls and format characters (bidi
# overrides, zero-width ones): an address goes into a mail header (``To:``), where a
# U+2028 could split a line, and a reader could be shown another address.
_INVISIBLE: Final = frozenset({"Cc", "Cf", "Zl", "Zp", "Zs"})


class InvalidEmail(ValueError):
    """Raised by :func:`normalise_email` for a string that is not an email address."""


def normalise_email(raw: str) -> str:
    """The normal form of ``raw``; raises :class:`InvalidEmail` when it is not an address.

    >>> normalise_email("  Ada@Example.COM ")
    'ada@example.com'
    """
    value = unicodedata.normalize("NFC", raw.strip())
    local, at, domain = value.rpartition("@")
    if not at or not local or not domain or len(local) > 64:
        raise InvalidEmail("not a valid email address")
    if _LOCAL.fullmatch(local) is None or any(
        unicodedata.category(c) in _INVISIBLE for c in local
    ):
        raise InvalidEmail("not a valid email address")
    try:
        ascii_domain = domain.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise InvalidEmail("not a valid email address") from None
    labels = ascii_domain.split(".")
    if len(labels) < 2 or not all(_LABEL.fullmatch(label) for label in labels):
        raise InvalidEmail("not a valid email address")
    if labels[-1].isdigit():
        raise InvalidEmail("not a valid email address")
    email = f"{local.lower()}@{ascii_domain}"
    if len(email) > MAX_EMAIL_LENGTH:
        raise InvalidEmail("not a valid email address")
    return email
