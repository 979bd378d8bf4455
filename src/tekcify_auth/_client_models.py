"""Typed models of the auth server's answers and of the bodies the client sends.

Attributes are snake_case; on the wire they are the camelCase keys of ``http-api.md``
(``user_id`` is ``userId``), except for the OAuth protocol answers (:class:`UserInfo`,
:class:`IntrospectResult`, :class:`TokenSet`), which use the RFC names and accept the
Tekcify camelCase aliases too. Every model reads either spelling, keeps the fields it
does not know (``model_extra``: the server may grow) and is frozen, so an answer shared
through a cache cannot be altered by one of its readers.

>>> profile = UserProfile.model_validate({"userId": "u1", "email": "a@example.com"})
>>> profile.user_id, profile.model_dump(by_alias=True, exclude_unset=True)
('u1', {'userId': 'u1', 'email': 'a@example.com'})
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import AliasChoices, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

__all__ = [
    "Application",
    "ApplicationStats",
    "ConnectedApp",
    "CreateApplicationData",
    "CreateApplicationResponse",
    "IntrospectResult",
    "LogoUploadResponse",
    "MessageResponse",
    "Page",
    "RegenerateSecretResponse",
    "Session",
    "TokenSet",
    "UpdateApplicationData",
    "UpdateProfileData",
    "UploadResponse",
    "UserInfo",
    "UserProfile",
    "WireModel",
]

T = TypeVar("T")


class WireModel(BaseModel):
    """Base of the Tekcify models: snake_case in Python, camelCase on the wire.

    ``model_dump(by_alias=True)`` gives the wire form; unknown fields are kept.
    """

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="allow", frozen=True
    )


class _RfcModel(BaseModel):
    """Base of the OAuth protocol models, whose wire names are the RFC's snake_case."""

    model_config = ConfigDict(populate_by_name=True, extra="allow", frozen=True)


def _either(rfc_name: str, tekcify_name: str) -> Any:
    """A field read from its RFC name or its Tekcify alias, written with the RFC name."""
    return Field(
        None,
        validation_alias=AliasChoices(rfc_name, tekcify_name),
        serialization_alias=rfc_name,
    )


def _split_scope(scope: str | None) -> tuple[str, ...]:
    # RFC 6749 §3.3: a scope value is a list of space-delimited strings.
    return tuple(scope.split()) if scope else ()


# -- answers of /api/oauth (RFC names) ---------------------------------------------------


class UserInfo(_RfcModel):
    """``GET /api/oauth/userinfo``: the OIDC standard claims of the token's user."""

    sub: str
    email: str | None = None
    email_verified: bool | None = None
    given_name: str | None = None
    family_name: str | None = None
    name: str | None = None
    picture: str | None = None
    #: Seconds since the epoch.
    updated_at: int | None = None


class IntrospectResult(_RfcModel):
    """``POST /api/oauth/token/introspect`` (RFC 7662 §2.2).

    An inactive token gives only ``active=False``; every other field is then ``None``.
    """

    active: bool
    sub: str | None = None
    #: The space-separated scopes; :attr:`scopes` splits them.
    scope: str | None = None
    client_id: str | None = _either("client_id", "clientId")
    username: str | None = None
    token_type: str | None = _either("token_type", "tokenType")
    exp: int | None = None
    iat: int | None = None
    nbf: int | None = None
    iss: str | None = None
    aud: str | tuple[str, ...] | None = None
    jti: str | None = None

    @property
    def scopes(self) -> tuple[str, ...]:
        """:attr:`scope` split into its scope strings."""
        return _split_scope(self.scope)


class TokenSet(_RfcModel):
    """Tokens from the token endpoint (RFC 6749 §5.1) or from ``/api/auth/login``.

    Reads the RFC names (``access_token``) and the Tekcify ones (``accessToken``).
    ``expires_at`` is when the access token expires, in seconds since the epoch, worked
    out from ``expires_in`` by the client's clock when the answer arrived. The tokens
    are left out of ``repr`` so that logging a token set leaks nothing.
    """

    access_token: str = Field(
        validation_alias=AliasChoices("access_token", "accessToken"),
        serialization_alias="access_token",
        repr=False,
    )
    token_type: str = Field(
        "Bearer",
        validation_alias=AliasChoices("token_type", "tokenType"),
        serialization_alias="token_type",
    )
    expires_in: int | None = _either("expires_in", "expiresIn")
    refresh_token: str | None = Field(
        None,
        validation_alias=AliasChoices("refresh_token", "refreshToken"),
        serialization_alias="refresh_token",
        repr=False,
    )
    scope: str | None = None
    id_token: str | None = Field(None, repr=False)
    expires_at: int | None = None
    #: The id token's claims once the OAuth client validated it (OpenID Connect mode:
    #: ``exchange_code(..., nonce=...)`` and ``refresh``); ``None`` without one.
    id_token_claims: dict[str, Any] | None = Field(None, repr=False)

    @property
    def scopes(self) -> tuple[str, ...]:
        """:attr:`scope` split into its scope strings."""
        return _split_scope(self.scope)

    def is_expired(self, leeway: float = 0, *, now: float | None = None) -> bool:
        """Whether the access token has expired, or will within ``leeway`` seconds.

        ``False`` when the server gave no lifetime. ``now`` defaults to ``time.time()``.
        """
        if self.expires_at is None:
            return False
        return (time.time() if now is None else now) + leeway >= self.expires_at


# -- answers of /api/user, /api/applications, /api/auth (camelCase) -----------------------


class MessageResponse(WireModel):
    """``{message}``: what the server says after an update, a delete or a revocation."""

    message: str


