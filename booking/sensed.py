"""Actual use as a sensor measured it (the port): at completion, the machine time the instrument's
sensor sessions show inside a booking's window is offered as the actual hours; the provider
confirms it, or types other times with a reason. The oversight domain, which reads the sensors,
implements :class:`SensedUseReader` and registers it under :data:`SENSED_USE` (nothing here
imports it); without it, actual use is typed as before.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from yixiang.registry import ServiceKey


class ActualSource:
    """Where a completed machine-time booking's actual times came from (``Booking.actual_source``)."""

    sensor = "sensor"  # the sensor sessions, confirmed by the provider
    manual = "manual"  # typed by the provider (overriding a sensor's record needs a reason)
    booked = "booked"  # neither: the booked slot


@dataclass(frozen=True)
class SensedUse:
    start: datetime  # the first sensor session's start (not before the slot's check-in window)
    end: datetime  # the last one's end
    running_seconds: int  # time the sessions ran inside that span
    sessions: int


class SensedUseReader(Protocol):
    async def sensed_use(
        self, session: AsyncSession, instrument_id: uuid.UUID, start: datetime, end: datetime
    ) -> SensedUse | None:
        """The sensor sessions overlapping [start, end), as one span; None without any."""
        ...


SENSED_USE: ServiceKey[SensedUseReader] = ServiceKey("booking.sensed_use")
