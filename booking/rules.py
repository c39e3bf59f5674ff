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
    CheckInTooEarly,
    CheckInTooLate,
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
from booking.models import LateCancellation
from catalogue.models import PriceUnit
from catalogue.workdays import WorkingDayCalendar
from yixiang.clock import SHANGHAI


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


def _local(moment: datetime) -> str:
    """A moment as a person reads it in a message: Asia/Shanghai, to the minute."""
    return f"{moment.astimezone(SHANGHAI):%Y-%m-%d %H:%M}"


# Check-in records the user's arrival for machine time: from a little before the booked slot
# (someone early to the lab) until the slot's end. After the end nobody arrives: the provider
# marks a no-show instead. Sample testing has no slot: samples are received whenever they come.
CHECK_IN_EARLY = timedelta(minutes=30)


def check_arrival(booked_start: datetime, booked_end: datetime, now: datetime) -> None:
    """Raise :class:`CheckInTooEarly` or :class:`CheckInTooLate` when ``now`` is not a moment
    the user can arrive for the booked slot."""
    earliest = booked_start - CHECK_IN_EARLY
    if now < earliest:
        raise CheckInTooEarly(
            f"签到过早：最早可在预约开始前 30 分钟签到（{_local(earliest)} 起）",
            earliest=earliest,
            start=booked_start,
        )
    if now > booked_end:
        raise CheckInTooLate(
            f"签到过晚：预约时段已于 {_local(booked_end)} 结束；用户未到场请标记未到场",
            latest=booked_end,
            end=booked_end,
        )


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
    checked_in_at: datetime | None = None,
) -> None:
    """Raise :class:`UsageInvalid` naming the first rule the recorded use breaks.

    Use may have begun before the check-in (staff pressed it late), but not ended before it.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise TimezoneRequired()

    def refuse(rule: str, message: str, **bound: datetime | int) -> UsageInvalid:
        return UsageInvalid(message, rule=rule, actual_start=start, actual_end=end, **bound)

    if end <= start:
        raise refuse("end_before_start", "实际结束时间须晚于实际开始时间")
    if end > now + CLOCK_GRACE:
        raise refuse("in_future", "实际使用须已结束：结束时间不能晚于现在", latest=now + CLOCK_GRACE)
    if start < booked_at - CLOCK_GRACE:
        raise refuse("before_booking", "实际开始时间不能早于预约提交的时间", earliest=booked_at - CLOCK_GRACE)
    if checked_in_at is not None and end < checked_in_at - CLOCK_GRACE:
        raise refuse(
            "before_check_in",
            f"实际结束时间不能早于签到时间（{_local(checked_in_at)}）",
            earliest=checked_in_at - CLOCK_GRACE,
        )
    if start < booked_start - EARLY_START:
        raise refuse(
            "too_early", "实际开始时间不能早于预约时段开始前 24 小时", earliest=booked_start - EARLY_START
        )
    if end > booked_end + LATE_END:
        raise refuse("too_late", "实际结束时间不能晚于预约时段结束后 24 小时", latest=booked_end + LATE_END)
    if end - start > MAX_USAGE:
        raise refuse("too_long", "一次实际使用不能超过 7 天", max_days=MAX_USAGE.days)


# --- the rules in words (availability's summary) ----------------------------------------------------
def _span(minutes: int) -> str:
    if minutes and minutes % (24 * 60) == 0:
        return f"{minutes // (24 * 60)} 天"
    hours, rest = divmod(minutes, 60)
    parts = (f"{hours} 小时" if hours else "", f"{rest} 分钟" if rest else "")
    return " ".join(part for part in parts if part)


def describe_rules(rules: CalendarRules, *, machine_time: bool, sample_testing: bool) -> list[str]:
    """The booking rules as a researcher reads them, one sentence each, for the modes offered."""
    lines: list[str] = []
    if machine_time:
        lines.append(
            f"机时预约每次 {_span(rules.min_duration_minutes)}至 {_span(rules.max_duration_minutes)}，"
            f"以 {_span(rules.slot_minutes)}为单位"
        )
        notice = f"至少提前 {_span(rules.min_notice_minutes)}" if rules.min_notice_minutes else "无需提前"
        lines.append(f"{notice}预约，最多提前 {rules.max_advance_days} 天")
    if rules.needs_approval:
        lines.append(f"预约需仪器管理员审批，{rules.approval_window_hours} 小时内未审批自动失效")
    else:
        lines.append("提交即确认，无需审批")
    if machine_time:
        hours = rules.cancellation_deadline_hours
        free_until = f"开始前 {hours} 小时之前可免费取消" if hours else "开始前可免费取消"
        after = {
            LateCancellation.refuse: "之后不能自行取消，请联系仪器管理员",
            LateCancellation.charge: f"之后取消收取预约费用的 {rules.late_cancellation_fee_percent}%",
            LateCancellation.allow: "之后取消也不收费",
        }[rules.late_cancellation]
        lines.append(f"机时预约{free_until}，{after}")
        lines.append(f"预约开始前 {_span(int(CHECK_IN_EARLY / timedelta(minutes=1)))}起可签到")
    if sample_testing:
        lines.append("送样检测在样品送达前可随时免费取消")
    return lines


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


def firm_cancellation_fee(
    rules: CalendarRules, start: datetime | None, quoted_fee_fen: int, now: datetime
) -> int | None:
    """What the firm's cancelling a confirmed booking costs now: nothing before the deadline,
    after it what the rule says; None where the rule refuses a late cancellation."""
    if may_cancel_without_fee(rules, start, now):
        return 0
    if rules.late_cancellation == LateCancellation.refuse:
        return None
    if rules.late_cancellation == LateCancellation.charge:
        return late_cancellation_fee(rules, quoted_fee_fen)
    return 0


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
