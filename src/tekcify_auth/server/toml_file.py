"""Reading the settings' TOML files (``TEKCIFY_SCOPES_FILE``, ``TEKCIFY_SOCIAL_PROVIDERS_FILE``)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

__all__ = ["read_table"]


def read_table(path: Path, name: str, holds: str) -> Any:
    """The top-level table ``name`` of the TOML file ``path`` (``None`` when absent).

    Raises :class:`ValueError` saying what is wrong: the file is missing, unreadable, not
    UTF-8 or not TOML (with the line), or has another top-level key (``holds`` says what
    the file is for: ``"a [scopes] table"``).
    """
    try:
        with path.open("rb") as file:
            document = tomllib.load(file)
    except FileNotFoundError:
        raise ValueError("there is no such file") from None
    except OSError as exc:
        raise ValueError(f"it cannot be read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ValueError("it is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"it is not valid TOML: {exc}") from None
    others = sorted(key for key in document if key != name)
    if others:
        raise ValueError(f"{others[0][:64]!r} is not allowed: the file holds {holds}")
    return document.get(name)
