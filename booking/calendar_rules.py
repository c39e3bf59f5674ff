"""Instrument calendars: opening hours in Asia/Shanghai, closures, and free time — the pure rules.

Nothing here touches the database (``booking.free_time`` loads what these functions need and is
the one place that answers "which time is free"). An instrument without a calendar row follows
``DEFAULT_CALENDAR`` so every listed instrument is bookable from the day it is published.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Row

from booking.models import InstrumentCalendar, LateCancellation
from catalogue.workdays import WorkingDayCalendar
from yixiang.clock import SHANGHAI

Interval = tuple[datetime, datetime]
MINUTES_PER_DAY = 24 * 60
WEEKDAY_NAMES = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")


@dataclass(frozen=True)
class CalendarRules:
    # (weekday 0=Monday, start minute, end minute) in Asia/Shanghai; end may be 1440 (midnight)
    weekly_hours: tuple[tuple[int, int, int], ...] = tuple((d, 8 * 60 + 30, 17 * 60 + 30) for d in range(5))
    follows_working_days: bool = True
    slot_minutes: int = 30
    min_duration_minutes: int = 60
    max_duration_minutes: int = 8 * 60
    min_notice_minutes: int = 60
    max_advance_days: int = 60
    cancellation_deadline_hours: int = 24
    late_cancellation: LateCancellation = LateCancellation.refuse
    late_cancellation_fee_percent: int = 0
    buffer_minutes: int = 0
    needs_approval: bool = False
    approval_window_hours: int = 24
    sample_capacity_per_day: int = 20
    is_default: bool = field(default=False, compare=False)


DEFAULT_CALENDAR = CalendarRules(is_default=True)


def rules_from_row(row: InstrumentCalendar | Row[Any] | None) -> CalendarRules:
    """The rules of a calendar row (an ORM object, or a Core row carrying its columns)."""
    if row is None:
        return DEFAULT_CALENDAR
    return CalendarRules(
        weekly_hours=tuple(sorted((int(d), int(s), int(e)) for d, s, e in row.weekly_hours["intervals"])),
        follows_working_days=row.follows_working_days,
        slot_minutes=row.slot_minutes,
        min_duration_minutes=row.min_duration_minutes,
        max_duration_minutes=row.max_duration_minutes,
        min_notice_minutes=row.min_notice_minutes,
        max_advance_days=row.max_advance_days,
        cancellation_deadline_hours=row.cancellation_deadline_hours,
        late_cancellation=row.late_cancellation,
        late_cancellation_fee_percent=row.late_cancellation_fee_percent,
        buffer_minutes=row.buffer_minutes,
        needs_approval=row.needs_approval,
        approval_window_hours=row.approval_window_hours,
        sample_capacity_per_day=row.sample_capacity_per_day,
    )


def day_hours(rules: CalendarRules, days: WorkingDayCalendar | None, day: date) -> list[tuple[int, int]]:
    """Opening minutes of one Shanghai day. With ``follows_working_days`` a public holiday is
    closed and a make-up working day (调休, a weekend worked) opens with Monday's hours."""
    weekday = day.weekday()
    if rules.follows_working_days and days is not None:
        if not days.is_working_day(day):
            return []
        if weekday >= 5:
            weekday = 0
    return [(s, e) for d, s, e in rules.weekly_hours if d == weekday]


def merge_intervals(intervals: Iterable[Interval]) -> list[Interval]:
    """The union of intervals, in order: those touching or overlapping become one."""
    merged: list[Interval] = []
    for start, end in sorted(intervals):
        if end <= start:
            continue
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def opening_intervals(
    rules: CalendarRules, days: WorkingDayCalendar | None, start: datetime, end: datetime
) -> list[Interval]:
    """Opening time within [start, end), merged across midnight, as aware datetimes."""
    first = start.astimezone(SHANGHAI).date() - timedelta(days=1)
    last = end.astimezone(SHANGHAI).date()
    raw: list[Interval] = []
    day = first
    while day <= last:
        midnight = datetime.combine(day, time(0), SHANGHAI)
        for s, e in day_hours(rules, days, day):
            raw.append((midnight + timedelta(minutes=s), midnight + timedelta(minutes=e)))
        day += timedelta(days=1)
    return clip(merge_intervals(raw), start, end)


def clip(intervals: Iterable[Interval], start: datetime, end: datetime) -> list[Interval]:
    return [(max(s, start), min(e, end)) for s, e in intervals if e > start and s < end]


