"""``auth_required``: protect one Django view, sync or async, with optional scopes."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any, TypeVar, cast, overload

from asgiref.sync import iscoroutinefunction
from django.http import HttpRequest

from .._errors import AuthenticationError
from .._models import UserPayload
from ._conf import USER_ATTRIBUTE, get_guard, refusal_response, scope_set

__all__ = ["auth_required"]

V = TypeVar("V", bound=Callable[..., Any])


@overload
def auth_required(view: V, /) -> V: ...


@overload
def auth_required(view: None = None, /, *, scopes: Iterable[str] = ()) -> Callable[[V], V]: ...


def auth_required(view: V | None = None, /, *, scopes: Iterable[str] = ()) -> V | Callable[[V], V]:
    """Require a valid Tekcify token (and ``scopes``) on a function view.

    ``@auth_required`` or ``@auth_required(scopes=["read:profile"])`` (a list, or one
    space-separated string); works on sync and
    ``async def`` views, and on class-based views through
    ``method_decorator(auth_required, name="dispatch")``. A request the middleware
    already authenticated is not verified again, only its scopes are checked. A refusal
    is answered as the middleware does: 401, or 403 ``insufficient_scope`` when scopes
    are missing, with a JSON body and ``WWW-Authenticate``. The user is
    ``request.tekcify_user``. For example::

        @auth_required(scopes=["read:orders"])
        def orders(request):
            return JsonResponse({"userId": request.tekcify_user.user_id})
    """
    needed = scope_set(scopes)

    def decorate(fn: V) -> V:
        if iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_view(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
                guard = get_guard()
                user: UserPayload | None = getattr(request, USER_ATTRIBUTE, None)
                try:
                    if user is None:
                        user = await guard.aauthenticate(request, needed)
                    elif needed:
                        guard.require(request, user, needed)
                except AuthenticationError as exc:
                    return refusal_response(exc)
                setattr(request, USER_ATTRIBUTE, user)
                return await fn(request, *args, **kwargs)

            return cast(V, async_view)

        @functools.wraps(fn)
        def sync_view(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            guard = get_guard()
            user: UserPayload | None = getattr(request, USER_ATTRIBUTE, None)
            try:
                if user is None:
                    user = guard.authenticate(request, needed)
                elif needed:
                    guard.require(request, user, needed)
            except AuthenticationError as exc:
                return refusal_response(exc)
            setattr(request, USER_ATTRIBUTE, user)
            return fn(request, *args, **kwargs)

        return cast(V, sync_view)

    return decorate if view is None else decorate(view)
