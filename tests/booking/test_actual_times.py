"""Actual use, as the provider records it at completion, lies around the booking: not before the
booking was made, at most a day before the booked slot or after its end, ended by now, and each
refusal names its rule."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from booking.errors import UsageInvalid
from booking.rules import check_actual_use
from tests.booking.world import booked_for_the_past, iso, machine_time, make_instrument, set_calendar
from tests.support import error_code
from yixiang.db import utcnow

NOW = datetime.fromisoformat("2026-06-10T12:00:00+08:00")
SLOT_START = NOW - timedelta(hours=3)
SLOT_END = NOW - timedelta(hours=1)
MADE_AT = NOW - timedelta(days=3)
H = timedelta(hours=1)


def rule_refusing(start: datetime, end: datetime, *, made_at: datetime = MADE_AT) -> str | None:
    try:
        check_actual_use(SLOT_START, SLOT_END, made_at, start, end, NOW)
    except UsageInvalid as refused:
        return str(refused.details["rule"])
    return None


@pytest.mark.parametrize(
    ("start", "end", "made_at", "rule"),
    [
        (SLOT_START, SLOT_END, MADE_AT, None),  # as booked
        (SLOT_START - 23 * H, SLOT_END + 0.5 * H, MADE_AT, None),  # early to a free instrument
        (SLOT_START, NOW + timedelta(minutes=9), MADE_AT, None),  # the recorder's clock runs fast
        (SLOT_END, SLOT_START, MADE_AT, "end_before_start"),
        (SLOT_START, SLOT_START, MADE_AT, "end_before_start"),
        (SLOT_START, NOW + H, MADE_AT, "in_future"),
        (SLOT_START - 2 * H, SLOT_END, SLOT_START - H, "before_booking"),
        (datetime.fromisoformat("2000-01-01T00:00:00+08:00"), SLOT_END, MADE_AT, "before_booking"),
        (SLOT_START - 25 * H, SLOT_END, MADE_AT, "too_early"),
    ],
)
def test_each_bound_on_actual_use_has_its_rule(start, end, made_at, rule):
    assert rule_refusing(start, end, made_at=made_at) == rule


def test_use_ending_a_day_after_the_slot_is_too_late():
    slot_end = NOW - 30 * H
    with pytest.raises(UsageInvalid) as refused:
        check_actual_use(slot_end - H, slot_end, MADE_AT - 2 * H, slot_end - H, NOW, NOW)
    assert refused.value.details["rule"] == "too_late"
    assert refused.value.details["latest"] == (slot_end + 24 * H).isoformat()


async def test_the_provider_learns_which_rule_refused_the_recorded_use(client, login, backend):
    world = await make_instrument(backend)
    provider = await login("demo-provider")
    await set_calendar(client, provider, world.instrument_id)
    start = (utcnow() + timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
    created = await client.post(
        "/api/v1/bookings",
        json=machine_time(world, start, start + timedelta(hours=2)),
        headers=await login("demo-researcher"),
    )
    booking_id = created.json()["id"]
    assert (await client.post(f"/api/v1/bookings/{booking_id}/check-in", headers=provider)).status_code == 200
    url = f"/api/v1/bookings/{booking_id}/complete"

    # Straight after booking: an hour of use that began before the booking existed.
    now = utcnow()
    before = await client.post(
        url, json={"actual_start": iso(now - timedelta(hours=1)), "actual_end": iso(now)}, headers=provider
    )
    assert before.status_code == 400, before.text
    assert error_code(before) == "usage_invalid"
    assert before.json()["error"]["details"]["rule"] == "before_booking"
    assert before.json()["error"]["message"] == "实际开始时间不能早于预约提交的时间"

    # A booking made three days ago for a slot that ended an hour ago.
    slot = utcnow() - timedelta(hours=3)
    await booked_for_the_past(backend, booking_id, slot, made_at=slot - timedelta(days=3))
    months_early = await client.post(
        url, json={"actual_start": iso(slot - timedelta(days=2)), "actual_end": iso(slot)}, headers=provider
    )
    assert error_code(months_early) == "usage_invalid"
    assert months_early.json()["error"]["details"]["rule"] == "too_early"
    assert "24 小时" in months_early.json()["error"]["message"]
    future = await client.post(
        url,
        json={"actual_start": iso(slot), "actual_end": iso(utcnow() + timedelta(hours=1))},
        headers=provider,
    )
    assert future.json()["error"]["details"]["rule"] == "in_future"
    backwards = await client.post(
        url, json={"actual_start": iso(slot + timedelta(hours=1)), "actual_end": iso(slot)}, headers=provider
    )
    assert backwards.json()["error"]["details"]["rule"] == "end_before_start"
    shown = (await client.get(f"/api/v1/bookings/{booking_id}", headers=provider)).json()
    assert shown["status"] == "in_service" and shown["actual_start"] is None

    done = await client.post(
        url,
        json={
            "actual_start": iso(slot - timedelta(minutes=30)),
            "actual_end": iso(slot + timedelta(hours=2)),
        },
        headers=provider,
    )
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "completed"
