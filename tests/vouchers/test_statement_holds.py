"""A firm's statement lists its newest open holds and counts them all: a firm with many bookings
awaiting settlement still gets its statement at once, and reads how many holds there are."""

from __future__ import annotations

from datetime import timedelta

import pytest

from accounts.models import Role
from tests.booking.world import machine_time, make_instrument, set_calendar
from tests.vouchers.desk import VoucherDesk, new_user
from vouchers import wallet
from yixiang.db import utcnow


async def test_the_newest_holds_are_listed_and_every_hold_counted(
    world: VoucherDesk, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = world.client
    firm, _ = await world.firm_with_grant(5_000_000)  # its own firm: others' holds do not count
    researcher = await world.headers(await new_user(world.backend, firm, Role.researcher))
    provider = await world.headers("demo-provider")
    instrument = await make_instrument(world.backend)
    await set_calendar(client, provider, instrument.instrument_id, needs_approval=True)

    start = (utcnow() + timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    booked = []
    for hour in range(3):
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

    everything = (await client.get("/api/v1/me/vouchers", headers=researcher)).json()
    assert {h["booking_id"] for h in everything["holds"]} == set(booked)
    assert everything["holds_count"] == 3

    monkeypatch.setattr(wallet, "HOLDS_LIMIT", 2)
    page = (await client.get("/api/v1/me/vouchers", headers=researcher)).json()
    assert [h["booking_id"] for h in page["holds"]] == booked[:0:-1]  # the two newest, newest first
    assert page["holds_count"] == 3
    assert page["held_fen"] == everything["held_fen"] == sum(h["held_fen"] for h in everything["holds"])
