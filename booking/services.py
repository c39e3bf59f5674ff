"""Booking operations: create, and one function per transition of ``states.TRANSITIONS``.

Each operation runs in one transaction: load (and on PostgreSQL lock) the booking, check who
may act, apply the transition, record it in the history, emit its outbox event and call the
voucher seam (``booking.checkout``) — all or nothing.

No double booking: the overlap check and the insert share one transaction. On SQLite that
transaction holds the database write lock (BEGIN IMMEDIATE), so checks cannot interleave; on
PostgreSQL two transactions can both pass the check, and the exclusion constraint
``ex_bookings_no_overlap`` (migration 0003) refuses the second insert, which we answer like a
failed check: 409 ``slot_taken`` with the nearest free alternatives.
"""

from __future__ import annotations

import uuid
from datetime import datetime, time, timedelta

from sqlalchemy import and_, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from booking import checkout
from booking.access import BOOKER_ROLES, is_booker_of, is_staff_of, visible_booking, visible_instrument
from booking.calendars import (
    CalendarRules,
    alternatives,
    free_intervals,
    load_calendar,
    load_closures,
    load_taken,
)
from booking.catalogue.models import Instrument, InstrumentStatus, ServiceItem, ServiceMode
from booking.errors import (
    CancellationDeadlinePassed,
    FieldsForMode,
    InstrumentUnavailable,
    InvalidTransition,
    ModeNotOffered,
    NoEnterprise,
    NoShowTooEarly,
    NotBooker,
    NotProviderStaff,
    QualificationRequired,
    ServiceItemInvalid,
    SlotTaken,
    TimezoneRequired,
)
from booking.events import emit_reminder, emit_transition
from booking.models import (
    SLOT_HOLDING,
    Booking,
    BookingHistory,
    BookingStatus,
    LateCancellation,
    Operation,
)
from booking.qualifications import has_valid_qualification
from booking.rules import (
    approval_deadline,
    check_machine_time,
    expected_completion,
    internal_rate,
    late_cancellation_fee,
    may_cancel_without_fee,
    quote_fee,
)
from booking.schemas import BookingIn, CompleteIn
from booking.states import TRANSITIONS, Actor
from booking.workdays import SHANGHAI, load_working_day_calendar, shanghai_today
from yixiang.auth import Principal
from yixiang.db import is_postgres, transaction, utcnow
from yixiang.errors import InvalidInput
from yixiang.identity import Organization

EXCLUSION_CONSTRAINT = "ex_bookings_no_overlap"
ALTERNATIVES_HORIZON = timedelta(days=7)
MAX_USAGE = timedelta(days=7)

STATUS_LABELS = {
    BookingStatus.requested: "待审批",
    BookingStatus.confirmed: "已确认",
    BookingStatus.in_service: "服务中",
    BookingStatus.completed: "已完成",
    BookingStatus.delivered: "已交付结果",
    BookingStatus.rated: "已评价",
    BookingStatus.cancelled: "已取消",
    BookingStatus.rejected: "已拒绝",
    BookingStatus.no_show: "未到场",
    BookingStatus.expired: "审批超时",
}
ACTION_LABELS = {
    "approve": "审批通过",
    "reject": "拒绝",
    "expire": "超时失效",
    "cancel": "取消",
    "check_in": "签到开始服务",
    "no_show": "标记未到场",
    "complete": "完成服务",
    "deliver": "交付结果",
    "rate": "评价",
}


class EnterpriseAmbiguous(InvalidInput):
    code = "enterprise_ambiguous"
    message = "您属于多个单位，请用 enterprise_id 指定以哪个单位预约"


class UsageInvalid(InvalidInput):
    code = "usage_invalid"
    message = "实际使用时间或样品数有误"


# --- the transition core ---------------------------------------------------------------------------
async def _apply(
    session: AsyncSession,
    booking: Booking,
    action: str,
    actor_id: uuid.UUID | None,
    reason: str,
    now: datetime,
) -> BookingStatus:
    """Move ``booking`` along ``action``; the caller holds the transaction and the row lock."""
    transition = TRANSITIONS[action]
    if booking.status not in transition.sources:
        raise InvalidTransition(
            f"预约当前状态为「{STATUS_LABELS[booking.status]}」，不能{ACTION_LABELS[action]}",
            current_status=booking.status.value,
            action=action,
        )
    previous = booking.status
    booking.status = transition.target
    booking.updated_at = now
    session.add(
        BookingHistory(
            booking_id=booking.id,
            action=action,
            from_status=previous,
            to_status=transition.target,
            actor_id=actor_id,
            reason=reason,
            at=now,
        )
    )
    await emit_transition(session, booking, action, previous, actor_id, reason)
    return previous


