"""Pure booking rules: is this time range bookable, and what does it cost.

No database, no clock of its own (``now`` is passed in), so each rule can be tested alone.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from booking.bookable import ItemTerms
from booking.calendar_rules import CalendarRules, Interval, booking_window, covers, on_grid, opening_intervals
from booking.errors import (
    InstrumentClosed,
    InvalidRange,
    NoticeTooShort,
    OffSlotGrid,
    OutsideOpeningHours,
    StartInPast,
    TimezoneRequired,
    TooFarAhead,
    TooLong,
    TooShort,
    UsageInvalid,
)
from catalogue.models import PriceUnit
from catalogue.workdays import WorkingDayCalendar


def check_machine_time(
    rules: CalendarRules,
    days: WorkingDayCalendar | None,  # None only for rules that do not follow working days
    closures: Iterable[Interval],
    start: datetime,
    end: datetime,
    now: datetime,
) -> None:
    """Raise the first rule the range breaks (each rule has its own 400 code)."""
    if start.tzinfo is None or end.tzinfo is None:
        raise TimezoneRequired()
    if end <= start:
        raise InvalidRange()
    if start < now:
        raise StartInPast()
    earliest, latest = booking_window(rules, now)
    if start < earliest:
        raise NoticeTooShort(min_notice_minutes=rules.min_notice_minutes)
    if start > latest:
        raise TooFarAhead(max_advance_days=rules.max_advance_days)
    minutes = (end - start) / timedelta(minutes=1)
    if minutes < rules.min_duration_minutes:
        raise TooShort(min_duration_minutes=rules.min_duration_minutes)
    if minutes > rules.max_duration_minutes:
        raise TooLong(max_duration_minutes=rules.max_duration_minutes)
    if not (on_grid(start, rules.slot_minutes) and on_grid(end, rules.slot_minutes)):
        raise OffSlotGrid(slot_minutes=rules.slot_minutes)
    if not covers(opening_intervals(rules, days, start, end), start, end):
        # Open by the weekly hours but not today: a public holiday closes it.
        if covers(opening_intervals(rules, None, start, end), start, end):
            raise InstrumentClosed(reason="holiday")
        raise OutsideOpeningHours()
    check_closures(closures, start, end)


# Actual use is recorded by staff after the fact, and may stray from what was booked: the
# researcher came early to a free instrument, or an acquisition overran. These bound how far.
CLOCK_GRACE = timedelta(minutes=10)  # the recording device's clock against ours
EARLY_START = timedelta(hours=24)  # before the booked start
LATE_END = timedelta(hours=24)  # after the booked end
MAX_USAGE = timedelta(days=7)  # one session, however booked


def check_actual_use(
    booked_start: datetime,
    booked_end: datetime,
    booked_at: datetime,
    start: datetime,
    end: datetime,
    now: datetime,
) -> None:
    """Raise :class:`UsageInvalid` naming the first rule the recorded use breaks."""
    if start.tzinfo is None or end.tzinfo is None:
        raise TimezoneRequired()

    def refuse(rule: str, message: str, **bound: datetime | int) -> UsageInvalid:
        values = {k: v.isoformat() if isinstance(v, datetime) else v for k, v in bound.items()}
        return UsageInvalid(
            message, rule=rule, actual_start=start.isoformat(), actual_end=end.isoformat(), **values
        )

    if end <= start:
        raise refuse("end_before_start", "实际结束时间须晚于实际开始时间")
    if end > now + CLOCK_GRACE:
        raise refuse("in_future", "实际使用须已结束：结束时间不能晚于现在", latest=now + CLOCK_GRACE)
    if start < booked_at - CLOCK_GRACE:
        raise refuse("before_booking", "实际开始时间不能早于预约提交的时间", earliest=booked_at - CLOCK_GRACE)
    if start < booked_start - EARLY_START:
        raise refuse(
            "too_early", "实际开始时间不能早于预约时段开始前 24 小时", earliest=booked_start - EARLY_START
        )
    if end > booked_end + LATE_END:
        raise refuse("too_late", "实际结束时间不能晚于预约时段结束后 24 小时", latest=booked_end + LATE_END)
    if end - start > MAX_USAGE:
        raise refuse("too_long", "一次实际使用不能超过 7 天", max_days=MAX_USAGE.days)


def check_closures(closures: Iterable[Interval], start: datetime, end: datetime) -> None:
    if any(s < end and e > start for s, e in closures):
        raise InstrumentClosed(reason="closure")


def approval_deadline(rules: CalendarRules, created: datetime, start: datetime | None) -> datetime:
    """A request holds its slot until approved or until this moment, whichever is first."""
    deadline = created + timedelta(hours=rules.approval_window_hours)
    return min(deadline, start) if start is not None else deadline


def may_cancel_without_fee(rules: CalendarRules, start: datetime | None, now: datetime) -> bool:
    if start is None:
        return True
    return now <= start - timedelta(hours=rules.cancellation_deadline_hours)


# --- fees ------------------------------------------------------------------------------------------
def internal_rate(
    enterprise_id: uuid.UUID, enterprise_parent_id: uuid.UUID | None, unit_id: uuid.UUID
) -> bool:
    """A firm pays the internal rate at its own unit, or at the unit it is affiliated to."""
    return enterprise_id == unit_id or enterprise_parent_id == unit_id


@dataclass(frozen=True)
class Quote:
    fee_fen: int
    rate: str  # internal | external
    breakdown: dict[str, Any]


def quote_fee(item: ItemTerms, *, internal: bool, minutes: int | None, samples: int | None) -> Quote:
    """The fee from the published standard: hours rounded up to the minute, per sample, or per item."""
    rate = "internal" if internal else "external"
    unit_price = item.internal_price_fen if internal else item.external_price_fen
    if item.price_unit == PriceUnit.per_hour:
        quantity, quantity_unit = minutes or 0, "minute"
        amount = (unit_price * quantity + 59) // 60
    elif item.price_unit == PriceUnit.per_sample:
        quantity, quantity_unit = samples or 0, "sample"
        amount = unit_price * quantity
    else:
        quantity, quantity_unit = 1, "item"
        amount = unit_price
    line = {
        "service_item_id": str(item.id),
        "name": item.name,
        "price_unit": item.price_unit.value,
        "rate": rate,
        "unit_price_fen": unit_price,
        "quantity": quantity,
        "quantity_unit": quantity_unit,
        "amount_fen": amount,
    }
    return Quote(fee_fen=amount, rate=rate, breakdown={"lines": [line]})


def late_cancellation_fee(rules: CalendarRules, quoted_fee_fen: int) -> int:
    return quoted_fee_fen * rules.late_cancellation_fee_percent // 100


# --- sample testing queue --------------------------------------------------------------------------
def expected_completion(
    days: WorkingDayCalendar,
    received_on: date,
    turnaround_working_days: int,
    samples_ahead: int,
    capacity: int,
) -> date:
    """Turnaround in working days, plus a working day per full day's capacity queued ahead."""
    backlog_days = samples_ahead // max(capacity, 1)
    return days.add_working_days(received_on, turnaround_working_days + backlog_days)
