"""Private iCalendar feeds: a researcher's bookings and an instrument's schedule, read by a
maintained iCalendar parser as a calendar app would, with a cancellation showing as CANCELLED."""

from __future__ import annotations

from typing import Any

import icalendar

from accounts.models import Role
from tests.booking.world import HZCL, day_at, machine_time, make_instrument, make_user, set_calendar
from tests.support import error_code

F = "/api/v1/calendar-feeds"


async def fetch(client: Any, url: str) -> icalendar.Calendar:
    path = url.split("://", 1)[1].split("/", 1)[1]
    r = await client.get("/" + path)  # no Authorization: the token is the key
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/calendar")
    assert all(len(line.encode()) <= 75 for line in r.text.split("\r\n"))  # folded (RFC 5545 §3.1)
    return icalendar.Calendar.from_ical(r.content)


def events(calendar: icalendar.Calendar) -> dict[str, Any]:
    return {str(e["UID"]): e for e in calendar.walk("VEVENT")}


async def test_a_researchers_feed_parses_and_shows_a_cancellation(client, login, backend):
    world = await make_instrument(backend)
    await set_calendar(client, await login("demo-provider"), world.instrument_id)
    researcher = await login("demo-researcher")
    start, end = day_at(6, 9), day_at(6, 11)
    booked = await client.post("/api/v1/bookings", json=machine_time(world, start, end), headers=researcher)
    assert booked.status_code == 201, booked.text
    booking = booked.json()

    issued = await client.post(F, headers=researcher)
    assert issued.status_code == 201, issued.text
    url = issued.json()["url"]
    assert url.endswith(".ics") and issued.json()["webcal_url"].startswith("webcal://")

    calendar = await fetch(client, url)
    assert str(calendar["VERSION"]) == "2.0" and "X-WR-TIMEZONE" in calendar
    event = events(calendar)[f"{booking['id']}@yixiang"]
    assert event.decoded("DTSTART") == start and event.decoded("DTEND") == end  # the same moments
    assert str(event["STATUS"]) == "CONFIRMED"
    assert world_name_in(str(event["SUMMARY"])) and booking["number"] in str(event["DESCRIPTION"])
    sequence = int(event["SEQUENCE"])

    cancelled = await client.post(f"/api/v1/bookings/{booking['id']}/cancel", headers=researcher)
    assert cancelled.status_code == 200, cancelled.text
    event = events(await fetch(client, url))[f"{booking['id']}@yixiang"]
    assert str(event["STATUS"]) == "CANCELLED" and int(event["SEQUENCE"]) > sequence
    assert "已取消" in str(event["DESCRIPTION"])

    # Another researcher's bookings are not in it; nor anyone's but the owner's.
    other = await client.post(
        "/api/v1/bookings",
        json=machine_time(world, day_at(6, 12), day_at(6, 13)),
        headers=await login("demo-researcher-2"),
    )
    assert f"{other.json()['id']}@yixiang" not in events(await fetch(client, url))


def world_name_in(summary: str) -> bool:
    return summary.startswith("测试扫描电镜") and "机时" in summary


async def test_feeds_are_revocable_reissued_and_an_instruments_is_for_its_staff(client, login, backend):
    world = await make_instrument(backend)
    provider = await login("demo-provider")
    await set_calendar(client, provider, world.instrument_id)
    researcher = await login("demo-researcher")
    booked = await client.post(
        "/api/v1/bookings", json=machine_time(world, day_at(7, 9), day_at(7, 10)), headers=researcher
    )
    first = (await client.post(F, headers=researcher)).json()
    second = (await client.post(F, headers=researcher)).json()  # re-issued: the old address stops
    gone = await client.get("/" + first["url"].split("/", 3)[3])
    assert gone.status_code == 404 and error_code(gone) == "calendar_feed_not_found"
    await fetch(client, second["url"])
    listed = await client.get(F, headers=researcher)
    assert [f["id"] for f in listed.json()] == [second["id"]] and listed.json()[0]["url"] is None
    revoked = await client.post(f"{F}/{second['id']}/revoke", headers=researcher)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    assert (await client.get("/" + second["url"].split("/", 3)[3])).status_code == 404
    assert (await client.get("/api/v1/ical/not-a-token.ics")).status_code == 404

    # The instrument's schedule: its staff only, with every firm's bookings.
    refused = await client.post(F, json={"instrument_id": str(world.instrument_id)}, headers=researcher)
    assert refused.status_code == 403, refused.text
    elsewhere = await login(await make_user(backend, HZCL, Role.provider_staff))
    assert (
        await client.post(F, json={"instrument_id": str(world.instrument_id)}, headers=elsewhere)
    ).status_code in {403, 404}
    staff_feed = await client.post(F, json={"instrument_id": str(world.instrument_id)}, headers=provider)
    assert staff_feed.status_code == 201, staff_feed.text
    schedule = events(await fetch(client, staff_feed.json()["url"]))
    event = schedule[f"{booked.json()['id']}@yixiang"]
    assert "杭州青禾" in str(event["SUMMARY"]) and str(event["STATUS"]) == "CONFIRMED"