def _authorize(principal: Principal, booking: Booking, action: str) -> None:
    actors = TRANSITIONS[action].actors
    if Actor.provider in actors and is_staff_of(principal, booking.unit_id):
        return
    if Actor.booker in actors and is_booker_of(principal, booking):
        return
    raise NotProviderStaff() if Actor.provider in actors else NotBooker()


async def _load_for(
    session: AsyncSession, principal: Principal, booking_id: uuid.UUID, action: str
) -> Booking:
    booking = await visible_booking(session, principal, booking_id, for_update=True)
    _authorize(principal, booking, action)
    return booking


async def _instrument(session: AsyncSession, booking: Booking) -> Instrument:
    instrument = await session.get(Instrument, booking.instrument_id)
    assert instrument is not None  # a foreign key guarantees it
    return instrument


# --- creation --------------------------------------------------------------------------------------
def booking_firm(principal: Principal, requested: uuid.UUID | None) -> uuid.UUID:
    """The organisation a booking is made for (and billed to)."""
    firms = principal.orgs_where(*BOOKER_ROLES)
    if requested is not None:
        if requested not in firms:
            raise NoEnterprise(enterprise_id=str(requested))
        return requested
    if not firms:
        raise NoEnterprise()
    if len(firms) > 1:
        raise EnterpriseAmbiguous(enterprise_ids=sorted(str(f) for f in firms))
    return next(iter(firms))


def _service_item(instrument: Instrument, item_id: uuid.UUID | None, mode: ServiceMode) -> ServiceItem:
    items = [i for i in instrument.service_items if i.active and i.mode == mode]
    if item_id is not None:
        items = [i for i in items if i.id == item_id]
    if not items:
        raise ServiceItemInvalid(mode=mode.value)
    return items[0]


def _check_mode(instrument: Instrument, data: BookingIn) -> None:
    if data.mode == ServiceMode.machine_time:
        if data.start is None or data.end is None or data.operation is None or data.samples is not None:
            raise FieldsForMode(
                mode=data.mode.value, required=["operation", "start", "end"], forbidden=["samples"]
            )
        if data.start.tzinfo is None or data.end.tzinfo is None:
            raise TimezoneRequired()
        offered = instrument.self_operation if data.operation == Operation.self else instrument.operator_run
    else:
        if data.samples is None or data.service_item_id is None or data.start or data.end or data.operation:
            raise FieldsForMode(
                mode=data.mode.value,
                required=["service_item_id", "samples"],
                forbidden=["operation", "start", "end"],
            )
        offered = instrument.sample_testing
    if not offered:
        raise ModeNotOffered(mode=data.mode.value, operation=data.operation.value if data.operation else None)


async def _samples_ahead(session: AsyncSession, booking: Booking) -> tuple[int, int]:
    """(bookings, samples) queued before this one on its instrument."""
    row = (
        await session.execute(
            select(func.count(), func.coalesce(func.sum(Booking.samples), 0)).where(
                Booking.instrument_id == booking.instrument_id,
                Booking.mode == ServiceMode.sample_testing,
                Booking.status.in_(SLOT_HOLDING),
                Booking.id != booking.id,
                or_(
                    Booking.created_at < booking.created_at,
                    and_(Booking.created_at == booking.created_at, Booking.id < booking.id),
                ),
            )
        )
    ).one()
    return int(row[0] or 0), int(row[1] or 0)


async def queue_position(session: AsyncSession, booking: Booking) -> int | None:
    if booking.mode != ServiceMode.sample_testing or booking.status not in SLOT_HOLDING:
        return None
    ahead, _ = await _samples_ahead(session, booking)
    return ahead + 1


