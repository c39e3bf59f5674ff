"""Booking operations: one function per transition of ``states.TRANSITIONS`` (creation is in
``booking.creation``, reading and sample queues in ``booking.queries``).

Each operation runs in one transaction: load (and on PostgreSQL lock) the booking, check who
may act, apply the transition, record it in the history, emit its outbox event and call the
voucher seam (``booking.voucher_share``) — all or nothing.
"""

from __future__ import annotations

import uuid
from datetime import datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal
from booking import voucher_share, waitlist
from booking.access import is_booker_of, visible_booking
from booking.bookable import InstrumentTerms, item_terms, terms_of
from booking.calendar_rules import CalendarRules
from booking.errors import (
    CancellationDeadlinePassed,
    InvalidTransition,
    NoShowTooEarly,
    NotBooker,
    NotProviderStaff,
    SensedUseOverridden,
    UsageInvalid,
)
from booking.events import emit_reminder, emit_transition, reminder_key, write_history
from booking.free_time import load_calendar
from booking.models import Booking, BookingStatus
from booking.queries import checked_in_at, samples_ahead
from booking.rules import (
    check_actual_use,
    check_arrival,
    expected_completion,
    firm_cancellation_fee,
    quote_fee,
)
from booking.schemas import CompleteIn
from booking.sensed import ActualSource, SensedUse, SensedUseReader
from booking.states import TRANSITIONS, Actor
from catalogue.access import is_staff_of
from catalogue.models import Instrument, ServiceItem, ServiceMode
from catalogue.workdays import load_working_day_calendar
from yixiang.clock import SHANGHAI, shanghai_today
from yixiang.db import transaction, utcnow
from yixiang.locking import claim
from yixiang.outbox import emitted_keys

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
    await write_history(session, booking, action, previous, actor_id, reason, now)
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


