"""``/docs``: Swagger UI for the server's OpenAPI document, served from package files.

FastAPI's own ``/docs`` page loads Swagger UI's script and style sheet from a CDN, so it
is blank on a machine without internet (an operator's private network, a test runner).
The assets here come from the ``fastapi-offline`` package, which ships Swagger UI's
distribution files and follows its releases; the server serves them under
``/docs/assets/`` with a day of caching. Nothing on the page reaches another host.
"""

from __future__ import annotations

import os
from importlib.resources import files
from os import PathLike
from typing import Final

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response
from starlette.types import Scope

__all__ = ["ASSETS_PATH", "DOCS_PATH", "install_docs"]

DOCS_PATH: Final = "/docs"
ASSETS_PATH: Final = "/docs/assets"


class _CachedStaticFiles(StaticFiles):
    """Package files that only change with an upgrade: cacheable for a day."""

    def file_response(
        self, full_path: PathLike[str] | str, stat_result: os.stat_result, scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers.setdefault("Cache-Control", "public, max-age=86400")
        return response


def install_docs(app: FastAPI) -> None:
    """Serve Swagger UI at ``/docs`` (the app must be made with ``docs_url=None``)."""
    assets = files("fastapi_offline") / "static"
    app.mount(ASSETS_PATH, _CachedStaticFiles(directory=str(assets)), name="docs-assets")

    @app.get(DOCS_PATH, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - API documentation",
            swagger_js_url=f"{root}{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_PATH}/favicon.png",
        )
