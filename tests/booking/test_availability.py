"""Availability shows what can be booked, in one call: the modes offered, the booking rules, and free
machine time as ranges and slots; reminders go out once; demo calendars load idempotently."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update

from accounts.demo import demo_id
from booking.demo import load_booking_demo
from booking.events import REMINDERS_DUE
from booking.free_time import merged_ranges
from booking.models import InstrumentCalendar, Qualification
from catalogue.models import Instrument, InstrumentStatus, PublicationStatus
from tests.booking.world import day_at, iso, machine_time, make_instrument, set_calendar
from tests.support import error_code
from yixiang.outbox import OutboxEvent, emit
from yixiang.worker import Worker


async def test_availability_is_opening_time_minus_bookings_buffers_and_closures(client, login, backend):
    world = await make_instrument(backend)
    provider = await login("demo-provider")
    await set_calendar(client, provider, world.instrument_id, slot_minutes=60, buffer_minutes=30)
    researcher = await login("demo-researcher")
    day = day_at(3, 0)
    booked = await client.post(
        "/api/v1/bookings",
        json=machine_time(world, day + timedelta(hours=10), day + timedelta(hours=12)),
        headers=researcher,
    )
    assert booked.status_code == 201
    await client.post(
        f"/api/v1/provider/instruments/{world.instrument_id}/closures",
        json={
            "start": iso(day + timedelta(hours=18)),
            "end": iso(day + timedelta(hours=20)),
            "reason": "维护",
        },
        headers=provider,
    )
    # anyone may look, signed in or not
    response = await client.get(
        f"/api/v1/instruments/{world.instrument_id}/availability",
        params={"from": iso(day), "to": iso(day + timedelta(days=1))},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    expected_free = [
        (day, day + timedelta(hours=9, minutes=30)),  # the buffer before the booking
        (day + timedelta(hours=12, minutes=30), day + timedelta(hours=18)),  # and after it
        (day + timedelta(hours=20), day + timedelta(days=1)),
    ]
    free = [(datetime.fromisoformat(r["start"]), datetime.fromisoformat(r["end"])) for r in body["free"]]
    assert free == expected_free
    starts = {datetime.fromisoformat(s["start"]) for s in body["slots"]}
    assert day + timedelta(hours=8) in starts
    assert day + timedelta(hours=9) not in starts  # 09:00–10:00 would touch the buffer
    assert day + timedelta(hours=10) not in starts and day + timedelta(hours=12) not in starts
    assert day + timedelta(hours=13) in starts and day + timedelta(hours=19) not in starts
    assert len(body["slots"]) == 9 + 5 + 4  # whole hours inside the free time
    # a day given as a date means Shanghai midnight
    by_date = await client.get(
        f"/api/v1/instruments/{world.instrument_id}/availability",
        params={"from": day.date().isoformat(), "to": (day + timedelta(days=1)).date().isoformat()},
    )
    assert by_date.json()["free"] == body["free"]
    wide = await client.get(
        f"/api/v1/instruments/{world.instrument_id}/availability",
        params={"from": day.date().isoformat(), "to": (day + timedelta(days=90)).date().isoformat()},
    )
    assert error_code(wide) == "range_too_wide"
    backwards = await client.get(
        f"/api/v1/instruments/{world.instrument_id}/availability",
        params={"from": iso(day + timedelta(days=1)), "to": iso(day)},
    )
    assert error_code(backwards) == "invalid_range"
    garbage = await client.get(
        f"/api/v1/instruments/{world.instrument_id}/availability", params={"from": "soon"}
    )
    assert garbage.status_code == 400


def test_touching_slots_merge_into_ranges():
    day = day_at(3, 0)

    def at(hours: float) -> datetime:
        return day + timedelta(hours=hours)

    pieces = [(at(9.5), at(10)), (at(9), at(9.5)), (at(11), at(11.5)), (at(11.25), at(12))]
    pieces.append((at(14), at(14.5)))
    assert merged_ranges(pieces) == [(at(9), at(10)), (at(11), at(12)), (at(14), at(14.5))]
    assert merged_ranges([]) == []


def _ranges(body: dict[str, Any], key: str = "ranges") -> list[tuple[datetime, datetime]]:
    return [(datetime.fromisoformat(r["start"]), datetime.fromisoformat(r["end"])) for r in body[key]]


async def test_one_call_gives_free_ranges_the_booking_rules_and_the_modes_offered(client, login, backend):
    world = await make_instrument(backend)
    provider = await login("demo-provider")
    await set_calendar(client, provider, world.instrument_id)
    researcher = await login("demo-researcher")
    day = day_at(3, 0)
    for start, end in ((10, 12), (13, 14), (14.5, 16)):
        booked = await client.post(
            "/api/v1/bookings",
            json=machine_time(world, day + timedelta(hours=start), day + timedelta(hours=end)),
            headers=researcher,
        )
        assert booked.status_code == 201, booked.text
    closed = await client.post(
        f"/api/v1/provider/instruments/{world.instrument_id}/closures",
        json={"start": iso(day + timedelta(hours=18)), "end": iso(day + timedelta(hours=20))},
        headers=provider,
    )
    assert closed.status_code == 201, closed.text
    await set_calendar(
        client,
        provider,
        world.instrument_id,
        min_duration_minutes=60,
        max_duration_minutes=240,
        min_notice_minutes=120,
        max_advance_days=30,
        needs_approval=True,
        approval_window_hours=12,
        cancellation_deadline_hours=48,
        late_cancellation="charge",
        late_cancellation_fee_percent=20,
    )

    response = await client.get(
        f"/api/v1/instruments/{world.instrument_id}/availability",
        params={"from": iso(day), "to": iso(day + timedelta(days=1))},
    )
    assert response.status_code == 200, response.text
    body = response.json()

    def hours(start: float, end: float) -> tuple[datetime, datetime]:
        return day + timedelta(hours=start), day + timedelta(hours=end)

    # 14:00-14:30 is free but shorter than the shortest booking: a slot, not a range
    assert _ranges(body) == [hours(0, 10), hours(12, 13), hours(16, 18), hours(20, 24)]
    assert hours(14, 14.5) in _ranges(body, "slots")
    assert len(body["slots"]) == 2 * (10 + 1 + 2 + 4) + 1
    assert body["modes"] == ["machine_time", "sample_testing"]
    assert body["operations"] == ["self", "operator"]
    rules = body["rules"]
    assert (rules["needs_approval"], rules["approval_window_hours"]) == (True, 12)
    assert rules["machine_time"] == {
        "slot_minutes": 30,
        "min_duration_minutes": 60,
        "max_duration_minutes": 240,
        "min_notice_minutes": 120,
        "max_advance_days": 30,
        "buffer_minutes": 0,
        "cancellation_deadline_hours": 48,
        "late_cancellation": "charge",
        "late_cancellation_fee_percent": 20,
        "check_in_minutes_before": 30,
    }
    assert rules["summary"] == [
        "机时预约每次 1 小时至 4 小时，以 30 分钟为单位",
        "至少提前 2 小时预约，最多提前 30 天",
        "预约需仪器管理员审批，12 小时内未审批自动失效",
        "机时预约开始前 48 小时之前可免费取消，之后取消收取预约费用的 20%",
        "预约开始前 30 分钟起可签到",
        "送样检测在样品送达前可随时免费取消",
    ]


async def test_an_instrument_without_machine_time_shows_none(client, login, backend):
    world = await make_instrument(backend, self_operation=False, operator_run=False)
    await set_calendar(client, await login("demo-provider"), world.instrument_id)
    url = f"/api/v1/instruments/{world.instrument_id}/availability"
    body = (await client.get(url)).json()
    assert body["modes"] == ["sample_testing"] and body["operations"] == []
    assert body["ranges"] == body["slots"] == body["free"] == []
    assert body["rules"]["machine_time"] is None
    assert body["rules"]["needs_approval"] is False
    assert body["rules"]["summary"] == ["提交即确认，无需审批", "送样检测在样品送达前可随时免费取消"]

    # out of service, nothing can be booked at all
    async with backend.runtime.session_maker() as session, session.begin():
        await session.execute(
            update(Instrument)
            .where(Instrument.id == world.instrument_id)
            .values(status=InstrumentStatus.maintenance, sample_testing=True, operator_run=True)
        )
    body = (await client.get(url)).json()
    assert body["modes"] == [] and body["operations"] == [] and body["slots"] == []
    assert body["rules"]["machine_time"] is None


async def test_a_taken_slot_answer_offers_the_nearest_free_ranges(client, login, backend):
    world = await make_instrument(backend)
    await set_calendar(client, await login("demo-provider"), world.instrument_id, slot_minutes=60)
    start = day_at(4, 10)
    body = machine_time(world, start, start + timedelta(hours=2))
    assert (
        await client.post("/api/v1/bookings", json=body, headers=await login("demo-researcher"))
    ).status_code == 201
    taken = await client.post("/api/v1/bookings", json=body, headers=await login("demo-researcher-2"))
    assert taken.status_code == 409
    alternatives = taken.json()["error"]["details"]["alternatives"]
    got = [(datetime.fromisoformat(a["start"]), datetime.fromisoformat(a["end"])) for a in alternatives]
    # two-hour ranges on the hour grid, nearest first: 08:00 and 12:00, then 07:00 (before 13:00)
    assert got == [
        (start - timedelta(hours=3), start - timedelta(hours=1)),
        (start - timedelta(hours=2), start),
        (start + timedelta(hours=2), start + timedelta(hours=4)),
    ]


async def test_unpublished_instruments_have_no_public_availability(client, login, backend):
    world = await make_instrument(backend, publication=PublicationStatus.draft)
    response = await client.get(f"/api/v1/instruments/{world.instrument_id}/availability")
    assert response.status_code == 404
    staff = await client.get(
        f"/api/v1/instruments/{world.instrument_id}/availability", headers=await login("demo-provider")
    )
    assert staff.status_code == 200
    start = day_at(3, 10)
    refused = await client.post(
        "/api/v1/bookings",
        json=machine_time(world, start, start + timedelta(hours=1)),
        headers=await login("demo-researcher"),
    )
    assert refused.status_code == 404


async def _run_reminder_job(backend) -> None:
    async with backend.runtime.session_maker() as session, session.begin():
        await emit(session, REMINDERS_DUE, {"job": "test"})
    worker = Worker(
        backend.runtime.session_maker,
        backend.runtime.domains,
        settings=backend.settings,
        only_topics={REMINDERS_DUE},
    )
    await worker.drain()


async def test_reminders_go_out_once_for_tomorrow_and_for_the_next_hour(client, login, backend):
    world = await make_instrument(backend)
    await set_calendar(client, await login("demo-provider"), world.instrument_id)
    researcher = await login("demo-researcher")
    from yixiang.db import utcnow

    soon = utcnow() + timedelta(minutes=31)
    soon = soon.replace(minute=0 if soon.minute < 30 else 30, second=0, microsecond=0)
    tomorrow = day_at(1, 15)
    later = day_at(5, 15)
    ids = {}
    for name, start in (("soon", soon), ("tomorrow", tomorrow), ("later", later)):
        response = await client.post(
            "/api/v1/bookings",
            json=machine_time(world, start, start + timedelta(minutes=30)),
            headers=researcher,
        )
        assert response.status_code == 201, response.text
        ids[name] = response.json()["id"]
    await _run_reminder_job(backend)
    await _run_reminder_job(backend)
    async with backend.runtime.session_maker() as session:
        rows = (
            await session.execute(
                select(OutboxEvent.key, func.count())
                .where(OutboxEvent.topic == "booking.reminder")
                .group_by(OutboxEvent.key)
            )
        ).all()
    keys = {key: count for key, count in rows}
    assert keys[f"booking-reminder:{ids['soon']}:next_hour"] == 1
    assert keys[f"booking-reminder:{ids['tomorrow']}:tomorrow"] == 1
    assert not any(key and ids["later"] in key for key in keys)
    assert f"booking-reminder:{ids['tomorrow']}:next_hour" not in keys


async def test_demo_calendars_and_qualifications_load_idempotently(backend):
    world = await make_instrument(backend, self_operation=True)
    for _ in range(2):
        async with backend.runtime.session_maker() as session, session.begin():
            await load_booking_demo(session)
    async with backend.runtime.session_maker() as session:
        calendar = await session.get(InstrumentCalendar, world.instrument_id)
        assert calendar is not None
        count = await session.scalar(
            select(func.count())
            .select_from(Qualification)
            .where(Qualification.user_id == demo_id("demo-researcher"))
        )
    assert count is not None and count >= 1  # our self-operated instrument is among them
    again_count = count
    async with backend.runtime.session_maker() as session, session.begin():
        await load_booking_demo(session)
    async with backend.runtime.session_maker() as session:
        assert (
            await session.scalar(
                select(func.count())
                .select_from(Qualification)
                .where(Qualification.user_id == demo_id("demo-researcher"))
            )
            == again_count
        )
