"""``JwtAuthMiddleware``: the Express middleware of ``@tekcify/auth-backend`` for Django."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import cast

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest
from django.http.response import HttpResponseBase

from .._errors import AuthenticationError
from ._conf import USER_ATTRIBUTE, get_guard, refusal_response

__all__ = ["JwtAuthMiddleware"]

GetResponse = Callable[[HttpRequest], HttpResponseBase | Awaitable[HttpResponseBase]]


class JwtAuthMiddleware:
    """Require a valid Tekcify access token on the paths ``TEKCIFY_AUTH`` protects.

    Add ``"tekcify_auth.django.JwtAuthMiddleware"`` to ``MIDDLEWARE``. Like the Express
    middleware, it guards everything it is mounted on: every path under
    ``PROTECTED_PATHS`` (default ``["/"]``, the whole site) that is not under
    ``EXEMPT_PATHS`` (default none). There a request without a valid token is answered
    with the refusal (401 JSON with ``WWW-Authenticate``) and the view never runs; with
    one, ``request.tekcify_user`` is the :class:`~tekcify_auth.UserPayload`. On other
    paths the middleware verifies nothing and ``request.tekcify_user`` is ``None``;
    views there that need a token use :func:`~tekcify_auth.django.auth_required`.

    It runs natively under WSGI and ASGI (sync and async capable). A bad
    ``TEKCIFY_AUTH`` setting raises ``ImproperlyConfigured`` when Django loads it.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)
        get_guard()  # a bad setting fails at startup, not on the first request

    def __call__(self, request: HttpRequest) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        """Authenticate ``request`` when its path is protected, then call the view."""
        if self.async_mode:
            return self.__acall__(request)
        guard = get_guard()
        user = None
        if guard.guards(request.path_info):
            try:
                user = guard.authenticate(request)
            except AuthenticationError as exc:
                return refusal_response(exc)
        setattr(request, USER_ATTRIBUTE, user)
        return self.get_response(request)

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        """The coroutine twin of :meth:`__call__`, used under ASGI."""
        guard = get_guard()
        user = None
        if guard.guards(request.path_info):
            try:
                user = await guard.aauthenticate(request)
            except AuthenticationError as exc:
                return refusal_response(exc)
        setattr(request, USER_ATTRIBUTE, user)
        return await cast(Awaitable[HttpResponseBase], self.get_response(request))
