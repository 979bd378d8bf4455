"""Pure ASGI middleware: the access log with request ids, the request-body limit, and
the refusal of paths holding a NUL."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from typing import Any, Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["AccessLogMiddleware", "BodyLimitMiddleware", "NulPathMiddleware", "access_logger"]

#: One line per request, as JSON: method, path, status, duration, request id, client.
access_logger = logging.getLogger("tekcify_auth.server.access")

_REQUEST_ID: Final = re.compile(r"[A-Za-z0-9._\-]{1,128}")


class AccessLogMiddleware:
    """Logs one structured line per request and sets ``X-Request-ID``.

    An incoming ``X-Request-ID`` is reused when it is short and plain, so a proxy's id
    follows the request; otherwise a new one is made. Only the path is logged, never
    the query string, headers or body, where tokens, codes and passwords travel.
    """

    def __init__(self, app: ASGIApp, *, clock: Callable[[], float] = time.perf_counter) -> None:
        self.app = app
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = self.clock()
        request_id = _incoming_id(scope) or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if access_logger.isEnabledFor(logging.INFO):
                client = scope.get("client")
                line = {
                    "event": "request",
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round((self.clock() - started) * 1000, 2),
                    "request_id": request_id,
                    "client": client[0] if client else None,
                }
                access_logger.info(json.dumps(line, separators=(",", ":")))


def _incoming_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            text = value.decode("latin-1")
            return text if _REQUEST_ID.fullmatch(text) else None
    return None


class _TooLarge(Exception):
    pass


class BodyLimitMiddleware:
    """Answers 413 for request bodies over the limit, counting the bytes as they arrive.

    ``Content-Length`` is checked first, but the stream is counted as well, so a chunked
    body or a lying header cannot get more than the limit through. Once the limit is
    passed, whatever the application would have answered is dropped for the 413.
    ``limit_for(scope)`` gives a route its own limit (image uploads); default ``limit``.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        limit: int,
        limit_for: Callable[[Scope], int | None] | None = None,
    ) -> None:
        self.app = app
        self.limit = limit
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit
        if self.limit_for is not None:
            limit = self.limit_for(scope) or limit
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _send_413(send, limit)
            return
        received = 0
        exceeded = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise _TooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except _TooLarge:
            pass
        except Exception:
            if not exceeded:
                raise
        if exceeded and not started:
            await _send_413(send, limit)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _send_413(send: Send, limit: int) -> None:
    body: dict[str, Any] = {
        "statusCode": 413,
        "error": "Payload Too Large",
        "message": f"The request body is larger than {limit} bytes",
    }
    await _send_json(send, 413, body, close=True)


async def _send_json(send: Send, status: int, body: dict[str, Any], *, close: bool) -> None:
    raw = json.dumps(body).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(raw)).encode()),
    ]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": raw})


class NulPathMiddleware:
    """Answers 404 for a path holding a NUL (``%00``): no resource is named with one.

    A path parameter with a NUL would reach a query, and PostgreSQL refuses NUL in text
    (psycopg raises before sending it): a 500 there, a plain miss on SQLite. Refusing
    such paths here answers alike on both databases, for every route with an id in its
    path, present and future.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and "\x00" in scope["path"]:
            body = {"statusCode": 404, "error": "Not Found", "message": "Not found"}
            await _send_json(send, 404, body, close=False)
            return
        await self.app(scope, receive, send)
