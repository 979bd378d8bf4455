"""Base classes of the request and response models."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer

from ..services.text import BIDI_CONTROLS

__all__ = ["MAX_NAME_LENGTH", "IsoDateTime", "Message", "Name", "RequestModel", "ResponseModel"]


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


#: A timestamp written as JavaScript's ``toISOString()`` does: ``2025-01-31T12:00:00.000Z``.
IsoDateTime = Annotated[datetime, PlainSerializer(_iso, return_type=str)]


#: The longest first or last name, in characters (the ``users`` columns hold 100).
MAX_NAME_LENGTH = 100


# Bidirectional overrides and isolates can make a name display as something else
# (CVE-2021-42574, "Trojan Source"); zero-width joiners stay, as some scripts need them.
_BIDI_CONTROLS = BIDI_CONTROLS


def _clean_name(value: str | None) -> str | None:
    """Trim a name; refuse control characters; blank means no name."""
    if value is None:
        return None
    value = value.strip()
    if any(unicodedata.category(c) in ("Cc", "Zl", "Zp") or c in _BIDI_CONTROLS for c in value):
        raise ValueError("must not contain control characters or line breaks")
    return value or None


Name = Annotated[str | None, Field(max_length=MAX_NAME_LENGTH), AfterValidator(_clean_name)]


class RequestModel(BaseModel):
    """A JSON request body: unknown fields are refused (400), values are not coerced."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class ResponseModel(BaseModel):
    """A JSON response body."""

    model_config = ConfigDict(frozen=True)


class Message(ResponseModel):
    """``{"message": "..."}``."""

    message: str
