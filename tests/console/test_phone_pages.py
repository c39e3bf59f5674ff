"""The researcher's phone pages over HTTP: search → instrument → a free range of the week → the
quote with the voucher share → confirm (twice: one booking) → my bookings → cancel with the fee
the rules say; the firm admin's page; the pages are small and load nothing from elsewhere."""

from __future__ import annotations

import html
import re

import httpx
import pytest

from accounts.models import User
from catalogue.models import Instrument
from search.dependencies import SEARCH_BACKEND
from search.sync import reindex
from tests.booking.world import make_instrument, set_calendar
from tests.console.paying import with_password

SLOT = re.compile(r'data-slot href="([^"]+)"')
FIELD = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')
PAGE_BYTES = 24_000  # a phone page on slow 3G: its HTML, styles and script together


def form_fields(page: str, action: str) -> dict[str, str]:
    """The hidden fields of the form posting to ``action``."""
    start = page.index(f'action="{action}"')
    form = page[start : page.index("</form>", start)]
    return {name: html.unescape(value) for name, value in FIELD.findall(form)}


def mine_on(instrument_id) -> str:
    return f"/api/v1/bookings?mine=true&instrument_id={instrument_id}"


async def researcher(backend) -> httpx.AsyncClient:
    return await with_password(backend, User.username == "demo-researcher")


async def test_a_researcher_books_on_the_phone_once_however_often_confirm_is_sent(backend, client, login):
    world = await make_instrument(backend)
    phone = await researcher(backend)
    headers = await login("demo-researcher")

    await reindex(backend.runtime.session_maker, backend.runtime.services[SEARCH_BACKEND])
    async with backend.runtime.session_maker() as session:
        name = (await session.get(Instrument, world.instrument_id)).name  # 测试扫描电镜 + its own number
    found = await phone.get("/console/m", params={"q": name, "mode": "sample_testing"})
    assert found.status_code == 200, found.text
    assert f"/console/m/instruments/{world.instrument_id}" in found.text, found.text
    free = await phone.get("/console/m", params={"q": "扫描电镜", "free_week": "true"})
    assert free.status_code == 200 and re.search(r'class="chip on" href="[^"]+">7 天内有空', free.text)
    assert "送样检测" in found.text and "地区" in found.text  # the filter chosen, the facets

    shown = await phone.get(f"/console/m/instruments/{world.instrument_id}")
    assert shown.status_code == 200, shown.text
    assert "收费标准" in shown.text and "200.00 元/小时" in shown.text and "uri.amap.com" in shown.text

    week = await phone.get(f"/console/m/instruments/{world.instrument_id}/book")
    assert week.status_code == 200, week.text
    slots = SLOT.findall(week.text)
    assert slots, "no free range to tap"
    quote = await phone.get(html.unescape(slots[-1]))
    assert quote.status_code == 200, quote.text
    assert "确认预约" in quote.text and "创新券抵扣" in quote.text and "需自付" in quote.text

    fields = form_fields(quote.text, "/console/m/bookings")
    first = await phone.post("/console/m/bookings", data=fields)
    again = await phone.post("/console/m/bookings", data=fields)  # the double tap
    assert first.status_code == again.status_code == 303, (first.text, again.text)
    assert first.headers["location"] == again.headers["location"]
    assert first.headers["location"].startswith("/console/m/bookings/"), (
        await phone.get(first.headers["location"])
    ).text[-1500:]
    listed = await client.get(mine_on(world.instrument_id), headers=headers)
    assert listed.json()["total"] == 1, listed.text
    booking = listed.json()["items"][0]
    assert booking["status"] == "confirmed"

    mine = await phone.get("/console/m/bookings")
    assert booking["number"] in mine.text and "已确认" in mine.text
    page = await phone.get(first.headers["location"])
    assert "现在取消不收取费用" in page.text, page.text
    cancel_fields = form_fields(page.text, f"/console/m/bookings/{booking['id']}/cancel")
    cancelled = await phone.post(f"/console/m/bookings/{booking['id']}/cancel", data=cancel_fields)
    assert cancelled.status_code == 303
    after = await phone.get(cancelled.headers["location"])
    assert "已取消，不收取费用" in after.text and "data-cancel-fee" not in after.text
    api = await client.get(f"/api/v1/bookings/{booking['id']}", headers=headers)
    assert api.json()["status"] == "cancelled"


