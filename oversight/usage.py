"""Usage as the bureaus read it: sessions matched to bookings, daily hours, live status; manual
sessions and annotations by provider staff.

A session inside a confirmed machine-time booking's window is that booking's actual use; use
outside every booking is the unit's internal use. Hours are split at Asia/Shanghai midnights.
External service hours (seed 004's 共享率: for other units and firms) are the hours inside bookings
at the external rate; internal hours are the rest of the effective hours.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal
from booking.models import LONGEST_BOOKING_MINUTES, Booking, BookingStatus
from catalogue.access import is_staff_of, managed_instrument
from catalogue.errors import InstrumentNotFound
from catalogue.models import Instrument, ServiceMode
from oversight.errors import InvalidUsage, NotOverseer, SessionNotFound
from oversight.models import (
    Annotation,
    InstrumentMonitor,
    SensorReading,
    SessionSource,
    UsageSession,
)
from oversight.regions import oversees_region
from oversight.session_upkeep import monitor_for_update, recompute_sessions
from oversight.sessions import Point, Thresholds, live_state
from oversight.stale import mark_stale
from yixiang.clock import SHANGHAI
from yixiang.db import transaction, utcnow
from yixiang.locking import lock_row

# Bookings whose window is the instrument's booked use (confirmed, and on through the flow)
USED_STATUSES = (
    BookingStatus.confirmed,
    BookingStatus.in_service,
    BookingStatus.completed,
    BookingStatus.delivered,
    BookingStatus.rated,
)
MAX_RANGE = timedelta(days=366)
CLOCK_SKEW = timedelta(minutes=10)  # as booking's actual-use rule: a recording device's clock


def may_oversee(principal: Principal, instrument: Instrument) -> bool:
    """The instrument's unit, the science bureau of its region, or the platform operator."""
    return (
        is_staff_of(principal, instrument.unit_id)
        or oversees_region(principal, instrument.region_code)
        or principal.is_platform_admin
    )


async def overseen_instrument(
    session: AsyncSession, principal: Principal, instrument_id: uuid.UUID
) -> Instrument:
    instrument = await session.get(Instrument, instrument_id)
    if instrument is None:
        raise InstrumentNotFound()
    if not may_oversee(principal, instrument):
        raise NotOverseer()
    return instrument


# --- thresholds -----------------------------------------------------------------------------------
async def thresholds_for(session: AsyncSession, instrument_id: uuid.UUID) -> InstrumentMonitor:
    monitor = await session.get(InstrumentMonitor, instrument_id)
    return monitor or InstrumentMonitor(
        instrument_id=instrument_id, running_watts=50, min_session_minutes=5, offline_after_minutes=15
    )


