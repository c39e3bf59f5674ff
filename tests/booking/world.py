"""Building the world bookings need: instruments, extra users, calendars through the provider API,
and time on the grid. Instruments are rows written through the ORM: one transaction instead of
the catalogue's create, submit and approve round trips (tests/catalogue covers those), and any
publication state at once."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

import msgspec
from sqlalchemy import select

from accounts.auth import hash_password
from accounts.demo import demo_id
from accounts.models import Membership, Role, User
from booking.events import EXPIRY_DUE
from booking.models import Booking, BookingHistory
from catalogue.models import (
    Category,
    Instrument,
    PriceUnit,
    PublicationStatus,
    ServiceItem,
    ServiceMode,
)
from yixiang.clock import SHANGHAI
from yixiang.db import utcnow
from yixiang.outbox import emit
from yixiang.worker import Worker

ZJLG = demo_id("unit-zjlg")
HZCL = demo_id("unit-hzcl")  # another holding unit
QINGHE = demo_id("firm-qinghe")
LANWAN = demo_id("firm-lanwan")
ZJLG_LAB = demo_id("firm-zjlg-lab")  # affiliated to unit-zjlg: pays internal rates
TEST_CATEGORY = "99"

# Open around the clock, no notice: tests behave the same at any hour they run.
ALWAYS_OPEN: dict[str, Any] = {
    "weekly_hours": [{"weekday": d, "start": "00:00", "end": "24:00"} for d in range(7)],
    "follows_working_days": False,
    "slot_minutes": 30,
    "min_duration_minutes": 30,
    "max_duration_minutes": 600,
    "min_notice_minutes": 0,
    "max_advance_days": 60,
    "cancellation_deadline_hours": 0,
    "buffer_minutes": 0,
    "needs_approval": False,
}


@dataclass
class InstrumentIds:
    """A test instrument and its two service items."""

    instrument_id: uuid.UUID
    hourly_item_id: uuid.UUID  # machine time, per hour: internal 10000, external 20000 fen
    sample_item_id: uuid.UUID  # sample testing, per sample: internal 3000, external 5000 fen


async def make_instrument(
    backend: Any,
    *,
    unit_id: uuid.UUID = ZJLG,
    self_operation: bool = True,
    operator_run: bool = True,
    sample_testing: bool = True,
    publication: PublicationStatus = PublicationStatus.published,
    turnaround_working_days: int = 5,
) -> InstrumentIds:
    async with backend.runtime.session_maker() as session, session.begin():
        if await session.get(Category, TEST_CATEGORY) is None:
            session.add(Category(code=TEST_CATEGORY, name="测试用仪器", name_en="Test instruments"))
            await session.flush()
        instrument = Instrument(
            name=f"测试扫描电镜 {uuid.uuid4().hex[:8]}",
            category_code=TEST_CATEGORY,
            original_value_fen=150_000_000,
            unit_id=unit_id,
            region_code="330100",
            publication=publication,
            published_at=utcnow(),
            self_operation=self_operation,
            operator_run=operator_run,
            sample_testing=sample_testing,
        )
        session.add(instrument)
        await session.flush()
        hourly = ServiceItem(
            instrument_id=instrument.id,
            position=0,
            name="机时",
            mode=ServiceMode.machine_time,
            price_unit=PriceUnit.per_hour,
            internal_price_fen=10_000,
            external_price_fen=20_000,
            turnaround_working_days=None,
        )
        sample = ServiceItem(
            instrument_id=instrument.id,
            position=1,
            name="形貌表征",
            mode=ServiceMode.sample_testing,
            price_unit=PriceUnit.per_sample,
            internal_price_fen=3_000,
            external_price_fen=5_000,
            turnaround_working_days=turnaround_working_days,
        )
        session.add_all([hourly, sample])
        await session.flush()
        return InstrumentIds(instrument.id, hourly.id, sample.id)


async def make_user(
    backend: Any, org_id: uuid.UUID, role: Role = Role.researcher, *, password: str | None = None
) -> str:
    """A new member of ``org_id``; with ``password`` they can also sign in to the console."""
    username = f"test-{uuid.uuid4().hex[:10]}"
    async with backend.runtime.session_maker() as session, session.begin():
        user = User(
            username=username,
            display_name="测试用户",
            password_hash=hash_password(password) if password else None,
        )
        session.add(user)
        await session.flush()
        session.add(Membership(user_id=user.id, organization_id=org_id, role=role))
    return username


async def user_id(backend: Any, username: str) -> uuid.UUID:
    async with backend.runtime.session_maker() as session:
        found = await session.scalar(select(User.id).where(User.username == username))
        assert found is not None
        return found


async def set_calendar(client: Any, headers: dict[str, str], instrument_id: uuid.UUID, **changes: Any) -> Any:
    response = await client.put(
        f"/api/v1/provider/instruments/{instrument_id}/calendar",
        json={**ALWAYS_OPEN, **changes},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    return response.json()


def day_at(days_ahead: int, hour: int, minute: int = 0) -> datetime:
    """A moment in Asia/Shanghai, ``days_ahead`` days from today."""
    today = utcnow().astimezone(SHANGHAI).date()
    return datetime.combine(today + timedelta(days=days_ahead), time(hour, minute), SHANGHAI)


def iso(moment: datetime) -> str:
    return moment.isoformat()


def machine_time(
    world: InstrumentIds, start: datetime, end: datetime, operation: str = "operator", **extra: Any
) -> dict[str, Any]:
    return {
        "instrument_id": str(world.instrument_id),
        "mode": "machine_time",
        "operation": operation,
        "start": iso(start),
        "end": iso(end),
        **extra,
    }


async def booked_for_the_past(
    backend: Any, booking_id: Any, start: datetime, *, made_at: datetime | None = None
) -> None:
    """Move a booking to a slot that began at ``start`` (same length), booked a day before it
    (or at ``made_at``); a check-in already recorded moves with the slot.

    Actual use is recorded after the fact and around the booked slot, never before the booking
    was made nor ending before the check-in (``booking.rules.check_actual_use``); a test cannot
    wait for its slot to come.
    """
    async with backend.runtime.session_maker() as session, session.begin():
        booking = await session.get(Booking, uuid.UUID(str(booking_id)))
        assert booking is not None and booking.start_at is not None and booking.end_at is not None
        shift = start - booking.start_at
        booking.start_at, booking.end_at = booking.start_at + shift, booking.end_at + shift
        booking.block_end = booking.block_end + shift if booking.block_end is not None else None
        booking.created_at = made_at or start - timedelta(days=1)
        check_ins = await session.scalars(
            select(BookingHistory).where(
                BookingHistory.booking_id == booking.id, BookingHistory.action == "check_in"
            )
        )
        for row in check_ins.all():
            row.at += shift


async def check_in_when_due(client: Any, backend: Any, headers: dict[str, str], booking_id: Any) -> Any:
    """The provider checks the user in once the slot has come (``booking.rules.check_arrival``):
    a machine-time booking is first moved to begin now (a test cannot wait for it); samples are
    received whenever they come. The check-in's answer."""
    async with backend.runtime.session_maker() as session:
        booking = await session.get(Booking, uuid.UUID(str(booking_id)))
        assert booking is not None
        due = booking.start_at is not None
    if due:
        await booked_for_the_past(backend, booking_id, utcnow())
    return await client.post(f"/api/v1/bookings/{booking_id}/check-in", headers=headers)


