"""HTTP routes of the waiting list (候补): join, see my entries, accept or decline an offer."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from litestar import Controller, Request, get, post
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal, requires_user
from booking import waitlist
from booking.credit import NoShowRule
from booking.models import Operation, WaitlistEntry, WaitlistStatus
from booking.schemas import BookingIn, BookingOut, booking_out
from booking.settings import BookingSettings
from yixiang.ratelimit import rate_limit
from yixiang.schemas import Output

STATUS_TEXT = {
    WaitlistStatus.waiting: "候补中",
    WaitlistStatus.offered: "已为您保留，待确认",
    WaitlistStatus.booked: "已预约",
    WaitlistStatus.declined: "已放弃",
    WaitlistStatus.expired: "保留超时未确认",
    WaitlistStatus.lapsed: "时段已过",
    WaitlistStatus.left: "已退出候补",
}


class WaitlistEntryOut(Output):
    id: uuid.UUID
    instrument_id: uuid.UUID
    enterprise_id: uuid.UUID
    operation: Operation
    start: datetime
    end: datetime
    status: WaitlistStatus
    status_text: str
    place_in_line: int | None  # while waiting: 1 = the next to be offered
    hold_minutes: int
    offer_expires_at: datetime | None
    booking_id: uuid.UUID | None
    created_at: datetime


def entry_out(entry: WaitlistEntry, place: int | None = None) -> WaitlistEntryOut:
    return WaitlistEntryOut(
        id=entry.id,
        instrument_id=entry.instrument_id,
        enterprise_id=entry.enterprise_id,
        operation=entry.operation,
        start=entry.start_at,
        end=entry.end_at,
        status=entry.status,
        status_text=STATUS_TEXT[entry.status],
        place_in_line=place,
        hold_minutes=entry.hold_minutes,
        offer_expires_at=entry.offer_expires_at,
        booking_id=entry.booking_id,
        created_at=entry.created_at,
    )


class WaitlistController(Controller):
    path = "/api/v1/waitlist"
    tags = ["bookings"]
    guards = [requires_user]

    @post(
        "/",
        summary="Join the waiting list for taken machine time (the body of a booking)",
        guards=[rate_limit("booking")],
    )
    async def join(
        self, data: BookingIn, principal: Principal, db_session: AsyncSession, request: Request[Any, Any, Any]
    ) -> WaitlistEntryOut:
        minutes = BookingSettings.of(request.app.state.settings).waitlist_offer_minutes
        entry, place = await waitlist.join_waitlist(db_session, principal, data, hold_minutes=minutes)
        return entry_out(entry, place)

    @get("/", summary="My waiting-list entries, newest first")
    async def mine(self, principal: Principal, db_session: AsyncSession) -> list[WaitlistEntryOut]:
        return [entry_out(e, place) for e, place in await waitlist.my_entries(db_session, principal)]

    @post(
        "/{entry_id:uuid}/accept",
        status_code=200,
        summary="Book the range held for me (the normal booking rules apply)",
        guards=[rate_limit("booking")],
    )
    async def accept(
        self,
        entry_id: uuid.UUID,
        principal: Principal,
        db_session: AsyncSession,
        request: Request[Any, Any, Any],
    ) -> BookingOut:
        settings = request.app.state.settings
        cap = BookingSettings.of(settings).max_open_requests_per_instrument
        booking = await waitlist.accept_offer(
            db_session, principal, entry_id, max_open_requests=cap, no_show_rule=NoShowRule.of(settings)
        )
        return booking_out(booking)

    @post(
        "/{entry_id:uuid}/decline",
        status_code=200,
        summary="Decline the range held for me, or leave the line; it goes to the next",
    )
    async def decline(
        self, entry_id: uuid.UUID, principal: Principal, db_session: AsyncSession
    ) -> WaitlistEntryOut:
        return entry_out(await waitlist.decline_offer(db_session, principal, entry_id))