class UserProfile(WireModel):
    """``UserProfile {userId, email, firstName, lastName, avatarUrl, emailVerifiedAt}``.

    ``email_verified_at`` is ``None`` until the address is verified (and from a server
    that does not send it).
    """

    user_id: str
    email: str
    first_name: str | None = None
    last_name: str | None = None
    avatar_url: str | None = None
    email_verified_at: datetime | None = None


class UploadResponse(WireModel):
    """``POST /api/user/profile/picture``: ``{avatarUrl}``."""

    avatar_url: str


class Application(WireModel):
    """An OAuth application (``http-api.md``, "Applications").

    The public endpoint leaves out ``created_at``, ``updated_at`` and ``is_active``, and
    adds ``client_id_obfuscated`` (the id with its middle masked, for display).
    ``primary_color`` is ``#rrggbb``; ``is_active`` is ``False`` for an application its
    owner switched off (``None`` from a server that does not say).
    """

    client_id: str
    client_id_obfuscated: str | None = None
    name: str
    description: str | None = None
    logo_url: str | None = None
    redirect_uris: list[str] = Field(default_factory=list)
    authorized_origins: list[str] | None = None
    scopes: list[str] = Field(default_factory=list)
    primary_color: str | None = None
    is_active: bool | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    #: ``"none"`` for a public client (no secret, PKCE only), ``"client_secret_basic"``
    #: for a confidential one (``None`` from a server that does not say).
    token_endpoint_auth_method: str | None = None


class ApplicationStats(WireModel):
    """``{total, active, inactive}``: the counts of the user's applications (2.2.12)."""

    total: int
    active: int
    inactive: int


class CreateApplicationResponse(Application):
    """``POST /api/applications``: the application and its secret, shown this once.

    ``client_secret`` is ``None`` for a public client, which has none.
    """

    client_secret: str | None = Field(default=None, repr=False)


class RegenerateSecretResponse(WireModel):
    """``POST /api/applications/{clientId}/regenerate-secret``."""

    client_id: str
    client_secret: str = Field(repr=False)
    message: str | None = None


class LogoUploadResponse(WireModel):
    """``POST /api/applications/{clientId}/logo``: ``{logoUrl}``."""

    logo_url: str


class Session(WireModel):
    """One of the caller's sessions (``GET /api/auth/sessions``; 2.2.12 ``Session``).

    ``application_name`` is the OAuth application's name, or the server's own for a
    sign-in of the user's own; ``expires_at`` is when it ends unless it is used again.
    """

    id: str
    application_name: str | None = None
    application_logo: str | None = None
    ip_address: str | None = None
    user_agent: str | None = None
    scopes: list[str] = Field(default_factory=list)
    created_at: datetime
    last_used_at: datetime | None = None
    expires_at: datetime | None = None
    #: Whether this is the session of the access token that asked.
    current: bool = False
    #: ``"browser"`` (a sign-in on the server's sign-in pages), ``"first_party"`` (a
    #: login of the user's own) or ``"application"``; ``None`` from a server that does
    #: not say.
    kind: str | None = None


class ConnectedApp(WireModel):
    """An application the caller consented to (``GET /api/oauth/connected-apps``).

    ``id`` identifies the consent (2.2.12; ``None`` from a server that does not send it).
    """

    id: str | None = None
    client_id: str
    name: str
    description: str | None = None
    logo_url: str | None = None
    scopes: list[str] = Field(default_factory=list)
    connected_at: datetime | None = None
    updated_at: datetime | None = None


class Page(list[T], Generic[T]):
    """A list of one page of results, with the total the server reported.

    ``total`` is the ``pagination.total`` of a 2.2.12 envelope or the ``X-Total-Count``
    header of a bare array (``None`` when the server sent neither); ``total_pages``
    and ``stats`` (an :class:`ApplicationStats`) come only with the envelope.
    """

    def __init__(
        self, items: Iterable[T] = (), *, total: int | None = None, page: int = 1,
        limit: int | None = None, total_pages: int | None = None,
        stats: ApplicationStats | None = None,
    ) -> None:
        super().__init__(items)
        self.total = total
        self.page = page
        self.limit = limit
        self.total_pages = total_pages
        self.stats = stats

    def __repr__(self) -> str:
        return f"Page({list.__repr__(self)}, total={self.total}, page={self.page})"


# -- request bodies: a model or a dict with snake_case or camelCase keys ----------------


class UpdateProfileData(WireModel):
    """The body of ``PUT /api/user/profile``: only the fields given are sent."""

    first_name: str | None = None
    last_name: str | None = None


#: How a client authenticates at the token endpoint; ``none`` is a public client.
AuthMethod = Literal["client_secret_basic", "client_secret_post", "none"]


class CreateApplicationData(WireModel):
    """The body of ``POST /api/applications``."""

    name: str
    description: str | None = None
    redirect_uris: list[str]
    authorized_origins: list[str] | None = None
    scopes: list[str]
    #: ``#rrggbb``.
    primary_color: str | None = None
    #: ``"none"`` registers a public client (a single-page or native app: no secret,
    #: PKCE only); ``"client_secret_basic"`` (the default) or ``"client_secret_post"``
    #: a confidential one.
    token_endpoint_auth_method: AuthMethod | None = None


class UpdateApplicationData(WireModel):
    """The body of ``PUT /api/applications/{clientId}``: only the fields given are sent."""

    name: str | None = None
    description: str | None = None
    redirect_uris: list[str] | None = None
    authorized_origins: list[str] | None = None
    scopes: list[str] | None = None
    #: ``#rrggbb``; ``None`` clears it.
    primary_color: str | None = None
    #: ``False`` switches the application off (this server's extension), ``True`` on.
    is_active: bool | None = None