def subtract(intervals: Sequence[Interval], blocks: Iterable[Interval]) -> list[Interval]:
    """``intervals`` minus the union of ``blocks`` (both half-open)."""
    result = list(intervals)
    for b_start, b_end in merge_intervals(blocks):
        next_result: list[Interval] = []
        for s, e in result:
            if b_end <= s or b_start >= e:
                next_result.append((s, e))
                continue
            if s < b_start:
                next_result.append((s, b_start))
            if b_end < e:
                next_result.append((b_end, e))
        result = next_result
    return result


def covers(intervals: Iterable[Interval], start: datetime, end: datetime) -> bool:
    return any(s <= start and end <= e for s, e in intervals)


def on_grid(moment: datetime, slot_minutes: int) -> bool:
    local = moment.astimezone(SHANGHAI)
    minutes = local.hour * 60 + local.minute
    return local.second == 0 and local.microsecond == 0 and minutes % slot_minutes == 0


def next_on_grid(moment: datetime, slot_minutes: int) -> datetime:
    local = moment.astimezone(SHANGHAI)
    midnight = datetime.combine(local.date(), time(0), SHANGHAI)
    elapsed = (local - midnight).total_seconds()
    step = slot_minutes * 60
    steps = -(-elapsed // step)
    return midnight + timedelta(seconds=steps * step)


def booking_window(rules: CalendarRules, now: datetime) -> Interval:
    """When a booking may start: after the notice period, up to the advance limit."""
    return now + timedelta(minutes=rules.min_notice_minutes), now + timedelta(days=rules.max_advance_days)


def bookable_span(rules: CalendarRules, now: datetime, start: datetime, end: datetime) -> Interval | None:
    """The part of [start, end) a booking made now could use: from the notice period on, up to
    a booking of the longest duration starting at the advance limit. None when nothing is left."""
    earliest, latest = booking_window(rules, now)
    lo, hi = max(start, earliest), min(end, latest + timedelta(minutes=rules.max_duration_minutes))
    return (lo, hi) if lo < hi else None


def blocks_of(bookings: Iterable[tuple[datetime, datetime]], buffer_minutes: int) -> list[Interval]:
    """Time a new booking cannot use: each booking's range plus the buffer before it (its
    ``block_end`` already carries the buffer after it)."""
    buffer = timedelta(minutes=buffer_minutes)
    return [(start - buffer, block_end) for start, block_end in bookings]


def free_intervals(
    rules: CalendarRules,
    days: WorkingDayCalendar | None,
    closures: Iterable[Interval],
    taken: Iterable[tuple[datetime, datetime]],
    start: datetime,
    end: datetime,
) -> list[Interval]:
    opening = opening_intervals(rules, days, start, end)
    return subtract(opening, [*closures, *blocks_of(taken, rules.buffer_minutes)])


def held_intervals(
    rules: CalendarRules,
    days: WorkingDayCalendar | None,
    closures: Iterable[Interval],
    taken: Iterable[tuple[datetime, datetime]],
    start: datetime,
    end: datetime,
) -> list[Interval]:
    """Opening time that ``taken`` (bookings, offers, with their buffers) keeps from being free:
    what would be free without them, less what is free with them."""
    closures = list(closures)
    unbooked = free_intervals(rules, days, closures, [], start, end)
    return subtract(unbooked, free_intervals(rules, days, closures, taken, start, end))


def slot_grid(free: Iterable[Interval], slot_minutes: int) -> list[Interval]:
    """Grid-aligned slots of ``slot_minutes`` lying wholly inside the free intervals."""
    step = timedelta(minutes=slot_minutes)
    slots: list[Interval] = []
    for s, e in free:
        cursor = next_on_grid(s, slot_minutes)
        while cursor + step <= e:
            slots.append((cursor, cursor + step))
            cursor += step
    return slots


def alternatives(
    free: Iterable[Interval],
    rules: CalendarRules,
    wanted_start: datetime,
    duration: timedelta,
    limit: int = 3,
) -> list[Interval]:
    """The free ranges of the wanted duration nearest to the wanted start (for a 409 slot_taken)."""
    candidates: list[Interval] = []
    step = timedelta(minutes=rules.slot_minutes)
    for s, e in free:
        cursor = next_on_grid(s, rules.slot_minutes)
        while cursor + duration <= e:
            candidates.append((cursor, cursor + duration))
            cursor += step
    candidates.sort(key=lambda c: (abs((c[0] - wanted_start).total_seconds()), c[0]))
    return sorted(candidates[:limit])