async def _overlaps(
    session: AsyncSession, instrument_id: uuid.UUID, start: datetime, block_end: datetime
) -> bool:
    found = await session.scalar(
        select(Booking.id)
        .where(
            Booking.instrument_id == instrument_id,
            Booking.status.in_(SLOT_HOLDING),
            Booking.start_at < block_end,
            Booking.block_end > start,
        )
        .limit(1)
    )
    return found is not None


async def _insert_booking(
    session: AsyncSession, principal: Principal, enterprise_id: uuid.UUID, data: BookingIn, now: datetime
) -> Booking:
    instrument = await visible_instrument(session, principal, data.instrument_id)
    if instrument.status != InstrumentStatus.in_service:
        raise InstrumentUnavailable(status=instrument.status.value)
    _check_mode(instrument, data)
    item = _service_item(instrument, data.service_item_id, data.mode)
    rules = await load_calendar(session, instrument.id)
    days = await load_working_day_calendar(session)
    start, end, block_end, minutes = data.start, data.end, None, None
    if start is not None and end is not None:
        # The rules first: they also keep absurd moments (year 1, year 9999) away from the database.
        check_machine_time(rules, days, [], start, end, now)
        closures = await load_closures(session, instrument.id, start, end)
        check_machine_time(rules, days, closures, start, end, now)
        if data.operation == Operation.self and not await has_valid_qualification(
            session, principal.user_id, instrument, start.astimezone(SHANGHAI).date()
        ):
            raise QualificationRequired(instrument_id=str(instrument.id))
        block_end = end + timedelta(minutes=rules.buffer_minutes)
        minutes = int((end - start) / timedelta(minutes=1))
    firm = await session.get(Organization, enterprise_id)
    internal = internal_rate(enterprise_id, firm.parent_id if firm else None, instrument.unit_id)
    quote = quote_fee(item, internal=internal, minutes=minutes, samples=data.samples)
    if (
        start is not None
        and block_end is not None
        and await _overlaps(session, instrument.id, start, block_end)
    ):
        raise SlotTaken()
    booking = Booking(
        id=uuid.uuid4(),
        instrument_id=instrument.id,
        unit_id=instrument.unit_id,
        enterprise_id=enterprise_id,
        user_id=principal.user_id,
        mode=data.mode,
        operation=data.operation,
        service_item_id=item.id,
        samples=data.samples,
        start_at=start,
        end_at=end,
        block_end=block_end,
        status=BookingStatus.requested if rules.needs_approval else BookingStatus.confirmed,
        approval_deadline=approval_deadline(rules, now, start) if rules.needs_approval else None,
        note=data.note,
        rate=quote.rate,
        quoted_fee_fen=quote.fee_fen,
        fee_breakdown=quote.breakdown,
        created_at=now,
        updated_at=now,
    )
    session.add(booking)
    # The insert goes first so the constraint speaks before anything else is written.
    await session.flush()
    if data.mode == ServiceMode.sample_testing:
        _, samples_ahead = await _samples_ahead(session, booking)
        booking.expected_completion_on = expected_completion(
            days,
            shanghai_today(now),
            item.turnaround_working_days or 0,
            samples_ahead,
            rules.sample_capacity_per_day,
        )
    action = "request" if rules.needs_approval else "book"
    session.add(
        BookingHistory(
            booking_id=booking.id,
            action=action,
            from_status=None,
            to_status=booking.status,
            actor_id=principal.user_id,
            reason=data.note[:500],
            at=now,
        )
    )
    await emit_transition(session, booking, action, None, principal.user_id, "")
    await checkout.on_evidence(session, booking, "booking", now)
    if booking.status == BookingStatus.confirmed:
        await checkout.on_confirmed(session, booking, instrument, principal.user_id)
    return booking


def is_slot_conflict(exc: IntegrityError) -> bool:
    return getattr(exc.orig, "sqlstate", None) == "23P01" or EXCLUSION_CONSTRAINT in str(exc)


async def create_booking(
    session: AsyncSession, principal: Principal, data: BookingIn, *, now: datetime | None = None
) -> Booking:
    """Book machine time or queue samples. A taken slot answers 409 with free alternatives."""
    now = now or utcnow()
    enterprise_id = booking_firm(principal, data.enterprise_id)
    try:
        async with transaction(session):
            return await _insert_booking(session, principal, enterprise_id, data, now)
    except SlotTaken:
        pass
    except IntegrityError as exc:
        if not is_slot_conflict(exc):
            raise
    assert data.start is not None and data.end is not None
    async with transaction(session):
        options = await nearest_free(session, data.instrument_id, data.start, data.end, now)
    raise SlotTaken(alternatives=[{"start": s.isoformat(), "end": e.isoformat()} for s, e in options])


