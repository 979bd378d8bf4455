"""``create_app(settings)``: the Tekcify Auth server as a FastAPI application.

>>> from tekcify_auth.server import create_app
>>> from tekcify_auth.server.settings import Settings
>>> app = create_app(Settings(data_dir="/tmp/tekcify-doc"))  # doctest: +SKIP

Run it with ``tekcify-auth serve`` or any ASGI server (``uvicorn --factory
tekcify_auth.server.app:app_factory``). Nothing happens at import or construction
beyond building objects: the lifespan prepares the database, migrates and loads keys.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from functools import partial
from typing import Any, Final

import anyio.to_thread
from fastapi import APIRouter, Depends, FastAPI
from fastapi.routing import APIRoute
from starlette.types import ASGIApp

from .._version import __version__
from . import metrics, tracing
from .api_docs import install_docs
from .canonical import Canonical
from .context import Clock, ServerContext
from .db.engine import UNAVAILABLE_ERRORS
from .errors import install_error_handlers, install_fallback_handler, install_redis_handler
from .hosts import AllowedHosts
from .logs import capture_stray_output
from .middleware import Front
from .openapi import install_openapi
from .proxies import TrustedProxies
from .routers import (
    account_security,
    auth,
    authorize,
    connected_apps,
    health,
    logout_pages,
    mfa,
    oauth,
    passkey_pages,
    passkeys,
    recovery,
    recovery_pages,
    social,
    well_known,
)
from .routers import admin as admin_routes
from .routers import applications as application_routes
from .routers import images as image_routes
from .routers import user as user_routes
from .routers.pages import account as account_pages
from .routers.pages import account_activity as activity_pages
from .routers.pages import account_security as account_security_pages
from .routers.pages import console
from .routers.pages import developer as developer_pages
from .routers.text import refuse_lone_surrogates
from .services.image_store import upload_limit_for
from .services.images import ImageProcessor
from .services.mail_sender import MailSender
from .services.purge import purge_periodically
from .settings import Settings, load_settings

__all__ = ["WORKER_START_PATIENCE", "ServerApp", "app_factory", "create_app"]

logger = logging.getLogger("tekcify_auth.server")

# FastAPI (0.16x) asks OpenTelemetry for its global providers on every request, a tenth
# of the JWKS route's time in the issue 12 profile, to learn that none is configured.
# Off until the server exports its own metrics and traces (issue 17).
_NO_NATIVE_TELEMETRY: dict[str, Any] = (
    {"telemetry": {"tracing": False, "metrics": False, "logs": False}}
    if "telemetry" in inspect.signature(FastAPI).parameters else {}
)


class ServerApp(FastAPI):
    """FastAPI with the server's :class:`~.middleware.Front` outside its whole stack.

    Starlette builds the stack on the first request: ``front(stack)`` then wraps it, so
    the fast lane's requests never enter FastAPI's error, telemetry and body-size layers,
    and every other request passes the front's checks before them.
    """

    front: Callable[[ASGIApp], ASGIApp] | None = None

    def build_middleware_stack(self) -> ASGIApp:
        stack = super().build_middleware_stack()
        return stack if self.front is None else self.front(stack)


def create_app(
    settings: Settings | None = None, *, clock: Clock | None = None,
    span_exporter: Any = None,
) -> FastAPI:
    """The server application for ``settings`` (read from the environment when ``None``).

    ``clock`` returns the current aware UTC datetime; tests pass their own to move time,
    and an OpenTelemetry ``span_exporter`` to see the traces (``tracing.py``).
    Raises :class:`~tekcify_auth.server.settings.SettingsError` for bad settings.
    """
    if settings is None:
        settings = load_settings()
    metrics.check_available(settings)
    # Before the context makes its database engines, so that they are traced.
    traced = tracing.setup(settings, exporter=span_exporter)
    ctx = ServerContext(settings, clock=clock)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            await _start(ctx)
        except BaseException:  # e.g. a key that does not decrypt: close the pool anyway
            await anyio.to_thread.run_sync(ctx.stop)
            raise
        # A plain task, not a task group: the lifespan may be entered and left by
        # different tasks (test fixtures), which a cancel scope does not allow.
        purging = (
            asyncio.create_task(purge_periodically(ctx, float(settings.purge_interval)))
            if settings.purge_interval else None
        )
        # Mail is delivered off the request path (services/mail_sender.py).
        sender = MailSender(ctx.db, settings, ctx.clock) if settings.mail_poll_interval else None
        sending = (
            asyncio.create_task(sender.run(settings.mail_poll_interval))
            if sender is not None else None
        )
        stop_metrics = metrics.start(ctx) if settings.metrics else None
        try:
            yield
        finally:
            if stop_metrics is not None:
                await stop_metrics()
            if sender is not None and sending is not None:
                # A delivery in progress ends now and stays queued; the loop returns once
                # its thread has (a cancel would leave that thread running on).
                sender.stop()
                await asyncio.wait({sending}, timeout=STOP_PATIENCE)
                sending.cancel()
                with suppress(asyncio.CancelledError):
                    await sending
            if purging is not None:
                purging.cancel()
                with suppress(asyncio.CancelledError):
                    await purging
            await anyio.to_thread.run_sync(ctx.stop)

    app = ServerApp(
        title="Tekcify Auth",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,  # served by install_docs from package files, not a CDN
        redoc_url=None,
        # Every route's JSON body is refused with a 400 in the route's own shape when it
        # holds a lone UTF-16 surrogate, before anything hashes or stores it (issue 10).
        dependencies=[Depends(refuse_lone_surrogates)],
        **_NO_NATIVE_TELEMETRY,
    )
    app.state.ctx = ctx
    # The base URL of the server's own URLs, and where the sign-in pages belong.
    canonical = Canonical(settings)
    app.state.canonical = canonical
    # One per app, shared by the avatar and logo uploads: bounds the decoding threads.
    image_processor = ImageProcessor()
    app.state.image_processor = image_processor
    install_error_handlers(app)
    install_fallback_handler(app)
    # The protocol endpoints first: FastAPI walks the routes in order on every request,
    # and these are the ones resource servers call all day (no two routers share a path).
    add_routes(
        app,
        oauth.router,
        well_known.router,
        health.router,
        auth.router,
        mfa.router,
        recovery.auth_router,
        recovery.user_router,
        authorize.router,
        recovery_pages.router,
        passkey_pages.router,
        social.router,
        social.account_router,
        logout_pages.router,
        connected_apps.router,
        user_routes.router,
        image_routes.router,
        application_routes.router,
        account_security.router,
        account_security.activity_router,
        passkeys.router,
        admin_routes.router,
        account_pages.router,
        activity_pages.router,
        developer_pages.router,
        account_security_pages.router,
        # Last: the consoles' 404 page answers every console path no route above took.
        console.fallback_router,
    )
    if settings.redis_url is not None:
        install_redis_handler(app)
    # /openapi.json documents the 400s (not FastAPI's 422s) and the other errors.
    install_openapi(app)
    install_docs(app)
    # The server's one layer around FastAPI's own (middleware.py): trusted proxies, the
    # access log, the body limit, the Host check (without a public URL the server's URLs
    # come from Host: only its own hosts, the canonical one included, which the pages
    # send browsers to), NUL paths, CORS, and the fast lane of the hot endpoints.
    app.front = partial(
        Front,
        ctx=ctx,
        limit=settings.max_body_bytes,
        limit_for=upload_limit_for(image_processor.limits),
        hosts=(
            AllowedHosts((*settings.allowed_host_list, *canonical.allowed))
            if settings.public_url is None else None
        ),
        proxies=(
            TrustedProxies(settings.trusted_proxy_networks) if settings.trusted_proxies else None
        ),
        handlers=app.exception_handlers,
        # Prometheus metrics (metrics.py): /metrics here unless it has a port of its own.
        record=settings.metrics,
        scrape=(
            metrics.MetricsEndpoint(ctx)
            if settings.metrics and settings.metrics_port is None else None
        ),
        traced=traced,
    )
    return app


#: Seconds the shutdown waits for the mail sender's pass to end (it is interrupted).
STOP_PATIENCE: Final = 10.0

#: Seconds a worker of ``serve --workers N`` waits for its database at start.
WORKER_START_PATIENCE: Final = 60.0


async def _start(ctx: ServerContext) -> None:
    """Start ``ctx``; a worker of ``serve --workers N`` waits for the database a while.

    ``serve`` checked the database and migrated before it started any worker, so a
    worker that cannot reach it meets a passing outage (a restart, a failover): it tries
    again for :data:`WORKER_START_PATIENCE` seconds rather than stop the whole server
    with it. A server of one process fails at once, with the reason.
    """
    patience = WORKER_START_PATIENCE if ctx.settings.workers > 1 else 0.0
    deadline = time.monotonic() + patience
    warned = False
    while True:
        try:
            await anyio.to_thread.run_sync(ctx.start)
            return
        except UNAVAILABLE_ERRORS as exc:
            if time.monotonic() >= deadline:
                raise
            if not warned:
                logger.warning(
                    "the database is unavailable at start (%s); trying again for up to %.0f s",
                    type(exc).__name__, patience,
                )
                warned = True
            await anyio.to_thread.run_sync(ctx.stop)
            await anyio.sleep(0.5)


def app_factory() -> FastAPI:
    """The app with settings from the environment (for ``uvicorn --factory``).

    In a worker of ``tekcify-auth serve --workers N`` (N > 1) it also asks Linux to stop
    the worker when its supervisor dies: a supervisor killed with ``kill -9`` would
    otherwise leave its workers serving on, orphans nobody stops.
    """
    settings = load_settings()
    if settings.workers > 1:
        _stop_with_parent()
    capture_stray_output(settings.log_format)  # each worker process, as serve's own
    return create_app(settings)


def _stop_with_parent() -> None:
    if sys.platform != "linux":
        return
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the supervisor died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)


def add_routes(app: FastAPI, *routers: APIRouter) -> None:
    """Add the routes of ``routers`` (made by ``server_router``) to ``app`` as they are.

    Not ``include_router``: FastAPI rebuilds an included route's handler for every app
    at its first request, 0.27 s for the server's routes and paid by every test that
    starts an app; these routes are built once, when their module is imported. Each
    must carry :func:`refuse_lone_surrogates` itself (the app's dependencies do not
    reach a route added so): one without it is refused here, at start-up.
    """
    for router in routers:
        for route in router.routes:
            if isinstance(route, APIRoute) and not any(
                dependency.dependency is refuse_lone_surrogates for dependency in route.dependencies
            ):
                raise RuntimeError(
                    f"{route.path}: its router does not refuse lone surrogates; make it "
                    "with routers.text.server_router"
                )
            app.router.routes.append(route)
