"""Waiting users racing for freed time on PostgreSQL: cancellations, direct bookings, accepts and
declines at once, and never two people holding (by booking or by offer) the same time."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from itertools import combinations
from typing import Any

import pytest
from sqlalchemy import select

from booking.models import SLOT_HOLDING, Booking, WaitlistEntry, WaitlistStatus
from tests.booking.world import LANWAN, QINGHE, day_at, machine_time, make_instrument, make_user, set_calendar
from yixiang.db import utcnow

W = "/api/v1/waitlist"
WAITERS = 16

pytestmark = pytest.mark.slow


async def holders(backend: Any, instrument_id: Any) -> list[tuple[str, Any, datetime, datetime]]:
    """Who holds time on the instrument now: slot-holding bookings and open offers."""
    async with backend.runtime.session_maker() as session:
        bookings = (
            await session.scalars(
                select(Booking).where(
                    Booking.instrument_id == instrument_id, Booking.status.in_(SLOT_HOLDING)
                )
            )
        ).all()
        offers = (
            await session.scalars(
                select(WaitlistEntry).where(
                    WaitlistEntry.instrument_id == instrument_id,
                    WaitlistEntry.status == WaitlistStatus.offered,
                    WaitlistEntry.offer_expires_at > utcnow(),
                )
            )
        ).all()
    found = [("booking", b.user_id, b.start_at, b.block_end) for b in bookings]
    found += [("offer", e.user_id, e.start_at, e.block_end) for e in offers]
    return found


def assert_no_shared_time(held: list[tuple[str, Any, datetime, datetime]]) -> None:
    for a, b in combinations(held, 2):
        assert a[3] <= b[2] or b[3] <= a[2], f"{a} and {b} hold the same time"


async def test_two_waiting_users_never_get_the_same_slot(client, login, backend):
    if not backend.is_postgres:
        pytest.skip("a race of real transactions: PostgreSQL (SQLite runs writers one at a time)")
    world = await make_instrument(backend)
    await set_calendar(client, await login("demo-provider"), world.instrument_id)
    owner = await login("demo-researcher-2")
    # Two bookings, 10-11 and 11-12; people wait for 10-12, 10-11 and 11-12.
    ranges = [(day_at(5, 10), day_at(5, 11)), (day_at(5, 11), day_at(5, 12)), (day_at(5, 10), day_at(5, 12))]
    booked = []
    for start, end in ranges[:2]:
        r = await client.post("/api/v1/bookings", json=machine_time(world, start, end), headers=owner)
        assert r.status_code == 201, r.text
        booked.append(r.json()["id"])
    waiters = await asyncio.gather(
        *[login(await make_user(backend, QINGHE if i % 2 else LANWAN)) for i in range(WAITERS)]
    )
    entries = []
    for i, headers in enumerate(waiters):
        start, end = ranges[i % 3]
        r = await client.post(W, json=machine_time(world, start, end), headers=headers)
        assert r.status_code == 201, r.text
        entries.append(r.json()["id"])

    # Both bookings cancelled at once, while every waiter taps "accept" and books directly.
    async def tap(i: int) -> list[Any]:
        start, end = ranges[i % 3]
        return list(
            await asyncio.gather(
                client.post(f"{W}/{entries[i]}/accept", headers=waiters[i]),
                client.post("/api/v1/bookings", json=machine_time(world, start, end), headers=waiters[i]),
            )
        )

    answers = await asyncio.gather(
        *[client.post(f"/api/v1/bookings/{b}/cancel", headers=owner) for b in booked],
        *[tap(i) for i in range(WAITERS)],
    )
    assert [a.status_code for a in answers[:2]] == [200, 200], [a.text for a in answers[:2]]
    statuses = {r.status_code for pair in answers[2:] for r in pair}
    assert statuses <= {200, 201, 409}, [r.text for pair in answers[2:] for r in pair if r.status_code >= 500]
    assert_no_shared_time(await holders(backend, world.instrument_id))

    # Round after round, everyone holding an offer accepts at once, twice (a double tap), while
    # the rest decline or book directly: still never two holders of one time.
    for _ in range(3):
        async with backend.runtime.session_maker() as session:
            offered = set(
                map(
                    str,
                    (
                        await session.scalars(
                            select(WaitlistEntry.id).where(
                                WaitlistEntry.instrument_id == world.instrument_id,
                                WaitlistEntry.status == WaitlistStatus.offered,
                            )
                        )
                    ).all(),
                )
            )
        calls = []
        for i, entry_id in enumerate(entries):
            if entry_id in offered:
                calls += [client.post(f"{W}/{entry_id}/accept", headers=waiters[i]) for _ in range(2)]
            else:
                calls.append(client.post(f"{W}/{entry_id}/decline", headers=waiters[i]))
        results = await asyncio.gather(*calls)
        assert all(r.status_code in {200, 201, 409} for r in results), [
            r.text for r in results if r.status_code >= 400 and r.status_code != 409
        ]
        assert_no_shared_time(await holders(backend, world.instrument_id))

    held = await holders(backend, world.instrument_id)
    assert held and all(kind == "booking" for kind, *_ in held)  # every offer was answered
    covered = sum(((end - start) for _, _, start, end in held), timedelta())
    assert covered == timedelta(hours=2)  # the freed time went to waiting users, none of it twice
