"""An instrument's free time is one answer, whoever asks: the availability API, search's "free
between two dates" filter, and booking creation (which refuses taken time and offers free time
instead) all read it from ``booking.free_time``."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from booking.calendar_rules import CalendarRules, held_intervals
from catalogue.events import emit_instruments_changed
from catalogue.models import Instrument
from tests.booking.world import InstrumentIds, day_at, iso, machine_time, make_instrument, set_calendar
from tests.search.helpers import search
from tests.support import error_code
from yixiang.clock import SHANGHAI

EIGHT_TO_SIX = [{"weekday": d, "start": "08:00", "end": "18:00"} for d in range(7)]


async def _searchable(backend: Any, world: InstrumentIds) -> str:
    """Index the new instrument as the catalogue does (its change event, then the worker); its
    name, which search matches it by."""
    async with backend.runtime.session_maker() as session, session.begin():
        instrument = await session.get(Instrument, world.instrument_id)
        assert instrument is not None
        name = instrument.name
        await emit_instruments_changed(session, [world.instrument_id], "test")
    await backend.runtime.worker().drain()
    return name


async def _free(client: Any, world: InstrumentIds, day: datetime) -> list[tuple[datetime, datetime]]:
    response = await client.get(
        f"/api/v1/instruments/{world.instrument_id}/availability",
        params={"from": iso(day), "to": iso(day + timedelta(days=1))},
    )
    assert response.status_code == 200, response.text
    return [
        (datetime.fromisoformat(r["start"]), datetime.fromisoformat(r["end"]))
        for r in response.json()["free"]
    ]


async def _found_free(client: Any, world: InstrumentIds, name: str, day: date) -> bool:
    page = await search(client, q=name, available_from=day.isoformat(), available_to=day.isoformat())
    return str(world.instrument_id) in [item["id"] for item in page["items"]]


async def test_a_closure_and_a_booking_that_fill_a_day_leave_it_free_for_no_caller(client, login, backend):
    world = await make_instrument(backend)
    provider = await login("demo-provider")
    await set_calendar(client, provider, world.instrument_id, weekly_hours=EIGHT_TO_SIX)
    name = await _searchable(backend, world)
    researcher = await login("demo-researcher")
    day, next_day = day_at(3, 0), day_at(4, 0)

    # An open day: free from eight to six, found by search, bookable.
    assert await _free(client, world, day) == [(day + timedelta(hours=8), day + timedelta(hours=18))]
    assert await _found_free(client, world, name, day.date())

    # The provider closes the morning: the afternoon is still free to every caller.
    closure = await client.post(
        f"/api/v1/provider/instruments/{world.instrument_id}/closures",
        json={
            "start": iso(day + timedelta(hours=8)),
            "end": iso(day + timedelta(hours=12)),
            "reason": "维护",
        },
        headers=provider,
    )
    assert closure.status_code == 201, closure.text
    assert await _free(client, world, day) == [(day + timedelta(hours=12), day + timedelta(hours=18))]
    assert await _found_free(client, world, name, day.date())
    morning = await client.post(
        "/api/v1/bookings",
        json=machine_time(world, day + timedelta(hours=9), day + timedelta(hours=10)),
        headers=researcher,
    )
    assert error_code(morning) == "instrument_closed"

    # A firm books the whole afternoon (confirmed at once): nothing of the day is free any more.
    afternoon = await client.post(
        "/api/v1/bookings",
        json=machine_time(world, day + timedelta(hours=12), day + timedelta(hours=18)),
        headers=researcher,
    )
    assert afternoon.status_code == 201, afternoon.text
    assert afternoon.json()["status"] == "confirmed"
    assert await _free(client, world, day) == []
    assert not await _found_free(client, world, name, day.date())
    taken = await client.post(
        "/api/v1/bookings",
        json=machine_time(world, day + timedelta(hours=13), day + timedelta(hours=14)),
        headers=await login("demo-researcher-2"),
    )
    assert taken.status_code == 409 and error_code(taken) == "slot_taken"
    offered = [datetime.fromisoformat(a["start"]) for a in taken.json()["error"]["details"]["alternatives"]]
    assert offered and all(not (day <= start < next_day) for start in offered)

    # The next day is untouched, for every caller.
    assert await _free(client, world, next_day) == [
        (next_day + timedelta(hours=8), next_day + timedelta(hours=18))
    ]
    assert await _found_free(client, world, name, next_day.date())
    assert next_day + timedelta(hours=8) in offered  # the nearest free hour after the full day


def test_held_time_is_what_bookings_keep_from_being_free_buffers_included_closures_not():
    """What the waiting list offers to queue for (the phone's week calendar): opening time that
    bookings and offers hold, with their buffers, and never the time a closure shuts."""
    rules = CalendarRules(weekly_hours=((0, 9 * 60, 17 * 60),), follows_working_days=False, buffer_minutes=15)
    monday = datetime(2030, 3, 4, tzinfo=SHANGHAI)

    def at(hour: int, minute: int = 0) -> datetime:
        return monday + timedelta(hours=hour, minutes=minute)

    taken = [(at(10), at(11, 15)), (at(12), at(14, 15))]  # (start, block_end: the buffer after)
    closures = [(at(13), at(17))]
    held = held_intervals(rules, None, closures, taken, monday, monday + timedelta(days=1))
    assert held == [(at(9, 45), at(11, 15)), (at(11, 45), at(13))]
    assert held_intervals(rules, None, closures, [], monday, monday + timedelta(days=1)) == []
