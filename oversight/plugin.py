"""Oversight (一网办) as the shell sees it: routes, and the catalogue's changes it listens to."""

from __future__ import annotations

import uuid
from typing import Any

from booking.sensed import SENSED_USE
from catalogue.events import INSTRUMENT_CHANGED
from catalogue.live import LIVE_STATUS
from oversight.controllers import LiveStatusController, SensorController, UsageController
from oversight.deadline_controllers import OverdueController
from oversight.demo import load_oversight_demo
from oversight.idle import IDLE_CHECK_DUE, IDLE_STEP, check_idle
from oversight.idle_controllers import IdleController
from oversight.live import LiveStatusService
from oversight.mqtt import broker_answers
from oversight.notices import notify_idle_step
from oversight.sensed import SensedUseService
from oversight.sensors import retire_sensors_of_retired_instruments
from yixiang.domains import Domain, JobContext, PeriodicJob
from yixiang.outbox import Event
from yixiang.settings import Settings


async def remove_sensors_of_retired_instruments(ctx: JobContext, event: Event) -> None:
    """大仪报废时同步移除传感器 (seed 004): an instrument marked retired loses its sensor."""
    await retire_sensors_of_retired_instruments(
        ctx.session, [uuid.UUID(i) for i in event.payload.get("instrument_ids", [])]
    )


async def find_idle_instruments(ctx: JobContext, event: Event) -> None:
    """The daily idle check (run hourly: each step is stamped and announced once, so a run
    that finds nothing new changes nothing)."""
    await check_idle(ctx.session)


async def register_services(runtime: Any) -> None:
    runtime.services[LIVE_STATUS] = LiveStatusService()
    runtime.services[SENSED_USE] = SensedUseService()


async def probe_broker(settings: Settings) -> list[tuple[str, str]]:
    answers, failure = await broker_answers(settings)
    if answers:
        return [("sensor broker", "answers")]
    return [("sensor broker", f"NOT ANSWERING ({failure}): MQTT readings wait; the HTTP path still works")]


DOMAIN = Domain(
    name="oversight",
    route_handlers=[
        SensorController,
        UsageController,
        LiveStatusController,
        IdleController,
        OverdueController,
    ],
    consumers={
        INSTRUMENT_CHANGED: [remove_sensors_of_retired_instruments],
        IDLE_CHECK_DUE: [find_idle_instruments],
        IDLE_STEP: [notify_idle_step],
    },
    on_startup=[register_services],
    demo_loaders=[load_oversight_demo],
    probes=probe_broker,
    periodic_jobs=[PeriodicJob(name="oversight-idle-check", every_seconds=3600, topic=IDLE_CHECK_DUE)],
)
