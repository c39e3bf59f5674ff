"""``yixiang oversight simulate``: the demo's sensors report a working morning — the busy instrument
runs from 09:10, the idle one stays off, the dropped-out sensor sends nothing — directly through
the ingest service, or over the real broker to the ingest role."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest
from sqlalchemy import func, select

from catalogue.workdays import load_working_day_calendar
from oversight.demo import PREFIX
from oversight.models import Sensor, SensorReading
from oversight.simulator import REPORT_SECONDS, simulate
from tests.oversight.test_mqtt_ingest import Ingesting
from tests.oversight.world import P
from yixiang.clock import SHANGHAI, shanghai_today


async def last_working_morning(backend) -> datetime:
    async with backend.runtime.session_maker() as session:
        calendar = await load_working_day_calendar(session)
    day = shanghai_today() - timedelta(days=1)
    while not calendar.is_working_day(day):
        day -= timedelta(days=1)
    return datetime.combine(day, time(9, 0), SHANGHAI)


async def readings_of(backend, sensor_id: str) -> int:
    async with backend.runtime.session_maker() as session:
        return int(
            await session.scalar(select(func.count()).where(SensorReading.sensor_id == sensor_id)) or 0
        )


@pytest.mark.slow
async def test_direct_mode_stores_a_realistic_morning(backend, client, login):
    start = await last_working_morning(backend)
    before = {n: await readings_of(backend, f"{PREFIX}{n:02d}") for n in (1, 4, 7)}
    minutes = 30
    stats = await simulate(
        backend.runtime.session_maker,
        backend.settings,
        sensors=8,
        speed=1e6,
        direct=True,
        backfill=timedelta(days=1),
        ticks=minutes * 60 // REPORT_SECONDS,
        clock=lambda: start + timedelta(days=1),  # always behind the clock: no waiting
    )
    assert stats.sent > 0 and stats.accepted == stats.sent
    assert await readings_of(backend, f"{PREFIX}07") == before[7]  # dropped out: nothing
    assert await readings_of(backend, f"{PREFIX}01") > before[1] + 150  # ~one every 10 s, a few lost
    async with backend.runtime.session_maker() as session:
        busy = (await session.get(Sensor, f"{PREFIX}01")).instrument_id
        idle = (await session.get(Sensor, f"{PREFIX}04")).instrument_id
    staff = await login(P)
    day = start.date().isoformat()
    runs = (
        await client.get(
            f"/api/v1/oversight/instruments/{busy}/sessions", params={"from": day, "to": day}, headers=staff
        )
    ).json()
    morning = [s for s in runs if datetime.fromisoformat(s["start"]) >= start]
    assert morning and datetime.fromisoformat(morning[0]["start"]).astimezone(SHANGHAI).time() >= time(9, 10)
    idle_runs = (
        await client.get(
            f"/api/v1/oversight/instruments/{idle}/sessions", params={"from": day, "to": day}, headers=staff
        )
    ).json()
    assert idle_runs == []


async def test_mqtt_mode_publishes_signed_readings_the_ingest_role_accepts(backend):
    start = await last_working_morning(backend)
    async with Ingesting(backend) as ingesting:
        stats = await simulate(
            backend.runtime.session_maker,
            ingesting.settings,
            sensors=3,
            speed=1e6,
            direct=False,
            backfill=timedelta(days=1),
            ticks=5,
            clock=lambda: start + timedelta(days=1),
        )
        await ingesting.until(stats.sent)
    assert stats.sent > 0
    assert ingesting.refused() == []