async def served(client: Any, backend: Any, headers: dict[str, str], booking_id: Any, minutes: int) -> Any:
    """The provider checks the user in, the session lasts ``minutes`` (ending now) and the
    provider completes it with those actual times. The completion's answer."""
    assert (await check_in_when_due(client, backend, headers, booking_id)).status_code == 200
    actual_start = utcnow() - timedelta(minutes=minutes + 5)
    await booked_for_the_past(backend, booking_id, actual_start)
    return await client.post(
        f"/api/v1/bookings/{booking_id}/complete",
        json={
            "actual_start": iso(actual_start),
            "actual_end": iso(actual_start + timedelta(minutes=minutes)),
        },
        headers=headers,
    )


async def run_expiry_job(backend: Any) -> None:
    """What the periodic job does every minute: emit the expiry event, and a worker handles it."""
    await run_periodic_job(backend, EXPIRY_DUE)


async def run_periodic_job(backend: Any, topic: str) -> None:
    """A periodic job's run: its event emitted, and a worker handling it (and only it)."""
    async with backend.runtime.session_maker() as session, session.begin():
        await emit(session, topic, {"job": "test"})
    worker = Worker(
        backend.runtime.session_maker,
        backend.runtime.domains,
        settings=msgspec.structs.replace(backend.settings),
        only_topics={topic},
    )
    await worker.drain()
