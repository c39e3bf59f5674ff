"""Liveness and readiness probes."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Request, Response, get
from sqlalchemy import text

from yixiang.errors import error_body


@get("/health", tags=["ops"], summary="The process is up", include_in_schema=True)
async def health() -> dict[str, str]:
    return {"status": "ok"}


@get("/ready", tags=["ops"], summary="The database and the store are reachable")
async def ready(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    state = request.app.state
    checks: dict[str, str] = {}
    try:
        async with state.session_maker() as session:
            await asyncio.wait_for(session.execute(text("SELECT 1")), timeout=3)
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = type(exc).__name__
    try:
        await asyncio.wait_for(state.store.ping(), timeout=3)
        checks["store"] = "ok"
    except Exception as exc:
        checks["store"] = type(exc).__name__
    if all(v == "ok" for v in checks.values()):
        return Response({"status": "ok", "checks": checks}, status_code=200)
    body = error_body("not_ready", "服务暂时不可用，请稍后再试", {"checks": checks})
    return Response(body, status_code=503)
