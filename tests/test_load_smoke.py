"""The load harness runs end to end against a real server: every route answers, nothing fails."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bench.load.driver import RATE_ENV, ROUTES, markdown, run_load
from tests.live_server import live_server
from tests.support import BACKENDS

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("backend_name", BACKENDS)
def test_load_smoke(tmp_path: Path, backend_name: str) -> None:
    token = "load-smoke-metrics"
    with live_server(tmp_path, backend_name, **RATE_ENV, YIXIANG_METRICS_TOKEN=token) as server:
        result = asyncio.run(
            run_load(server.base_url, rate=20, seconds=3, server_pid=server.process.pid, metrics_token=token)
        )
    report = markdown(result, backend_name)
    assert result.total_errors == 0, report
    for route in ROUTES:
        assert result.stats[route].count > 0 or route == "booking.cancel", report
    assert result.stats["search"].count > 20, report
    assert result.rss_peak_mb and result.rss_peak_mb > 0, report
    for route in ROUTES:
        assert f"| {route} |" in report
    # the server's own count of the searches, from its /metrics, is the driver's
    assert result.server is not None, report
    searched = result.server.after.counts["/api/v1/instruments/search"]
    searched -= result.server.before.counts.get("/api/v1/instruments/search", 0)
    assert searched == len(result.stats["search"].latencies), report  # those admission let in
    assert "| `/api/v1/instruments/search` |" in report
