"""Live status (远程实时监测): running / standby / off from the newest reading, offline when the
sensor has been silent longer than the instrument's gap, no_sensor without an active sensor;
and whether a confirmed machine-time booking covers this moment (现在空闲 is neither running nor
booked). Implements the catalogue's :class:`~catalogue.live.LiveStatusReader` port.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from booking.models import Booking, BookingStatus
from catalogue.live import NO_SENSOR, LiveState, LiveStatus
from catalogue.models import ServiceMode
from oversight.models import InstrumentMonitor, Sensor, SensorStatus
from yixiang.db import utcnow

# A booking covering this moment: the slot is someone's, whatever the sensor says.
HOLDING = (BookingStatus.confirmed, BookingStatus.in_service)


def status_of(monitor: InstrumentMonitor, now: datetime, booked_now: bool = False) -> LiveStatus:
    gap = timedelta(minutes=monitor.offline_after_minutes)
    last = monitor.last_reading_at
    if last is None or now - last > gap:
        return LiveStatus(LiveState.offline, last + gap if last else None, None, last, booked_now)
    state = LiveState(monitor.last_state or "off")
    return LiveStatus(state, monitor.state_since, monitor.last_watts, last, booked_now)


def _with_sensor() -> Any:
    return select(Sensor.instrument_id).where(Sensor.status == SensorStatus.active)


async def booked_now(
    session: AsyncSession, now: datetime, ids: Sequence[uuid.UUID] | None = None
) -> set[uuid.UUID]:
    """The instruments among ``ids`` (default: those with a sensor) in a booked slot now."""
    query = select(Booking.instrument_id).where(
        Booking.mode == ServiceMode.machine_time,
        Booking.status.in_(HOLDING),
        Booking.start_at <= now,
        Booking.end_at > now,
        Booking.instrument_id.in_(_with_sensor() if ids is None else ids),
    )
    return set(await session.scalars(query))


async def _monitored(session: AsyncSession, ids: Sequence[uuid.UUID] | None) -> list[InstrumentMonitor]:
    query = select(InstrumentMonitor).where(InstrumentMonitor.instrument_id.in_(_with_sensor()))
    if ids is not None:
        query = query.where(InstrumentMonitor.instrument_id.in_(ids))
    return list(await session.scalars(query))


async def live_statuses(
    session: AsyncSession, instrument_ids: Sequence[uuid.UUID], now: datetime | None = None
) -> dict[uuid.UUID, LiveStatus]:
    now = now or utcnow()
    ids = list(instrument_ids)
    monitors = {m.instrument_id: m for m in await _monitored(session, ids)}
    booked = await booked_now(session, now, list(monitors)) if monitors else set()
    return {i: status_of(monitors[i], now, i in booked) if i in monitors else NO_SENSOR for i in ids}


class LiveStatusService:
    """What other domains read (registered as ``catalogue.live.LIVE_STATUS``)."""

    async def statuses(
        self, session: AsyncSession, ids: Sequence[uuid.UUID], now: datetime | None = None
    ) -> dict[uuid.UUID, LiveStatus]:
        return await live_statuses(session, ids, now)

    async def monitored(
        self, session: AsyncSession, now: datetime | None = None
    ) -> dict[uuid.UUID, LiveStatus]:
        now = now or utcnow()
        # Every search asks: the bookings holding now only of the monitored instruments, and
        # none at all where nothing is monitored.
        monitors = await _monitored(session, None)
        if not monitors:
            return {}
        booked = await booked_now(session, now)
        return {m.instrument_id: status_of(m, now, m.instrument_id in booked) for m in monitors}
