"""Which time on an instrument's calendar is free: the one implementation, for one instrument or
for many at once.

Free time is opening time (the weekly hours, a public holiday closed where the calendar follows
working days) minus closures and slot-holding bookings with their buffer, within the part of the
asked range a booking made now could use (``bookable_span``: notice period, advance limit). The
rules are the pure functions of ``booking.calendar_rules``; this module loads what they need.

Its callers: the availability API (``availability``), search's "free between two dates" filter
(``instruments_with_free_time``, the interface search uses: it does not read booking's tables),
and booking creation, which checks one range with ``load_closures``/``load_taken`` and offers
the nearest free alternatives when the range is taken.

Free time is shown three ways: ``free`` (opening time left, as it is), ``slots`` (the
grid-aligned pieces a booking is made of) and ``ranges`` (the slots merged, :func:`merged_ranges`:
what a person picks from).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property

from sqlalchemy import Result, bindparam, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal
from booking.calendar_rules import (
    DEFAULT_CALENDAR,
    CalendarRules,
    Interval,
    bookable_span,
    booking_window,
    free_intervals,
    held_intervals,
    merge_intervals,
    rules_from_row,
    slot_grid,
)
from booking.errors import InvalidRange, RangeTooWide
from booking.models import (
    Booking,
    Closure,
    InstrumentCalendar,
    Operation,
    WaitlistEntry,
    WaitlistStatus,
    holds_slot,
)
from catalogue.access import visible_instrument
from catalogue.models import InstrumentStatus, ServiceMode
from catalogue.workdays import load_working_day_calendar
from yixiang.db import transaction, utcnow

MAX_AVAILABILITY_DAYS = 62


def merged_ranges(pieces: Iterable[Interval]) -> list[Interval]:
    """Pieces of time (bookable slots) merged where they touch or overlap, in order:
    09:00–09:30, 09:30–10:00 and 11:00–11:30 make 09:00–10:00 and 11:00–11:30."""
    return merge_intervals(pieces)


@dataclass(frozen=True)
class FreeTime:
    """One instrument's free time within the bookable part of an asked range."""

    rules: CalendarRules
    free: list[Interval]
    latest_start: datetime  # the advance limit: no booking starts later

    @cached_property  # the ranges are made of them too
    def slots(self) -> list[Interval]:
        """Bookable slots: grid-aligned, wholly free, starting within the booking window."""
        return [(s, e) for s, e in slot_grid(self.free, self.rules.slot_minutes) if s <= self.latest_start]

    @property
    def ranges(self) -> list[Interval]:
        """The slots merged into ranges, each long enough for the shortest booking: a booking of
        any allowed length starting on the grid inside one fits."""
        need = timedelta(minutes=self.rules.min_duration_minutes)
        return [(s, e) for s, e in merged_ranges(self.slots) if e - s >= need]

    @property
    def fits_a_booking(self) -> bool:
        """Some free interval is long enough for the shortest booking the calendar allows."""
        need = timedelta(minutes=self.rules.min_duration_minutes)
        return any(e - s >= need for s, e in self.free)


# --- one instrument (booking creation's check and alternatives) -------------------------------------
async def load_calendar(session: AsyncSession, instrument_id: uuid.UUID) -> CalendarRules:
    return rules_from_row(await session.get(InstrumentCalendar, instrument_id))


_CLOSURES = select(Closure.start_at, Closure.end_at).where(
    Closure.instrument_id == bindparam("p_instrument"),
    Closure.start_at < bindparam("p_end"),
    Closure.end_at > bindparam("p_start"),
)


async def load_closures(
    session: AsyncSession, instrument_id: uuid.UUID, start: datetime, end: datetime
) -> list[Interval]:
    rows = await session.execute(_CLOSURES, {"p_instrument": instrument_id, "p_start": start, "p_end": end})
    return [(s, e) for s, e in rows.all()]


async def load_taken(
    session: AsyncSession, instrument_id: uuid.UUID, start: datetime, end: datetime, buffer_minutes: int
) -> list[tuple[datetime, datetime]]:
    """(start, block_end) of slot-holding bookings that could touch [start, end)."""
    taken = await _taken_of(session, [instrument_id], start, end, buffer_minutes)
    return taken[instrument_id]


# --- many instruments at once: one query each for calendars, closures and bookings ----------------
async def _calendars_of(session: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, CalendarRules]:
    rows = await session.scalars(select(InstrumentCalendar).where(InstrumentCalendar.instrument_id.in_(ids)))
    found = {row.instrument_id: rules_from_row(row) for row in rows}
    return {i: found.get(i, DEFAULT_CALENDAR) for i in ids}


async def _closures_of(
    session: AsyncSession, ids: Sequence[uuid.UUID], start: datetime, end: datetime
) -> dict[uuid.UUID, list[Interval]]:
    closures: dict[uuid.UUID, list[Interval]] = defaultdict(list)
    rows = await session.execute(
        select(Closure.instrument_id, Closure.start_at, Closure.end_at).where(
            Closure.instrument_id.in_(ids), Closure.start_at < end, Closure.end_at > start
        )
    )
    for instrument_id, s, e in rows.all():
        closures[instrument_id].append((s, e))
    return closures


