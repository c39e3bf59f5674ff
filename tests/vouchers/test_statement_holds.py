"""A firm's statement lists its newest open holds and counts them all: a firm with many bookings
awaiting settlement still gets its statement at once, and reads how many holds there are."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.booking.world import machine_time, make_instrument, set_calendar
from tests.vouchers.desk import VoucherDesk
from vouchers import wallet
from yixiang.db import utcnow


async def test_the_newest_holds_are_listed_and_every_hold_counted(
    world: VoucherDesk, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = world.client
    instrument = await make_instrument(world.backend)
    provider = await world.headers("demo-provider")
    await set_calendar(client, provider, instrument.instrument_id, needs_approval=True)
    researcher = await world.headers("demo-researcher")
    before = (await client.get("/api/v1/me/vouchers", headers=researcher)).json()
    assert before["holds_count"] == len(before["holds"])  # the demo firm has fewer than the limit

    start = (utcnow() + timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    booked = []
    for hour in range(2):
        at = start + timedelta(hours=2 * hour)
        created = await client.post(
            "/api/v1/bookings", json=machine_time(instrument, at, at + timedelta(hours=1)), headers=researcher
        )
        assert created.status_code == 201, created.text
        approved = await client.post(
            f"/api/v1/bookings/{created.json()['id']}/approve", json={"reason": "ok"}, headers=provider
        )
        assert approved.status_code == 200, approved.text
        booked.append(created.json()["id"])

    monkeypatch.setattr(wallet, "HOLDS_LIMIT", 1)
    page = (await client.get("/api/v1/me/vouchers", headers=researcher)).json()
    assert [h["booking_id"] for h in page["holds"]] == [booked[-1]]  # the newest
    assert page["holds_count"] == before["holds_count"] + 2
    assert page["held_fen"] == before["held_fen"] + 2 * page["holds"][0]["held_fen"]