async def test_a_form_without_its_key_changes_nothing(backend, client, login):
    world = await make_instrument(backend)
    phone = await researcher(backend)
    quote = await phone.get(
        f"/console/m/instruments/{world.instrument_id}/quote",
        params={"mode": "sample_testing", "service_item_id": str(world.sample_item_id), "samples": "2"},
    )
    assert quote.status_code == 200, quote.text
    assert "100.00 元" in quote.text  # 2 samples at the external 50 元
    fields = form_fields(quote.text, "/console/m/bookings")
    del fields["idem"]
    refused = await phone.post("/console/m/bookings", data=fields)
    assert refused.status_code == 400 and "页面已过期" in refused.text
    headers = await login("demo-researcher")
    listed = await client.get(mine_on(world.instrument_id), headers=headers)
    assert listed.json()["total"] == 0


async def test_the_firm_admin_sees_vouchers_members_and_statements(backend):
    admin = await with_password(backend, User.username == "demo-firm-admin")
    page = await admin.get("/console/m/firm")
    assert page.status_code == 200, page.text
    assert "杭州青禾生物科技有限公司" in page.text and "创新券" in page.text
    assert "demo-researcher" in page.text  # a member
    researcher_phone = await researcher(backend)
    assert (await researcher_phone.get("/console/m/firm")).status_code == 403


async def test_a_demo_instrument_page_loads_nothing_from_elsewhere(backend):
    await reindex(backend.runtime.session_maker, backend.runtime.services[SEARCH_BACKEND])
    phone = await researcher(backend)
    found = await phone.get("/console/m", params={"q": "核磁"})
    first = re.search(r'href="(/console/m/instruments/[^"]+)"', found.text)
    assert first, found.text
    page = await phone.get(first.group(1))
    assert page.status_code == 200 and "收费标准" in page.text
    assert not re.search(r'<(?:img|script|link)[^>]+(?:src|href)="(?:https?:)?//', page.text)


@pytest.mark.parametrize("path", ["/console/m", "/console/m/bookings"])
async def test_phone_pages_are_small_and_self_contained(backend, path):
    phone = await researcher(backend)
    page = await phone.get(path)
    assert page.status_code == 200
    assets = re.findall(r'(?:href|src)="(/console/static/[^"]+)"', page.text)
    assert assets and all(a.endswith((".css", ".js")) for a in assets)
    weight = len(page.content) + sum([len((await phone.get(a)).content) for a in assets])
    assert weight < PAGE_BYTES, weight
    assert not re.search(r'(?:href|src)="(?:https?:)?//', page.text.replace("uri.amap.com", ""))


async def test_a_late_cancellation_shows_and_charges_the_fee_the_rule_says(backend, client, login):
    world = await make_instrument(backend)
    provider = await login("demo-provider")
    await set_calendar(
        client,
        provider,
        world.instrument_id,
        cancellation_deadline_hours=24 * 30,  # every booking of this week is past it
        late_cancellation="charge",
        late_cancellation_fee_percent=50,
    )
    phone = await researcher(backend)
    week = await phone.get(f"/console/m/instruments/{world.instrument_id}/book")
    quote = await phone.get(html.unescape(SLOT.findall(week.text)[0]))
    booked = await phone.post("/console/m/bookings", data=form_fields(quote.text, "/console/m/bookings"))
    page = await phone.get(booked.headers["location"])
    booking_id = booked.headers["location"].rsplit("/", 1)[1]
    shown = await client.get(f"/api/v1/bookings/{booking_id}", headers=await login("demo-researcher"))
    half = shown.json()["quote"]["fee_fen"] // 2
    assert f"现在取消将收取取消费 {half // 100}.{half % 100:02d} 元" in page.text, page.text
    cancelled = await phone.post(
        f"/console/m/bookings/{booking_id}/cancel",
        data=form_fields(page.text, f"/console/m/bookings/{booking_id}/cancel"),
    )
    assert "收取取消费" in (await phone.get(cancelled.headers["location"])).text
    after = await client.get(f"/api/v1/bookings/{booking_id}", headers=await login("demo-researcher"))
    assert after.json()["status"] == "cancelled" and after.json()["cancellation_fee_fen"] == half
