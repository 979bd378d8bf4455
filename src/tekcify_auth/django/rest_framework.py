"""Django REST framework classes: ``JwtAuthentication`` and the ``HasScopes`` permission.

This module imports DRF; ``tekcify_auth.django`` re-exports its names lazily, so Django
projects without DRF never load it::

    REST_FRAMEWORK = {
        "DEFAULT_AUTHENTICATION_CLASSES": ["tekcify_auth.django.JwtAuthentication"],
    }

    class ProfileView(APIView):
        permission_classes = [HasScopes.with_scopes("read:profile")]

        def get(self, request):
            return Response({"userId": request.user.user_id})

Refusals carry the body of every other Tekcify guard (``{"statusCode", "error",
"message"}``) and its ``WWW-Authenticate`` header. Put ``JwtAuthentication`` first in
``authentication_classes``: DRF takes the 401 challenge from the first class only.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed, PermissionDenied
from rest_framework.permissions import BasePermission

from .._errors import AuthenticationError
from .._guard import MISSING_HEADER, extract_bearer
from .._models import UserPayload
from ._conf import USER_ATTRIBUTE, get_guard, scope_set
from ._user import TekcifyUser

if TYPE_CHECKING:
    from rest_framework.request import Request
    from rest_framework.views import APIView

__all__ = ["HasScopes", "JwtAuthentication", "TekcifyAuthenticationFailed", "TekcifyScopeDenied"]

# Where JwtAuthentication leaves its refusal for authenticate_header to read.
_REFUSAL = "_tekcify_refusal"


class TekcifyAuthenticationFailed(AuthenticationFailed):
    """A 401 refusal in DRF's terms, with the Tekcify body and ``WWW-Authenticate``."""

    def __init__(self, refusal: AuthenticationError) -> None:
        super().__init__(refusal.message, code=refusal.reason)
        self.refusal = refusal
        self.status_code = refusal.status_code
        # A plain dict: DRF's exception handler renders it as is (statusCode stays a number).
        self.detail: Any = refusal.body()
        self.auth_header = refusal.www_authenticate


class TekcifyScopeDenied(PermissionDenied):
    """The 403 ``insufficient_scope`` refusal, with the Tekcify body and header."""

    def __init__(self, refusal: AuthenticationError) -> None:
        super().__init__(refusal.message, code=refusal.reason)
        self.refusal = refusal
        self.status_code = refusal.status_code
        self.detail: Any = refusal.body()
        # DRF's handler copies auth_header into WWW-Authenticate for any APIException.
        self.auth_header = refusal.www_authenticate


def _raise(refusal: AuthenticationError) -> Any:
    if refusal.status_code == 403:
        raise TekcifyScopeDenied(refusal)
    raise TekcifyAuthenticationFailed(refusal)


class JwtAuthentication(BaseAuthentication):
    """Authenticate DRF requests with ``Authorization: Bearer <Tekcify access token>``.

    Uses the ``TEKCIFY_AUTH`` setting. Returns ``(TekcifyUser, token)``: ``request.user``
    is a :class:`~tekcify_auth.django.TekcifyUser` (``is_authenticated`` true) and
    ``request.auth`` the raw token. A request without an ``Authorization`` header, or
    with another scheme (``Basic``...), is left to the next authentication class; a
    Bearer header that fails is refused with 401 and the Node package's message. A
    request ``JwtAuthMiddleware`` already authenticated is not verified again.
    """

    def authenticate(self, request: Request) -> tuple[TekcifyUser, str | None] | None:
        """The user and token of ``request``, ``None`` when it carries no Bearer token."""
        django_request = request._request
        header: str | None = django_request.META.get("HTTP_AUTHORIZATION")
        user: UserPayload | None = getattr(django_request, USER_ATTRIBUTE, None)
        if user is None:
            from . import _conf

            if _conf._override is None and not _is_bearer(header):
                return None
            try:
                user = get_guard().authenticate(django_request)
            except AuthenticationError as exc:
                setattr(request, _REFUSAL, exc)
                return _raise(exc)  # type: ignore[no-any-return]
            setattr(django_request, USER_ATTRIBUTE, user)
        token: str | None
        try:
            token = extract_bearer(header)
        except AuthenticationError:
            token = None  # a stand-in user from tekcify_auth.testing: no token at all
        return TekcifyUser(user), token

    def authenticate_header(self, request: Request) -> str:
        """The 401 challenge: the refusal's ``WWW-Authenticate``, else plain ``Bearer``."""
        refusal: AuthenticationError | None = getattr(request, _REFUSAL, None)
        return refusal.www_authenticate if refusal is not None else "Bearer"


def _is_bearer(header: str | None) -> bool:
    if not header:
        return False
    return header.strip().split(" ", 1)[0].lower() == "bearer"


def _scope_names(value: str | Iterable[str] | None) -> frozenset[str]:
    return frozenset() if value is None else scope_set(value)


class HasScopes(BasePermission):
    """Allow only Tekcify-authenticated requests whose token holds the required scopes.

    The scopes are those of :meth:`with_scopes` plus the view's ``required_scopes``
    attribute (a list, or one space-separated string); plain ``HasScopes`` requires a
    Tekcify token and no scope. Without one it refuses with 401 ``Missing or invalid
    authorization header`` (not DRF's 403); with too few scopes, with 403 ``Insufficient
    scope`` and ``WWW-Authenticate: Bearer error="insufficient_scope", scope="..."``.
    It raises those refusals rather than returning ``False`` so that they carry their
    header; combine it with other permissions by ``&``, not ``|``.

    >>> HasScopes.with_scopes("read:profile", "write:profile").scopes == {
    ...     "read:profile", "write:profile"}
    True
    """

    scopes: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def with_scopes(cls, *scopes: str) -> type[HasScopes]:
        """A ``HasScopes`` subclass that requires ``scopes``, for ``permission_classes``."""
        name = f"{cls.__name__}[{' '.join(sorted(scopes))}]"
        return type(name, (cls,), {"scopes": cls.scopes.union(scopes)})

    def has_permission(self, request: Request, view: APIView) -> bool:
        """True when the token holds every scope; raises the Tekcify refusal otherwise."""
        guard = get_guard()
        django_request = request._request
        user = request.user
        if not isinstance(user, TekcifyUser):
            refusal = AuthenticationError(401, MISSING_HEADER, reason="missing_header")
            guard.refuse(django_request, refusal)
            raise TekcifyAuthenticationFailed(refusal)
        needed = self.scopes | _scope_names(getattr(view, "required_scopes", None))
        if needed:
            try:
                guard.require(django_request, user.payload, needed)
            except AuthenticationError as exc:
                raise TekcifyScopeDenied(exc) from None
        return True
