"""Two hundred researchers tapping ten slots in the same second: ten bookings, 190 clean refusals."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta
from itertools import pairwise

import pytest
from sqlalchemy import select

from booking.models import SLOT_HOLDING, Booking
from tests.booking.world import day_at, machine_time, make_instrument, set_calendar
from tests.support import error_code

SLOTS = 10
REQUESTS = 200


@pytest.mark.slow
async def test_two_hundred_firms_racing_for_ten_slots_get_one_booking_each(client, login, backend):
    world = await make_instrument(backend)
    await set_calendar(client, await login("demo-provider"), world.instrument_id, buffer_minutes=30)
    tokens = await asyncio.gather(
        *[login("demo-researcher" if i % 2 else "demo-researcher-2") for i in range(REQUESTS)]
    )
    base = day_at(9, 0)
    bodies = []
    for i in range(REQUESTS):
        slot = i % SLOTS
        # Every request for one slot overlaps every other request for it (all contain the
        # slot's second half hour); slots are three hours apart, beyond the buffer.
        start = base + timedelta(hours=3 * slot) + timedelta(minutes=30 * (i // SLOTS % 2))
        length = timedelta(minutes=60 + 30 * (i // (2 * SLOTS) % 2))
        bodies.append((slot, machine_time(world, start, start + length)))

    answers = await asyncio.gather(
        *[client.post("/api/v1/bookings", json=body, headers=tokens[i]) for i, (_, body) in enumerate(bodies)]
    )

    statuses = Counter(a.status_code for a in answers)
    assert set(statuses) <= {201, 409}, [a.text for a in answers if a.status_code not in (201, 409)][:3]
    assert statuses[201] == SLOTS
    winners = Counter(bodies[i][0] for i, a in enumerate(answers) if a.status_code == 201)
    assert winners == Counter(range(SLOTS))
    for answer in answers:
        if answer.status_code == 409:
            assert error_code(answer) == "slot_taken"
            assert isinstance(answer.json()["error"]["details"]["alternatives"], list)
    async with backend.runtime.session_maker() as session:
        rows = (
            await session.scalars(
                select(Booking).where(Booking.instrument_id == world.instrument_id).order_by(Booking.start_at)
            )
        ).all()
    # no stray rows from refused attempts, every winner confirmed, no overlap including the buffer
    assert len(rows) == SLOTS
    assert all(r.status in SLOT_HOLDING for r in rows)
    assert all(a.block_end <= b.start_at for a, b in pairwise(rows))


async def test_the_database_itself_refuses_overlapping_slots_on_postgresql(client, login, backend):
    """Even a writer that skips the application's check cannot double-book (LibreBooking #147)."""
    import uuid

    import pytest
    from sqlalchemy.exc import IntegrityError

    from booking.creation import is_slot_conflict
    from tests.booking.world import QINGHE, ZJLG, user_id

    if not backend.is_postgres:
        pytest.skip("SQLite serialises writers instead; the constraint is PostgreSQL's")
    world = await make_instrument(backend)
    researcher = await user_id(backend, "demo-researcher")
    start = day_at(12, 10)

    def row(offset_minutes: int, status: str = "confirmed") -> Booking:
        begin = start + timedelta(minutes=offset_minutes)
        return Booking(
            id=uuid.uuid4(),
            instrument_id=world.instrument_id,
            unit_id=ZJLG,
            enterprise_id=QINGHE,
            user_id=researcher,
            mode="machine_time",
            operation="operator",
            start_at=begin,
            end_at=begin + timedelta(hours=1),
            block_end=begin + timedelta(hours=1),
            status=status,
            rate="external",
            quoted_fee_fen=0,
            fee_breakdown={},
        )

    async with backend.runtime.session_maker() as session, session.begin():
        session.add(row(0))
    with pytest.raises(IntegrityError) as refused:
        async with backend.runtime.session_maker() as session, session.begin():
            session.add(row(30, "requested"))
    assert is_slot_conflict(refused.value)
    # released states do not hold the slot; adjacent ranges do not overlap
    async with backend.runtime.session_maker() as session, session.begin():
        session.add_all([row(30, "cancelled"), row(60)])


async def test_a_booking_waits_for_whoever_holds_the_instrument_on_postgresql(client, login, backend):
    """Racing bookings of one calendar queue on the instrument's row before their overlap check,
    so they never meet at the exclusion constraint, where two inserts at once deadlock."""
    import pytest

    from booking.bookable import load_bookable
    from yixiang.db import transaction

    if not backend.is_postgres:
        pytest.skip("SQLite serialises writers with its write lock instead")
    world = await make_instrument(backend)
    await set_calendar(client, await login("demo-provider"), world.instrument_id)  # any weekday
    headers = await login("demo-researcher")
    body = machine_time(world, day_at(2, 10), day_at(2, 11))
    async with backend.runtime.session_maker() as holder, transaction(holder):
        await load_bookable(holder, None, world.instrument_id, lock=True)
        booking = asyncio.create_task(client.post("/api/v1/bookings", json=body, headers=headers))
        await asyncio.sleep(0.5)
        assert not booking.done()  # queued on the instrument's row
    answer = await booking
    assert answer.status_code == 201, answer.text
