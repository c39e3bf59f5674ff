"""Phone pages after booking: my bookings (status, history; the waiting list's entries and
offers, whose forms are ``console.mobile_waitlist``'s), one booking (cancel with the fee its
rules say, the bill and its payment page, result downloads, the rating), and the firm admin's
page (the firm's vouchers, members and statements).

The services decide: ``list_bookings``/``get_booking``, ``my_entries`` (the place in line),
``cancel_booking`` (the fee shown beforehand is ``firm_cancellation_fee``, the one it charges),
``list_results``, ``rate_booking``, ``wallet.my_vouchers``, ``list_members``, ``statements.statement``.
"""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request, get, post
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal, requires_role, requires_user
from accounts.models import BOOKER_ROLES, Role
from accounts.organizations import list_members
from booking.models import WAITLIST_OPEN, Booking, BookingStatus, WaitlistStatus
from booking.queries import get_booking, list_bookings
from booking.services import ACTION_LABELS, STATUS_LABELS, cancel_booking, firm_cancellation_terms
from booking.waitlist import my_entries
from console.names import instrument_names, org_names
from console.pages import render
from console.phone import KEY_FIELD, booking_page, new_key, once
from ratings.services import rate_booking
from ratings.settings import RatingsSettings
from results.services import download_path, list_results
from vouchers import statements as statement_service
from vouchers import wallet
from vouchers.evidence import rating_window
from yixiang.db import transaction, utcnow
from yixiang.errors import InvalidInput

CANCELLABLE = {BookingStatus.requested, BookingStatus.confirmed}
BILLED = {BookingStatus.completed, BookingStatus.delivered, BookingStatus.rated}
WITH_RESULTS = {BookingStatus.delivered, BookingStatus.rated}
WAITING_SHOWN = 10  # waiting-list entries on the page (a small page); the API lists them all
HISTORY_LABELS = {"book": "提交预约", **ACTION_LABELS}  # a booking's first step is made, not moved


@get("/m/bookings", summary="Phone: my bookings", guards=[requires_user])
async def my_bookings(
    request: Request[Any, Any, Any], principal: Principal, db_session: AsyncSession, offset: int = 0
) -> Template:
    offset = max(0, min(offset, 1_000_000))
    rows, total = await list_bookings(db_session, principal, mine=True, limit=20, offset=offset)
    entries = await my_entries(db_session, principal)
    waiting = [(e, place) for e, place in entries if e.status in WAITLIST_OPEN]
    waiting.sort(key=lambda shown: shown[0].status != WaitlistStatus.offered)  # offers first: they run out
    waiting, more_waiting = waiting[:WAITING_SHOWN], max(0, len(waiting) - WAITING_SHOWN)
    async with transaction(db_session, read_only=True):
        names = await instrument_names(
            db_session, [b.instrument_id for b, _ in rows] + [e.instrument_id for e, _ in waiting]
        )
    return render(
        request,
        "m_bookings.html",
        rows=[b for b, _ in rows],
        waiting=waiting,
        more_waiting=more_waiting,
        now=utcnow(),
        names=names,
        labels=STATUS_LABELS,
        total=total,
        offset=offset,
        key=new_key(),
        KEY_FIELD=KEY_FIELD,
    )


async def _cancellation(db_session: AsyncSession, booking: Booking) -> tuple[bool, int | None]:
    """Whether the firm may cancel now, and what it would cost (None: only the provider can)."""
    if booking.status not in CANCELLABLE:
        return False, None
    async with transaction(db_session, read_only=True):
        return True, await firm_cancellation_terms(db_session, booking, utcnow())


