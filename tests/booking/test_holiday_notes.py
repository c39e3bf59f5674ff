"""A researcher booking into days whose holidays are not yet published is told so: availability,
the calendar and the booking answer carry a note (catalogue/workdays.py, booking/holiday_notes.py)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from catalogue.workdays import HolidayData, WorkingDayCalendar
from tests.booking.world import machine_time, make_instrument, set_calendar
from yixiang.clock import SHANGHAI, shanghai_today

UNKNOWN_YEAR = 2032  # no table knows it and no test enters overrides for it


def expected_note(*years: int) -> str | None:
    """The note, written out, for what is known of each year today."""
    notes = []
    for year in years:
        known = WorkingDayCalendar().holiday_data(year)
        if known == HolidayData.missing:
            notes.append(f"{year}年节假日安排尚未公布，按周末休息计算")
        elif known == HolidayData.provisional:
            notes.append(f"{year}年放假调休安排尚未公布，暂按法定节假日和周末计算")
    return "；".join(notes) or None


async def test_availability_in_a_year_without_holiday_data_says_weekends_are_assumed(client, login, backend):
    world = await make_instrument(backend)
    provider = await login("demo-provider")
    path = f"/api/v1/instruments/{world.instrument_id}/availability"
    asked = {"from": f"{UNKNOWN_YEAR}-03-01", "to": f"{UNKNOWN_YEAR}-03-08"}
    await set_calendar(client, provider, world.instrument_id, follows_working_days=True)
    answer = (await client.get(path, params=asked)).json()
    assert answer["holiday_note"] == f"{UNKNOWN_YEAR}年节假日安排尚未公布，按周末休息计算"
    known = (await client.get(path, params={"from": "2026-03-02", "to": "2026-03-09"})).json()
    assert known["holiday_note"] is None  # chinesecalendar knows 2026
    # a calendar that ignores holidays has nothing to warn about
    await set_calendar(client, provider, world.instrument_id, follows_working_days=False)
    assert (await client.get(path, params=asked)).json()["holiday_note"] is None


async def test_the_calendar_warns_of_the_years_its_bookings_can_reach(client, login, backend):
    world = await make_instrument(backend)
    provider = await login("demo-provider")
    await set_calendar(client, provider, world.instrument_id, follows_working_days=True, max_advance_days=366)
    calendar = (await client.get(f"/api/v1/instruments/{world.instrument_id}/calendar")).json()
    today = shanghai_today()
    reach = today + timedelta(days=366)
    assert calendar["holiday_note"] == expected_note(*range(today.year, reach.year + 1))


async def test_a_booking_into_a_year_not_yet_published_says_so(client, login, backend):
    world = await make_instrument(backend)
    provider = await login("demo-provider")
    await set_calendar(client, provider, world.instrument_id, follows_working_days=True, max_advance_days=366)
    researcher = await login("demo-researcher")
    for days_ahead in (330, 3):  # next year's days (provisional or unknown), then this year's
        day = _working_day_around(shanghai_today() + timedelta(days=days_ahead))
        start = datetime.combine(day, time(10), SHANGHAI)
        booked = await client.post(
            "/api/v1/bookings",
            json=machine_time(world, start, start + timedelta(hours=1)),
            headers=researcher,
        )
        assert booked.status_code == 201, booked.text
        assert booked.json()["holiday_note"] == expected_note(day.year), day


def _working_day_around(day: date) -> date:
    calendar = WorkingDayCalendar()
    while not calendar.is_working_day(day):
        day += timedelta(days=1)
    return day
