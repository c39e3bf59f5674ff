"""Check-in and actual use lie around the booking. The provider checks the user in from 30 minutes
before the booked slot until its end. Actual use, recorded at completion, began not before the
booking was made, at most a day before the booked slot, ended not before the check-in, by now and
at most a day after the slot's end; each refusal names its rule and its bound."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from booking.errors import CheckInTooEarly, CheckInTooLate, UsageInvalid
from booking.rules import check_actual_use, check_arrival
from tests.booking.world import (
    booked_for_the_past,
    check_in_when_due,
    iso,
    machine_time,
    make_instrument,
    set_calendar,
)
from tests.support import error_code
from yixiang.clock import SHANGHAI
from yixiang.db import utcnow

NOW = datetime.fromisoformat("2026-06-10T12:00:00+08:00")
SLOT_START = NOW - timedelta(hours=3)
SLOT_END = NOW - timedelta(hours=1)
MADE_AT = NOW - timedelta(days=3)
H = timedelta(hours=1)
MINUTE, SECOND = timedelta(minutes=1), timedelta(seconds=1)


def rule_refusing(
    start: datetime, end: datetime, *, made_at: datetime = MADE_AT, checked_in: datetime | None = None
) -> str | None:
    try:
        check_actual_use(SLOT_START, SLOT_END, made_at, start, end, NOW, checked_in)
    except UsageInvalid as refused:
        return str(refused.details["rule"])
    return None


def check_in_refusal(now: datetime) -> type[Exception] | None:
    try:
        check_arrival(SLOT_START, SLOT_END, now)
    except (CheckInTooEarly, CheckInTooLate) as refused:
        return type(refused)
    return None


@pytest.mark.parametrize(
    ("now", "refusal"),
    [
        (SLOT_START - 30 * MINUTE, None),  # someone early to the lab
        (SLOT_START - 30 * MINUTE - SECOND, CheckInTooEarly),
        (SLOT_START - timedelta(days=2), CheckInTooEarly),
        (SLOT_START + 30 * MINUTE, None),  # late, within the slot
        (SLOT_END, None),
        (SLOT_END + SECOND, CheckInTooLate),
    ],
)
def test_check_in_is_accepted_from_half_an_hour_before_the_slot_to_its_end(now, refusal):
    assert check_in_refusal(now) == refusal


def test_use_may_begin_before_the_check_in_but_not_end_before_it():
    checked_in = SLOT_START + 30 * MINUTE  # pressed late
    assert rule_refusing(SLOT_START, SLOT_END, checked_in=checked_in) is None
    # the device's clock may lag ours by the clock grace
    assert rule_refusing(SLOT_START - H, checked_in - 10 * MINUTE, checked_in=checked_in) is None
    assert rule_refusing(SLOT_START - H, checked_in - 11 * MINUTE, checked_in=checked_in) == "before_check_in"


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
    assert refused.value.details["latest"] == slot_end + 24 * H


def next_half_hour() -> datetime:
    """The next start on a 30-minute grid: within half an hour, so the user may check in now."""
    now = utcnow()
    return now.replace(minute=0, second=0, microsecond=0) + timedelta(minutes=30 * (now.minute // 30 + 1))


async def test_the_provider_checks_the_user_in_around_the_slot_and_learns_the_bound(client, login, backend):
    world = await make_instrument(backend)
    provider = await login("demo-provider")
    await set_calendar(client, provider, world.instrument_id)
    start = (utcnow() + timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    created = await client.post(
        "/api/v1/bookings",
        json=machine_time(world, start, start + timedelta(hours=2)),
        headers=await login("demo-researcher"),
    )
    booking_id = created.json()["id"]
    url = f"/api/v1/bookings/{booking_id}/check-in"

    early = await client.post(url, headers=provider)
    assert early.status_code == 409, early.text
    assert error_code(early) == "check_in_too_early"
    error = early.json()["error"]
    assert datetime.fromisoformat(error["details"]["earliest"]) == start - timedelta(minutes=30)
    assert "30 分钟" in error["message"]
    assert f"{(start - timedelta(minutes=30)).astimezone(SHANGHAI):%H:%M}" in error["message"]

    # the slot ended a minute ago: nobody arrives any more
    await booked_for_the_past(backend, booking_id, utcnow() - timedelta(hours=2, minutes=1))
    late = await client.post(url, headers=provider)
    assert error_code(late) == "check_in_too_late"
    assert "未到场" in late.json()["error"]["message"]
    shown = (await client.get(f"/api/v1/bookings/{booking_id}", headers=provider)).json()
    assert shown["status"] == "confirmed" and [h["action"] for h in shown["history"]] == ["book"]

    # 29 minutes before the slot: welcome
    await booked_for_the_past(backend, booking_id, utcnow() + timedelta(minutes=29))
    on_time = await client.post(url, headers=provider)
    assert on_time.status_code == 200, on_time.text
    assert on_time.json()["status"] == "in_service"


async def test_the_provider_learns_which_rule_refused_the_recorded_use(client, login, backend):
    world = await make_instrument(backend)
    provider = await login("demo-provider")
    await set_calendar(client, provider, world.instrument_id)
    start = next_half_hour()
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

    # A booking made three days ago for a slot that ended an hour ago (the check-in moves along).
    slot = utcnow() - timedelta(hours=3)
    await booked_for_the_past(backend, booking_id, slot, made_at=slot - timedelta(days=3))
    [checked_in] = [
        datetime.fromisoformat(h["at"])
        for h in (await client.get(f"/api/v1/bookings/{booking_id}", headers=provider)).json()["history"]
        if h["action"] == "check_in"
    ]
    months_early = await client.post(
        url,
        json={"actual_start": iso(slot - timedelta(days=2)), "actual_end": iso(slot + timedelta(hours=2))},
        headers=provider,
    )
    assert error_code(months_early) == "usage_invalid"
    assert months_early.json()["error"]["details"]["rule"] == "too_early"
    assert "24 小时" in months_early.json()["error"]["message"]
    ended_before_arrival = await client.post(
        url,
        json={
            "actual_start": iso(checked_in - timedelta(hours=2)),
            "actual_end": iso(checked_in - timedelta(minutes=15)),
        },
        headers=provider,
    )
    assert ended_before_arrival.status_code == 400, ended_before_arrival.text
    refused = ended_before_arrival.json()["error"]
    assert refused["details"]["rule"] == "before_check_in"
    assert f"{checked_in.astimezone(SHANGHAI):%H:%M}" in refused["message"] and "签到" in refused["message"]
    assert datetime.fromisoformat(refused["details"]["earliest"]) == checked_in - timedelta(minutes=10)
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


async def test_samples_are_received_whenever_they_come(client, login, backend):
    world = await make_instrument(backend)
    provider = await login("demo-provider")
    await set_calendar(client, provider, world.instrument_id)
    created = await client.post(
        "/api/v1/bookings",
        json={
            "instrument_id": str(world.instrument_id),
            "mode": "sample_testing",
            "service_item_id": str(world.sample_item_id),
            "samples": 3,
        },
        headers=await login("demo-researcher"),
    )
    received = await check_in_when_due(client, backend, provider, created.json()["id"])
    assert received.status_code == 200, received.text
