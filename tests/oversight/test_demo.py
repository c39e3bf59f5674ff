"""The demo out of the box: 之江理工's instruments carry sensors with a year of sessions, so the
live board and the idle lists have something to show on a first start."""

from __future__ import annotations

import time
from datetime import timedelta

from sqlalchemy import delete, func, select

from accounts.demo import demo_id
from oversight.demo import PREFIX, load_oversight_demo
from oversight.models import InstrumentMonitor, Sensor, SensorBinding, UsageSession
from yixiang.clock import shanghai_today

ZJLG = demo_id("unit-zjlg")


async def test_the_demo_shows_live_status_history_and_idle_instruments(backend, client, login):
    officer, provider = await login("demo-science-bureau"), await login("demo-provider")
    board = (await client.get(f"/api/v1/oversight/units/{ZJLG}/live-board", headers=provider)).json()
    statuses = {row["status"] for row in board}
    assert {"offline", "off"} <= statuses and statuses & {"running", "standby"}

    async with backend.runtime.session_maker() as session:
        sensors = list(await session.scalars(select(Sensor).where(Sensor.id.like(f"{PREFIX}%"))))
        busy = sensors[0].instrument_id
    assert len(sensors) >= 8
    last_year = shanghai_today() - timedelta(days=364)
    r = await client.get(
        f"/api/v1/oversight/instruments/{busy}/daily-hours",
        params={"from": last_year.isoformat(), "to": shanghai_today().isoformat()},
        headers=provider,
    )
    days = r.json()
    assert sum(d["effective_minutes"] for d in days) > 200 * 60  # a busy year, in hours
    assert sum(1 for d in days if d["effective_minutes"]) > 150

    idle = (await client.get("/api/v1/oversight/idle", headers=officer)).json()
    demo_instruments = {str(s.instrument_id) for s in sensors}
    levels = {c["level"] for c in idle if c["instrument_id"] in demo_instruments}
    assert {1, 3, 6} <= levels


async def test_the_demo_history_loads_in_seconds(backend):
    async with backend.runtime.session_maker() as session, session.begin():
        ids = list(await session.scalars(select(Sensor.instrument_id).where(Sensor.id.like(f"{PREFIX}%"))))
        before = await session.scalar(select(func.count()).select_from(UsageSession).where(
            UsageSession.instrument_id.in_(ids)))  # fmt: skip
        await session.execute(delete(UsageSession).where(UsageSession.instrument_id.in_(ids)))
        await session.execute(delete(InstrumentMonitor).where(InstrumentMonitor.instrument_id.in_(ids)))
        await session.execute(delete(SensorBinding).where(SensorBinding.sensor_id.like(f"{PREFIX}%")))
        await session.execute(delete(Sensor).where(Sensor.id.like(f"{PREFIX}%")))
    started = time.monotonic()
    async with backend.runtime.session_maker() as session, session.begin():
        await load_oversight_demo(session)
    assert time.monotonic() - started < 10
    async with backend.runtime.session_maker() as session:
        after = await session.scalar(select(func.count()).select_from(UsageSession).where(
            UsageSession.instrument_id.in_(ids)))  # fmt: skip
    assert after and before and after > 2000
