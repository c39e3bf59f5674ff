"""Phone pages of the waiting list (候补): a held range of the week calendar opens a form to queue
for time within it; 我的预约 lists the user's open entries (their place in line, 退出候补) and an
offer held for them with its deadline (确认预约 books it).

The waiting list's services decide, as for the API (``booking.waitlist_api``): ``join_waitlist``
(is the time taken, the rules of a booking, one entry per range), ``my_entries`` with the place in
line, ``accept_offer`` (the normal booking path) and ``decline_offer``. Every form is done once
however often it is tapped (``console.phone.once``).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from litestar import Request, get, post
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal, requires_role
from accounts.models import BOOKER_ROLES
from booking import free_time, waitlist
from booking.calendar_rules import next_on_grid
from booking.credit import NoShowRule
from booking.errors import InvalidRange, TimezoneRequired
from booking.models import Operation, WaitlistStatus
from booking.settings import BookingSettings
from catalogue.access import visible_instrument
from console.mobile_find import OPERATION_NAMES, booked, booking_form, choices, operation_for
from console.pages import render
from console.phone import KEY_FIELD, new_key, once
from yixiang.db import transaction
from yixiang.ratelimit import rate_limit

MINE = "/console/m/bookings"
LONGEST_RANGE = timedelta(days=1)  # a held range the page offers starts in (the week shows one a day)


def _page(instrument_id: uuid.UUID) -> str:
    return f"/console/m/instruments/{instrument_id}/book"


@get(
    "/m/instruments/{instrument_id:uuid}/waitlist",
    summary="Phone: queue for time within a held range (the waiting list's form)",
    guards=[requires_role(*BOOKER_ROLES)],
)
async def waitlist_page(
    request: Request[Any, Any, Any],
    instrument_id: uuid.UUID,
    principal: Principal,
    db_session: AsyncSession,
    range_start: datetime,
    range_end: datetime,
    start: datetime | None = None,
    end: datetime | None = None,
    operation: Operation | None = None,
) -> Template:
    if range_start.tzinfo is None or range_end.tzinfo is None:
        raise TimezoneRequired(field="range_start")
    if range_end <= range_start:
        raise InvalidRange(field="range_end")
    range_end = min(range_end, range_start + LONGEST_RANGE)
    found = await free_time.availability(db_session, principal, instrument_id, None, None)
    async with transaction(db_session, read_only=True):
        instrument = await visible_instrument(db_session, principal, instrument_id)
    rules = found.rules
    operation = operation_for(found.operations, operation)
    step = rules.slot_minutes
    starts = choices(next_on_grid(range_start, step), range_end - timedelta(minutes=step), step)
    start = start if start in starts else (starts[0] if starts else None)
    ends: list[datetime] = []
    if start is not None:
        shortest = start + timedelta(minutes=rules.min_duration_minutes)
        longest = min(start + timedelta(minutes=rules.max_duration_minutes), max(range_end, shortest))
        ends = choices(shortest, longest, step)
    end = end if end in ends else (ends[0] if ends else None)
    return render(
        request,
        "m_waitlist.html",
        instrument=instrument,
        range_start=range_start,
        range_end=range_end,
        starts=starts,
        ends=ends,
        start=start,
        end=end,
        operation=operation,
        operations=found.operations,
        operation_names=OPERATION_NAMES,
        key=new_key(),
        KEY_FIELD=KEY_FIELD,
    )


@post(
    "/m/waitlist",
    summary="Phone: join the waiting list for taken machine time (once)",
    guards=[requires_role(*BOOKER_ROLES), rate_limit("booking")],
)
async def join(request: Request[Any, Any, Any], principal: Principal, db_session: AsyncSession) -> Redirect:
    wanted = await booking_form(request)
    minutes = BookingSettings.of(request.app.state.settings).waitlist_offer_minutes

    async def work() -> tuple[str, str]:
        _, place = await waitlist.join_waitlist(db_session, principal, wanted, hold_minutes=minutes)
        return f"已加入候补，当前排第 {place} 位；有人取消时将为您保留 {minutes} 分钟", MINE

    return await once(request, principal, _page(wanted.instrument_id), work)


@post(
    "/m/waitlist/{entry_id:uuid}/accept",
    summary="Phone: book the range held for me (once)",
    guards=[requires_role(*BOOKER_ROLES), rate_limit("booking")],
)
async def accept(
    request: Request[Any, Any, Any], entry_id: uuid.UUID, principal: Principal, db_session: AsyncSession
) -> Redirect:
    settings = request.app.state.settings

    async def work() -> tuple[str, str]:
        booking = await waitlist.accept_offer(
            db_session,
            principal,
            entry_id,
            max_open_requests=BookingSettings.of(settings).max_open_requests_per_instrument,
            no_show_rule=NoShowRule.of(settings),
        )
        return booked(booking)

    return await once(request, principal, MINE, work)


@post(
    "/m/waitlist/{entry_id:uuid}/decline",
    summary="Phone: leave the waiting list, or give up the range held for me (once)",
    guards=[requires_role(*BOOKER_ROLES)],
)
async def decline(
    request: Request[Any, Any, Any], entry_id: uuid.UUID, principal: Principal, db_session: AsyncSession
) -> Redirect:
    async def work() -> str:
        entry = await waitlist.decline_offer(db_session, principal, entry_id)
        return "已放弃为您保留的时段" if entry.status == WaitlistStatus.declined else "已退出候补"

    return await once(request, principal, MINE, work)


ROUTES = [waitlist_page, join, accept, decline]
