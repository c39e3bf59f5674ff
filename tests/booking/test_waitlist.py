"""The waiting list (候补): a cancellation offers the slot to the first in line, held for them
alone; an unanswered offer moves on; accepting books through the normal path."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from booking.models import WaitlistEntry
from booking.waitlist import WAITLIST_DUE
from tests.booking.world import (
    LANWAN,
    QINGHE,
    day_at,
    machine_time,
    make_instrument,
    make_user,
    run_periodic_job,
    set_calendar,
)
from tests.support import error_code
from yixiang.db import utcnow
from yixiang.outbox import OutboxEvent

W = "/api/v1/waitlist"


async def run_waitlist_job(backend: Any) -> None:
    await run_periodic_job(backend, WAITLIST_DUE)


async def offers_to(backend: Any, entry_id: str) -> list[dict[str, Any]]:
    async with backend.runtime.session_maker() as session:
        rows = await session.scalars(select(OutboxEvent).where(OutboxEvent.topic == "waitlist.offered"))
        return [row.payload for row in rows.all() if row.payload.get("entry_id") == entry_id]


async def entry_of(client: Any, headers: dict[str, str], entry_id: str) -> dict[str, Any]:
    mine = await client.get(W, headers=headers)
    assert mine.status_code == 200, mine.text
    return next(e for e in mine.json() if e["id"] == entry_id)


async def test_a_cancellation_offers_the_slot_to_the_first_in_line_then_the_next(client, login, backend):
    world = await make_instrument(backend)
    await set_calendar(client, await login("demo-provider"), world.instrument_id)
    holder = await login("demo-researcher-2")
    first, second = await login("demo-researcher"), await login(await make_user(backend, LANWAN))
    wanted = machine_time(world, day_at(3, 10), day_at(3, 12))
    taken = await client.post("/api/v1/bookings", json=wanted, headers=holder)
    assert taken.status_code == 201, taken.text

    free = await client.post(W, json=machine_time(world, day_at(3, 14), day_at(3, 15)), headers=first)
    assert free.status_code == 409 and error_code(free) == "slot_free"
    joined = await client.post(W, json=wanted, headers=first)
    assert joined.status_code == 201, joined.text
    assert joined.json()["status"] == "waiting" and joined.json()["place_in_line"] == 1
    again = await client.post(W, json=wanted, headers=first)
    assert again.status_code == 409 and error_code(again) == "already_waiting"
    own = await client.post(W, json=wanted, headers=holder)  # in line for one's own slot: no
    assert own.status_code == 409 and error_code(own) == "waitlist_own_booking", own.text
    assert own.json()["error"]["message"] == "该时段已有您本人的预约，无需候补"
    behind = await client.post(W, json=machine_time(world, day_at(3, 11), day_at(3, 12)), headers=second)
    assert behind.status_code == 201 and behind.json()["place_in_line"] == 2, behind.text
    first_id, second_id = joined.json()["id"], behind.json()["id"]
    assert (await entry_of(client, first, first_id))["status_text"] == "候补中"

    cancelled = await client.post(f"/api/v1/bookings/{taken.json()['id']}/cancel", headers=holder)
    assert cancelled.status_code == 200, cancelled.text

    offered = await entry_of(client, first, first_id)
    assert offered["status"] == "offered" and offered["offer_expires_at"]
    assert (await entry_of(client, second, second_id))["status"] == "waiting"  # the first holds it
    [message] = await offers_to(backend, first_id)
    assert message["user_id"] == str(offered and (await client.get("/api/v1/me", headers=first)).json()["id"])
    assert message["summary"].startswith("候补时段已为您保留")
    # Held for the first in line alone: nobody else books it, the one it waits for may
    direct = await client.post("/api/v1/bookings", json=wanted, headers=holder)
    assert direct.status_code == 409 and error_code(direct) == "slot_taken"
    shown = await client.get(
        f"/api/v1/instruments/{world.instrument_id}/availability",
        params={"from": day_at(3, 0).isoformat(), "to": day_at(4, 0).isoformat()},
    )
    assert shown.status_code == 200, shown.text
    held = [r for r in shown.json()["ranges"] if r["start"] < wanted["end"] and r["end"] > wanted["start"]]
    assert held == []  # availability shows the held range as taken, not as free
    assert wanted["start"] in {r["end"] for r in shown.json()["ranges"]}  # free up to it
    early = await client.post(f"{W}/{second_id}/accept", headers=second)
    assert early.status_code == 409 and error_code(early) == "no_waitlist_offer"

    # Unanswered: the hold runs out and the periodic job offers the time to the next in line.
    async with backend.runtime.session_maker() as session, session.begin():
        await session.execute(
            update(WaitlistEntry)
            .where(WaitlistEntry.id == uuid.UUID(first_id))
            .values(offer_expires_at=utcnow() - timedelta(seconds=1))
        )
    await run_waitlist_job(backend)
    assert (await entry_of(client, first, first_id))["status"] == "expired"
    assert (await entry_of(client, second, second_id))["status"] == "offered"
    late = await client.post(f"{W}/{first_id}/accept", headers=first)
    assert late.status_code == 409 and error_code(late) == "no_waitlist_offer"
    assert await offers_to(backend, second_id)

    accepted = await client.post(f"{W}/{second_id}/accept", headers=second)
    assert accepted.status_code == 200, accepted.text
    booking = accepted.json()
    assert (
        booking["status"] == "confirmed"
        and booking["start"] == machine_time(world, day_at(3, 11), day_at(3, 12))["start"]
    )
    assert booking["quote"]["fee_fen"] == 20_000  # the normal path: the external hourly rate
    twice = await client.post(f"{W}/{second_id}/accept", headers=second)
    assert twice.status_code == 200 and twice.json()["id"] == booking["id"]  # a double tap books once
    shown = await entry_of(client, second, second_id)
    assert shown["status"] == "booked" and shown["booking_id"] == booking["id"]
    # what is left of the range (10-11) is free again, for anyone
    rest = await client.post(
        "/api/v1/bookings", json=machine_time(world, day_at(3, 10), day_at(3, 11)), headers=holder
    )
    assert rest.status_code == 201, rest.text


async def test_a_declined_offer_goes_to_the_next_and_others_see_only_their_own(client, login, backend):
    world = await make_instrument(backend)
    await set_calendar(client, await login("demo-provider"), world.instrument_id)
    holder, first = await login("demo-researcher-2"), await login("demo-researcher")
    second = await login(await make_user(backend, QINGHE))
    wanted = machine_time(world, day_at(4, 9), day_at(4, 10))
    taken = await client.post("/api/v1/bookings", json=wanted, headers=holder)
    entries = []
    for who in (first, second):
        r = await client.post(W, json=wanted, headers=who)
        assert r.status_code == 201, r.text
        entries.append(r.json()["id"])
    stranger = await client.post(f"{W}/{entries[0]}/decline", headers=second)
    assert stranger.status_code == 404 and error_code(stranger) == "waitlist_entry_not_found"
    assert (
        await client.post(f"/api/v1/bookings/{taken.json()['id']}/cancel", headers=holder)
    ).status_code == 200

    declined = await client.post(f"{W}/{entries[0]}/decline", headers=first)
    assert declined.status_code == 200 and declined.json()["status"] == "declined", declined.text
    assert (await entry_of(client, second, entries[1]))["status"] == "offered"
    assert entries[0] not in {e["id"] for e in (await client.get(W, headers=second)).json()}


async def test_sample_testing_needs_no_waiting_list(client, login, backend):
    world = await make_instrument(backend)
    body = {
        "instrument_id": str(world.instrument_id),
        "mode": "sample_testing",
        "service_item_id": str(world.sample_item_id),
        "samples": 2,
    }
    r = await client.post(W, json=body, headers=await login("demo-researcher"))
    assert r.status_code == 400 and error_code(r) == "waitlist_machine_time_only"
