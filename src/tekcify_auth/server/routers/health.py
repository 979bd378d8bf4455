"""``GET /health``: the process answers and the database does too."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from ..db.engine import DatabaseUnavailable
from ..errors import DATABASE_UNAVAILABLE
from .deps import Ctx

router = APIRouter(tags=["health"])


@router.get("/health")
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
