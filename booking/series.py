"""Weekly series (周期预约): the same hours on the same weekday for several weeks, booked in one
request. Each week goes through ``booking.creation`` on its own (the same rules, approval and
voucher hold) and is booked or refused on its own; the answer says which, and why (the refusal's
code and Chinese words). A series is cancelled as a whole: its weeks still to come."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal
from booking import services
from booking.bookable import load_bookable
from booking.creation import booking_firm, create_booking
from booking.credit import NoShowRule
from booking.errors import TimezoneRequired
from booking.models import SLOT_HOLDING, Booking, BookingSeries, BookingSeriesSlot
from booking.schemas import BookingIn
from catalogue.models import ServiceMode
from yixiang.clock import SHANGHAI
from yixiang.db import transaction, utcnow
from yixiang.errors import DomainError, NotFound


class SeriesNotFound(NotFound):
    code = "booking_series_not_found"
    message = "未找到该周期预约"


@dataclass(frozen=True)
class SeriesSlot:
    """One week of a series as it stands: its booking (with its status now) or its refusal."""

    week: int  # 1 for the first
    start: datetime
    end: datetime
    booking: Booking | None
    error_code: str | None
    error_message: str | None
    cancel_error: DomainError | None = None  # set by a series cancellation that could not cancel it


def weekly_ranges(start: datetime, end: datetime, weeks: int) -> list[tuple[datetime, datetime]]:
    """The same wall-clock hours in Shanghai, week after week."""
    local_start, local_end = start.astimezone(SHANGHAI), end.astimezone(SHANGHAI)
    return [(local_start + timedelta(weeks=n), local_end + timedelta(weeks=n)) for n in range(weeks)]


async def book_series(
    session: AsyncSession,
    principal: Principal,
    data: BookingIn,
    weeks: int,
    *,
    max_open_requests: int | None = None,
    no_show_rule: NoShowRule | None = None,
    now: datetime | None = None,
) -> tuple[BookingSeries, list[SeriesSlot]]:
    now = now or utcnow()
    enterprise_id = booking_firm(principal, data.enterprise_id)
    assert data.start is not None and data.end is not None  # the API's SeriesIn requires them
    if data.start.tzinfo is None or data.end.tzinfo is None:
        raise TimezoneRequired()
    series_id = uuid.uuid4()
    async with transaction(session):
        await load_bookable(session, principal, data.instrument_id)  # one the caller may see, or 404
        session.add(
            BookingSeries(
                id=series_id,
                instrument_id=data.instrument_id,
                user_id=principal.user_id,
                enterprise_id=enterprise_id,
                weeks=weeks,
                created_at=now,
            )
        )
    for week, (start, end) in enumerate(weekly_ranges(data.start, data.end, weeks)):
        one = BookingIn(
            instrument_id=data.instrument_id,
            mode=ServiceMode.machine_time,
            operation=data.operation,
            start=start,
            end=end,
            service_item_id=data.service_item_id,
            note=data.note,
            enterprise_id=enterprise_id,
        )
        booking_id, error = None, None
        try:
            booking = await create_booking(
                session,
                principal,
                one,
                now=now,
                max_open_requests=max_open_requests,
                no_show_rule=no_show_rule,
            )
            booking_id = booking.id
        except DomainError as exc:
            error = exc
        async with transaction(session):
            session.add(
                BookingSeriesSlot(
                    series_id=series_id,
                    week=week,
                    start_at=start,
                    end_at=end,
                    booking_id=booking_id,
                    error_code=error.code if error else None,
                    error_message=error.message[:300] if error else None,
                )
            )
    # A refused week rolled its transaction back, which expires what the session held: read
    # the series afresh, with each week's booking as it now stands.
    return await show_series(session, principal, series_id)


async def _own_series(session: AsyncSession, principal: Principal, series_id: uuid.UUID) -> BookingSeries:
    """The series if the caller made it or books for its firm; else a 404."""
    series = await session.get(BookingSeries, series_id)
    if series is None or (
        series.user_id != principal.user_id and series.enterprise_id not in principal.enterprise_ids
    ):
        raise SeriesNotFound()
    return series


async def _slots(session: AsyncSession, series: BookingSeries) -> list[SeriesSlot]:
    rows = (
        await session.execute(
            select(BookingSeriesSlot, Booking)
            .outerjoin(Booking, Booking.id == BookingSeriesSlot.booking_id)
            .where(BookingSeriesSlot.series_id == series.id)
            .order_by(BookingSeriesSlot.week)
        )
    ).all()
    return [
        SeriesSlot(slot.week + 1, slot.start_at, slot.end_at, booking, slot.error_code, slot.error_message)
        for slot, booking in rows
    ]


async def show_series(
    session: AsyncSession, principal: Principal, series_id: uuid.UUID
) -> tuple[BookingSeries, list[SeriesSlot]]:
    async with transaction(session, read_only=True):
        series = await _own_series(session, principal, series_id)
        return series, await _slots(session, series)


async def cancel_series(
    session: AsyncSession,
    principal: Principal,
    series_id: uuid.UUID,
    reason: str = "",
    *,
    now: datetime | None = None,
) -> tuple[BookingSeries, list[SeriesSlot]]:
    """Cancel every week still to come (its booking holding its slot and not yet begun), each
    by the booking's own cancellation rule; a week that may not be cancelled says why."""
    now = now or utcnow()
    async with transaction(session, read_only=True):
        series = await _own_series(session, principal, series_id)
        slots = await _slots(session, series)
    refused: dict[int, DomainError] = {}
    for slot in slots:
        booking = slot.booking
        if booking is None or booking.status not in SLOT_HOLDING:
            continue
        if booking.start_at is None or booking.start_at <= now:
            continue  # begun or past: not the series' to take back
        try:
            await services.cancel_booking(session, principal, booking.id, reason or "取消周期预约", now=now)
        except DomainError as exc:
            refused[slot.week] = exc
    async with transaction(session):
        series = await _own_series(session, principal, series_id)
        series.cancelled_at = series.cancelled_at or now
        slots = await _slots(session, series)
    return series, [
        SeriesSlot(s.week, s.start, s.end, s.booking, s.error_code, s.error_message, refused.get(s.week))
        for s in slots
    ]


def summary(slots: list[SeriesSlot]) -> str:
    """「已预约 7 周；第 3 周（12月15日 09:00-11:00）未能预约：该时段已被预约，请选择其他时段」"""
    booked = [s for s in slots if s.booking is not None]
    parts = [f"已预约 {len(booked)} 周"]
    for s in slots:
        if s.booking is None:
            start, end = s.start.astimezone(SHANGHAI), s.end.astimezone(SHANGHAI)
            when = f"{start.month}月{start.day}日 {start:%H:%M}-{end:%H:%M}"
            parts.append(f"第 {s.week} 周（{when}）未能预约：{s.error_message}")
    return "；".join(parts)
