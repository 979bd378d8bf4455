"""Base classes of the request and response models."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["Message", "RequestModel", "ResponseModel"]


class RequestModel(BaseModel):
    """A JSON request body: unknown fields are refused (400), values are not coerced."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class ResponseModel(BaseModel):
    """A JSON response body."""

    model_config = ConfigDict(frozen=True)


class Message(ResponseModel):
    """``{"message": "..."}``."""

    message: str
