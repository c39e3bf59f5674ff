"""The demo's published 2025 yearly report for 杭州 (330100), so the public page opens right after
``uv run yixiang serve`` (at ``/reports/yearly/330100/2025``).

Its figures come from records, as any report's do: a year of 2025 bookings on 之江理工's demo
instruments, taken through the booking services at their 2025 moments (the demo firms' researchers
book machine time and samples; the unit's staff approve, check in and complete with the recorded
use; a few are cancelled or missed), then 杭州's science officer publishes through the publishing
service. The demo programmes are 2026's: the 2025 report shows no voucher use, as the records say.

Idempotent: the bookings carry a note naming them and are made once; a published report is never
published again. Quiet when the accounts or the catalogue are not there.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal, load_user, principal_from_user
from accounts.demo import demo_id
from booking import services
from booking.creation import create_booking
from booking.models import Booking, InstrumentCalendar, Operation
from booking.schemas import BookingIn, CompleteIn
from catalogue.models import Instrument, InstrumentStatus, PublicationStatus, ServiceItem, ServiceMode
from oversight.report_models import PublishedYearlyReport
from oversight.yearly import publish_report
from yixiang.clock import SHANGHAI
from yixiang.db import transaction
from yixiang.errors import DomainError

REGION, YEAR = "330100", 2025
NOTE = "演示年报 2025"
RESEARCHERS = ("demo-researcher", "demo-researcher-2", "demo-researcher-nb")
# (month, day, start hour, hours booked, hours used) of machine time; (month, day) of samples
MACHINE = [(m, 8 + (m * 3) % 12, 9 if m % 2 else 14, 3, 2 + (m % 3) * 0.5) for m in range(1, 13)]
MACHINE += [(m, 20, 9, 4, 4) for m in (3, 4, 5, 6, 9, 10, 11, 12)]
SAMPLES = [(m, 14 + m % 5) for m in range(1, 13) if m not in (2, 8)]
CANCELLED = [(5, 26), (11, 24)]
MISSED = [(7, 15)]


async def _principal(session: AsyncSession, username: str) -> Principal | None:
    user = await load_user(session, demo_id(username))
    return principal_from_user(user) if user is not None else None


async def _bookable(session: AsyncSession) -> list[tuple[uuid.UUID, uuid.UUID | None, uuid.UUID | None]]:
    """之江理工's published, in-service instruments with a calendar: (id, hourly item, sample item)."""
    rows = (
        await session.execute(
            select(Instrument.id)
            .join(InstrumentCalendar, InstrumentCalendar.instrument_id == Instrument.id)
            .where(
                Instrument.unit_id == demo_id("unit-zjlg"),
                Instrument.publication == PublicationStatus.published,
                Instrument.status == InstrumentStatus.in_service,
                Instrument.operator_run.is_(True),
                InstrumentCalendar.needs_approval.is_(False),
            )
            .order_by(Instrument.id)
            .limit(8)
        )
    ).all()
    found = []
    for (instrument_id,) in rows:
        items = dict(
            (
                await session.execute(
                    select(ServiceItem.mode, ServiceItem.id)
                    .where(ServiceItem.instrument_id == instrument_id, ServiceItem.active.is_(True))
                    .order_by(ServiceItem.position.desc())
                )
            ).all()
        )
        found.append(
            (instrument_id, items.get(ServiceMode.machine_time), items.get(ServiceMode.sample_testing))
        )
    return found


def _at(day: date, hour: float) -> datetime:
    return datetime.combine(day, time(), tzinfo=SHANGHAI) + timedelta(hours=hour)


