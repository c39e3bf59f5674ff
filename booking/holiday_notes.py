"""What a researcher is told when the days asked about fall in a year whose holidays are not yet
known (``catalogue.workdays.holiday_note``): availability, the calendar and a new booking answer
with a note such as 「2028年节假日安排尚未公布，按周末休息计算」, since those days' opening hours
or a sample queue's turnaround may change once the State Council publishes the arrangement.

Only where holidays matter: a calendar that follows working days, or a turnaround counted in
working days. Each function opens its own read-only transaction after the answer's own work.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from booking.calendar_rules import CalendarRules
from booking.free_time import load_calendar
from booking.models import Booking
from catalogue.workdays import holiday_note, load_working_day_calendar
from yixiang.clock import shanghai_date, shanghai_today
from yixiang.db import transaction


async def _note(session: AsyncSession, first: date, last: date) -> str | None:
    async with transaction(session, read_only=True):
        calendar = await load_working_day_calendar(session)
    return holiday_note(calendar, first, last)


async def availability_note(
    session: AsyncSession, rules: CalendarRules, start: datetime, end: datetime
) -> str | None:
    """For the days of an availability answer, [start, end)."""
    if not rules.follows_working_days:
        return None
    return await _note(session, shanghai_date(start), shanghai_date(end - timedelta(microseconds=1)))


async def calendar_note(session: AsyncSession, rules: CalendarRules) -> str | None:
    """For the days the calendar lets a booking reach, from today."""
    if not rules.follows_working_days:
        return None
    today = shanghai_today()
    return await _note(session, today, today + timedelta(days=rules.max_advance_days))


async def booking_note(session: AsyncSession, booking: Booking) -> str | None:
    """For a booking's slot (machine time on a calendar that follows working days), or the days
    up to a sample queue's expected completion."""
    if booking.start_at is not None and booking.end_at is not None:
        async with transaction(session, read_only=True):
            rules = await load_calendar(session, booking.instrument_id)
        if not rules.follows_working_days:
            return None
        return await _note(session, shanghai_date(booking.start_at), shanghai_date(booking.end_at))
    if booking.expected_completion_on is not None:
        return await _note(session, shanghai_today(), booking.expected_completion_on)
    return None