async def _instrument(session: AsyncSession, booking: Booking) -> InstrumentTerms:
    instrument = await session.get(Instrument, booking.instrument_id)
    assert instrument is not None  # a foreign key guarantees it
    return terms_of(instrument)


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
            await voucher_share.on_confirmed(
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
        calendar = await waitlist.lock_calendar_of_booking(session, booking_id)
        booking = await _load_for(session, principal, booking_id, "reject")
        await _apply(session, booking, "reject", principal.user_id, reason, now)
        await voucher_share.on_released(session, booking, "rejected", principal.user_id)
        await _offer_freed(session, calendar, now)
    return booking


async def _offer_freed(session: AsyncSession, calendar: uuid.UUID | None, now: datetime) -> None:
    """The slot just released goes to the first in line for it (``booking.waitlist``), in the
    transaction that freed it: nobody books it between the release and the offer."""
    if calendar is not None:
        await session.flush()
        await waitlist.offer_freed_time(session, calendar, now)


async def firm_cancellation_terms(session: AsyncSession, booking: Booking, now: datetime) -> int | None:
    """What the firm's cancelling ``booking`` costs at ``now`` (fen): a request or a queued sample
    nothing, a confirmed slot what its instrument's rule says; None where only the provider may."""
    if booking.status != BookingStatus.confirmed:
        return 0
    rules = await load_calendar(session, booking.instrument_id)
    return firm_cancellation_fee(rules, booking.start_at, booking.quoted_fee_fen, now)


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
        calendar = await waitlist.lock_calendar_of_booking(session, booking_id)
        booking = await _load_for(session, principal, booking_id, "cancel")
        if not is_staff_of(principal, booking.unit_id):
            fee = await firm_cancellation_terms(session, booking, now)
            if fee is None:
                hours = (await load_calendar(session, booking.instrument_id)).cancellation_deadline_hours
                raise CancellationDeadlinePassed(cancellation_deadline_hours=hours)
            if fee:
                booking.cancellation_fee_fen = fee
        await _apply(session, booking, "cancel", principal.user_id, reason, now)
        await voucher_share.on_released(session, booking, "cancelled", principal.user_id)
        await _offer_freed(session, calendar, now)
    return booking


async def check_in_booking(
    session: AsyncSession,
    principal: Principal,
    booking_id: uuid.UUID,
    reason: str = "",
    *,
    now: datetime | None = None,
) -> Booking:
    """Machine time: the user arrived, around the booked slot (``rules.check_arrival``). Sample
    testing: the samples were received (the expected completion date restarts from today)."""
    now = now or utcnow()
    async with transaction(session):
        booking = await _load_for(session, principal, booking_id, "check_in")
        await _apply(session, booking, "check_in", principal.user_id, reason, now)
        if booking.start_at is not None and booking.end_at is not None:
            check_arrival(booking.start_at, booking.end_at, now)
        if booking.mode == ServiceMode.sample_testing and booking.service_item_id is not None:
            item = await session.get(ServiceItem, booking.service_item_id)
            rules = await load_calendar(session, booking.instrument_id)
            _, queued_samples = await samples_ahead(session, booking)
            booking.expected_completion_on = expected_completion(
                await load_working_day_calendar(session),
                shanghai_today(now),
                (item.turnaround_working_days if item else None) or 0,
                queued_samples,
                rules.sample_capacity_per_day,
            )
    return booking


def _billed_minutes(rules: CalendarRules, start: datetime, end: datetime) -> int:
    """Actual use rounded up to the slot granularity (a started slot is a used slot)."""
    minutes = -(-int((end - start).total_seconds()) // 60)
    return -(-minutes // rules.slot_minutes) * rules.slot_minutes


async def sensed_use_of(
    session: AsyncSession, booking: Booking, reader: SensedUseReader | None
) -> SensedUse | None:
    """What the instrument's sensor recorded in the booking's slot (None: no sensor or no run)."""
    if reader is None or booking.mode != ServiceMode.machine_time or booking.start_at is None:
        return None
    assert booking.end_at is not None
    return await reader.sensed_use(session, booking.instrument_id, booking.start_at, booking.end_at)


async def sensed_use_for_provider(
    session: AsyncSession, principal: Principal, booking_id: uuid.UUID, reader: SensedUseReader | None
) -> SensedUse | None:
    """The sensor's record of a booking's use, for its unit's staff before they complete it."""
    async with transaction(session, read_only=True):
        booking = await visible_booking(session, principal, booking_id)
        if not is_staff_of(principal, booking.unit_id):
            raise NotProviderStaff()
        return await sensed_use_of(session, booking, reader)


async def _actual_times(
    session: AsyncSession, booking: Booking, data: CompleteIn, reader: SensedUseReader | None
) -> tuple[datetime, datetime, str]:
    """The actual times and where they came from: the sensor's unless the provider typed others
    (then a reason is required), the typed ones, or the booked slot."""
    assert booking.start_at is not None and booking.end_at is not None
    sensed = await sensed_use_of(session, booking, reader)
    if data.actual_start is None or data.actual_end is None:
        if sensed is not None:
            return sensed.start, sensed.end, ActualSource.sensor
        return booking.start_at, booking.end_at, ActualSource.booked
    if sensed is not None and (data.actual_start, data.actual_end) == (sensed.start, sensed.end):
        return sensed.start, sensed.end, ActualSource.sensor
    if sensed is not None and not data.reason.strip():
        raise SensedUseOverridden(sensed.start, sensed.end)
    return data.actual_start, data.actual_end, ActualSource.manual


async def complete_booking(
    session: AsyncSession,
    principal: Principal,
    booking_id: uuid.UUID,
    data: CompleteIn,
    *,
    now: datetime | None = None,
    sensed_use: SensedUseReader | None = None,
) -> Booking:
    """Record the actual use and the final fee, and capture the voucher share. With
    ``sensed_use``, a machine-time booking's sensor sessions are its actual times unless the
    provider types others, with a reason (``booking.sensed``)."""
    now = now or utcnow()
    async with transaction(session):
        booking = await _load_for(session, principal, booking_id, "complete")
        await _apply(session, booking, "complete", principal.user_id, data.reason, now)
        if booking.mode == ServiceMode.machine_time:
            if data.samples is not None or (data.actual_start is None) != (data.actual_end is None):
                raise UsageInvalid(required=["actual_start", "actual_end"])
            assert booking.start_at is not None and booking.end_at is not None
            start, end, booking.actual_source = await _actual_times(session, booking, data, sensed_use)
            arrived = await checked_in_at(session, booking.id)
            check_actual_use(booking.start_at, booking.end_at, booking.created_at, start, end, now, arrived)
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
                item_terms(item), internal=booking.rate == "internal", minutes=minutes, samples=samples
            ).fee_fen
        else:
            booking.final_fee_fen = booking.quoted_fee_fen
        instrument = await _instrument(session, booking)
        await voucher_share.on_evidence(
            session,
            booking,
            "usage",
            now,
            {"minutes": minutes, "samples": samples, "fee_fen": booking.final_fee_fen},
        )
        booking.final_fee_fen, booking.voucher_fen, booking.due_fen = await voucher_share.on_completed(
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
            raise NoShowTooEarly(start=booking.start_at)
        await _apply(session, booking, "no_show", principal.user_id, reason, now)
        await voucher_share.on_released(session, booking, "no_show", principal.user_id)
    return booking


async def mark_delivered(
    session: AsyncSession,
    principal: Principal,
    booking_id: uuid.UUID,
    reason: str = "",
    *,
    now: datetime | None = None,
) -> Booking:
    """Results delivered (the results service calls it once files are uploaded)."""
    return await _advance_with_evidence(session, principal, booking_id, "deliver", "delivery", reason, now)


async def mark_rated(
    session: AsyncSession,
    principal: Principal,
    booking_id: uuid.UUID,
    reason: str = "",
    *,
    now: datetime | None = None,
) -> Booking:
    """The firm rated the service (the ratings service calls it with the rating stored)."""
    return await _advance_with_evidence(session, principal, booking_id, "rate", "rating", reason, now)


async def _advance_with_evidence(
    session: AsyncSession,
    principal: Principal,
    booking_id: uuid.UUID,
    action: str,
    evidence: str,
    reason: str,
    now: datetime | None,
) -> Booking:
    """A step after the service that adds a link to the evidence chain vouchers settle on."""
    now = now or utcnow()
    async with transaction(session):
        booking = await _load_for(session, principal, booking_id, action)
        await _apply(session, booking, action, principal.user_id, reason, now)
        await voucher_share.on_evidence(session, booking, evidence, now)
    return booking


async def _expire(session: AsyncSession, booking: Booking, now: datetime) -> None:
    await _apply(session, booking, "expire", None, "审批超时未处理", now)
    await voucher_share.on_released(session, booking, "expired", None)


async def expire_overdue_requests(session: AsyncSession, now: datetime | None = None) -> list[uuid.UUID]:
    """System: requests past their approval deadline release their slot. Runs inside the
    caller's transaction (the worker's); concurrent workers skip each other's rows."""
    now = now or utcnow()
    query = claim(
        select(Booking)
        .where(Booking.status == BookingStatus.requested, Booking.approval_deadline <= now)
        .order_by(Booking.approval_deadline)
        .limit(500)
    )
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
    due: list[tuple[Booking, str]] = []
    for booking in rows.all():
        assert booking.start_at is not None
        if booking.start_at.astimezone(SHANGHAI).date() == tomorrow:
            due.append((booking, "tomorrow"))
        if booking.start_at <= now + timedelta(hours=1):
            due.append((booking, "next_hour"))
    # The job runs every few minutes over the same bookings: skip the reminders already emitted
    # before building their payloads (the key would drop them anyway, one statement each).
    keys = [reminder_key(booking, kind) for booking, kind in due]
    sent = await emitted_keys(session, keys)
    emitted = 0
    for (booking, kind), key in zip(due, keys, strict=True):
        if key not in sent:
            await emit_reminder(session, booking, kind)
            emitted += 1
    return emitted
