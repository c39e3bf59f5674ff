"""HTTP routes of weekly series: book one, see it week by week, cancel what is still to come."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, post
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal, requires_user
from booking import series as weekly
from booking.credit import NoShowRule
from booking.models import BookingSeries, BookingStatus, Operation
from booking.schemas import BookingIn, ReasonIn
from booking.settings import BookingSettings
from catalogue.models import ServiceMode
from yixiang.ratelimit import rate_limit
from yixiang.schemas import Input, Moment, Output

MAX_WEEKS = 26


class SeriesIn(Input):
    instrument_id: uuid.UUID
    operation: Operation
    start: Moment  # the first week's slot, ISO 8601 with offset
    end: Moment
    weeks: Annotated[int, msgspec.Meta(ge=2, le=MAX_WEEKS)]
    service_item_id: uuid.UUID | None = None
    note: Annotated[str, msgspec.Meta(max_length=1000)] = ""
    enterprise_id: uuid.UUID | None = None


class RefusalOut(Output):
    code: str
    message: str


class SeriesSlotOut(Output):
    week: int  # 1 for the first
    start: datetime
    end: datetime
    booked: bool
    booking_id: uuid.UUID | None
    number: str | None
    status: BookingStatus | None  # the booking's status now
    refusal: RefusalOut | None  # why the week could not be booked
    cancel_refusal: RefusalOut | None = None  # why a series cancellation left this week as it was


class SeriesOut(Output):
    id: uuid.UUID
    instrument_id: uuid.UUID
    enterprise_id: uuid.UUID
    weeks: int
    booked: int
    failed: int
    summary: str
    created_at: datetime
    cancelled_at: datetime | None
    slots: list[SeriesSlotOut]


def series_out(series: BookingSeries, slots: list[weekly.SeriesSlot]) -> SeriesOut:
    return SeriesOut(
        id=series.id,
        instrument_id=series.instrument_id,
        enterprise_id=series.enterprise_id,
        weeks=series.weeks,
        booked=sum(1 for s in slots if s.booking is not None),
        failed=sum(1 for s in slots if s.booking is None),
        summary=weekly.summary(slots),
        created_at=series.created_at,
        cancelled_at=series.cancelled_at,
        slots=[
            SeriesSlotOut(
                week=s.week,
                start=s.start,
                end=s.end,
                booked=s.booking is not None,
                booking_id=s.booking.id if s.booking else None,
                number=s.booking.number if s.booking else None,
                status=s.booking.status if s.booking else None,
                refusal=RefusalOut(code=s.error_code, message=s.error_message or "")
                if s.error_code
                else None,
                cancel_refusal=RefusalOut(code=s.cancel_error.code, message=s.cancel_error.message)
                if s.cancel_error
                else None,
            )
            for s in slots
        ],
    )


class BookingSeriesController(Controller):
    path = "/api/v1/booking-series"
    tags = ["bookings"]
    guards = [requires_user]

    @post(
        "/",
        summary="Book the same hours every week: each week booked or refused on its own",
        guards=[rate_limit("booking")],
    )
    async def create(
        self, data: SeriesIn, principal: Principal, db_session: AsyncSession, request: Request[Any, Any, Any]
    ) -> SeriesOut:
        settings = request.app.state.settings
        cap = BookingSettings.of(settings).max_open_requests_per_instrument
        first = BookingIn(
            instrument_id=data.instrument_id,
            mode=ServiceMode.machine_time,
            operation=data.operation,
            start=data.start,
            end=data.end,
            service_item_id=data.service_item_id,
            note=data.note,
            enterprise_id=data.enterprise_id,
        )
        series, slots = await weekly.book_series(
            db_session,
            principal,
            first,
            data.weeks,
            max_open_requests=cap,
            no_show_rule=NoShowRule.of(settings),
        )
        return series_out(series, slots)

    @get("/{series_id:uuid}", summary="A series week by week, with each booking's status now")
    async def show(self, series_id: uuid.UUID, principal: Principal, db_session: AsyncSession) -> SeriesOut:
        return series_out(*await weekly.show_series(db_session, principal, series_id))

    @post("/{series_id:uuid}/cancel", status_code=200, summary="Cancel the weeks of a series still to come")
    async def cancel(
        self,
        series_id: uuid.UUID,
        principal: Principal,
        db_session: AsyncSession,
        data: ReasonIn | None = None,
    ) -> SeriesOut:
        reason = data.reason if data else ""
        return series_out(*await weekly.cancel_series(db_session, principal, series_id, reason))
