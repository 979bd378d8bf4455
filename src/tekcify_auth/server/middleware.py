"""The server's one pure ASGI layer, :class:`Front`, outside FastAPI's own stack.

Every HTTP request passes through it once, and it does, in this order:

1. **Trusted proxies** (``TEKCIFY_TRUSTED_PROXIES``, ``proxies.py``): the client behind
   them becomes the scope's ``client`` (and ``scheme``), before anything reads them.
2. **Access log and request id**: one JSON line per request (method, path, status,
   duration, request id, client), never the query string, headers or body, where
   tokens, codes and passwords travel; ``X-Request-ID`` on every answer, reusing the
   one a trusted proxy sent when it is short and plain (letters, digits, ``._-``, up to
   128), else a new one. A client's own is never believed: it could forge another
   request's id, or write into the logs. The id is in ``logs.request_id`` meanwhile.
3. **Body limit**: 413 for a body over ``TEKCIFY_MAX_BODY_BYTES`` (uploads have their
   own), by ``Content-Length`` and by counting the stream, so a chunked body or a lying
   header cannot get more through; whatever the app would have answered is dropped.
4. **Host check** (without ``TEKCIFY_PUBLIC_URL``, ``hosts.py``): 400 for a ``Host`` the
   server was not started for.
5. **NUL in the path**: 404 (no resource is named with one; PostgreSQL refuses NUL).
6. **CORS** for the OAuth endpoints browsers call (``cors.py``): preflights answered
   here, ``Access-Control-Allow-Origin`` added to the answers that may be read.
7. **The fast lane** (``fastlane.py``): introspection, the token endpoint, UserInfo,
   JWKS and discovery, served without FastAPI's routing and dependency solving.

Everything else goes to FastAPI's stack (its error middleware, exception handlers,
router). These duties were six middleware classes, each wrapping the next and each
scanning the headers and wrapping ``send`` again; together with FastAPI's outer layers
they cost more than the JWKS route itself (issue 12 profile). Here the headers are
read once and ``send`` is wrapped once.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import anyio.to_thread
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import logs, metrics
from .context import ServerContext
from .cors import CORS_PATHS, any_application_allows, origin_headers, preflight_headers
from .fastlane import FastLane
from .hosts import AllowedHosts, refused_host
from .proxies import TrustedProxies, behind_proxies

__all__ = ["Front", "access_logger"]

#: One line per request, as JSON: method, path, status, duration, request id, client.
access_logger = logging.getLogger("tekcify_auth.server.access")

_REQUEST_ID: Final = re.compile(r"[A-Za-z0-9._\-]{1,128}")


@dataclass
class _Headers:
    """The request headers :class:`Front` reads, found in one pass."""

    host: str | None = None
    content_length: int | None = None
    length_seen: bool = False
    request_id: str | None = None
    origin: str | None = None
    preflight: bool = False
    forwarded_for: list[str] = field(default_factory=list)
    forwarded_proto: list[str] = field(default_factory=list)

    @classmethod
    def read(cls, scope: Scope) -> _Headers:
        found = cls()
        for name, value in scope.get("headers", ()):
            if name == b"host":
                if found.host is None:
                    found.host = value.decode("latin-1")
            elif name == b"content-length" and not found.length_seen:
                found.length_seen = True
                try:
                    found.content_length = int(value)
                except ValueError:
                    found.content_length = None
            elif name == b"x-request-id":
                text = value.decode("latin-1")
                found.request_id = text if _REQUEST_ID.fullmatch(text) else None
            elif name == b"origin":
                found.origin = value.decode("latin-1")
            elif name == b"access-control-request-method":
                found.preflight = True
            elif name == b"x-forwarded-for":
                found.forwarded_for.append(value.decode("latin-1"))
            elif name == b"x-forwarded-proto":
                found.forwarded_proto.append(value.decode("latin-1"))
        return found


class _TooLarge(Exception):
    pass


class Front:
    """The outermost layer of the server (see the module docstring).

    ``app`` is FastAPI's own stack. ``hosts`` is ``None`` when ``TEKCIFY_PUBLIC_URL``
    is set, ``proxies`` when no proxy is trusted. ``limit_for(scope)`` gives a route its
    own body limit (uploads), ``None`` for the default ``limit``. ``handlers`` are the
    app's exception handlers, for the fast lane's errors.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        ctx: ServerContext,
        limit: int,
        limit_for: Callable[[Scope], int | None] | None = None,
        hosts: AllowedHosts | None = None,
        proxies: TrustedProxies | None = None,
        handlers: Mapping[Any, Any] | None = None,
        clock: Callable[[], float] = time.perf_counter,
        record: bool = False,
        scrape: ASGIApp | None = None,
        traced: Callable[[ASGIApp], ASGIApp] | None = None,
    ) -> None:
        self.app = app
        self.ctx = ctx
        self.limit = limit
        self.limit_for = limit_for
        self.hosts = hosts
        self.proxies = proxies
        self.clock = clock
        lane: ASGIApp = FastLane(app, ctx=ctx, handlers=handlers or {})
        #: The fast lane and the app behind it, in a span when tracing is on (tracing.py).
        self.lane = lane if traced is None else traced(lane)
        #: Whether requests are counted (TEKCIFY_METRICS, metrics.py), and /metrics here.
        self.record = record
        self.scrape = scrape

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = _Headers.read(scope)
        request_id: str | None = None
        if self.proxies is not None and scope.get("client"):
            if headers.request_id is not None and self.proxies.trusts_peer(scope["client"][0]):
                request_id = headers.request_id
            scope = behind_proxies(
                self.proxies, scope, headers.forwarded_for, headers.forwarded_proto
            )
        started = self.clock()
        request_id = request_id or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        answer = _Answer(send, request_id.encode())
        current = logs.request_id.set(request_id)
        try:
            await self._serve(scope, receive, answer, headers)
        finally:
            recorder = metrics._active if self.record else None
            logged = access_logger.isEnabledFor(logging.INFO)
            # One reading of the clock for the metrics and the access log.
            elapsed = self.clock() - started if recorder is not None or logged else 0.0
            if recorder is not None:
                recorder.request(scope, answer.status, elapsed)
            if logged:
                client = scope.get("client")
                line = {
                    "event": "request",
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": answer.status,
                    "duration_ms": round(elapsed * 1000, 2),
                    "request_id": request_id,
                    "client": client[0] if client else None,
                }
                access_logger.info(
                    json.dumps(line, separators=(",", ":")),
                    extra={
                        "fields": line,
                        "summary": f"{line['method']} {line['path']} {line['status']}",
                    },
                )
            logs.request_id.reset(current)

    async def _serve(
        self, scope: Scope, receive: Receive, answer: _Answer, headers: _Headers
    ) -> None:
        limit = self.limit
        if self.limit_for is not None:
            limit = self.limit_for(scope) or limit
        if headers.content_length is not None and headers.content_length > limit:
            await _send_413(answer.send, limit)
            return
        if self.hosts is not None and not self.hosts.allows(
            headers.host, scope.get("server"), scope.get("scheme", "http")
        ):
            await refused_host(headers.host)(scope, receive, answer.send)
            return
        path: str = scope["path"]
        if "\x00" in path:
            body = {"statusCode": 404, "error": "Not Found", "message": "Not found"}
            await _send_json(answer.send, 404, body, close=False)
            return
        if path == "/metrics" and self.scrape is not None:
            scope["tekcify.route"] = path
            await self.scrape(scope, receive, answer.send)
            return
        if path in CORS_PATHS:
            if scope["method"] == "OPTIONS" and headers.origin is not None and headers.preflight:
                allowed = await anyio.to_thread.run_sync(
                    any_application_allows, self.ctx, headers.origin
                )
                await answer.send({
                    "type": "http.response.start", "status": 204,
                    "headers": preflight_headers(path, headers.origin, allowed),
                })
                await answer.send({"type": "http.response.body", "body": b""})
                return
            answer.cors = await origin_headers(scope, self.ctx, path, headers.origin)
        counted = _Counted(receive, limit, answer)
        try:
            await self.lane(scope, counted.receive, answer.guarded)
        except _TooLarge:
            pass
        except Exception:
            if not answer.drop:
                raise
        if answer.drop and not answer.started:
            await _send_413(answer.send, limit)


