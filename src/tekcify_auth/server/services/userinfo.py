"""The OpenID Connect UserInfo claims (OIDC Core §5.1, §5.3) of a user.

Which claims a token reveals depends on its scopes (OIDC Core §5.4): ``email`` gives
``email`` and ``email_verified``; ``profile`` gives the names, ``picture`` and
``updated_at``; Tekcify's ``read:profile`` gives both, as it does for
``GET /api/user/profile``. ``sub`` is always there. Claims without a value are left
out rather than sent as ``null`` (§5.3.2).

The same rule decides where else an application may see the email
(:func:`email_granted`): its access tokens' ``email`` claim and introspection's
``username``. The user's own (first-party) tokens always carry it, as the Node
``UserPayload`` expects.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any, Final, Protocol

from .image_store import image_url

__all__ = [
    "EMAIL_CLAIMS", "PROFILE_CLAIMS", "ClaimsSource", "email_granted", "userinfo_claims",
]

EMAIL_CLAIMS: Final = ("email", "email_verified")
PROFILE_CLAIMS: Final = ("name", "given_name", "family_name", "picture", "updated_at")
_EMAIL_SCOPES: Final = frozenset({"email", "read:profile"})
_PROFILE_SCOPES: Final = frozenset({"profile", "read:profile"})


def email_granted(scopes: Collection[str], client_id: str | None) -> bool:
    """Whether a token of ``client_id`` (``None``: first-party) with ``scopes`` shows the email."""
    return client_id is None or not _EMAIL_SCOPES.isdisjoint(scopes)


class ClaimsSource(Protocol):
    """What the claims are read from: a ``User`` or a row of its columns."""

    @property
    def id(self) -> str: ...
    @property
    def email(self) -> str: ...
    @property
    def email_verified(self) -> bool: ...
    @property
    def first_name(self) -> str | None: ...
    @property
    def last_name(self) -> str | None: ...
    @property
    def avatar_url(self) -> str | None: ...
    @property
    def updated_at(self) -> datetime: ...


def userinfo_claims(
    user: ClaimsSource, scopes: Collection[str], *, base_url: str
) -> dict[str, Any]:
    """The UserInfo claims of ``user`` that ``scopes`` allow (``sub`` always); the
    picture's URL under ``base_url`` (``canonical.Canonical.base_url``)."""
    granted = set(scopes)
    claims: dict[str, Any] = {"sub": user.id}
    if granted & _EMAIL_SCOPES:
        claims["email"] = user.email
        claims["email_verified"] = user.email_verified
    if granted & _PROFILE_SCOPES:
        names = [part for part in (user.first_name, user.last_name) if part]
        claims["name"] = " ".join(names) or None
        claims["given_name"] = user.first_name or None
        claims["family_name"] = user.last_name or None
        claims["picture"] = image_url(base_url, user.avatar_url)
        claims["updated_at"] = int(user.updated_at.timestamp())
    return {name: value for name, value in claims.items() if value is not None}
