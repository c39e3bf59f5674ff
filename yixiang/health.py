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


@get("/ready", tags=["ops"], summary="Ready for traffic: the database answers (the store is reported)")
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
    # Without Redis the API still serves (rate limits count per process, caches are skipped),
    # so a cache outage must not take every replica out of the load balancer: only the
    # database decides readiness; the store's state is reported for the operator.
    if checks["database"] == "ok":
        status = "ok" if checks["store"] == "ok" else "degraded"
        return Response({"status": status, "checks": checks}, status_code=200)
    body = error_body("not_ready", "服务暂时不可用，请稍后再试", {"checks": checks})
    return Response(body, status_code=503)
