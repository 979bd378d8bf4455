"""Rules for text people show to other people: names of people and of applications.

A name is shown on the consent page next to "wants to access your account", so it must
read as what it is. Refused, wherever such text is taken:

* control characters (Unicode category ``Cc``) and the line and paragraph separators
  (``Zl``, ``Zp``); a description may keep line breaks and tabs (``\\n``, ``\\r``, ``\\t``);
* bidirectional overrides, embeddings and isolates (U+202A-202E, U+2066-2069): they
  can make ``elgooG`` display as ``Google`` (CVE-2021-42574, "Trojan Source");
* text that shows nothing: only spaces and invisible characters (U+200B zero width
  space, U+2060 word joiner, U+3164 Hangul filler, variation selectors...).

Zero-width joiners and non-joiners inside visible text stay: some scripts need them.

Also here: lone UTF-16 surrogates (U+D800-DFFF), which JSON can spell (``"\\ud800"``)
but which are no character at all: UTF-8 cannot encode them, so they must never reach
a hash, a database or a response (:func:`lone_surrogate_path`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from typing import Final

__all__ = [
    "BIDI_CONTROLS",
    "check_display_text",
    "has_lone_surrogate",
    "lone_surrogate_path",
]

#: Bidirectional embeddings, overrides and isolates (Unicode UAX #9).
BIDI_CONTROLS: Final = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_LINES: Final = frozenset("\n\r\t")
# Letters and symbols that draw nothing, and characters Unicode calls default-ignorable
# outside the format category: Hangul fillers, the braille blank, the combining grapheme
# joiner, Khmer inherent vowels, Mongolian variation selectors.
_BLANK: Final = frozenset("\u115f\u1160\u3164\uffa0\u2800\u034f\u17b4\u17b5") | frozenset(
    chr(c) for c in range(0x180B, 0x1810)
)
_INVISIBLE_CATEGORIES: Final = frozenset({"Cc", "Cf", "Zs", "Zl", "Zp", "Cs"})
_SURROGATE: Final = re.compile("[\ud800-\udfff]")


def _invisible(character: str) -> bool:
    code = ord(character)
    return (
        unicodedata.category(character) in _INVISIBLE_CATEGORIES
        or character in _BLANK
        or 0xFE00 <= code <= 0xFE0F  # variation selectors
        or 0xE0100 <= code <= 0xE01EF
    )


def check_display_text(value: str, *, lines: bool = False) -> str:
    """``value`` unchanged when others may be shown it; ``ValueError`` saying why not.

    ``lines`` allows line breaks and tabs (descriptions). Empty text passes: whether
    it may be empty is the caller's rule.

    >>> check_display_text("Zoë's app")
    "Zoë's app"
    >>> check_display_text("elgoo\\u202eG")
    Traceback (most recent call last):
    ...
    ValueError: must not contain bidirectional control characters (U+202A-202E, U+2066-2069)
    """
    for character in value:
        if character in BIDI_CONTROLS:
            raise ValueError(
                "must not contain bidirectional control characters (U+202A-202E, U+2066-2069)"
            )
        if lines and character in _LINES:
            continue
        if unicodedata.category(character) in ("Cc", "Zl", "Zp", "Cs"):
            if lines:
                raise ValueError(
                    "must not contain control characters other than line breaks and tabs"
                )
            raise ValueError("must not contain control characters or line breaks")
    if value and all(_invisible(character) for character in value):
        raise ValueError("must contain a visible character, not only invisible ones")
    return value


def has_lone_surrogate(value: str) -> bool:
    """Whether ``value`` holds a UTF-16 surrogate, which no valid text does."""
    return _SURROGATE.search(value) is not None


def _strings(value: object, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield (*path, str(key)), str(key)
            yield from _strings(item, (*path, str(key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, (*path, str(index)))


def lone_surrogate_path(data: object) -> tuple[str, ...] | None:
    """Where in decoded JSON ``data`` a key or string holds a lone surrogate; else ``None``.

    The path names keys and list indices from the top (``("redirectUris", "1")``);
    surrogates in it are written as ``\\udXXX`` escapes, so it can be shown safely.

    >>> lone_surrogate_path({"refresh_token": "\\ud800"})
    ('refresh_token',)
    >>> lone_surrogate_path({"name": "\\U0001F600"}) is None
    True
    """
    for path, text in _strings(data, ()):
        if has_lone_surrogate(text):
            return tuple(part.encode("utf-8", "backslashreplace").decode() for part in path)
    return None
