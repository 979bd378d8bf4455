"""Bodies of ``/api/applications/*`` (``http-api.md``, "Applications (OAuth clients)").

The checks of single values live in ``services/applications.py``; here they become
400s naming the field (``Invalid field redirectUris.1: ...``). Scopes are checked
against the server's list by the router, which has the settings.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator

from ..services.applications import (
    MAX_ORIGINS,
    MAX_REDIRECT_URIS,
    check_description,
    check_name,
    check_origin,
    check_primary_color,
    check_redirect_uri,
    check_unique,
)
from .base import IsoDateTime, RequestModel, ResponseModel

__all__ = [
    "ApplicationFields",
    "ApplicationList",
    "ApplicationResponse",
    "ApplicationStats",
    "CreateApplicationRequest",
    "CreatedApplication",
    "LogoResponse",
    "Pagination",
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
#: ``#rrggbb``, either case; stored and answered in lower case.
PrimaryColor = Annotated[str | None, AfterValidator(check_primary_color)]
Scope = Annotated[str, Field(min_length=1, max_length=64)]
RedirectUris = Annotated[
    list[RedirectUri],
    Field(min_length=1, max_length=MAX_REDIRECT_URIS),
    AfterValidator(check_unique),
]
#: RP-initiated logout's return addresses: the rules of redirect URIs; none is fine.
PostLogoutRedirectUris = Annotated[
    list[RedirectUri], Field(max_length=MAX_REDIRECT_URIS), AfterValidator(check_unique)
]
Origins = Annotated[list[Origin], Field(max_length=MAX_ORIGINS), AfterValidator(check_unique)]
Scopes = Annotated[
    list[Scope], Field(min_length=1, max_length=MAX_SCOPES), AfterValidator(check_unique)
]
#: How the client authenticates at the token endpoint (OpenID Connect Dynamic Client
#: Registration's ``token_endpoint_auth_method``). ``none`` makes a public client;
#: ``client_secret_basic`` and ``client_secret_post`` both make a confidential one,
#: which may use either.
AuthMethod = Literal["client_secret_basic", "client_secret_post", "none"]


class CreateApplicationRequest(RequestModel):
    """``{name, description?, redirectUris, authorizedOrigins?, scopes, primaryColor?,
    tokenEndpointAuthMethod?}``.

    ``description`` empty or ``null`` is no description; ``authorizedOrigins`` ``null``
    is none; ``primaryColor`` is ``#rrggbb`` (2.2.12). ``tokenEndpointAuthMethod``
    (this server's extension, issue 15) is ``client_secret_basic`` by default;
    ``"none"`` registers a public client, which gets no secret.
    ``postLogoutRedirectUris`` (issue 15) are where RP-initiated logout may send the
    browser back, matched exactly; the rules of ``redirectUris``, and none by default.
    """

    name: Name
    description: Description = None
    redirectUris: RedirectUris
    authorizedOrigins: Origins | None = None
    scopes: Scopes
    primaryColor: PrimaryColor = None
    tokenEndpointAuthMethod: AuthMethod = "client_secret_basic"
    postLogoutRedirectUris: PostLogoutRedirectUris | None = None

    @property
    def confidential(self) -> bool:
        """Whether the application gets a secret (everything but ``none``)."""
        return self.tokenEndpointAuthMethod != "none"


class UpdateApplicationRequest(RequestModel):
    """Any subset of the create fields; those left out stay as they are.

    ``description``, ``authorizedOrigins`` and ``primaryColor`` may be ``null`` (clears
    them); ``name``, ``redirectUris``, ``scopes``, ``isActive`` and
    ``postLogoutRedirectUris`` (``[]`` clears it) may not. ``isActive``
    (a boolean) is this server's extension: ``false`` makes the application unusable
    until it is set ``true`` again.
    """

    name: Name | None = None
    description: Description = None
    redirectUris: RedirectUris | None = None
    authorizedOrigins: Origins | None = None
    scopes: Scopes | None = None
    primaryColor: PrimaryColor = None
    isActive: bool | None = None
    postLogoutRedirectUris: PostLogoutRedirectUris | None = None

    @field_validator("name", "redirectUris", "scopes", "isActive", "postLogoutRedirectUris")
    @classmethod
    def _not_null(cls, value: object) -> object:
        # Only runs for fields that were sent: null there would mean "remove", which
        # these required fields cannot be.
        if value is None:
            raise ValueError("must not be null")
        return value


class ApplicationFields(ResponseModel):
    """The fields of ``Application`` that both views show."""

    clientId: str
    name: str
    description: str | None
    logoUrl: str | None
    redirectUris: list[str]
    authorizedOrigins: list[str]
    scopes: list[str]
    primaryColor: str | None
    #: ``none`` for a public client; ``client_secret_basic`` for a confidential one
    #: (which may use ``client_secret_post`` too).
    tokenEndpointAuthMethod: Literal["client_secret_basic", "none"]


class PublicApplication(ApplicationFields):
    """What anyone may know of an application: the public lookup's answer.

    ``clientIdObfuscated`` (2.2.12) is the client id with all but its first 8 and last
    4 characters masked (``services.applications.obfuscate_client_id``).
    """

    clientIdObfuscated: str


class ApplicationResponse(ApplicationFields):
    """``Application {clientId, name, description, logoUrl, redirectUris,
    authorizedOrigins, scopes, primaryColor, isActive, createdAt, updatedAt}``, as its
    owner sees it, plus ``tokenEndpointAuthMethod`` and ``postLogoutRedirectUris``."""

    isActive: bool
    createdAt: IsoDateTime
    updatedAt: IsoDateTime
    postLogoutRedirectUris: list[str]


class ApplicationStats(ResponseModel):
    """``{total, active, inactive}``: the counts of the owner's applications."""

    total: int
    active: int
    inactive: int


class Pagination(ResponseModel):
    """``{page, limit, total, totalPages}``."""

    page: int
    limit: int
    total: int
    totalPages: int


class ApplicationList(ResponseModel):
    """2.2.12 ``ListApplicationsResponse``: ``{success, stats, data, pagination}``."""

    success: bool = True
    stats: ApplicationStats
    data: list[ApplicationResponse]
    pagination: Pagination


class CreatedApplication(ApplicationResponse):
    """The ``Application`` plus its ``clientSecret``, shown this once.

    A public client has no secret: its answer is the :class:`ApplicationResponse` alone.
    """

    clientSecret: str


class LogoResponse(ResponseModel):
    """``{logoUrl}``."""

    logoUrl: str


class RegeneratedSecret(ResponseModel):
    """``{clientId, clientSecret, message}``."""

    clientId: str
    clientSecret: str
    message: str
