"""Live status where a researcher looks: the instrument's page, search (filter 现在空闲 and facet),
and whether a booking holds the moment; offline once the sensor falls silent."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from datetime import timedelta
from types import SimpleNamespace

from sqlalchemy import update

from catalogue.events import INSTRUMENT_CHANGED
from catalogue.models import Instrument
from oversight.live import LiveStatusService
from tests.booking.world import booked_for_the_past, machine_time, set_calendar
from tests.oversight.world import Monitored, P, monitored_instrument, post_batch
from yixiang.db import utcnow
from yixiang.outbox import emit

SEARCH = "/api/v1/instruments/search"


async def indexed(backend, m: Monitored) -> str:
    """The instrument given a model of its own and indexed for search; its model."""
    model = "LS" + "".join(random.choices("FGJKMQSWXYZ", k=8))  # letters: one token to search
    async with backend.runtime.session_maker() as session, session.begin():
        await session.execute(update(Instrument).where(Instrument.id == m.instrument_id).values(model=model))
        await emit(session, INSTRUMENT_CHANGED, {"instrument_ids": [str(m.instrument_id)]})
    await backend.runtime.worker().drain()
    return model


async def found(client, model: str, **params) -> tuple[list[str], dict[str, int]]:
    r = await client.get(SEARCH, params={"q": model, **params})
    assert r.status_code == 200, r.text
    page = r.json()
    facet = {f["code"]: f["count"] for f in page["facets"].get("live", [])}
    return [i["id"] for i in page["items"]], facet


async def found_once_current(
    client, model: str, expected: Callable[[list[str], dict[str, int]], bool], **params
) -> tuple[list[str], dict[str, int]]:
    """Search's live status is at most YIXIANG_OVERSIGHT_LIVE_STATUS_SEARCH_SECONDS (1 s) old: the
    search as it answers once that has passed (what it answers by then, if never as expected)."""
    deadline = time.monotonic() + 1.0 + 0.5
    while True:
        ids, facet = await found(client, model, **params)
        if expected(ids, facet) or time.monotonic() > deadline:
            return ids, facet
        await asyncio.sleep(0.05)


async def test_live_status_on_the_page_in_search_and_booked_now(backend, client, login):
    staff = await login(P)
    m = await monitored_instrument(backend, client, staff, running_watts=100)
    model = await indexed(backend, m)
    page = (await client.get(f"/api/v1/instruments/{m.instrument_id}")).json()
    assert page["live"]["status"] == "offline" and not page["live"]["free_now"]  # no reading yet

    now = utcnow()
    await post_batch(client, [m.message(1, now - timedelta(minutes=2), "on", 20)])  # standby
    page = (await client.get(f"/api/v1/instruments/{m.instrument_id}")).json()
    assert page["live"] | {"since": None} == {
        "status": "standby", "since": None, "free_now": True, "booked_now": False, "label": "现在空闲",
    }  # fmt: skip
    ids, facet = await found_once_current(client, model, lambda ids, _: bool(ids), live="free_now")
    assert ids == [str(m.instrument_id)] and facet["free_now"] == 1 and facet["standby"] == 1
    item = (await client.get(SEARCH, params={"q": model})).json()["items"][0]
    assert item["live"] == {"status": "standby", "free_now": True, "label": "现在空闲"}
    assert (await found(client, model, live="running"))[0] == []

    # a confirmed booking holds this moment: on standby, but not free
    await set_calendar(client, staff, m.instrument_id)
    start = (now + timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    created = await client.post(
        "/api/v1/bookings",
        json=machine_time(SimpleNamespace(instrument_id=m.instrument_id), start, start + timedelta(hours=2)),
        headers=await login("demo-researcher"),
    )
    assert created.status_code == 201, created.text
    await booked_for_the_past(backend, created.json()["id"], now - timedelta(minutes=30))
    page = (await client.get(f"/api/v1/instruments/{m.instrument_id}")).json()
    assert (page["live"]["status"], page["live"]["free_now"], page["live"]["booked_now"]) == (
        "standby", False, True,
    )  # fmt: skip
    assert "已被预约" in page["live"]["label"]
    ids, facet = await found_once_current(client, model, lambda ids, _: not ids, live="free_now")
    assert ids == [] and facet["free_now"] == 0 and facet["standby"] == 1

    # running
    await post_batch(client, [m.message(2, now - timedelta(minutes=1), "on", 900)])
    ids, facet = await found_once_current(client, model, lambda ids, _: bool(ids), live="running")
    assert ids == [str(m.instrument_id)] and facet["running"] == 1 and facet["free_now"] == 0

    # silent for longer than the instrument's gap (15 minutes): offline, whatever it said last
    async with backend.runtime.session_maker() as session:
        later = await LiveStatusService().statuses(session, [m.instrument_id], now + timedelta(minutes=20))
    assert later[m.instrument_id].status == "offline" and later[m.instrument_id].label.startswith(
        "传感器离线"
    )


async def test_a_bad_live_filter_is_refused_by_name(client):
    r = await client.get(SEARCH, params={"q": "核磁", "live": "idle"})
    assert r.status_code == 400, r.text


async def test_search_reads_the_statuses_once_per_period_and_a_page_at_each_request(backend, client, login):
    m = await monitored_instrument(backend, client, await login(P), running_watts=100)
    await post_batch(client, [m.message(1, utcnow() - timedelta(minutes=2), "on", 20)])  # standby
    service = LiveStatusService(search_seconds=60)
    async with backend.runtime.session_maker() as session:
        read = await service.monitored(session)
    assert read[m.instrument_id].status == "standby"

    await post_batch(client, [m.message(2, utcnow() - timedelta(minutes=1), "on", 900)])  # running
    async with backend.runtime.session_maker() as session:
        assert await service.monitored(session) is read  # within the period: what it read
        assert (await service.statuses(session, [m.instrument_id]))[m.instrument_id].status == "running"
        assert (await LiveStatusService(0).monitored(session))[m.instrument_id].status == "running"
        service.search_seconds = 0.001
        await asyncio.sleep(0.002)
        assert (await service.monitored(session))[m.instrument_id].status == "running"  # read again