async def _machine_time(
    session: AsyncSession,
    who: Principal,
    staff: Principal,
    instrument: uuid.UUID,
    item: uuid.UUID,
    day: date,
    slot: tuple[float, float, float],
    end_as: str,
) -> None:
    """One booking of machine time on the first working day from ``day`` the calendar takes."""
    start_hour, booked, used = slot
    for offset in range(10):
        start = _at(day + timedelta(days=offset), start_hour)
        request = BookingIn(
            instrument_id=instrument,
            mode=ServiceMode.machine_time,
            operation=Operation.operator,
            service_item_id=item,
            start=start,
            end=start + timedelta(hours=booked),
            note=NOTE,
        )
        try:
            async with session.begin_nested():
                booking = await create_booking(session, who, request, now=start - timedelta(days=3))
                if end_as == "cancelled":
                    await services.cancel_booking(session, who, booking.id, now=start - timedelta(days=2))
                elif end_as == "missed":
                    await services.mark_no_show(
                        session, staff, booking.id, now=start + timedelta(hours=booked)
                    )
                else:
                    await services.check_in_booking(session, staff, booking.id, now=start)
                    await session.flush()
                    actual = CompleteIn(actual_start=start, actual_end=start + timedelta(hours=used))
                    await services.complete_booking(
                        session, staff, booking.id, actual, now=start + timedelta(hours=booked)
                    )
            return
        except DomainError:
            continue  # a holiday, a closed day or a taken slot: the next day


async def _samples(
    session: AsyncSession, who: Principal, staff: Principal, instrument: uuid.UUID, item: uuid.UUID, day: date
) -> None:
    booked_at = _at(day, 10)
    request = BookingIn(
        instrument_id=instrument, mode=ServiceMode.sample_testing, service_item_id=item, samples=3, note=NOTE
    )
    try:
        async with session.begin_nested():
            booking = await create_booking(session, who, request, now=booked_at)
            await services.check_in_booking(
                session, staff, booking.id, "演示：样品已收到", now=booked_at + timedelta(days=1)
            )
            await session.flush()
            await services.complete_booking(
                session, staff, booking.id, CompleteIn(), now=booked_at + timedelta(days=4)
            )
    except DomainError:
        return


async def _book_the_year(session: AsyncSession, staff: Principal) -> None:
    people = [p for name in RESEARCHERS if (p := await _principal(session, name)) is not None]
    instruments = await _bookable(session)
    hourly = [(i, m) for i, m, _ in instruments if m is not None]
    sampled = [(i, s) for i, _, s in instruments if s is not None]
    if not people or not hourly:
        return
    for n, (month, day, hour, booked, used) in enumerate(MACHINE):
        instrument, item = hourly[n % len(hourly)]
        await _machine_time(
            session,
            people[n % len(people)],
            staff,
            instrument,
            item,
            date(YEAR, month, day),
            (hour, booked, used),
            "used",
        )
    for n, (month, day) in enumerate(CANCELLED + MISSED):
        instrument, item = hourly[(n + 1) % len(hourly)]
        end_as = "cancelled" if n < len(CANCELLED) else "missed"
        await _machine_time(
            session,
            people[n % len(people)],
            staff,
            instrument,
            item,
            date(YEAR, month, day),
            (15, 2, 2),
            end_as,
        )
    for n, (month, day) in enumerate(SAMPLES):
        if sampled:
            instrument, item = sampled[n % len(sampled)]
            await _samples(
                session, people[(n + 1) % len(people)], staff, instrument, item, date(YEAR, month, day)
            )


async def load_yearly_bookings_demo(session: AsyncSession) -> None:
    """2025's bookings the report tells of, made before the evaluation that counts them."""
    if await session.get(PublishedYearlyReport, (REGION, YEAR)) is not None:
        return
    staff = await _principal(session, "demo-provider")
    if staff is None:
        return
    async with transaction(session):
        if await session.scalar(select(Booking.id).where(Booking.note == NOTE).limit(1)) is None:
            await _book_the_year(session, staff)


async def load_yearly_report_demo(session: AsyncSession) -> None:
    if await session.get(PublishedYearlyReport, (REGION, YEAR)) is not None:
        return
    officer = await _principal(session, "demo-science-bureau")
    if officer is None:
        return
    async with transaction(session):
        await publish_report(session, officer, REGION, YEAR)
