"""Errors that know their wire form, and the handlers that only call them.

Two shapes (``http-api.md``, Conventions):

* :class:`ApiError` — ``{"statusCode": 404, "error": "Not Found", "message": "..."}``,
  with an optional ``details`` list (validation errors) and extra headers.
* :class:`OAuthError` — RFC 6749 §5.2 ``{"error": "invalid_grant",
  "error_description": "...", "message": "..."}`` for the OAuth protocol endpoints.
  Routers of those endpoints use ``route_class=OAuthRoute`` so that even request
  validation errors come out in this shape.

The library's :class:`~tekcify_auth.AuthenticationError` (the Bearer guard's 401/403)
renders itself too. Database errors that mean "not now" (locked, gone) become 503.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Mapping, Sequence
from http import HTTPStatus
from typing import Any, Final

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from tekcify_auth._errors import AuthenticationError

from .db.engine import UNAVAILABLE_ERRORS

__all__ = [
    "OAUTH_ERRORS_EXTENSION",
    "ApiError",
    "OAuthError",
    "OAuthRoute",
    "api_error",
    "install_error_handlers",
    "install_fallback_handler",
    "install_redis_handler",
    "validation_message",
]

logger = logging.getLogger("tekcify_auth.server")

DATABASE_UNAVAILABLE: Final = "The database is unavailable; try again shortly"


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


class ApiError(Exception):
    """An error of the Tekcify API: status, human-readable message, optional details.

    >>> ApiError(404, "Session not found").body()
    {'statusCode': 404, 'error': 'Not Found', 'message': 'Session not found'}
    """

    def __init__(
        self,
        status_code: int,
        message: str,
        *,
        details: Sequence[Mapping[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.details = list(details) if details else None
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        """The JSON body."""
        body: dict[str, Any] = {
            "statusCode": self.status_code,
            "error": _phrase(self.status_code),
            "message": self.message,
        }
        if self.details:
            body["details"] = self.details
        return body

    def response(self) -> JSONResponse:
        """The whole response: status, body, headers."""
        return JSONResponse(self.body(), status_code=self.status_code, headers=self.headers)


def api_error(status_code: int, message: str, **kwargs: Any) -> ApiError:
    """Shorthand used by services: ``raise api_error(409, "...")``."""
    return ApiError(status_code, message, **kwargs)


class OAuthError(Exception):
    """An RFC 6749 §5.2 error: ``error`` code, ``description``, status (400 default).

    ``invalid_client`` answers 401 with ``WWW-Authenticate: Basic`` when the client
    tried HTTP Basic authentication (§5.2); pass ``headers`` for that.

    >>> OAuthError("invalid_grant", "Refresh token expired").body()["message"]
    'Refresh token expired'
    """

    def __init__(
        self,
        error: str,
        description: str,
        *,
        status_code: int = 400,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status_code = status_code
        self.headers = {"Cache-Control": "no-store", "Pragma": "no-cache", **(headers or {})}

    def body(self) -> dict[str, Any]:
        """The JSON body, with ``message`` copying ``error_description``."""
        return {
            "error": self.error,
            "error_description": self.description,
            "message": self.description,
        }

    def response(self) -> JSONResponse:
        """The whole response: status, body, headers."""
        return JSONResponse(self.body(), status_code=self.status_code, headers=self.headers)


def _field(loc: Sequence[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts)


def _details(errors: Sequence[Any]) -> list[dict[str, Any]]:
    details = []
    for error in errors:
        details.append(
            {"field": _field(error.get("loc", ())), "type": error.get("type", ""),
             "message": str(error.get("msg", "")).removeprefix("Value error, ")}
        )
    return details


def validation_message(errors: Sequence[Any]) -> str:
    """One sentence for a list of pydantic errors (the first problem, named)."""
    if not errors:
        return "Invalid request"
    first = errors[0]
    kind = first.get("type", "")
    field = _field(first.get("loc", ()))
    if kind == "json_invalid":
        return "Malformed JSON body"
    if kind == "extra_forbidden":
        return f"Unknown field: {field}"
    if kind == "missing":
        return f"Missing field: {field}" if field else "Missing request body"
    if field in ("", "body") or field.isdigit():
        return "The request body must be a JSON object sent as application/json"
    msg = str(first.get("msg", "is invalid"))
    # pydantic's "Value error, ..." prefix adds nothing for a reader.
    msg = msg.removeprefix("Value error, ")
    return f"Invalid field {field}: {msg}"


def _validation_error(exc: RequestValidationError) -> ApiError:
    errors = list(exc.errors())
    return ApiError(400, validation_message(errors), details=_details(errors))


#: OpenAPI extension marking an operation whose errors are RFC 6749 §5.2 bodies
#: (read, and removed, by ``openapi.tekcify_document``).
OAUTH_ERRORS_EXTENSION: Final = "x-tekcify-oauth-errors"


class OAuthRoute(APIRoute):
    """A route of an OAuth protocol endpoint: validation errors become ``invalid_request``."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        extra = {**(kwargs.pop("openapi_extra", None) or {}), OAUTH_ERRORS_EXTENSION: True}
        super().__init__(path, endpoint, openapi_extra=extra, **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def oauth_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                raise OAuthError("invalid_request", validation_message(exc.errors())) from exc

        return oauth_handler


async def _api_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return exc.response()


async def _oauth_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, OAuthError)
    return exc.response()


async def _authentication_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AuthenticationError)
    return JSONResponse(exc.body(), status_code=exc.status_code, headers=exc.headers())


async def _request_validation(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return _validation_error(exc).response()


async def _http_exception(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    messages = {404: "Not found", 405: "Method not allowed"}
    message = messages.get(exc.status_code) or (
        exc.detail if isinstance(exc.detail, str) else _phrase(exc.status_code)
    )
    return ApiError(exc.status_code, message, headers=exc.headers).response()


async def _database_unavailable(request: Request, exc: Exception) -> Response:
    # The driver's text may hold a host name, never a secret; log it for the operator.
    logger.error(
        "database unavailable: path=%s error=%s", request.url.path,
        type(exc).__name__ + ": " + str(exc).splitlines()[0][:200],
    )
    return ApiError(503, DATABASE_UNAVAILABLE, headers={"Retry-After": "1"}).response()


def install_error_handlers(app: FastAPI) -> None:
    """Register every handler on ``app``."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(OAuthError, _oauth_error)
    app.add_exception_handler(AuthenticationError, _authentication_error)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(StarletteHTTPException, _http_exception)
    for error in UNAVAILABLE_ERRORS:
        app.add_exception_handler(error, _database_unavailable)


async def _unexpected(request: Request, exc: Exception) -> Response:
    logger.exception("unhandled error: path=%s", request.url.path, exc_info=exc)
    return ApiError(500, "Internal server error").response()


def install_fallback_handler(app: FastAPI) -> None:
    """Answer anything unexpected with a 500 in the API shape (the error is logged)."""
    app.add_exception_handler(Exception, _unexpected)


async def _redis_unavailable(request: Request, exc: Exception) -> Response:
    logger.error("redis unavailable: path=%s error=%s", request.url.path, type(exc).__name__)
    return ApiError(
        503, "The rate-limit store is unavailable; try again shortly", headers={"Retry-After": "1"}
    ).response()


def install_redis_handler(app: FastAPI) -> None:
    """Answer 503 when Redis (the shared rate-limit store) cannot be reached."""
    import redis.exceptions

    app.add_exception_handler(redis.exceptions.RedisError, _redis_unavailable)