async def nearest_free(
    session: AsyncSession, instrument_id: uuid.UUID, start: datetime, end: datetime, now: datetime
) -> list[tuple[datetime, datetime]]:
    rules = await load_calendar(session, instrument_id)
    days = await load_working_day_calendar(session)
    lo = max(start - ALTERNATIVES_HORIZON, now + timedelta(minutes=rules.min_notice_minutes))
    hi = min(end + ALTERNATIVES_HORIZON, now + timedelta(days=rules.max_advance_days))
    if hi <= lo:
        return []
    closures = await load_closures(session, instrument_id, lo, hi)
    taken = await load_taken(session, instrument_id, lo, hi, rules.buffer_minutes)
    free = free_intervals(rules, days, closures, taken, lo, hi)
    return alternatives(free, rules, start, end - start)


# --- transitions, one function each ------------------------------------------------------------------
async def approve_booking(
    session: AsyncSession,
    principal: Principal,
    booking_id: uuid.UUID,
    reason: str = "",
    *,
    now: datetime | None = None,
) -> Booking:
    """Provider staff approve a request. A request past its deadline expires instead (409)."""
    now = now or utcnow()
    async with transaction(session):
        booking = await _load_for(session, principal, booking_id, "approve")
        overdue = (
            booking.status == BookingStatus.requested
            and booking.approval_deadline is not None
            and now >= booking.approval_deadline
        )
        if overdue:
            await _expire(session, booking, now)
        else:
            await _apply(session, booking, "approve", principal.user_id, reason, now)
            await checkout.on_confirmed(
                session, booking, await _instrument(session, booking), principal.user_id
            )
    if overdue:
        raise InvalidTransition(
            "审批已超时，该预约已失效", current_status=BookingStatus.expired.value, action="approve"
        )
    return booking


async def reject_booking(
    session: AsyncSession,
    principal: Principal,
    booking_id: uuid.UUID,
    reason: str = "",
    *,
    now: datetime | None = None,
) -> Booking:
    now = now or utcnow()
    async with transaction(session):
        booking = await _load_for(session, principal, booking_id, "reject")
        await _apply(session, booking, "reject", principal.user_id, reason, now)
        await checkout.on_released(session, booking, "rejected", principal.user_id)
    return booking


async def cancel_booking(
    session: AsyncSession,
    principal: Principal,
    booking_id: uuid.UUID,
    reason: str = "",
    *,
    now: datetime | None = None,
) -> Booking:
    """The firm cancels (within the instrument's deadline, or after it as its rule says), or the
    provider cancels at any time without a fee (breakdown, closure)."""
    now = now or utcnow()
    async with transaction(session):
        booking = await _load_for(session, principal, booking_id, "cancel")
        if not is_staff_of(principal, booking.unit_id) and booking.status == BookingStatus.confirmed:
            rules = await load_calendar(session, booking.instrument_id)
            if not may_cancel_without_fee(rules, booking.start_at, now):
                if rules.late_cancellation == LateCancellation.refuse:
                    raise CancellationDeadlinePassed(
                        cancellation_deadline_hours=rules.cancellation_deadline_hours
                    )
                if rules.late_cancellation == LateCancellation.charge:
                    booking.cancellation_fee_fen = late_cancellation_fee(rules, booking.quoted_fee_fen)
        await _apply(session, booking, "cancel", principal.user_id, reason, now)
        await checkout.on_released(session, booking, "cancelled", principal.user_id)
    return booking


