"""Results and ratings as they plug into the shell (collected by booking/plugin.py)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from booking.delivery.controllers import ResultsController
from booking.delivery.services import purge_expired_results
from booking.delivery.storage import create_storage
from booking.ratings.controllers import RatingsController
from booking.ratings.services import recompute_aggregates
from yixiang.domains import Consumer, DemoLoader, JobContext, PeriodicJob
from yixiang.outbox import Event

PURGE_TOPIC = "booking.results_purge_due"


async def start_storage(runtime: Any) -> None:
    runtime.services["result_storage"] = create_storage(runtime.settings)


async def purge_results(ctx: JobContext, event: Event) -> None:
    await purge_expired_results(
        ctx.session, ctx.services["result_storage"], ctx.settings.results_retention_days
    )


async def update_rating_aggregates(ctx: JobContext, event: Event) -> None:
    await recompute_aggregates(
        ctx.session, uuid.UUID(event.payload["instrument_id"]), uuid.UUID(event.payload["unit_id"])
    )


ROUTES: list[Any] = [ResultsController, RatingsController]
CONSUMERS: dict[str, Sequence[Consumer]] = {
    PURGE_TOPIC: [purge_results],
    "booking.rating_changed": [update_rating_aggregates],
}
PERIODIC_JOBS: list[PeriodicJob] = [
    PeriodicJob(name="results-retention", every_seconds=86400, topic=PURGE_TOPIC)
]
DEMO_LOADERS: list[DemoLoader] = []
CLI_COMMANDS: list[Any] = []
ON_STARTUP = [start_storage]