class _Counted:
    """``receive`` counting the body's bytes; past ``limit`` it raises :class:`_TooLarge`
    and from then on ``answer`` drops whatever the app sends (its :attr:`_Answer.drop`)."""

    def __init__(self, receive: Receive, limit: int, answer: _Answer) -> None:
        self._receive = receive
        self._limit = limit
        self._answer = answer
        self._received = 0

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request":
            self._received += len(message.get("body", b""))
            if self._received > self._limit:
                self._answer.drop = True
                raise _TooLarge
        return message


class _Answer:
    """The one ``send`` wrapper: records the status, adds ``X-Request-ID`` and, on a CORS
    path, the headers :attr:`cors` gives when the answer starts; once the body limit is
    passed, :meth:`guarded` drops what the app sends (:attr:`drop`)."""

    def __init__(self, send: Send, request_id: bytes) -> None:
        self._send = send
        self._request_id = request_id
        self.status = 500
        self.started = False
        self.drop = False
        self.cors: Callable[[], Sequence[tuple[bytes, bytes]]] | None = None

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.started = True
            headers = list(message.get("headers", ()))
            if self.cors is not None:
                headers = _merge_vary(headers, self.cors())
            headers.append((b"x-request-id", self._request_id))
            message = {**message, "headers": headers}
        await self._send(message)

    async def guarded(self, message: Message) -> None:
        if self.drop:
            return
        await self.send(message)


def _merge_vary(
    headers: list[tuple[bytes, bytes]], extra: Sequence[tuple[bytes, bytes]]
) -> list[tuple[bytes, bytes]]:
    for key, value in extra:
        if key == b"vary":
            for index, (name, existing) in enumerate(headers):
                if name.lower() == b"vary":
                    headers[index] = (name, existing + b", " + value)
                    break
            else:
                headers.append((key, value))
        else:
            headers.append((key, value))
    return headers


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
