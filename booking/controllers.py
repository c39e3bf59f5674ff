"""HTTP routes of bookings, availability, calendars and qualifications: parse → service → Struct."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, delete, get, post, put
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal, requires_user
from booking import calendar_admin, free_time, holiday_notes, qualifications, quotes, services
from booking.creation import create_booking
from booking.credit import NoShowRule
from booking.models import BookingStatus
from booking.queries import get_booking, get_booking_by_number, list_bookings, queue_position
from booking.schemas import (
    AvailabilityOut,
    BookingIn,
    BookingOut,
    BookingPage,
    CalendarIn,
    CalendarOut,
    ClosureIn,
    ClosureOut,
    CompleteIn,
    PriceQuoteOut,
    QualificationIn,
    QualificationOut,
    ReasonIn,
    SensedUseOut,
    availability_out,
    booking_out,
    calendar_out,
    closure_out,
    qualification_out,
    quote_out,
)
from booking.sensed import SENSED_USE
from booking.settings import BookingSettings
from catalogue.models import ServiceMode
from yixiang.db import transaction
from yixiang.ratelimit import rate_limit
from yixiang.replicas import REPLICA_READS


class QuoteController(Controller):
    path = "/api/v1/quotes"
    tags = ["bookings"]
    guards = [requires_user]

    @post(
        "/",
        summary="The price of a booking before making it: fee, voucher share now, remainder (holds nothing)",
        status_code=200,
        guards=[rate_limit("search")],
    )
    async def create(self, data: BookingIn, principal: Principal, db_session: AsyncSession) -> PriceQuoteOut:
        return quote_out(data.instrument_id, await quotes.quote_booking(db_session, principal, data))


class BookingController(Controller):
    path = "/api/v1/bookings"
    tags = ["bookings"]
    guards = [requires_user]

    @post("/", summary="Book machine time or queue samples", guards=[rate_limit("booking")])
    async def create(
        self, data: BookingIn, principal: Principal, db_session: AsyncSession, request: Request[Any, Any, Any]
    ) -> BookingOut:
        settings = request.app.state.settings
        cap = BookingSettings.of(settings).max_open_requests_per_instrument
        booking = await create_booking(
            db_session, principal, data, max_open_requests=cap, no_show_rule=NoShowRule.of(settings)
        )
        position = None
        if booking.mode == ServiceMode.sample_testing:
            async with transaction(db_session):
                position = await queue_position(db_session, booking)
        note = await holiday_notes.booking_note(db_session, booking)
        return booking_out(booking, queue_position=position, holiday_note=note)

    @get(
        "/",
        summary="Bookings of my firms and of the units I manage (default), made by me (mine=true), "
        "or of one unit I manage (unit=...)",
    )
    async def index(
        self,
        principal: Principal,
        db_session: AsyncSession,
        mine: bool = False,
        unit: uuid.UUID | None = None,
        status: BookingStatus | None = None,
        instrument_id: uuid.UUID | None = None,
        limit: Annotated[int, Parameter(ge=1, le=200)] = 50,
        offset: Annotated[int, Parameter(ge=0, le=1_000_000)] = 0,
    ) -> BookingPage:
        rows, total = await list_bookings(
            db_session,
            principal,
            mine=mine,
            unit_id=unit,
            status=status,
            instrument_id=instrument_id,
            limit=limit,
            offset=offset,
        )
        return BookingPage(
            items=[booking_out(b, queue_position=p) for b, p in rows], total=total, limit=limit, offset=offset
        )

    @get("/{booking_id:uuid}", summary="One booking with its history")
    async def show(self, booking_id: uuid.UUID, principal: Principal, db_session: AsyncSession) -> BookingOut:
        booking, history, position = await get_booking(db_session, principal, booking_id)
        return booking_out(booking, queue_position=position, history=history)

    @get("/by-number/{number:str}", summary="One booking found by its number (预约号, e.g. from a memo)")
    async def by_number(
        self,
        number: Annotated[str, Parameter(max_length=40)],
        principal: Principal,
        db_session: AsyncSession,
    ) -> BookingOut:
        booking, history, position = await get_booking_by_number(db_session, principal, number)
        return booking_out(booking, queue_position=position, history=history)

    @post("/{booking_id:uuid}/approve", status_code=200, summary="Provider: approve a request")
    async def approve(
        self,
        booking_id: uuid.UUID,
        principal: Principal,
        db_session: AsyncSession,
        data: ReasonIn | None = None,
    ) -> BookingOut:
        reason = data.reason if data else ""
        return booking_out(await services.approve_booking(db_session, principal, booking_id, reason))

    @post("/{booking_id:uuid}/reject", status_code=200, summary="Provider: reject a request")
    async def reject(
        self,
        booking_id: uuid.UUID,
        principal: Principal,
        db_session: AsyncSession,
        data: ReasonIn | None = None,
    ) -> BookingOut:
        reason = data.reason if data else ""
        return booking_out(await services.reject_booking(db_session, principal, booking_id, reason))

    @post("/{booking_id:uuid}/cancel", status_code=200, summary="Firm or provider: cancel")
    async def cancel(
        self,
        booking_id: uuid.UUID,
        principal: Principal,
        db_session: AsyncSession,
        data: ReasonIn | None = None,
    ) -> BookingOut:
        reason = data.reason if data else ""
        return booking_out(await services.cancel_booking(db_session, principal, booking_id, reason))

    @post("/{booking_id:uuid}/check-in", status_code=200, summary="Provider: user arrived / samples received")
    async def check_in(
        self,
        booking_id: uuid.UUID,
        principal: Principal,
        db_session: AsyncSession,
        data: ReasonIn | None = None,
    ) -> BookingOut:
        reason = data.reason if data else ""
        return booking_out(await services.check_in_booking(db_session, principal, booking_id, reason))

    @post(
        "/{booking_id:uuid}/complete",
        status_code=200,
        summary="Provider: record actual use and the final fee",
    )
    async def complete(
        self,
        booking_id: uuid.UUID,
        principal: Principal,
        db_session: AsyncSession,
        request: Request[Any, Any, Any],
        data: CompleteIn | None = None,
    ) -> BookingOut:
        reader = request.app.state.services.get(SENSED_USE)
        return booking_out(
            await services.complete_booking(
                db_session, principal, booking_id, data or CompleteIn(), sensed_use=reader
            )
        )

    @get(
        "/{booking_id:uuid}/sensed-use",
        summary="Provider: the sensor's record of the slot, offered as the actual times at completion",
    )
    async def sensed_use(
        self,
        booking_id: uuid.UUID,
        principal: Principal,
        db_session: AsyncSession,
        request: Request[Any, Any, Any],
    ) -> SensedUseOut:
        found = await services.sensed_use_for_provider(
            db_session, principal, booking_id, request.app.state.services.get(SENSED_USE)
        )
        if found is None:
            return SensedUseOut(
                sensed=False, actual_start=None, actual_end=None, running_minutes=0, sessions=0
            )
        return SensedUseOut(
            sensed=True,
            actual_start=found.start,
            actual_end=found.end,
            running_minutes=found.running_seconds // 60,
            sessions=found.sessions,
        )

    @post("/{booking_id:uuid}/no-show", status_code=200, summary="Provider: the user did not come")
    async def no_show(
        self,
        booking_id: uuid.UUID,
        principal: Principal,
        db_session: AsyncSession,
        data: ReasonIn | None = None,
    ) -> BookingOut:
        reason = data.reason if data else ""
        return booking_out(await services.mark_no_show(db_session, principal, booking_id, reason))


class AvailabilityController(Controller):
    path = "/api/v1/instruments"
    tags = ["bookings"]

    @get(
        "/{instrument_id:uuid}/availability",
        summary="What a client needs to book an instrument: the modes offered, the booking rules, "
        "and free machine time as ranges and slots",
        opt={REPLICA_READS: True},
    )
    async def availability(
        self,
        instrument_id: uuid.UUID,
        maybe_principal: Principal | None,
        db_session: AsyncSession,
        from_: Annotated[
            str | None,
            Parameter(query="from", description="ISO 8601 with offset, or a date (Shanghai midnight)"),
        ] = None,
        to: Annotated[
            str | None, Parameter(description="ISO 8601 with offset, or a date; default from + 7 days")
        ] = None,
    ) -> AvailabilityOut:
        start = calendar_admin.parse_moment(from_, field="from")
        end = calendar_admin.parse_moment(to, field="to")
        found = await free_time.availability(db_session, maybe_principal, instrument_id, start, end)
        answer = availability_out(instrument_id, found)
        answer.holiday_note = await holiday_notes.availability_note(
            db_session, found.rules, found.start, found.end
        )
        return answer

    @get("/{instrument_id:uuid}/calendar", summary="An instrument's opening hours and booking rules")
    async def calendar(
        self, instrument_id: uuid.UUID, maybe_principal: Principal | None, db_session: AsyncSession
    ) -> CalendarOut:
        rules = await calendar_admin.get_calendar(db_session, maybe_principal, instrument_id)
        answer = calendar_out(instrument_id, rules)
        answer.holiday_note = await holiday_notes.calendar_note(db_session, rules)
        return answer


class ProviderCalendarController(Controller):
    path = "/api/v1/provider/instruments"
    tags = ["provider"]
    guards = [requires_user]

    @get("/{instrument_id:uuid}/calendar", summary="The calendar (default until set)")
    async def show(
        self, instrument_id: uuid.UUID, principal: Principal, db_session: AsyncSession
    ) -> CalendarOut:
        rules = await calendar_admin.get_calendar(db_session, principal, instrument_id)
        return calendar_out(instrument_id, rules)

    @put("/{instrument_id:uuid}/calendar", summary="Set opening hours and booking rules")
    async def update(
        self, instrument_id: uuid.UUID, data: CalendarIn, principal: Principal, db_session: AsyncSession
    ) -> CalendarOut:
        rules = await calendar_admin.update_calendar(db_session, principal, instrument_id, data)
        return calendar_out(instrument_id, rules)

    @get("/{instrument_id:uuid}/closures", summary="Current and future closures")
    async def closures(
        self, instrument_id: uuid.UUID, principal: Principal, db_session: AsyncSession
    ) -> list[ClosureOut]:
        rows = await calendar_admin.list_closures(db_session, principal, instrument_id)
        return [closure_out(r) for r in rows]

    @post("/{instrument_id:uuid}/closures", summary="Close the instrument for a time (maintenance)")
    async def add_closure(
        self, instrument_id: uuid.UUID, data: ClosureIn, principal: Principal, db_session: AsyncSession
    ) -> ClosureOut:
        row, affected = await calendar_admin.add_closure(db_session, principal, instrument_id, data)
        return closure_out(row, affected)

    @delete("/{instrument_id:uuid}/closures/{closure_id:uuid}", summary="Remove a closure")
    async def remove_closure(
        self, instrument_id: uuid.UUID, closure_id: uuid.UUID, principal: Principal, db_session: AsyncSession
    ) -> None:
        await calendar_admin.delete_closure(db_session, principal, instrument_id, closure_id)


class QualificationController(Controller):
    path = "/api/v1"
    tags = ["provider"]
    guards = [requires_user]

    @post("/provider/qualifications", summary="Grant a self-operation qualification")
    async def grant(
        self, data: QualificationIn, principal: Principal, db_session: AsyncSession
    ) -> QualificationOut:
        return qualification_out(await qualifications.grant_qualification(db_session, principal, data))

    @get("/provider/qualifications", summary="Qualifications granted by a unit")
    async def index(
        self, unit: uuid.UUID, principal: Principal, db_session: AsyncSession
    ) -> list[QualificationOut]:
        rows = await qualifications.list_qualifications(db_session, principal, unit_id=unit, mine=False)
        return [qualification_out(r) for r in rows]

    @post("/provider/qualifications/{qualification_id:uuid}/revoke", status_code=200, summary="Revoke")
    async def revoke(
        self, qualification_id: uuid.UUID, principal: Principal, db_session: AsyncSession
    ) -> QualificationOut:
        return qualification_out(
            await qualifications.revoke_qualification(db_session, principal, qualification_id)
        )

    @get("/qualifications", summary="My qualifications")
    async def mine(self, principal: Principal, db_session: AsyncSession) -> list[QualificationOut]:
        rows = await qualifications.list_qualifications(db_session, principal, unit_id=None, mine=True)
        return [qualification_out(r) for r in rows]
