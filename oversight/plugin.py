"""Oversight (一网办) as the shell sees it: routes, and the catalogue's changes it listens to."""

from __future__ import annotations

import uuid

from catalogue.events import INSTRUMENT_CHANGED
from oversight.controllers import LiveStatusController, SensorController, UsageController
from oversight.idle import IDLE_CHECK_DUE, check_idle
from oversight.idle_controllers import IdleController
from oversight.reward_controllers import ROUTES as REWARD_ROUTES
from oversight.sensors import retire_sensors_of_retired_instruments
from yixiang.domains import Domain, JobContext, PeriodicJob
from yixiang.outbox import Event


async def remove_sensors_of_retired_instruments(ctx: JobContext, event: Event) -> None:
    """大仪报废时同步移除传感器 (seed 004): an instrument marked retired loses its sensor."""
    await retire_sensors_of_retired_instruments(
        ctx.session, [uuid.UUID(i) for i in event.payload.get("instrument_ids", [])]
    )


async def find_idle_instruments(ctx: JobContext, event: Event) -> None:
    """The daily idle check (run hourly: each step is stamped and announced once, so a run
    that finds nothing new changes nothing)."""
    await check_idle(ctx.session)


DOMAIN = Domain(
    name="oversight",
    route_handlers=[SensorController, UsageController, LiveStatusController, IdleController, *REWARD_ROUTES],
    consumers={
        INSTRUMENT_CHANGED: [remove_sensors_of_retired_instruments],
        IDLE_CHECK_DUE: [find_idle_instruments],
    },
    periodic_jobs=[PeriodicJob(name="oversight-idle-check", every_seconds=3600, topic=IDLE_CHECK_DUE)],
)
