"""Base classes of the request and response models."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, PlainSerializer

__all__ = ["IsoDateTime", "Message", "RequestModel", "ResponseModel"]


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


#: A timestamp written as JavaScript's ``toISOString()`` does: ``2025-01-31T12:00:00.000Z``.
IsoDateTime = Annotated[datetime, PlainSerializer(_iso, return_type=str)]


class RequestModel(BaseModel):
    """A JSON request body: unknown fields are refused (400), values are not coerced."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class ResponseModel(BaseModel):
    """A JSON response body."""

    model_config = ConfigDict(frozen=True)


class Message(ResponseModel):
    """``{"message": "..."}``."""

    message: str
