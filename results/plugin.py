"""Results (结果反馈) as the shell sees it: uploads, signed downloads, retention."""

from __future__ import annotations

from typing import TYPE_CHECKING

from results.controllers import ResultsController
from results.dependencies import DEPENDENCIES, RESULT_STORAGE
from results.services import purge_expired_results
from results.settings import ResultsSettings
from results.storage import create_storage
from yixiang.domains import Domain, JobContext, PeriodicJob
from yixiang.outbox import Event

if TYPE_CHECKING:
    from yixiang.runtime import Runtime

# The topic keeps its first name ("booking.") because queued events carry it.
PURGE_TOPIC = "booking.results_purge_due"


async def start_storage(runtime: Runtime) -> None:
    runtime.services[RESULT_STORAGE] = create_storage(runtime.settings)


async def purge_results(ctx: JobContext, event: Event) -> None:
    await purge_expired_results(
        ctx.session, ctx.services[RESULT_STORAGE], ResultsSettings.of(ctx.settings).retention_days
    )


DOMAIN = Domain(
    name="results",
    route_handlers=[ResultsController],
    consumers={PURGE_TOPIC: [purge_results]},
    periodic_jobs=[PeriodicJob(name="results-retention", every_seconds=86400, topic=PURGE_TOPIC)],
    on_startup=[start_storage],
    dependencies=DEPENDENCIES,
)
