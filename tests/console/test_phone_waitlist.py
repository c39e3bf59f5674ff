"""The waiting list on the phone pages, over HTTP: a held range of the week calendar → queue for
it (twice tapped: one entry) → 我的预约 shows the place in line → the holder cancels → the offer
shows with its deadline → 确认预约 (twice tapped) books once; the API agrees at every step. And
leaving the line from the page, and a free range refused as the API refuses it."""

from __future__ import annotations

import html
import re
from datetime import datetime
from typing import Any

from accounts.models import User
from tests.booking.world import day_at, iso, machine_time, make_instrument, set_calendar
from tests.console.paying import with_password
from tests.console.test_phone_pages import form_fields, mine_on, researcher

HELD = re.compile(r'data-held href="([^"]+)">([^<]+)</a>')
W = "/api/v1/waitlist"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def entry_block(page: str, entry_id: str) -> str:
    """The part of 我的预约 about one waiting-list entry."""
    start = page.index(f'data-entry="{entry_id}"')
    return page[start : page.index("</li>", start)]


async def entry_of(client: Any, headers: dict[str, str], instrument_id: Any) -> list[dict[str, Any]]:
    mine = await client.get(W, headers=headers)
    assert mine.status_code == 200, mine.text
    return [e for e in mine.json() if e["instrument_id"] == str(instrument_id)]


async def held_world(backend: Any, client: Any, login: Any) -> tuple[Any, dict[str, str], dict[str, str]]:
    """An instrument open all day whose day-3 10:00–12:00 demo-researcher-2 holds."""
    world = await make_instrument(backend)
    await set_calendar(client, await login("demo-provider"), world.instrument_id)
    holder = await login("demo-researcher-2")
    taken = await client.post(
        "/api/v1/bookings", json=machine_time(world, day_at(3, 10), day_at(3, 12)), headers=holder
    )
    assert taken.status_code == 201, taken.text
    return world, holder, taken.json()


async def join_from_the_week(phone: Any, world: Any) -> str:
    """Tap the held range on the week calendar, then 排队候补 (twice): where it went."""
    week = await phone.get(f"/console/m/instruments/{world.instrument_id}/book")
    assert week.status_code == 200, week.text
    held = {label: href for href, label in HELD.findall(week.text)}
    assert "10:00–12:00 已约满 · 排队候补" in held, week.text
    form = await phone.get(html.unescape(held["10:00–12:00 已约满 · 排队候补"]))
    assert form.status_code == 200, form.text
    fields = form_fields(form.text, "/console/m/waitlist")
    assert at(fields["start"]) == day_at(3, 10) and fields["operation"] == "operator", fields
    first = await phone.post("/console/m/waitlist", data=fields)
    again = await phone.post("/console/m/waitlist", data=fields)  # the double tap
    assert first.status_code == again.status_code == 303, (first.text, again.text)
    assert first.headers["location"] == again.headers["location"] == "/console/m/bookings"
    return str(first.headers["location"])


async def test_a_researcher_queues_on_the_phone_and_books_the_offer_once(backend, client, login):
    world, holder, taken = await held_world(backend, client, login)
    phone = await researcher(backend)
    me = await login("demo-researcher")

    mine = await phone.get(await join_from_the_week(phone, world))
    [entry] = await entry_of(client, me, world.instrument_id)  # one entry however often tapped
    assert entry["status"] == "waiting" and entry["place_in_line"] == 1
    assert at(entry["start"]) == day_at(3, 10)
    assert "已加入候补，当前排第 1 位" in mine.text
    block = entry_block(mine.text, entry["id"])
    assert "候补中，排第 1 位" in block and "退出候补" in block and "确认预约" not in block

    # the holder cancels: the first in line is offered the range, held for them
    cancelled = await client.post(f"/api/v1/bookings/{taken['id']}/cancel", headers=holder)
    assert cancelled.status_code == 200, cancelled.text
    [offered] = await entry_of(client, me, world.instrument_id)
    assert offered["status"] == "offered" and offered["offer_expires_at"]
    page = await phone.get("/console/m/bookings")
    block = entry_block(page.text, entry["id"])
    assert "已为您保留至" in block and "确认预约" in block, block

    accept = f"/console/m/waitlist/{entry['id']}/accept"
    fields = form_fields(page.text, accept)
    first = await phone.post(accept, data=fields)
    again = await phone.post(accept, data=fields)  # the double tap
    assert first.status_code == again.status_code == 303, (first.text, again.text)
    assert first.headers["location"] == again.headers["location"]
    assert first.headers["location"].startswith("/console/m/bookings/")
    booked = await phone.get(first.headers["location"])
    assert "预约成功" in booked.text, booked.text[-1500:]

    listed = await client.get(mine_on(world.instrument_id), headers=me)
    assert listed.json()["total"] == 1, listed.text
    booking = listed.json()["items"][0]
    assert booking["status"] == "confirmed" and at(booking["start"]) == day_at(3, 10)
    assert first.headers["location"] == f"/console/m/bookings/{booking['id']}"
    [done] = await entry_of(client, me, world.instrument_id)
    assert done["status"] == "booked" and done["booking_id"] == booking["id"]
    after = await phone.get("/console/m/bookings")
    assert f'data-entry="{entry["id"]}"' not in after.text  # no longer waiting: a booking now


async def test_leaving_the_line_from_the_phone_and_free_time_is_booked_not_queued(backend, client, login):
    world, _, _ = await held_world(backend, client, login)
    phone = await with_password(backend, User.username == "demo-researcher")
    me = await login("demo-researcher")
    await join_from_the_week(phone, world)
    [entry] = await entry_of(client, me, world.instrument_id)

    page = await phone.get("/console/m/bookings")
    leave = f"/console/m/waitlist/{entry['id']}/decline"
    left = await phone.post(leave, data=form_fields(page.text, leave))
    assert left.status_code == 303
    after = await phone.get(left.headers["location"])
    assert "已退出候补" in after.text and f'data-entry="{entry["id"]}"' not in after.text
    [gone] = await entry_of(client, me, world.instrument_id)
    assert gone["status"] == "left"

    # a free range is not queued for: the same refusal as the API's, shown on the week
    form = await phone.get(
        f"/console/m/instruments/{world.instrument_id}/waitlist",
        params={"range_start": iso(day_at(3, 14)), "range_end": iso(day_at(3, 16))},
    )
    fields = form_fields(form.text, "/console/m/waitlist")
    refused = await phone.post("/console/m/waitlist", data=fields)
    assert refused.status_code == 303
    assert refused.headers["location"] == f"/console/m/instruments/{world.instrument_id}/book"
    shown = await phone.get(refused.headers["location"])
    assert "该时段目前空闲，可直接预约，无需候补" in shown.text
    assert len(await entry_of(client, me, world.instrument_id)) == 1
