"""Bodies of ``/api/applications/*`` (``http-api.md``, "Applications (OAuth clients)").

The checks of single values live in ``services/applications.py``; here they become
400s naming the field (``Invalid field redirectUris.1: ...``). Scopes are checked
against the server's list by the router, which has the settings.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field, field_validator

from ..services.applications import (
    MAX_ORIGINS,
    MAX_REDIRECT_URIS,
    check_description,
    check_name,
    check_origin,
    check_redirect_uri,
    check_unique,
)
from .base import IsoDateTime, RequestModel, ResponseModel

__all__ = [
    "ApplicationResponse",
    "CreateApplicationRequest",
    "CreatedApplication",
    "LogoResponse",
    "PublicApplication",
    "RegeneratedSecret",
    "UpdateApplicationRequest",
]

#: More than any server's list of scopes can hold without repeats.
MAX_SCOPES = 128

Name = Annotated[str, AfterValidator(check_name)]
Description = Annotated[str | None, AfterValidator(check_description)]
RedirectUri = Annotated[str, AfterValidator(check_redirect_uri)]
Origin = Annotated[str, AfterValidator(check_origin)]
Scope = Annotated[str, Field(min_length=1, max_length=64)]
RedirectUris = Annotated[
    list[RedirectUri],
    Field(min_length=1, max_length=MAX_REDIRECT_URIS),
    AfterValidator(check_unique),
]
Origins = Annotated[list[Origin], Field(max_length=MAX_ORIGINS), AfterValidator(check_unique)]
Scopes = Annotated[
    list[Scope], Field(min_length=1, max_length=MAX_SCOPES), AfterValidator(check_unique)
]


class CreateApplicationRequest(RequestModel):
    """``{name, description?, redirectUris, authorizedOrigins?, scopes}``.

    ``description`` empty or ``null`` is no description; ``authorizedOrigins`` ``null``
    is none.
    """

    name: Name
    description: Description = None
    redirectUris: RedirectUris
    authorizedOrigins: Origins | None = None
    scopes: Scopes


class UpdateApplicationRequest(RequestModel):
    """Any subset of the create fields; those left out stay as they are.

    ``description`` and ``authorizedOrigins`` may be ``null`` (clears them); ``name``,
    ``redirectUris`` and ``scopes`` may not.
    """

    name: Name | None = None
    description: Description = None
    redirectUris: RedirectUris | None = None
    authorizedOrigins: Origins | None = None
    scopes: Scopes | None = None

    @field_validator("name", "redirectUris", "scopes")
    @classmethod
    def _not_null(cls, value: object) -> object:
        # Only runs for fields that were sent: null there would mean "remove", which
        # these required fields cannot be.
        if value is None:
            raise ValueError("must not be null")
        return value


class PublicApplication(ResponseModel):
    """What anyone may know of an application: the public lookup's answer."""

    clientId: str
    name: str
    description: str | None
    logoUrl: str | None
    redirectUris: list[str]
    authorizedOrigins: list[str]
    scopes: list[str]


class ApplicationResponse(PublicApplication):
    """``Application {clientId, name, description, logoUrl, redirectUris,
    authorizedOrigins, scopes, createdAt, updatedAt}``, as its owner sees it."""

    createdAt: IsoDateTime
    updatedAt: IsoDateTime


class CreatedApplication(ApplicationResponse):
    """The ``Application`` plus its ``clientSecret``, shown this once."""

    clientSecret: str


class LogoResponse(ResponseModel):
    """``{logoUrl}``."""

    logoUrl: str


class RegeneratedSecret(ResponseModel):
    """``{clientId, clientSecret, message}``."""

    clientId: str
    clientSecret: str
    message: str