@get("/m/bookings/{booking_id:uuid}", summary="Phone: one booking", guards=[requires_role(*BOOKER_ROLES)])
async def booking_detail(
    request: Request[Any, Any, Any], booking_id: uuid.UUID, principal: Principal, db_session: AsyncSession
) -> Template:
    booking, history, position = await get_booking(db_session, principal, booking_id)
    async with transaction(db_session, read_only=True):
        name = (await instrument_names(db_session, [booking.instrument_id])).get(booking.instrument_id, "")
    mine = booking.enterprise_id in principal.enterprise_ids
    can_cancel, fee = await _cancellation(db_session, booking) if mine else (False, None)
    files = []
    if mine and booking.status in WITH_RESULTS:
        settings = request.app.state.settings
        files = [
            (f, download_path(settings, f, principal) if f.purged_at is None else None)
            for f in await list_results(db_session, principal, booking_id)
        ]
    return render(
        request,
        "m_booking.html",
        b=booking,
        instrument=name,
        history=history,
        position=position,
        labels=STATUS_LABELS,
        actions=HISTORY_LABELS,
        can_cancel=can_cancel,
        cancel_fee=fee,
        billed=mine and booking.status in BILLED,
        files=files,
        can_rate=mine and booking.status == BookingStatus.delivered,
        key=new_key(),
        KEY_FIELD=KEY_FIELD,
    )


@post(
    "/m/bookings/{booking_id:uuid}/cancel",
    summary="Phone: cancel my booking (once)",
    guards=[requires_role(*BOOKER_ROLES)],
)
async def cancel(
    request: Request[Any, Any, Any], booking_id: uuid.UUID, principal: Principal, db_session: AsyncSession
) -> Redirect:
    reason = str((await request.form()).get("reason", ""))[:500]

    async def work() -> str:
        booking = await cancel_booking(db_session, principal, booking_id, reason)
        fee = booking.cancellation_fee_fen
        return f"已取消，收取取消费 {fee / 100:.2f} 元" if fee else "已取消，不收取费用"

    return await once(request, principal, booking_page(booking_id), work)


@post(
    "/m/bookings/{booking_id:uuid}/rating",
    summary="Phone: rate a delivered booking (once)",
    guards=[requires_role(*BOOKER_ROLES)],
)
async def rate(
    request: Request[Any, Any, Any], booking_id: uuid.UUID, principal: Principal, db_session: AsyncSession
) -> Redirect:
    form = await request.form()
    overall = str(form.get("overall", ""))
    if overall not in {"1", "2", "3", "4", "5"}:
        raise InvalidInput("请选择 1 到 5 星", field="overall")
    comment = str(form.get("comment", ""))[:20_000]
    window = RatingsSettings.of(request.app.state.settings).window_days

    async def work() -> str:
        await rate_booking(
            db_session, principal, booking_id, overall=int(overall), dimensions={}, comment=comment,
            window_days=window,
        )  # fmt: skip
        return "感谢评价"

    return await once(request, principal, booking_page(booking_id), work)


@get(
    "/m/firm",
    summary="Phone: the firm admin's vouchers, members and statements",
    guards=[requires_role(Role.enterprise_admin)],
)
async def firm_page(
    request: Request[Any, Any, Any], principal: Principal, db_session: AsyncSession
) -> Template:
    firm_id = sorted(principal.orgs_where(Role.enterprise_admin))[0]
    async with transaction(db_session, read_only=True):
        vouchers = await wallet.my_vouchers(db_session, principal, firm_id)
        firm_name = (await org_names(db_session, [firm_id])).get(firm_id, "")
    members = await list_members(db_session, principal, firm_id)
    rows, _ = await list_bookings(db_session, principal, statuses=tuple(BILLED), limit=20)
    window = rating_window(request.app.state)
    bills = []
    async with transaction(db_session, read_only=True):
        for booking, _ in rows:
            if booking.enterprise_id == firm_id:
                bills.append(
                    await statement_service.statement(db_session, principal, booking.id, rating_window=window)
                )
    return render(
        request, "m_firm.html", firm_name=firm_name, vouchers=vouchers, members=members, bills=bills
    )


ROUTES = [my_bookings, booking_detail, cancel, rate, firm_page]
