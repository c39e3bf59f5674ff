"""Results (结果反馈) as the shell sees it: uploads, signed downloads, retention."""

from __future__ import annotations

from typing import Any

from results.controllers import ResultsController
from results.services import purge_expired_results
from results.settings import ResultsSettings
from results.storage import create_storage
from yixiang.domains import Domain, JobContext, PeriodicJob
from yixiang.outbox import Event

# The topic keeps its first name ("booking.") because queued events carry it.
PURGE_TOPIC = "booking.results_purge_due"


async def start_storage(runtime: Any) -> None:
    runtime.services["result_storage"] = create_storage(runtime.settings)


async def purge_results(ctx: JobContext, event: Event) -> None:
    await purge_expired_results(
        ctx.session, ctx.services["result_storage"], ResultsSettings.of(ctx.settings).retention_days
    )


DOMAIN = Domain(
    name="results",
    route_handlers=[ResultsController],
    consumers={PURGE_TOPIC: [purge_results]},
    periodic_jobs=[PeriodicJob(name="results-retention", every_seconds=86400, topic=PURGE_TOPIC)],
    on_startup=[start_storage],
)
