"""Live status (远程实时监测): running / standby / off from the newest reading, offline when the
sensor has been silent longer than the instrument's gap, no_sensor without an active sensor;
and whether a confirmed machine-time booking covers this moment (现在空闲 is neither running nor
booked). Implements the catalogue's :class:`~catalogue.live.LiveStatusReader` port.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import bindparam, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from booking.models import Booking, BookingStatus
from catalogue.live import NO_SENSOR, LiveState, LiveStatus
from catalogue.models import ServiceMode
from oversight.models import InstrumentMonitor, Sensor, SensorStatus
from yixiang.db import utcnow
from yixiang.driver_statements import DriverStatement

# A booking covering this moment: the slot is someone's, whatever the sensor says.
HOLDING = (BookingStatus.confirmed, BookingStatus.in_service)


class MonitorState(Protocol):
    """What a status is read from: an :class:`InstrumentMonitor`, or a plain row of its columns."""

    offline_after_minutes: int
    last_reading_at: datetime | None
    last_state: str | None
    last_watts: int | None
    state_since: datetime | None


def status_of(monitor: MonitorState, now: datetime, booked_now: bool = False) -> LiveStatus:
    gap = timedelta(minutes=monitor.offline_after_minutes)
    last = monitor.last_reading_at
    if last is None or now - last > gap:
        return LiveStatus(LiveState.offline, last + gap if last else None, None, last, booked_now)
    state = LiveState(monitor.last_state or "off")
    return LiveStatus(state, monitor.state_since, monitor.last_watts, last, booked_now)


def _with_sensor() -> Any:
    return select(Sensor.instrument_id).where(Sensor.status == SensorStatus.active)


# a confirmed machine-time booking covers the moment bound as "now"
_HOLDING_NOW = (
    Booking.mode == ServiceMode.machine_time,
    Booking.status.in_(HOLDING),
    Booking.start_at <= bindparam("now"),
    Booking.end_at > bindparam("now"),
)


IM = InstrumentMonitor
# Every search reads this: plain rows in one statement (loading ORM objects, then the bookings
# in a second round trip, was 6% of a search's CPU in the load bench's profile), on the driver
# on PostgreSQL. Read for some instruments only, it is the same statement through SQLAlchemy (its
# ids an IN list, which a DriverStatement does not take).
_MONITORED = select(
    IM.instrument_id,
    IM.offline_after_minutes,
    IM.last_reading_at,
    IM.last_state,
    IM.last_watts,
    IM.state_since,
    exists().where(*_HOLDING_NOW, Booking.instrument_id == IM.instrument_id).label("booked_now"),
).where(IM.instrument_id.in_(_with_sensor()))
_ALL_MONITORED = DriverStatement(_MONITORED)


async def _monitored(
    session: AsyncSession, now: datetime, ids: Sequence[uuid.UUID] | None = None
) -> dict[uuid.UUID, LiveStatus]:
    """The statuses of the instruments with a sensor (only those among ``ids`` when given)."""
    connection = await session.connection()
    if ids is None:
        rows = await _ALL_MONITORED.all(connection, {"now": now})
    else:
        rows = (await connection.execute(_MONITORED.where(IM.instrument_id.in_(ids)), {"now": now})).all()
    return {row.instrument_id: status_of(row, now, row.booked_now) for row in rows}


async def live_statuses(
    session: AsyncSession, instrument_ids: Sequence[uuid.UUID], now: datetime | None = None
) -> dict[uuid.UUID, LiveStatus]:
    ids = list(instrument_ids)
    found = await _monitored(session, now or utcnow(), ids)
    return {i: found.get(i, NO_SENSOR) for i in ids}


class LiveStatusService:
    """What other domains read (registered as ``catalogue.live.LIVE_STATUS``).

    Every search reads every monitored instrument's status (its filter and facet count over all
    of them): read once per ``search_seconds`` in a process and shared by the searches in between,
    its cost does not grow with the searches or fall on each of them. An instrument's own page
    (``statuses``) is read at each request."""

    def __init__(self, search_seconds: float = 0.0) -> None:
        self.search_seconds = search_seconds
        self._read: tuple[float, dict[uuid.UUID, LiveStatus]] | None = None  # (monotonic, statuses)

    async def statuses(
        self, session: AsyncSession, ids: Sequence[uuid.UUID], now: datetime | None = None
    ) -> dict[uuid.UUID, LiveStatus]:
        return await live_statuses(session, ids, now)

    async def monitored(
        self, session: AsyncSession, now: datetime | None = None
    ) -> dict[uuid.UUID, LiveStatus]:
        if now is not None or self.search_seconds <= 0:
            return await _monitored(session, now or utcnow())
        read = self._read
        if read is None or time.monotonic() - read[0] >= self.search_seconds:
            taken = time.monotonic()
            read = self._read = (taken, await _monitored(session, utcnow()))
        return read[1]
