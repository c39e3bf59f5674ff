"""Oversight (一网办) as the shell sees it: routes, and the catalogue's changes it listens to."""

from __future__ import annotations

import uuid

from catalogue.events import INSTRUMENT_CHANGED
from oversight.controllers import LiveStatusController, SensorController, UsageController
from oversight.sensors import retire_sensors_of_retired_instruments
from yixiang.domains import Domain, JobContext
from yixiang.outbox import Event


async def remove_sensors_of_retired_instruments(ctx: JobContext, event: Event) -> None:
    """大仪报废时同步移除传感器 (seed 004): an instrument marked retired loses its sensor."""
    await retire_sensors_of_retired_instruments(
        ctx.session, [uuid.UUID(i) for i in event.payload.get("instrument_ids", [])]
    )


DOMAIN = Domain(
    name="oversight",
    route_handlers=[SensorController, UsageController, LiveStatusController],
    consumers={INSTRUMENT_CHANGED: [remove_sensors_of_retired_instruments]},
)
