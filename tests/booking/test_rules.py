"""Each booking rule refuses with its own code; self-operation needs a valid qualification."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from accounts.demo import demo_id
from accounts.models import Role
from booking.calendar_rules import DEFAULT_CALENDAR, CalendarRules, opening_intervals
from booking.errors import BookingRuleViolated
from booking.models import BookingStatus
from booking.rules import check_machine_time
from booking.states import replay
from catalogue.workdays import WorkingDayCalendar
from tests.booking.world import (
    check_in_when_due,
    day_at,
    iso,
    machine_time,
    make_instrument,
    make_user,
    set_calendar,
)
from tests.support import error_code
from yixiang.clock import SHANGHAI
from yixiang.db import utcnow

OFFICE_HOURS = {
    "weekly_hours": [{"weekday": d, "start": "08:30", "end": "17:30"} for d in range(5)],
    "min_notice_minutes": 120,
    "max_advance_days": 30,
    "min_duration_minutes": 60,
    "max_duration_minutes": 240,
    "slot_minutes": 30,
}


def next_weekday(weekday: int, at_least_days: int = 3) -> int:
    """Days ahead of the first ``weekday`` (0 = Monday) at least ``at_least_days`` from today."""
    today = utcnow().astimezone(SHANGHAI).date()
    ahead = at_least_days
    while (today + timedelta(days=ahead)).weekday() != weekday:
        ahead += 1
    return ahead


async def test_bookings_breaking_a_calendar_rule_are_refused_with_the_rule_named(client, login, backend):
    world = await make_instrument(backend)
    provider = await login("demo-provider")
    await set_calendar(client, provider, world.instrument_id, **OFFICE_HOURS)
    monday = next_weekday(0)
    closure = await client.post(
        f"/api/v1/provider/instruments/{world.instrument_id}/closures",
        json={"start": iso(day_at(monday, 13)), "end": iso(day_at(monday, 15)), "reason": "年度校准"},
        headers=provider,
    )
    assert closure.status_code == 201, closure.text
    researcher = await login("demo-researcher")
    soon = (utcnow() + timedelta(minutes=60)).replace(second=0, microsecond=0)
    soon = soon.replace(minute=0 if soon.minute < 30 else 30)
    past = soon - timedelta(hours=3)
    cases = {
        "start_in_past": (past, past + timedelta(hours=1)),
        "notice_too_short": (soon, soon + timedelta(hours=1)),
        "too_far_ahead": (day_at(next_weekday(0, 35), 9), day_at(next_weekday(0, 35), 10)),
        "duration_too_short": (day_at(monday, 9), day_at(monday, 9, 30)),
        "duration_too_long": (day_at(monday, 9), day_at(monday, 14)),
        "off_slot_grid": (day_at(monday, 9, 10), day_at(monday, 10, 10)),
        "outside_opening_hours": (day_at(monday, 17), day_at(monday, 18)),
        "instrument_closed": (day_at(monday, 14), day_at(monday, 15)),
        "invalid_range": (day_at(monday, 10), day_at(monday, 9)),
    }
    for code, (start, end) in cases.items():
        response = await client.post(
            "/api/v1/bookings", json=machine_time(world, start, end), headers=researcher
        )
        assert response.status_code == 400, (code, response.text)
        assert error_code(response) == code, (code, response.text)
    saturday = next_weekday(5)
    weekend = await client.post(
        "/api/v1/bookings",
        json=machine_time(world, day_at(saturday, 10), day_at(saturday, 11)),
        headers=researcher,
    )
    assert error_code(weekend) == "outside_opening_hours"
    naive = machine_time(world, day_at(monday, 9), day_at(monday, 10))
    naive["start"] = naive["start"][:19]
    assert (
        error_code(await client.post("/api/v1/bookings", json=naive, headers=researcher))
        == "timezone_required"
    )
    ok = await client.post(
        "/api/v1/bookings",
        json=machine_time(world, day_at(monday, 9), day_at(monday, 11)),
        headers=researcher,
    )
    assert ok.status_code == 201, ok.text


async def test_a_booking_must_fit_the_mode_the_instrument_offers(client, login, backend):
    world = await make_instrument(backend, self_operation=False, sample_testing=False)
    await set_calendar(client, await login("demo-provider"), world.instrument_id)
    researcher = await login("demo-researcher")
    start = day_at(3, 10)
    self_op = await client.post(
        "/api/v1/bookings",
        json=machine_time(world, start, start + timedelta(hours=1), "self"),
        headers=researcher,
    )
    assert error_code(self_op) == "mode_not_offered"
    samples = await client.post(
        "/api/v1/bookings",
        json={
            "instrument_id": str(world.instrument_id),
            "mode": "sample_testing",
            "service_item_id": str(world.sample_item_id),
            "samples": 1,
        },
        headers=researcher,
    )
    assert error_code(samples) == "mode_not_offered"
    missing = machine_time(world, start, start + timedelta(hours=1))
    del missing["end"]
    assert (
        error_code(await client.post("/api/v1/bookings", json=missing, headers=researcher))
        == "fields_for_mode"
    )
    unknown = machine_time(world, start, start + timedelta(hours=1)) | {"price_fen": 1}
    assert (
        error_code(await client.post("/api/v1/bookings", json=unknown, headers=researcher))
        == "validation_error"
    )


async def test_self_operation_needs_a_valid_qualification(client, login, backend):
    world = await make_instrument(backend)
    sibling = await make_instrument(backend)  # same unit, same category
    provider = await login("demo-provider")
    for w in (world, sibling):
        await set_calendar(client, provider, w.instrument_id)
    username = await make_user(backend, demo_id("firm-qinghe"))
    researcher = await login(username)
    start = day_at(4, 9)
    body = machine_time(world, start, start + timedelta(hours=1), "self")
    refused = await client.post("/api/v1/bookings", json=body, headers=researcher)
    assert refused.status_code == 403
    assert error_code(refused) == "qualification_required"
    # operator-run needs no training
    operator = machine_time(world, start + timedelta(hours=2), start + timedelta(hours=3), "operator")
    assert (await client.post("/api/v1/bookings", json=operator, headers=researcher)).status_code == 201

    today = utcnow().astimezone(SHANGHAI).date()
    expired = await client.post(
        "/api/v1/provider/qualifications",
        json={
            "username": username,
            "instrument_id": str(world.instrument_id),
            "expires_on": str(today - timedelta(days=1)),
        },
        headers=provider,
    )
    assert expired.status_code == 201, expired.text
    assert (
        error_code(await client.post("/api/v1/bookings", json=body, headers=researcher))
        == "qualification_required"
    )
    # a researcher cannot qualify themselves
    self_granted = await client.post(
        "/api/v1/provider/qualifications",
        json={"username": username, "instrument_id": str(world.instrument_id), "expires_on": "2099-01-01"},
        headers=researcher,
    )
    assert self_granted.status_code == 403
    granted = await client.post(
        "/api/v1/provider/qualifications",
        json={
            "username": username,
            "category_code": "99",
            "unit_id": str(demo_id("unit-zjlg")),
            "expires_on": str(today + timedelta(days=90)),
            "note": "电镜类培训合格",
        },
        headers=provider,
    )
    assert granted.status_code == 201, granted.text
    assert (await client.post("/api/v1/bookings", json=body, headers=researcher)).status_code == 201
    on_sibling = machine_time(sibling, start, start + timedelta(hours=1), "self")
    assert (await client.post("/api/v1/bookings", json=on_sibling, headers=researcher)).status_code == 201
    mine = (await client.get("/api/v1/qualifications", headers=researcher)).json()
    assert {q["id"] for q in mine} == {expired.json()["id"], granted.json()["id"]}
    revoked = await client.post(
        f"/api/v1/provider/qualifications/{granted.json()['id']}/revoke", headers=provider
    )
    assert revoked.status_code == 200
    later = machine_time(world, start + timedelta(days=1), start + timedelta(days=1, hours=1), "self")
    assert (
        error_code(await client.post("/api/v1/bookings", json=later, headers=researcher))
        == "qualification_required"
    )


async def test_only_the_units_staff_manage_its_calendar(client, login, backend):
    world = await make_instrument(backend)
    other_staff = await login(await make_user(backend, demo_id("unit-hzcl"), Role.provider_staff))
    path = f"/api/v1/provider/instruments/{world.instrument_id}/calendar"
    body = {"weekly_hours": [{"weekday": 0, "start": "09:00", "end": "12:00"}]}
    for headers in (await login("demo-researcher"), other_staff):
        response = await client.put(path, json=body, headers=headers)
        assert response.status_code == 403
        assert error_code(response) == "not_provider_staff"
    provider = await login("demo-provider")
    shown = (await client.get(path, headers=provider)).json()
    assert shown["is_default"] is True
    assert shown["weekly_hours"][0] == {"weekday": 0, "start": "08:30", "end": "17:30"}
    bad_grid = await client.put(path, json=body | {"slot_minutes": 7}, headers=provider)
    assert error_code(bad_grid) == "calendar_invalid"
    overlapping = {
        "weekly_hours": [
            {"weekday": 0, "start": "09:00", "end": "12:00"},
            {"weekday": 0, "start": "11:00", "end": "13:00"},
        ]
    }
    assert error_code(await client.put(path, json=overlapping, headers=provider)) == "calendar_invalid"
    bad_time = {"weekly_hours": [{"weekday": 0, "start": "9:00", "end": "25:00"}]}
    assert error_code(await client.put(path, json=bad_time, headers=provider)) == "validation_error"
    saved = await client.put(path, json=body | {"needs_approval": True}, headers=provider)
    assert saved.status_code == 200
    assert saved.json()["is_default"] is False and saved.json()["needs_approval"] is True
    public = await client.get(f"/api/v1/instruments/{world.instrument_id}/calendar")
    assert public.json()["weekly_hours"] == [{"weekday": 0, "start": "09:00", "end": "12:00"}]


# --- the pure rules, without a server ----------------------------------------------------------------
NATIONAL_DAY = date(2026, 10, 1)  # a Thursday, public holiday
MAKE_UP_SATURDAY = date(2026, 10, 10)  # worked in exchange (调休), per the State Council's 2026 notice


def test_public_holidays_close_and_make_up_days_open_an_instrument_that_follows_working_days():
    days = WorkingDayCalendar()
    assert not days.is_working_day(NATIONAL_DAY)
    start = datetime(2026, 10, 1, 9, 0, tzinfo=SHANGHAI)
    now = start - timedelta(days=3)
    with pytest.raises(BookingRuleViolated) as closed:
        check_machine_time(DEFAULT_CALENDAR, days, [], start, start + timedelta(hours=1), now)
    assert closed.value.code == "instrument_closed"
    ignoring = CalendarRules(follows_working_days=False)
    check_machine_time(ignoring, days, [], start, start + timedelta(hours=1), now)
    assert days.is_working_day(MAKE_UP_SATURDAY)
    opening = opening_intervals(
        DEFAULT_CALENDAR,
        days,
        datetime(2026, 10, 10, 0, 0, tzinfo=SHANGHAI),
        datetime(2026, 10, 11, 0, 0, tzinfo=SHANGHAI),
    )
    assert opening == [
        (datetime(2026, 10, 10, 8, 30, tzinfo=SHANGHAI), datetime(2026, 10, 10, 17, 30, tzinfo=SHANGHAI))
    ]


def test_a_history_replays_only_along_the_transition_table():
    S = BookingStatus
    assert (
        replay([(None, S.requested), (S.requested, S.confirmed), (S.confirmed, S.in_service)]) == S.in_service
    )
    with pytest.raises(ValueError):
        replay([(None, S.confirmed), (S.requested, S.confirmed)])
    with pytest.raises(ValueError):
        replay([(None, S.confirmed), (S.confirmed, S.completed)])


async def test_extreme_inputs_answer_4xx_never_500(client, login, backend):
    from sqlalchemy import update

    from catalogue.models import ServiceItem

    world = await make_instrument(backend)
    provider = await login("demo-provider")
    await set_calendar(client, provider, world.instrument_id)
    researcher = await login("demo-researcher")
    far = await client.get(
        f"/api/v1/instruments/{world.instrument_id}/availability",
        params={"from": "9999-12-25T00:00:00+08:00", "to": "9999-12-31T00:00:00+08:00"},
    )
    assert far.status_code == 200, far.text
    assert far.json()["slots"] == [] and far.json()["free"] == []
    open_ended = await client.get(
        f"/api/v1/instruments/{world.instrument_id}/availability",
        params={"from": "9999-12-31T00:00:00+08:00"},
    )
    assert open_ended.status_code == 400
    ancient = machine_time(world, day_at(2, 9), day_at(2, 10)) | {"start": "0001-01-01T00:00:00+08:00"}
    assert (
        error_code(await client.post("/api/v1/bookings", json=ancient, headers=researcher)) == "start_in_past"
    )
    # a costly sample service: 10,000 samples at 5,000 元 is 5e9 fen, beyond a 32-bit integer
    async with backend.runtime.session_maker() as session, session.begin():
        await session.execute(
            update(ServiceItem)
            .where(ServiceItem.id == world.sample_item_id)
            .values(external_price_fen=500_000)
        )
    costly = await client.post(
        "/api/v1/bookings",
        json={
            "instrument_id": str(world.instrument_id),
            "mode": "sample_testing",
            "service_item_id": str(world.sample_item_id),
            "samples": 10_000,
        },
        headers=researcher,
    )
    assert costly.status_code == 201, costly.text
    assert costly.json()["quote"]["fee_fen"] == 5_000_000_000
    # actual use is bounded: not months long, not long before the booked time
    start = (utcnow() + timedelta(hours=2)).replace(minute=0, second=0, microsecond=0)
    booking_id = (
        await client.post(
            "/api/v1/bookings",
            json=machine_time(world, start, start + timedelta(hours=1)),
            headers=researcher,
        )
    ).json()["id"]
    assert (await check_in_when_due(client, backend, provider, booking_id)).status_code == 200
    months = await client.post(
        f"/api/v1/bookings/{booking_id}/complete",
        json={"actual_start": "2000-01-01T00:00:00+08:00", "actual_end": iso(utcnow())},
        headers=provider,
    )
    assert months.status_code == 400
    assert error_code(months) == "usage_invalid"
    far_closure = await client.post(
        f"/api/v1/provider/instruments/{world.instrument_id}/closures",
        json={"start": "0001-01-01T00:00:00+08:00", "end": "9999-12-31T23:00:00-08:00"},
        headers=provider,
    )
    assert error_code(far_closure) == "invalid_range"