async def check_in_booking(
    session: AsyncSession,
    principal: Principal,
    booking_id: uuid.UUID,
    reason: str = "",
    *,
    now: datetime | None = None,
) -> Booking:
    """Machine time: the user arrived. Sample testing: the samples were received (the expected
    completion date restarts from today)."""
    now = now or utcnow()
    async with transaction(session):
        booking = await _load_for(session, principal, booking_id, "check_in")
        await _apply(session, booking, "check_in", principal.user_id, reason, now)
        if booking.mode == ServiceMode.sample_testing and booking.service_item_id is not None:
            item = await session.get(ServiceItem, booking.service_item_id)
            rules = await load_calendar(session, booking.instrument_id)
            _, samples_ahead = await _samples_ahead(session, booking)
            booking.expected_completion_on = expected_completion(
                await load_working_day_calendar(session),
                shanghai_today(now),
                (item.turnaround_working_days if item else None) or 0,
                samples_ahead,
                rules.sample_capacity_per_day,
            )
    return booking


def _billed_minutes(rules: CalendarRules, start: datetime, end: datetime) -> int:
    """Actual use rounded up to the slot granularity (a started slot is a used slot)."""
    minutes = -(-int((end - start).total_seconds()) // 60)
    return -(-minutes // rules.slot_minutes) * rules.slot_minutes


async def complete_booking(
    session: AsyncSession,
    principal: Principal,
    booking_id: uuid.UUID,
    data: CompleteIn,
    *,
    now: datetime | None = None,
) -> Booking:
    """Record the actual use and the final fee, and capture the voucher share."""
    now = now or utcnow()
    async with transaction(session):
        booking = await _load_for(session, principal, booking_id, "complete")
        await _apply(session, booking, "complete", principal.user_id, data.reason, now)
        if booking.mode == ServiceMode.machine_time:
            if data.samples is not None or (data.actual_start is None) != (data.actual_end is None):
                raise UsageInvalid(required=["actual_start", "actual_end"])
            start = data.actual_start or booking.start_at
            end = data.actual_end or booking.end_at
            assert start is not None and end is not None
            if start.tzinfo is None or end.tzinfo is None:
                raise TimezoneRequired()
            # Use is recorded after the fact and is never longer than a week.
            if end <= start or end > now + timedelta(minutes=10) or end - start > MAX_USAGE:
                raise UsageInvalid(actual_start=start.isoformat(), actual_end=end.isoformat())
            rules = await load_calendar(session, booking.instrument_id)
            booking.actual_start, booking.actual_end = start, end
            minutes, samples = _billed_minutes(rules, start, end), None
        else:
            if data.actual_start is not None or data.actual_end is not None:
                raise UsageInvalid(required=["samples"])
            samples = data.samples if data.samples is not None else booking.samples
            booking.actual_samples = samples
            minutes = None
        item = await session.get(ServiceItem, booking.service_item_id) if booking.service_item_id else None
        if item is not None:
            booking.final_fee_fen = quote_fee(
                item, internal=booking.rate == "internal", minutes=minutes, samples=samples
            ).fee_fen
        else:
            booking.final_fee_fen = booking.quoted_fee_fen
        instrument = await _instrument(session, booking)
        await checkout.on_evidence(
            session,
            booking,
            "usage",
            now,
            {"minutes": minutes, "samples": samples, "fee_fen": booking.final_fee_fen},
        )
        booking.final_fee_fen, booking.voucher_fen, booking.due_fen = await checkout.on_completed(
            session, booking, instrument, principal.user_id
        )
    return booking


async def mark_no_show(
    session: AsyncSession,
    principal: Principal,
    booking_id: uuid.UUID,
    reason: str = "",
    *,
    now: datetime | None = None,
) -> Booking:
    now = now or utcnow()
    async with transaction(session):
        booking = await _load_for(session, principal, booking_id, "no_show")
        if (
            booking.start_at is not None
            and now < booking.start_at
            and booking.status == BookingStatus.confirmed
        ):
            raise NoShowTooEarly(start=booking.start_at.isoformat())
        await _apply(session, booking, "no_show", principal.user_id, reason, now)
        await checkout.on_released(session, booking, "no_show", principal.user_id)
    return booking


async def mark_delivered(
    session: AsyncSession,
    principal: Principal,
    booking_id: uuid.UUID,
    reason: str = "",
    *,
    now: datetime | None = None,
) -> Booking:
    """Results delivered (called by the results issue once files are uploaded)."""
    now = now or utcnow()
    async with transaction(session):
        booking = await _load_for(session, principal, booking_id, "deliver")
        await _apply(session, booking, "deliver", principal.user_id, reason, now)
        await checkout.on_evidence(session, booking, "delivery", now)
    return booking


async def mark_rated(
    session: AsyncSession,
    principal: Principal,
    booking_id: uuid.UUID,
    reason: str = "",
    *,
    now: datetime | None = None,
) -> Booking:
    """The firm rated the service (called by the ratings issue with the rating stored)."""
    now = now or utcnow()
    async with transaction(session):
        booking = await _load_for(session, principal, booking_id, "rate")
        await _apply(session, booking, "rate", principal.user_id, reason, now)
        await checkout.on_evidence(session, booking, "rating", now)
    return booking


async def _expire(session: AsyncSession, booking: Booking, now: datetime) -> None:
    await _apply(session, booking, "expire", None, "审批超时未处理", now)
    await checkout.on_released(session, booking, "expired", None)


async def expire_overdue_requests(session: AsyncSession, now: datetime | None = None) -> list[uuid.UUID]:
    """System: requests past their approval deadline release their slot. Runs inside the
    caller's transaction (the worker's); concurrent workers skip each other's rows."""
    now = now or utcnow()
    query = (
        select(Booking)
        .where(Booking.status == BookingStatus.requested, Booking.approval_deadline <= now)
        .order_by(Booking.approval_deadline)
        .limit(500)
    )
    if is_postgres(session):
        query = query.with_for_update(skip_locked=True)
    expired = []
    for booking in (await session.scalars(query)).all():
        await _expire(session, booking, now)
        expired.append(booking.id)
    return expired


async def schedule_reminders(session: AsyncSession, now: datetime | None = None) -> int:
    """Emit "tomorrow" reminders for confirmed bookings starting tomorrow (Shanghai) and
    "next_hour" ones for bookings starting within the hour; each at most once per booking."""
    now = now or utcnow()
    tomorrow = shanghai_today(now) + timedelta(days=1)
    until = datetime.combine(tomorrow + timedelta(days=1), time(0), SHANGHAI)
    rows = await session.scalars(
        select(Booking).where(
            Booking.status == BookingStatus.confirmed, Booking.start_at > now, Booking.start_at < until
        )
    )
    emitted = 0
    for booking in rows.all():
        assert booking.start_at is not None
        if booking.start_at.astimezone(SHANGHAI).date() == tomorrow:
            await emit_reminder(session, booking, "tomorrow")
            emitted += 1
        if booking.start_at <= now + timedelta(hours=1):
            await emit_reminder(session, booking, "next_hour")
            emitted += 1
    return emitted


# --- reading ----------------------------------------------------------------------------------------
async def get_booking(
    session: AsyncSession, principal: Principal, booking_id: uuid.UUID
) -> tuple[Booking, list[BookingHistory], int | None]:
    async with transaction(session):
        booking = await visible_booking(session, principal, booking_id)
        history = (
            await session.scalars(
                select(BookingHistory)
                .where(BookingHistory.booking_id == booking.id)
                .order_by(BookingHistory.id)
            )
        ).all()
        return booking, list(history), await queue_position(session, booking)


async def list_bookings(
    session: AsyncSession,
    principal: Principal,
    *,
    mine: bool = False,
    unit_id: uuid.UUID | None = None,
    status: BookingStatus | None = None,
    instrument_id: uuid.UUID | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[tuple[Booking, int | None]], int]:
    """``unit``: the unit's bookings (its staff only); ``mine``: bookings the caller made;
    neither: every booking of the caller's firms."""
    query = select(Booking)
    if unit_id is not None:
        if not is_staff_of(principal, unit_id):
            raise NotProviderStaff()
        query = query.where(Booking.unit_id == unit_id)
    elif mine:
        query = query.where(Booking.user_id == principal.user_id)
    else:
        query = query.where(Booking.enterprise_id.in_(principal.orgs_where(*BOOKER_ROLES)))
    if status is not None:
        query = query.where(Booking.status == status)
    if instrument_id is not None:
        query = query.where(Booking.instrument_id == instrument_id)
    async with transaction(session):
        total = int(await session.scalar(select(func.count()).select_from(query.subquery())) or 0)
        rows = (
            await session.scalars(
                query.order_by(Booking.created_at.desc(), Booking.id).limit(limit).offset(offset)
            )
        ).all()
        return [(b, await queue_position(session, b)) for b in rows], total
