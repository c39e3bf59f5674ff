"""Prometheus metrics at ``/metrics``: what the process is doing, for the scraper and the load bench.
The access log (yixiang.logs) reports each request here as it writes its line.

Per route template (never the path, which holds ids): request count by status and a latency
histogram. Per process and admission gate (requests, transfers): requests in flight and waiting,
requests it refused and why. Database connections in use. From the database at scrape time: the
outbox's backlog and the age of its oldest pending event (the worker's lag, whichever process
runs it), and per periodic job its last run's duration and outcome, and how long it is overdue
(no worker runs it).

Each app has its own registry (tests build many apps in one process); a process serves its own
figures, so run one API process per pod and let Prometheus sum them.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from litestar import Request, Response, get
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from yixiang.admission import Gate
from yixiang.db import utcnow
from yixiang.errors import error_body
from yixiang.outbox import EventStatus, OutboxEvent, PeriodicJobRun

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class _GateCollector(Collector):
    def __init__(self, gates: tuple[Gate, ...]) -> None:
        self.gates = gates

    def collect(self) -> Iterator[Any]:
        in_flight = GaugeMetricFamily(
            "yixiang_http_in_flight", "Requests running in this process", labels=["gate"]
        )
        queued = GaugeMetricFamily(
            "yixiang_http_queued", "Requests waiting at an admission gate", labels=["gate"]
        )
        shed = CounterMetricFamily(
            "yixiang_http_shed",
            "Requests refused at once (503) by admission",
            labels=["gate", "priority", "reason"],
        )
        for gate in self.gates:
            in_flight.add_metric([gate.name], gate.in_flight)
            queued.add_metric([gate.name], gate.queued)
            for (priority, reason), count in sorted(gate.shed.items()):
                shed.add_metric([gate.name, priority.name, reason], count)
        yield from (in_flight, queued, shed)


class _PoolCollector(Collector):
    def __init__(self, engine: AsyncEngine) -> None:
        self.pool = engine.sync_engine.pool

    def collect(self) -> Iterator[Any]:
        checked_out = getattr(self.pool, "checkedout", None)
        size = getattr(self.pool, "size", None)
        if callable(checked_out) and callable(size):
            yield GaugeMetricFamily("yixiang_db_pool_in_use", "Database connections in use", checked_out())
            yield GaugeMetricFamily("yixiang_db_pool_size", "Database connections kept open", size())


class Metrics:
    def __init__(self, gates: tuple[Gate, ...], engine: AsyncEngine) -> None:
        self.registry = registry = CollectorRegistry()
        self.requests = Counter(
            "yixiang_http_requests",
            "HTTP requests answered",
            ["method", "route", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "yixiang_http_request_duration_seconds",
            "Time to answer, by route template",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.outbox_pending = Gauge(
            "yixiang_outbox_pending", "Outbox events not yet handled", registry=registry
        )
        self.outbox_lag = Gauge(
            "yixiang_outbox_lag_seconds", "How long the oldest due outbox event has waited", registry=registry
        )
        self.outbox_dead = Gauge(
            "yixiang_outbox_dead", "Outbox events given up on (kept for replay)", registry=registry
        )
        self.job_duration = Gauge(
            "yixiang_job_last_duration_seconds",
            "How long a periodic job's last finished run took",
            ["job"],
            registry=registry,
        )
        self.job_failed = Gauge(
            "yixiang_job_last_run_failed", "1 if a periodic job's last run failed", ["job"], registry=registry
        )
        self.job_finished = Gauge(
            "yixiang_job_last_finished_timestamp_seconds",
            "When a periodic job's last run finished (Unix time)",
            ["job"],
            registry=registry,
        )
        self.job_overdue = Gauge(
            "yixiang_job_overdue_seconds",
            "How long past its time a periodic job is still waiting for a worker",
            ["job"],
            registry=registry,
        )
        self.registry.register(_GateCollector(gates))
        self.registry.register(_PoolCollector(engine))

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    async def read_outbox(self, session: AsyncSession, now: datetime) -> None:
        # The lag is the oldest *due* event's wait: one scheduled for later (a periodic job's
        # next run, a retry's back-off) is not late, however long ago it was written.
        due = OutboxEvent.run_at <= now
        pending = (
            await session.execute(
                select(func.count(), func.min(OutboxEvent.run_at).filter(due)).where(
                    OutboxEvent.status == EventStatus.pending
                )
            )
        ).one()
        failed = await session.scalar(select(func.count()).where(OutboxEvent.status == EventStatus.dead))
        self.outbox_pending.set(pending[0])
        oldest = pending[1]
        self.outbox_lag.set(max(0.0, (now - _aware(oldest, now)).total_seconds()) if oldest else 0.0)
        self.outbox_dead.set(failed or 0)

    async def read_jobs(self, session: AsyncSession, now: datetime) -> None:
        for job in (await session.scalars(select(PeriodicJobRun))).all():
            due = _aware(job.next_run_at, now)
            self.job_overdue.labels(job.name).set(max(0.0, (now - due).total_seconds()))
            if job.last_finished_at is not None and job.last_duration_ms is not None:
                self.job_duration.labels(job.name).set(job.last_duration_ms / 1000)
                self.job_failed.labels(job.name).set(0 if job.last_succeeded else 1)
                self.job_finished.labels(job.name).set(_aware(job.last_finished_at, now).timestamp())


def _aware(moment: datetime, now: datetime) -> datetime:
    return moment.replace(tzinfo=now.tzinfo) if moment.tzinfo is None else moment  # SQLite: naive UTC


@get("/metrics", include_in_schema=False)
async def metrics_page(request: Request[Any, Any, Any], db_session: AsyncSession) -> Response[Any]:
    """The Prometheus text format, for the bearer of ``YIXIANG_METRICS_TOKEN``. Without a token it
    is open on the embedded default and absent in production (the ingress passes every path)."""
    settings = request.app.state.settings
    token: str = settings.metrics_token
    if not token and not settings.is_embedded:
        return Response(error_body("not_found", "资源不存在"), status_code=404)
    if token:
        given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), token.encode()):
            return Response(error_body("unauthenticated", "需要指标访问令牌"), status_code=401)
    metrics: Metrics = request.app.state.metrics
    now = utcnow()
    await metrics.read_outbox(db_session, now)
    await metrics.read_jobs(db_session, now)
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
