"""Typed results of verification: what a verifier returns and what a guard hands on."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn, TypedDict

__all__ = ["TokenPayload", "UserPayload", "VerifiedToken"]


class TokenPayload(TypedDict, total=False):
    """The claims of a Tekcify access token (``http-api.md``, "Access tokens")."""

    iss: str
    aud: str | list[str]
    sub: str
    type: str
    scopes: list[str]
    clientId: str
    email: str
    role: str
    sid: str
    jti: str
    iat: int
    exp: int
    nbf: int


class _ReadOnlyPayload(dict[str, Any]):
    """A dict that refuses changes: verified payloads are shared through the cache."""

    __slots__ = ()

    def _readonly(self, *args: object, **kwargs: object) -> NoReturn:
        raise TypeError("a verified token's payload is read-only; copy it with dict(payload)")

    __setitem__ = __delitem__ = _readonly
    clear = pop = popitem = setdefault = update = _readonly
    __ior__ = _readonly

    def __copy__(self) -> dict[str, Any]:
        return dict(self)

    def __reduce__(self) -> tuple[type[dict[str, Any]], tuple[dict[str, Any]]]:
        return (dict, (dict(self),))


class _ReadOnlyList(list[Any]):
    """A list that refuses changes, for the arrays (``scopes``, ``aud``) of a payload."""

    __slots__ = ()

    def _readonly(self, *args: object, **kwargs: object) -> NoReturn:
        raise TypeError("a verified token's payload is read-only; copy it with list(value)")

    __setitem__ = __delitem__ = __iadd__ = __imul__ = _readonly
    append = extend = insert = pop = remove = clear = sort = reverse = _readonly

    def __copy__(self) -> list[Any]:
        return list(self)

    def __reduce__(self) -> tuple[type[list[Any]], tuple[list[Any]]]:
        return (list, (list(self),))


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return freeze_payload(value)
    if isinstance(value, list):
        return _ReadOnlyList([_freeze(v) for v in value])
    return value


def freeze_payload(payload: Mapping[str, Any]) -> dict[str, Any]:
    """Wrap a verified payload so that no caller can alter what others will read.

    Nested objects and arrays are frozen too: a caller appending to ``scopes`` would
    otherwise grant that scope to every later request carrying the same cached token.
    """
    frozen = _ReadOnlyPayload(payload)
    for name, value in payload.items():
        # Most claims are strings and numbers; only the few arrays and objects recurse.
        if value.__class__ is list or value.__class__ is dict:
            _set_item(frozen, name, _freeze(value))
    return frozen


_set_item = dict.__setitem__


@dataclass(frozen=True, slots=True)
class VerifiedToken:
    """The result of verifying a token; verification never raises for a bad token.

    ``valid`` is true only when the signature and every claim check hold. When it is
    false, ``payload`` is empty and ``error`` is a short machine word such as
    ``expired``, ``bad_signature``, ``wrong_type``, ``wrong_issuer``,
    ``wrong_audience``, ``malformed``, ``unknown_key``, ``algorithm_not_allowed`` or
    ``wrong_client`` (issued to an application not among ``clients=``).
    """

    payload: dict[str, Any] = field(default_factory=dict)
    valid: bool = False
    error: str | None = None

    def __bool__(self) -> bool:
        return self.valid


@dataclass(frozen=True, slots=True)
class UserPayload:
    """The authenticated caller, as guards attach it to the request.

    ``user_id`` is the token's ``sub``; ``email`` comes from ``get_user_info`` when one
    is configured, else from the token's ``email`` claim; ``claims`` is the whole
    verified payload. ``scopes`` keeps the token's order and serialises as a JSON array,
    like the Node package's ``user.scopes``.
    """

    user_id: str
    email: str | None = None
    scopes: tuple[str, ...] = ()
    role: str | None = None
    client_id: str | None = None
    session_id: str | None = None
    claims: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @property
    def userId(self) -> str:
        """The Node package's name for :attr:`user_id`."""
        return self.user_id

    def has_scopes(self, *scopes: str) -> bool:
        """Whether the token grants every one of ``scopes``."""
        return set(scopes).issubset(self.scopes)
