"""The user object DRF puts on ``request.user`` for a Tekcify token."""

from __future__ import annotations

from typing import Final

from .._models import UserPayload

__all__ = ["TekcifyUser"]


class TekcifyUser:
    """A lightweight, database-free user for ``request.user``, carrying the token's user.

    It answers what Django and DRF ask of a user (``is_authenticated`` is true, ``pk``
    is the token's subject, for throttling) and holds the
    :class:`~tekcify_auth.UserPayload` as :attr:`payload`; ``user_id``, ``email``,
    ``scopes``, ``role`` and :meth:`has_scopes` read through to it.
    """

    is_authenticated: Final = True
    is_anonymous: Final = False
    is_active: Final = True
    is_staff: Final = False
    is_superuser: Final = False

    __slots__ = ("payload",)

    def __init__(self, payload: UserPayload) -> None:
        self.payload = payload

    @property
    def pk(self) -> str:
        """The token's subject, as Django's ``pk``."""
        return self.payload.user_id

    id = pk
    user_id = pk

    @property
    def username(self) -> str:
        """The token's subject: a Tekcify user has no username of its own here."""
        return self.payload.user_id

    @property
    def email(self) -> str | None:
        """The user's email (from ``GET_USER_INFO``, else the token's claim)."""
        return self.payload.email

    @property
    def scopes(self) -> tuple[str, ...]:
        """The scopes the token grants."""
        return self.payload.scopes

    @property
    def role(self) -> str | None:
        """The token's ``role`` claim (``user`` or ``admin``)."""
        return self.payload.role

    def has_scopes(self, *scopes: str) -> bool:
        """Whether the token grants every one of ``scopes``."""
        return self.payload.has_scopes(*scopes)

    def get_username(self) -> str:
        """The token's subject, as Django's ``get_username()``."""
        return self.payload.user_id

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TekcifyUser) and other.payload == self.payload

    def __hash__(self) -> int:
        return hash(self.payload.user_id)

    def __str__(self) -> str:
        return self.payload.user_id

    def __repr__(self) -> str:
        return f"TekcifyUser({self.payload!r})"
