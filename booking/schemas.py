"""msgspec Structs the booking API speaks, and the converters from rows to them."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

import msgspec

from booking.calendar_rules import CalendarRules, Interval
from booking.events import booking_code
from booking.free_time import Availability
from booking.models import (
    LONGEST_BOOKING_MINUTES,
    Booking,
    BookingHistory,
    BookingStatus,
    Closure,
    LateCancellation,
    Operation,
    Qualification,
)
from booking.rules import CHECK_IN_EARLY, describe_rules
from catalogue.models import ServiceMode
from yixiang.schemas import Input, Moment, Output

if TYPE_CHECKING:
    from booking.quotes import BookingQuote

Reason = Annotated[str, msgspec.Meta(max_length=500)]
INSTRUMENT_APPROVAL = "该仪器的预约须经仪器管理员审批"
HHMM = Annotated[str, msgspec.Meta(pattern=r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")]


# --- bookings ----------------------------------------------------------------------------------
class BookingIn(Input):
    instrument_id: uuid.UUID
    mode: ServiceMode
    operation: Operation | None = None  # machine time: self | operator
    start: Moment | None = None  # machine time, ISO 8601 with offset
    end: Moment | None = None
    service_item_id: uuid.UUID | None = None
    samples: Annotated[int, msgspec.Meta(ge=1, le=10_000)] | None = None  # sample testing
    note: Annotated[str, msgspec.Meta(max_length=1000)] = ""
    # Only needed by someone who books for more than one firm.
    enterprise_id: uuid.UUID | None = None


class ReasonIn(Input):
    reason: Reason = ""


class CompleteIn(Input):
    actual_start: Moment | None = None
    actual_end: Moment | None = None
    samples: Annotated[int, msgspec.Meta(ge=0, le=10_000)] | None = None
    reason: Reason = ""


class IntervalOut(Output):
    start: datetime
    end: datetime


class QuoteOut(Output):
    fee_fen: int
    rate: str
    breakdown: dict[str, Any]


class HistoryOut(Output):
    action: str
    from_status: BookingStatus | None
    to_status: BookingStatus
    actor_id: uuid.UUID | None
    reason: str
    at: datetime


class BookingOut(Output):
    id: uuid.UUID
    number: str  # 预约号, what people read and type (booking.numbers)
    instrument_id: uuid.UUID
    unit_id: uuid.UUID
    enterprise_id: uuid.UUID
    user_id: uuid.UUID
    mode: ServiceMode
    operation: Operation | None
    service_item_id: uuid.UUID | None
    samples: int | None
    start: datetime | None
    end: datetime | None
    status: BookingStatus
    approval_deadline: datetime | None
    note: str
    quote: QuoteOut
    final_fee_fen: int | None
    cancellation_fee_fen: int | None
    voucher_fen: int | None
    due_fen: int | None
    actual_start: datetime | None
    actual_end: datetime | None
    actual_source: str | None  # machine time: sensor (confirmed) | manual (typed) | booked (the slot)
    actual_samples: int | None
    created_at: datetime
    updated_at: datetime
    queue_position: int | None = None
    expected_completion_on: date | None = None
    history: list[HistoryOut] | None = None
    # Set when some of these days fall in a year whose holidays are not yet published
    # (booking/holiday_notes.py): e.g. 「2028年节假日安排尚未公布，按周末休息计算」.
    holiday_note: str | None = None
    # Why the booking waits for the provider's approval (the instrument's rule, or the no-show
    # rule of booking.credit); None when it does not.
    approval_reason: str | None = None


class BookingPage(Output):
    items: list[BookingOut]
    total: int
    limit: int
    offset: int


class MachineTimeRulesOut(Output):
    """How machine time is booked on this instrument."""

    slot_minutes: int  # starts and ends lie on this grid
    min_duration_minutes: int
    max_duration_minutes: int
    min_notice_minutes: int  # a booking starts at least this long after it is made
    max_advance_days: int  # and at most this many days ahead
    buffer_minutes: int  # kept free after each booking
    cancellation_deadline_hours: int  # the firm cancels free of charge until this long before the start
    late_cancellation: LateCancellation  # after it: refuse | charge | allow
    late_cancellation_fee_percent: int  # of the quoted fee, when ``charge``
    check_in_minutes_before: int  # the user is checked in from this long before the start


class BookingRulesOut(Output):
    needs_approval: bool  # a request waits for the provider's approval
    approval_window_hours: int  # unapproved for this long, a request expires
    machine_time: MachineTimeRulesOut | None  # null when the instrument offers no machine time
    summary: list[str]  # the rules in Chinese, one sentence each, for the modes offered


class AvailabilityOut(Output):
    instrument_id: uuid.UUID
    from_: datetime = msgspec.field(name="from")
    to: datetime
    modes: list[ServiceMode]  # what can be booked now (none when the instrument is out of service)
    operations: list[Operation]  # machine time: self-operation, operator-run
    rules: BookingRulesOut
    slot_minutes: int
    # Free machine time, three ways: ranges to pick from (slots merged, each long enough for the
    # shortest booking), the slots themselves, and the opening time left as it is.
    ranges: list[IntervalOut]
    slots: list[IntervalOut]
    free: list[IntervalOut]
    # Set when some of these days fall in a year whose holidays are not yet published
    # (booking/holiday_notes.py): e.g. 「2028年节假日安排尚未公布，按周末休息计算」.
    holiday_note: str | None = None


def intervals_out(intervals: list[Interval]) -> list[IntervalOut]:
    return [IntervalOut(start=s, end=e) for s, e in intervals]


def availability_out(instrument_id: uuid.UUID, found: Availability) -> AvailabilityOut:
    rules = found.rules
    machine_time = (
        MachineTimeRulesOut(
            slot_minutes=rules.slot_minutes,
            min_duration_minutes=rules.min_duration_minutes,
            max_duration_minutes=rules.max_duration_minutes,
            min_notice_minutes=rules.min_notice_minutes,
            max_advance_days=rules.max_advance_days,
            buffer_minutes=rules.buffer_minutes,
            cancellation_deadline_hours=rules.cancellation_deadline_hours,
            late_cancellation=rules.late_cancellation,
            late_cancellation_fee_percent=rules.late_cancellation_fee_percent,
            check_in_minutes_before=int(CHECK_IN_EARLY / timedelta(minutes=1)),
        )
        if found.offers_machine_time
        else None
    )
    return AvailabilityOut(
        instrument_id=instrument_id,
        from_=found.start,
        to=found.end,
        modes=found.modes,
        operations=found.operations,
        rules=BookingRulesOut(
            needs_approval=rules.needs_approval,
            approval_window_hours=rules.approval_window_hours,
            machine_time=machine_time,
            summary=describe_rules(
                rules,
                machine_time=found.offers_machine_time,
                sample_testing=ServiceMode.sample_testing in found.modes,
            ),
        ),
        slot_minutes=rules.slot_minutes,
        ranges=intervals_out(found.ranges),
        slots=intervals_out(found.slots),
        free=intervals_out(found.free),
    )


def history_out(row: BookingHistory) -> HistoryOut:
    return HistoryOut(
        action=row.action,
        from_status=row.from_status,
        to_status=row.to_status,
        actor_id=row.actor_id,
        reason=row.reason,
        at=row.at,
    )


def booking_out(
    booking: Booking,
    *,
    queue_position: int | None = None,
    history: list[BookingHistory] | None = None,
    holiday_note: str | None = None,
) -> BookingOut:
    return BookingOut(
        id=booking.id,
        number=booking_code(booking),
        instrument_id=booking.instrument_id,
        unit_id=booking.unit_id,
        enterprise_id=booking.enterprise_id,
        user_id=booking.user_id,
        mode=booking.mode,
        operation=booking.operation,
        service_item_id=booking.service_item_id,
        samples=booking.samples,
        start=booking.start_at,
        end=booking.end_at,
        status=booking.status,
        approval_deadline=booking.approval_deadline,
        note=booking.note,
        quote=QuoteOut(fee_fen=booking.quoted_fee_fen, rate=booking.rate, breakdown=booking.fee_breakdown),
        final_fee_fen=booking.final_fee_fen,
        cancellation_fee_fen=booking.cancellation_fee_fen,
        voucher_fen=booking.voucher_fen,
        due_fen=booking.due_fen,
        actual_start=booking.actual_start,
        actual_end=booking.actual_end,
        actual_source=booking.actual_source,
        actual_samples=booking.actual_samples,
        queue_position=queue_position,
        expected_completion_on=booking.expected_completion_on,
        created_at=booking.created_at,
        updated_at=booking.updated_at,
        history=[history_out(h) for h in history] if history is not None else None,
        holiday_note=holiday_note,
        approval_reason=booking.approval_reason
        or (INSTRUMENT_APPROVAL if booking.status == BookingStatus.requested else None),
    )


# --- calendars (provider side) -------------------------------------------------------------------
class OpeningHours(Input):
    weekday: Annotated[int, msgspec.Meta(ge=0, le=6)]  # 0 = Monday
    start: HHMM
    end: HHMM


class CalendarIn(Input):
    weekly_hours: Annotated[list[OpeningHours], msgspec.Meta(max_length=50)]
    follows_working_days: bool = True
    slot_minutes: Annotated[int, msgspec.Meta(ge=5, le=240)] = 30
    min_duration_minutes: Annotated[int, msgspec.Meta(ge=5, le=LONGEST_BOOKING_MINUTES)] = 60
    max_duration_minutes: Annotated[int, msgspec.Meta(ge=5, le=LONGEST_BOOKING_MINUTES)] = 480
    min_notice_minutes: Annotated[int, msgspec.Meta(ge=0, le=43_200)] = 60
    max_advance_days: Annotated[int, msgspec.Meta(ge=1, le=366)] = 60
    cancellation_deadline_hours: Annotated[int, msgspec.Meta(ge=0, le=720)] = 24
    late_cancellation: LateCancellation = LateCancellation.refuse
    late_cancellation_fee_percent: Annotated[int, msgspec.Meta(ge=0, le=100)] = 0
    buffer_minutes: Annotated[int, msgspec.Meta(ge=0, le=240)] = 0
    needs_approval: bool = False
    approval_window_hours: Annotated[int, msgspec.Meta(ge=1, le=720)] = 24
    sample_capacity_per_day: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 20


class CalendarOut(Output):
    instrument_id: uuid.UUID
    is_default: bool
    weekly_hours: list[OpeningHours]
    follows_working_days: bool
    slot_minutes: int
    min_duration_minutes: int
    max_duration_minutes: int
    min_notice_minutes: int
    max_advance_days: int
    cancellation_deadline_hours: int
    late_cancellation: LateCancellation
    late_cancellation_fee_percent: int
    buffer_minutes: int
    needs_approval: bool
    approval_window_hours: int
    sample_capacity_per_day: int
    # Set when some of these days fall in a year whose holidays are not yet published
    # (booking/holiday_notes.py): e.g. 「2028年节假日安排尚未公布，按周末休息计算」.
    holiday_note: str | None = None


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def calendar_out(instrument_id: uuid.UUID, rules: CalendarRules) -> CalendarOut:
    return CalendarOut(
        instrument_id=instrument_id,
        is_default=rules.is_default,
        weekly_hours=[
            OpeningHours(weekday=d, start=_hhmm(s), end=_hhmm(e)) for d, s, e in rules.weekly_hours
        ],
        follows_working_days=rules.follows_working_days,
        slot_minutes=rules.slot_minutes,
        min_duration_minutes=rules.min_duration_minutes,
        max_duration_minutes=rules.max_duration_minutes,
        min_notice_minutes=rules.min_notice_minutes,
        max_advance_days=rules.max_advance_days,
        cancellation_deadline_hours=rules.cancellation_deadline_hours,
        late_cancellation=rules.late_cancellation,
        late_cancellation_fee_percent=rules.late_cancellation_fee_percent,
        buffer_minutes=rules.buffer_minutes,
        needs_approval=rules.needs_approval,
        approval_window_hours=rules.approval_window_hours,
        sample_capacity_per_day=rules.sample_capacity_per_day,
    )


class ClosureIn(Input):
    start: Moment
    end: Moment
    reason: Annotated[str, msgspec.Meta(max_length=200)] = ""


class ClosureOut(Output):
    id: uuid.UUID
    instrument_id: uuid.UUID
    start: datetime
    end: datetime
    reason: str
    created_by: uuid.UUID | None
    # Slot-holding bookings inside the closure: staff decide whether to cancel them.
    affected_booking_ids: list[uuid.UUID] = []


def closure_out(row: Closure, affected: list[uuid.UUID] | None = None) -> ClosureOut:
    return ClosureOut(
        id=row.id,
        instrument_id=row.instrument_id,
        start=row.start_at,
        end=row.end_at,
        reason=row.reason,
        created_by=row.created_by,
        affected_booking_ids=affected or [],
    )


# --- qualifications ------------------------------------------------------------------------------
class QualificationIn(Input):
    username: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    expires_on: date
    instrument_id: uuid.UUID | None = None
    # A category qualification covers the unit's instruments of that category.
    category_code: Annotated[str, msgspec.Meta(min_length=1, max_length=8)] | None = None
    unit_id: uuid.UUID | None = None  # with category_code
    note: Annotated[str, msgspec.Meta(max_length=200)] = ""


class QualificationOut(Output):
    id: uuid.UUID
    user_id: uuid.UUID
    unit_id: uuid.UUID
    instrument_id: uuid.UUID | None
    category_code: str | None
    expires_on: date
    note: str
    granted_by: uuid.UUID | None
    granted_at: datetime
    revoked_at: datetime | None


def qualification_out(row: Qualification) -> QualificationOut:
    return QualificationOut(
        id=row.id,
        user_id=row.user_id,
        unit_id=row.unit_id,
        instrument_id=row.instrument_id,
        category_code=row.category_code,
        expires_on=row.expires_on,
        note=row.note,
        granted_by=row.granted_by,
        granted_at=row.granted_at,
        revoked_at=row.revoked_at,
    )


class GrantShareOut(Output):
    grant_id: uuid.UUID
    fen: int


class VoucherEstimateOut(Output):
    share_fen: int
    program_id: uuid.UUID | None
    program_name: str
    coverage_percent: float  # of the fee, before the caps
    per_order_cap_fen: int
    per_firm_year_cap_fen: int
    firm_year_used_fen: int
    grants: list[GrantShareOut]


class PriceQuoteOut(Output):
    """What a booking would cost the firm if confirmed now (nothing is held)."""

    instrument_id: uuid.UUID
    service_item_id: uuid.UUID
    service_item_name: str
    enterprise_id: uuid.UUID | None
    rate: str
    fee_fen: int
    fee_basis: str
    breakdown: dict[str, Any]
    billing_rule: str
    voucher: VoucherEstimateOut
    remainder_fen: int
    needs_approval: bool
    slot_free: bool | None
    note: str


QUOTE_NOTE = "这是按当前创新券余额的估算，不冻结任何额度；确认预约时按当时的余额冻结，如有变化以确认结果为准"


def quote_out(instrument_id: uuid.UUID, quote: BookingQuote) -> PriceQuoteOut:
    voucher = quote.voucher
    return PriceQuoteOut(
        instrument_id=instrument_id,
        service_item_id=quote.item.id,
        service_item_name=quote.item.name,
        enterprise_id=quote.enterprise_id,
        rate=quote.fee.rate,
        fee_fen=quote.fee.fee_fen,
        fee_basis=quote.fee_basis,
        breakdown=quote.fee.breakdown,
        billing_rule=quote.billing_rule,
        voucher=VoucherEstimateOut(
            share_fen=voucher.share_fen,
            program_id=voucher.program_id,
            program_name=voucher.program_name,
            coverage_percent=voucher.coverage_bp / 100,
            per_order_cap_fen=voucher.per_order_cap_fen,
            per_firm_year_cap_fen=voucher.per_firm_year_cap_fen,
            firm_year_used_fen=voucher.firm_year_used_fen,
            grants=[GrantShareOut(grant_id=g, fen=fen) for g, fen in voucher.grants],
        ),
        remainder_fen=quote.remainder_fen,
        needs_approval=quote.needs_approval,
        slot_free=quote.slot_free,
        note=QUOTE_NOTE,
    )


class SensedUseOut(Output):
    """What the instrument's sensor recorded in the booking's slot: offered as its actual times."""

    sensed: bool  # False: no sensor, or it recorded no run in the slot
    actual_start: datetime | None
    actual_end: datetime | None
    running_minutes: int
    sessions: int
    source: str = "sensor"
