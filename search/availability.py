"""The "has free machine time between two dates" filter, computed from the booking calendars.

Free time is what the booking service offers: opening hours (holidays closed where the calendar
follows working days) minus closures and slot-holding bookings, clipped to the booking window;
an instrument qualifies when some free interval is at least its minimum booking duration.
Loads are batched (one query each for calendars, closures and bookings) so filtering hundreds of
candidates stays a handful of queries.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from booking.calendar_rules import Interval, booking_window, clip, free_intervals, rules_from_row
from booking.models import SLOT_HOLDING, Booking, Closure, InstrumentCalendar
from catalogue.workdays import load_working_day_calendar
from yixiang.db import utcnow


async def with_free_time(
    session: AsyncSession, instrument_ids: Sequence[uuid.UUID], start: datetime, end: datetime
) -> set[uuid.UUID]:
    if not instrument_ids:
        return set()
    ids = list(instrument_ids)
    calendars = {
        row.instrument_id: row
        for row in (
            await session.scalars(select(InstrumentCalendar).where(InstrumentCalendar.instrument_id.in_(ids)))
        )
    }
    closures: dict[uuid.UUID, list[Interval]] = defaultdict(list)
    for instrument_id, s, e in (
        await session.execute(
            select(Closure.instrument_id, Closure.start_at, Closure.end_at).where(
                Closure.instrument_id.in_(ids), Closure.start_at < end, Closure.end_at > start
            )
        )
    ).all():
        closures[instrument_id].append((s, e))
    taken: dict[uuid.UUID, list[tuple[datetime, datetime]]] = defaultdict(list)
    for instrument_id, b_start, b_end in (
        await session.execute(
            select(Booking.instrument_id, Booking.start_at, Booking.block_end).where(
                Booking.instrument_id.in_(ids),
                Booking.status.in_(SLOT_HOLDING),
                Booking.start_at.is_not(None),
                Booking.start_at < end + timedelta(days=1),
                Booking.block_end > start,
            )
        )
    ).all():
        if b_start is not None and b_end is not None:
            taken[instrument_id].append((b_start, b_end))
    days = await load_working_day_calendar(session)
    now = utcnow()
    found: set[uuid.UUID] = set()
    for instrument_id in ids:
        rules = rules_from_row(calendars.get(instrument_id))
        earliest, latest = booking_window(rules, now)
        free = free_intervals(rules, days, closures[instrument_id], taken[instrument_id], start, end)
        free = clip(
            free, max(start, earliest), min(end, latest + timedelta(minutes=rules.max_duration_minutes))
        )
        need = timedelta(minutes=rules.min_duration_minutes)
        if any(e - s >= need for s, e in free):
            found.add(instrument_id)
    return found
