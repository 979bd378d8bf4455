"""OpenTelemetry traces (the ``[otel]`` extra), on when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set.

Every request the front layer routes (``middleware.py``; the fast lane's included) gets a
server span named ``METHOD /route/{template}``, with ``tekcify.request_id`` (the id of
the access log line and the ``X-Request-ID`` header) and ``http.route``; inside it the
SQLAlchemy, httpx and Redis instrumentations add their client spans. The exporter is
OTLP, configured by the usual ``OTEL_*`` variables (``OTEL_SERVICE_NAME`` defaults to
``tekcify-auth``). Without the extra installed the server starts with one warning.

**Never a secret.** Tokens, codes, passwords and emails travel in bodies, headers and
query strings. Bodies and headers are never recorded (no header capture is configured);
statements are recorded with their placeholders, not their parameters (SQLAlchemy's
default), and Redis commands as ``COMMAND ? ?``. Every span then passes through
:class:`ScrubbingExporter` before it leaves the process: query strings are dropped, a
server span's path becomes its route template, any captured header is dropped, and an
email address or JWT left in any attribute or event is replaced by ``[redacted]``.
``tests/server/test_tracing.py`` runs the account flows and finds no secret in any span.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Final

from .metrics import route_template

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from .settings import Settings

__all__ = ["INSTALL_HINT", "reset", "scrub_attributes", "setup"]

logger = logging.getLogger("tekcify_auth.server")

INSTALL_HINT: Final = 'pip install "tekcify-auth-backend[otel]"'
REDACTED: Final = "[redacted]"
_EMAIL: Final = re.compile(r"[^\s@\"'<>(),;:]+@[^\s@\"'<>(),;:]+\.[A-Za-z]{2,}")
_JWT: Final = re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
#: Attributes holding a whole URL: the query and fragment are cut.
_URLS: Final = frozenset({"http.url", "url.full"})
#: Attributes holding the path of a server request: replaced by the route template.
_PATHS: Final = frozenset({"http.target", "url.path"})


def _redact(text: str) -> str:
    return _JWT.sub(REDACTED, _EMAIL.sub(REDACTED, text))


def _cut_query(url: str) -> str:
    return url.split("?", 1)[0].split("#", 1)[0]


def scrub_attributes(attributes: Any, *, route: str | None = None) -> dict[str, Any]:
    """``attributes`` without anything that could hold a secret (see the module doc)."""
    clean: dict[str, Any] = {}
    for key, value in (attributes or {}).items():
        if key.endswith(".query") or ".header." in key:
            continue
        if key in _PATHS:
            if route is None:
                continue
            value = route
        elif key in _URLS and isinstance(value, str):
            value = _cut_query(value)
            if route is not None:
                scheme, sep, rest = value.partition("://")
                host = rest.split("/", 1)[0]
                value = f"{scheme}{sep}{host}{route}"
        if isinstance(value, str):
            value = _redact(value)
        elif isinstance(value, (tuple, list)):
            value = tuple(_redact(item) if isinstance(item, str) else item for item in value)
        clean[key] = value
    return clean


def _scrubbing_exporter(inner: SpanExporter) -> SpanExporter:
    from opentelemetry.sdk.trace import Event, ReadableSpan
    from opentelemetry.sdk.trace.export import SpanExporter

    class ScrubbingExporter(SpanExporter):
        """Passes scrubbed copies of the spans to ``inner``."""

        def __init__(self) -> None:
            self.inner = inner

        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            return self.inner.export([self._scrub(span) for span in spans])

        @staticmethod
        def _scrub(span: ReadableSpan) -> ReadableSpan:
            attributes = span.attributes or {}
            route = attributes.get("http.route")
            route = route if isinstance(route, str) else None
            events = [
                Event(event.name, scrub_attributes(event.attributes), event.timestamp)
                for event in span.events
            ]
            return ReadableSpan(
                name=_redact(span.name), context=span.context, parent=span.parent,
                resource=span.resource,
                attributes=scrub_attributes(attributes, route=route),
                events=events, links=span.links, kind=span.kind, status=span.status,
                start_time=span.start_time, end_time=span.end_time,
                instrumentation_scope=span.instrumentation_scope,
            )

        def shutdown(self) -> None:
            self.inner.shutdown()

        def force_flush(self, timeout_millis: int = 30000) -> bool:
            return self.inner.force_flush(timeout_millis)

    return ScrubbingExporter()


_lock = threading.Lock()
_provider: TracerProvider | None = None
_exporters: set[int] = set()


def _otlp_exporter(endpoint: str | None) -> SpanExporter:
    """OTLP over gRPC, or over HTTP when ``OTEL_EXPORTER_OTLP_PROTOCOL`` says ``http/...``."""
    protocol = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or os.environ.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"
    )
    if protocol.startswith("http"):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
            OTLPSpanExporter as HttpExporter,
        )

        # Given explicitly, the endpoint is used as is: the traces path is added here.
        url = None if endpoint is None else endpoint.rstrip("/") + "/v1/traces"
        return HttpExporter(endpoint=url)
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(endpoint=endpoint)


def _provider_for(exporter: SpanExporter | None, endpoint: str | None = None) -> TracerProvider:
    """The process's tracer provider (made once; the libraries are instrumented once),
    exporting through :class:`ScrubbingExporter` to OTLP, or to ``exporter`` (tests)."""
    global _provider
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    with _lock:
        if _provider is None:
            service = os.environ.get("OTEL_SERVICE_NAME") or "tekcify-auth"
            _provider = TracerProvider(resource=Resource.create({"service.name": service}))
            if exporter is None:
                _provider.add_span_processor(
                    BatchSpanProcessor(_scrubbing_exporter(_otlp_exporter(endpoint)))
                )
            _instrument_libraries(_provider)
        if exporter is not None and id(exporter) not in _exporters:
            _exporters.add(id(exporter))
            _provider.add_span_processor(SimpleSpanProcessor(_scrubbing_exporter(exporter)))
        return _provider


def _instrument_libraries(provider: TracerProvider) -> None:
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    # Engines made from now on are traced: setup() runs before the server makes its own.
    # Its declared range stops below SQLAlchemy 2.1, which it traces alike (the tracing
    # test sees the statements' spans): the version check is skipped.
    SQLAlchemyInstrumentor().instrument(tracer_provider=provider, skip_dep_check=True)
    HTTPXClientInstrumentor().instrument(tracer_provider=provider)
    RedisInstrumentor().instrument(tracer_provider=provider)


def _request_id_hook(span: Any, scope: dict[str, Any]) -> None:
    if span is not None and span.is_recording():
        request_id = scope.get("state", {}).get("request_id")
        if request_id:
            span.set_attribute("tekcify.request_id", request_id)


def _span_details(scope: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    # Named by method alone until the route is known: the raw path may hold a secret.
    return str(scope.get("method") or "HTTP"), {}


def setup(
    settings: Settings, *, exporter: SpanExporter | None = None
) -> Callable[[ASGIApp], ASGIApp] | None:
    """Tracing for a server with ``settings``: what wraps the front's lane, or ``None``
    when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is unset (or the extra is missing: a warning).
    ``exporter`` replaces OTLP (the tests' in-memory exporter)."""
    if settings.otel_exporter_otlp_endpoint is None and exporter is None:
        return None
    try:
        from opentelemetry import trace
        from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
    except ImportError:
        logger.warning(
            "OTEL_EXPORTER_OTLP_ENDPOINT is set but OpenTelemetry is not installed: no "
            "traces are exported (%s)", INSTALL_HINT,
        )
        return None
    try:
        provider = _provider_for(exporter, settings.otel_exporter_otlp_endpoint)
    except ImportError:
        logger.warning(
            "OTEL_EXPORTER_OTLP_ENDPOINT is set but an OpenTelemetry package is missing: "
            "no traces are exported (%s)", INSTALL_HINT,
        )
        return None

    def traced(lane: ASGIApp) -> ASGIApp:
        async def named(scope: Scope, receive: Receive, send: Send) -> None:
            span = trace.get_current_span()

            async def naming(message: Message) -> None:
                # The route is known once the answer starts; the span ends with its body.
                if message["type"] == "http.response.start" and span.is_recording():
                    template = route_template(scope)
                    span.update_name(f"{scope.get('method', 'HTTP')} {template}")
                    span.set_attribute("http.route", template)
                await send(message)

            await lane(scope, receive, naming)

        middleware: ASGIApp = OpenTelemetryMiddleware(
            named,
            default_span_details=_span_details,
            server_request_hook=_request_id_hook,
            tracer_provider=provider,
            exclude_spans=["receive", "send"],
        )
        return middleware

    return traced


def reset() -> None:
    """Stop the exporters and undo the libraries' instrumentation (tests: the next
    :func:`setup` starts afresh)."""
    global _provider
    with _lock:
        if _provider is None:
            return
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
        from opentelemetry.instrumentation.redis import RedisInstrumentor
        from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

        SQLAlchemyInstrumentor().uninstrument()
        HTTPXClientInstrumentor().uninstrument()
        RedisInstrumentor().uninstrument()
        _provider.shutdown()
        _provider = None
        _exporters.clear()