async def set_thresholds(
    session: AsyncSession, principal: Principal, instrument_id: uuid.UUID, thresholds: Thresholds
) -> InstrumentMonitor:
    """New thresholds; the instrument's sensor sessions are derived again under them."""
    async with transaction(session):
        await managed_instrument(session, principal, instrument_id)
        monitor = await monitor_for_update(session, instrument_id)
        monitor.running_watts = thresholds.running_watts
        monitor.min_session_minutes = int(thresholds.min_session.total_seconds() // 60)
        monitor.offline_after_minutes = int(thresholds.offline_after.total_seconds() // 60)
        monitor.updated_by = principal.user_id
        await session.flush()
        span = await session.execute(
            select(func.min(SensorReading.read_at), func.max(SensorReading.read_at)).where(
                SensorReading.instrument_id == instrument_id
            )
        )
        low, high = span.one()
        if low is not None:
            await recompute_sessions(session, instrument_id, low, high, thresholds)
            newest = await session.scalar(
                select(SensorReading)
                .where(SensorReading.instrument_id == instrument_id)
                .order_by(
                    SensorReading.read_at.desc(), SensorReading.sensor_id.desc(), SensorReading.seq.desc()
                )
                .limit(1)
            )
            if newest is not None:  # the newest reading seen under the new thresholds
                monitor.last_state = live_state(Point(newest.read_at, newest.state, newest.watts), thresholds)
    return monitor


# --- manual sessions and annotations --------------------------------------------------------------
async def record_manual_session(
    session: AsyncSession,
    principal: Principal,
    instrument_id: uuid.UUID,
    start: datetime,
    end: datetime,
    reason: str,
    now: datetime | None = None,
) -> UsageSession:
    now = now or utcnow()
    if end <= start:
        raise InvalidUsage("结束时间须晚于开始时间", rule="end_before_start")
    if end > now + CLOCK_SKEW:
        raise InvalidUsage("不能记录尚未发生的使用", rule="in_future")
    if end - start > timedelta(days=7):
        raise InvalidUsage("一次使用记录最长 7 天", rule="too_long")
    async with transaction(session):
        await managed_instrument(session, principal, instrument_id)
        usage = UsageSession(
            instrument_id=instrument_id,
            start_at=start,
            end_at=end,
            energy_j=0,
            source=SessionSource.manual,
            counted=True,
            recorded_by=principal.user_id,
            reason=reason,
        )
        session.add(usage)
        await session.flush()
        await mark_stale(session, [(instrument_id, start, end)])
    return usage


async def annotate_session(
    session: AsyncSession,
    principal: Principal,
    session_id: uuid.UUID,
    annotation: Annotation | None,
    note: str,
) -> UsageSession:
    async with transaction(session):
        usage = await lock_row(session, UsageSession, session_id)
        if usage is None:
            raise SessionNotFound()
        instrument = await session.get(Instrument, usage.instrument_id)
        if instrument is None or not is_staff_of(principal, instrument.unit_id):
            raise SessionNotFound()
        usage.annotation, usage.annotation_note, usage.annotated_by = annotation, note, principal.user_id
    return usage


# --- sessions matched to bookings, daily hours -----------------------------------------------------
@dataclass(frozen=True)
class BookedWindow:
    booking_id: uuid.UUID
    start: datetime
    end: datetime
    external: bool


@dataclass(frozen=True)
class MatchedSession:
    session: UsageSession
    booking_id: uuid.UUID | None  # the booking with the largest share of the session
    booked_seconds: int
    external_seconds: int


@dataclass(frozen=True)
class DailyHours:
    day: date
    effective_seconds: int
    external_seconds: int  # inside bookings at the external rate (other units and firms)
    booked_seconds: int  # inside any confirmed booking

    @property
    def internal_seconds(self) -> int:
        return self.effective_seconds - self.external_seconds


def _overlap(a0: datetime, a1: datetime, b0: datetime, b1: datetime) -> int:
    return max(0, int((min(a1, b1) - max(a0, b0)).total_seconds()))


async def booked_windows(
    session: AsyncSession, instrument_id: uuid.UUID, start: datetime, end: datetime
) -> list[BookedWindow]:
    rows = await session.execute(
        select(Booking.id, Booking.start_at, Booking.end_at, Booking.rate).where(
            Booking.instrument_id == instrument_id,
            Booking.mode == ServiceMode.machine_time,
            Booking.status.in_(USED_STATUSES),
            Booking.start_at < end,
            # bounds the scan of ix_bookings_instrument_start to the range, not the years before it
            Booking.start_at > start - timedelta(minutes=LONGEST_BOOKING_MINUTES),
            Booking.end_at > start,
        )
    )
    return [BookedWindow(r.id, r.start_at, r.end_at, r.rate == "external") for r in rows]


async def sessions_between(
    session: AsyncSession, instrument_id: uuid.UUID, start: datetime, end: datetime
) -> list[UsageSession]:
    return list(
        await session.scalars(
            select(UsageSession)
            .where(
                UsageSession.instrument_id == instrument_id,
                UsageSession.counted.is_(True),
                UsageSession.start_at < end,
                UsageSession.end_at > start,
            )
            .order_by(UsageSession.start_at)
        )
    )


def match(sessions: list[UsageSession], windows: list[BookedWindow]) -> list[MatchedSession]:
    matched = []
    for s in sessions:
        shares = [(_overlap(s.start_at, s.end_at, w.start, w.end), w) for w in windows]
        shares = [(seconds, w) for seconds, w in shares if seconds > 0]
        best = max(shares, key=lambda x: x[0], default=None)
        matched.append(
            MatchedSession(
                s,
                best[1].booking_id if best else None,
                sum(seconds for seconds, _ in shares),
                sum(seconds for seconds, w in shares if w.external),
            )
        )
    return matched


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), SHANGHAI)


def daily_hours(
    sessions: list[UsageSession], windows: list[BookedWindow], first: date, last: date
) -> list[DailyHours]:
    """Per Shanghai day from ``first`` to ``last``: a session crossing midnight counts on both days.
    Bookings of one instrument never overlap (booking's rule), so their shares add up."""
    days = []
    day = first
    while day <= last:
        d0, d1 = _midnight(day), _midnight(day + timedelta(days=1))
        effective = booked = external = 0
        for s in sessions:
            a, b = max(s.start_at, d0), min(s.end_at, d1)
            if a >= b:
                continue
            effective += int((b - a).total_seconds())
            for w in windows:
                seconds = _overlap(a, b, w.start, w.end)
                booked += seconds
                external += seconds if w.external else 0
        days.append(DailyHours(day, effective, external, booked))
        day += timedelta(days=1)
    return days


def day_range(first: date, last: date) -> tuple[datetime, datetime]:
    if last < first:
        raise InvalidUsage("结束日期须不早于开始日期", rule="end_before_start")
    if last - first > MAX_RANGE:
        raise InvalidUsage("查询范围最长一年", rule="too_long")
    return _midnight(first), _midnight(last + timedelta(days=1))
