"""``GET /health``: the process answers and the database does too."""

from __future__ import annotations

from typing import Any, Final

from fastapi.responses import JSONResponse

from ..db.engine import DatabaseUnavailable
from ..errors import DATABASE_UNAVAILABLE
from .deps import Ctx
from .text import server_router

router = server_router(tags=["health"])

_STATUS: Final = {"type": "string"}
_ANSWERS: Final[dict[int | str, dict[str, Any]]] = {
    200: {
        "description": "The server and its database answer",
        "content": {"application/json": {"schema": {
            "type": "object", "required": ["status", "database"],
            "properties": {"status": _STATUS, "database": _STATUS},
        }}},
    },
    503: {
        "description": "The database does not answer",
        "headers": {"Retry-After": {"required": True, "schema": {"type": "string"}}},
        "content": {"application/json": {"schema": {
            "type": "object", "required": ["status", "database", "message"],
            "properties": {"status": _STATUS, "database": _STATUS, "message": _STATUS},
        }}},
    },
}


@router.get("/health", responses=_ANSWERS)
def health(ctx: Ctx) -> JSONResponse:
    """``{"status": "ok", "database": "ok"}``, or 503 when the database does not answer."""
    try:
        ctx.db.ping()
    except DatabaseUnavailable:
        return JSONResponse(
            {"status": "error", "database": "unavailable", "message": DATABASE_UNAVAILABLE},
            status_code=503,
            headers={"Retry-After": "1"},
        )
    return JSONResponse({"status": "ok", "database": "ok"})