async def _taken_of(
    session: AsyncSession, ids: Sequence[uuid.UUID], start: datetime, end: datetime, buffer_minutes: int
) -> dict[uuid.UUID, list[tuple[datetime, datetime]]]:
    # A booking starting up to a buffer after ``end`` still blocks the time before it.
    reach = timedelta(minutes=buffer_minutes)
    taken: dict[uuid.UUID, list[tuple[datetime, datetime]]] = defaultdict(list)
    # Time a waiting-list offer holds (booking.waitlist) is not free either, until it runs out.
    rows: Result[uuid.UUID, datetime | None, datetime | None] = await session.execute(
        union_all(
            select(Booking.instrument_id, Booking.start_at, Booking.block_end).where(
                Booking.instrument_id.in_(ids),
                holds_slot(),
                Booking.start_at.is_not(None),
                Booking.start_at < end + reach,
                Booking.block_end > start,
            ),
            select(WaitlistEntry.instrument_id, WaitlistEntry.start_at, WaitlistEntry.block_end).where(
                WaitlistEntry.instrument_id.in_(ids),
                WaitlistEntry.status == WaitlistStatus.offered,
                WaitlistEntry.offer_expires_at > utcnow(),
                WaitlistEntry.start_at < end + reach,
                WaitlistEntry.block_end > start,
            ),
        )
    )
    for instrument_id, s, e in rows.all():
        if s is not None and e is not None:
            taken[instrument_id].append((s, e))
    return taken


async def free_time(
    session: AsyncSession,
    instrument_ids: Sequence[uuid.UUID],
    start: datetime,
    end: datetime,
    now: datetime | None = None,
) -> dict[uuid.UUID, FreeTime]:
    """Each instrument's free time in [start, end), in the caller's transaction; a handful of
    queries however many instruments are asked about."""
    ids = list(dict.fromkeys(instrument_ids))
    if not ids:
        return {}
    now = now or utcnow()
    calendars = await _calendars_of(session, ids)
    spans = {i: span for i in ids if (span := bookable_span(calendars[i], now, start, end)) is not None}
    closures: dict[uuid.UUID, list[Interval]] = {}
    taken: dict[uuid.UUID, list[tuple[datetime, datetime]]] = {}
    days = None
    if spans:
        lo, hi = min(s for s, _ in spans.values()), max(e for _, e in spans.values())
        buffer_minutes = max(calendars[i].buffer_minutes for i in spans)
        days = await load_working_day_calendar(session)
        closures = await _closures_of(session, list(spans), lo, hi)
        taken = await _taken_of(session, list(spans), lo, hi, buffer_minutes)
    result: dict[uuid.UUID, FreeTime] = {}
    for i in ids:
        rules = calendars[i]
        _, latest = booking_window(rules, now)
        span = spans.get(i)
        free = (
            [] if span is None else free_intervals(rules, days, closures.get(i, []), taken.get(i, []), *span)
        )
        result[i] = FreeTime(rules, free, latest)
    return result


async def held_time(
    session: AsyncSession,
    instrument_id: uuid.UUID,
    start: datetime,
    end: datetime,
    now: datetime | None = None,
) -> list[Interval]:
    """Opening time of one instrument in [start, end) that bookings and waiting-list offers hold
    (with their buffers), within the part a booking made now could use: what a person may join
    the waiting list for (``booking.waitlist``). In the caller's transaction."""
    now = now or utcnow()
    rules = await load_calendar(session, instrument_id)
    span = bookable_span(rules, now, start, end)
    if span is None:
        return []
    taken = await load_taken(session, instrument_id, *span, rules.buffer_minutes)
    if not taken:
        return []
    days = await load_working_day_calendar(session)
    closures = await load_closures(session, instrument_id, *span)
    return held_intervals(rules, days, closures, taken, *span)


async def instruments_with_free_time(
    session: AsyncSession, instrument_ids: Sequence[uuid.UUID], start: datetime, end: datetime
) -> set[uuid.UUID]:
    """Search's "free machine time between two dates" filter: the instruments with room for at
    least their shortest booking in [start, end)."""
    found = await free_time(session, instrument_ids, start, end)
    return {i for i, time in found.items() if time.fits_a_booking}


# --- the availability API ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Availability:
    """What a client needs to book one instrument, in one answer: the modes it can be booked in
    now, its rules, and (when it offers machine time) its free time in [start, end)."""

    rules: CalendarRules
    start: datetime
    end: datetime
    modes: list[ServiceMode]
    operations: list[Operation]  # machine time: self-operation, operator-run
    free: list[Interval]
    slots: list[Interval]
    ranges: list[Interval]

    @property
    def offers_machine_time(self) -> bool:
        return ServiceMode.machine_time in self.modes


async def availability(
    session: AsyncSession,
    principal: Principal | None,
    instrument_id: uuid.UUID,
    start: datetime | None,
    end: datetime | None,
    now: datetime | None = None,
) -> Availability:
    """Free time, slots and ranges of one instrument in [start, end) (default: a week); none for
    an instrument without machine time, or out of service (nothing can be booked on it)."""
    now = now or utcnow()
    start = start or now
    try:
        end = end or start + timedelta(days=7)
    except OverflowError as exc:
        raise InvalidRange() from exc
    if end <= start:
        raise InvalidRange()
    if end - start > timedelta(days=MAX_AVAILABILITY_DAYS):
        raise RangeTooWide(max_days=MAX_AVAILABILITY_DAYS)
    async with transaction(session, read_only=True):
        instrument = await visible_instrument(session, principal, instrument_id)
        in_service = instrument.status == InstrumentStatus.in_service
        operations = [
            operation
            for operation, offered in (
                (Operation.self, instrument.self_operation),
                (Operation.operator, instrument.operator_run),
            )
            if offered and in_service
        ]
        modes = [ServiceMode.machine_time] if operations else []
        if in_service and instrument.sample_testing:
            modes.append(ServiceMode.sample_testing)
        if operations:
            found = (await free_time(session, [instrument_id], start, end, now))[instrument_id]
            rules, free, slots, ranges = found.rules, found.free, found.slots, found.ranges
        else:
            rules, free, slots, ranges = await load_calendar(session, instrument_id), [], [], []
    return Availability(rules, start, end, modes, operations, free, slots, ranges)
