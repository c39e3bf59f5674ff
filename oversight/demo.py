"""Demo data of oversight: a sensor on each of 之江理工's listed instruments (up to ``SENSORS``) and
a year of their usage sessions, so live status and the idle lists show on a first start.

Each instrument follows a profile: busy (two runs most working days), light (a run on some
days), idle for 2, 4 or 7 months (reminded, listed for transfer, its unit for criticism), or a
sensor that dropped out three hours ago (offline). The sessions are written in bulk (a few
thousand rows: well under a second on SQLite); the daily idle check then opens the cases. The
live status is as of loading: ``yixiang oversight simulate --direct`` keeps it current.

The demo sensors' secrets are sealed under the embedded default's secret key (the demo is refused
in production); the simulator signs for every sensor whose secret it can unseal.
"""

from __future__ import annotations

import random
import uuid
from datetime import date, datetime, time, timedelta

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.demo import demo_id
from catalogue.models import Instrument, InstrumentStatus, PublicationStatus
from catalogue.workdays import WorkingDayCalendar, load_working_day_calendar
from oversight.idle import check_idle
from oversight.models import (
    BindingAction,
    InstrumentMonitor,
    Sensor,
    SensorBinding,
    SessionSource,
    UsageSession,
)
from oversight.rollup import refresh
from oversight.secrets import new_sensor_secret, seal
from yixiang.clock import SHANGHAI, shanghai_date
from yixiang.db import transaction, utcnow
from yixiang.settings import DEFAULT_SECRET

SENSORS = 16
PREFIX = "DEMO-ZJLG-"
PROFILES = ("busy", "busy", "light", "idle2", "idle4", "idle7", "offline", "light")
IDLE_MONTHS = {"idle2": 62, "idle4": 125, "idle7": 215}  # days since the last run
HISTORY_DAYS = 365


def _runs(profile: str, day: date, rng: random.Random) -> list[tuple[time, int]]:
    """(start, minutes) of the day's runs for a profile."""
    if profile in ("busy", "offline"):
        if rng.random() > 0.85:
            return []
        return [
            (time(9, rng.randint(0, 40)), rng.randint(60, 150)),
            (time(14, rng.randint(0, 30)), rng.randint(45, 180)),
        ]
    if rng.random() > 0.35:
        return []
    return [(time(rng.randint(9, 15), rng.randint(0, 59)), rng.randint(30, 120))]


def sessions_of(
    instrument_id: uuid.UUID, profile: str, today: date, calendar: WorkingDayCalendar, now: datetime
) -> list[dict[str, object]]:
    rng = random.Random(instrument_id.int)
    last_day = today - timedelta(days=IDLE_MONTHS.get(profile, 0))
    rows: list[dict[str, object]] = []
    day = today - timedelta(days=HISTORY_DAYS)
    while day <= last_day:
        if calendar.is_working_day(day):
            for start, minutes in _runs(profile, day, rng):
                begin = datetime.combine(day, start, SHANGHAI)
                end = begin + timedelta(minutes=minutes)
                if end >= now:
                    continue
                watts = rng.randint(600, 3000)
                rows.append(
                    {
                        "id": uuid.uuid4(),
                        "instrument_id": instrument_id,
                        "start_at": begin,
                        "end_at": end,
                        "energy_j": watts * minutes * 60,
                        "source": SessionSource.sensor,
                        "counted": True,
                        "created_at": now,
                    }
                )
        day += timedelta(days=1)
    return rows


def _live(profile: str, now: datetime, working_hours: bool) -> tuple[datetime, str, int]:
    """(last reading, state, watts) as of loading: busy instruments run in working hours."""
    if profile == "offline":
        return now - timedelta(hours=3), "standby", 30
    if profile.startswith("idle"):
        return now - timedelta(minutes=1), "off", 0
    if profile == "busy" and working_hours:
        return now - timedelta(minutes=1), "running", 1500
    return now - timedelta(minutes=1), "standby", 25


async def load_oversight_demo(session: AsyncSession) -> None:
    async with transaction(session):
        if await session.scalar(select(Sensor.id).where(Sensor.id.like(f"{PREFIX}%")).limit(1)):
            return
        zjlg = demo_id("unit-zjlg")
        # the demo catalogue's own instruments of 之江理工, in their order, without a monitor yet
        candidates = [demo_id(f"instrument:unit-zjlg:{i}") for i in range(4 * SENSORS)]
        eligible = set(
            await session.scalars(
                select(Instrument.id).where(
                    Instrument.id.in_(candidates),
                    Instrument.unit_id == zjlg,
                    Instrument.publication == PublicationStatus.published,
                    Instrument.status == InstrumentStatus.in_service,
                    Instrument.id.not_in(select(InstrumentMonitor.instrument_id)),
                )
            )
        )
        instruments = [i for i in candidates if i in eligible][:SENSORS]
        if not instruments:
            return
        now = utcnow()
        today = shanghai_date(now)
        calendar = await load_working_day_calendar(session)
        local = now.astimezone(SHANGHAI)
        working_hours = calendar.is_working_day(local.date()) and 9 <= local.hour < 17
        installed = now - timedelta(days=HISTORY_DAYS + 10)
        sensors, bindings, monitors, sessions = [], [], [], []
        for n, instrument_id in enumerate(instruments, start=1):
            profile = PROFILES[(n - 1) % len(PROFILES)]
            sensor_id = f"{PREFIX}{n:02d}"
            sensors.append(
                {
                    "id": sensor_id,
                    "instrument_id": instrument_id,
                    "unit_id": zjlg,
                    "secret_sealed": seal(new_sensor_secret(), DEFAULT_SECRET, sensor_id),
                    "firmware": "2.3.1",
                    "signal_dbm": -60 - n,
                    "installed_at": installed,
                }
            )
            bindings.append(
                {"sensor_id": sensor_id, "action": BindingAction.bound, "instrument_id": instrument_id,
                 "reason": "演示数据", "at": installed}
            )  # fmt: skip
            rows = sessions_of(instrument_id, profile, today, calendar, now)
            sessions += rows
            last, state, watts = _live(profile, now, working_hours)
            sensors[-1]["last_seen_at"] = last
            monitors.append(
                {
                    "instrument_id": instrument_id,
                    "last_reading_at": last,
                    "last_state": state,
                    "last_watts": watts,
                    "state_since": last - timedelta(minutes=40),
                    "updated_at": now,
                }
            )
        await session.execute(insert(Sensor), sensors)
        await session.execute(insert(SensorBinding), bindings)
        await session.execute(insert(InstrumentMonitor), monitors)
        for first in range(0, len(sessions), 2000):
            await session.execute(insert(UsageSession), sessions[first : first + 2000])
        await check_idle(session, now, instrument_ids=instruments)


async def load_usage_rollup_demo(session: AsyncSession) -> None:
    """The demo's sessions and 2025 bookings were written directly, not through ingest and the
    booking events: build their days' roll-up before the evaluation, rewards and yearly report
    (loaded next) count sensor hours and their external share."""
    async with transaction(session):
        instruments = list(await session.scalars(select(UsageSession.instrument_id).distinct()))
        earliest = await session.scalar(select(func.min(UsageSession.start_at)))
        if earliest is None:
            return
        today = shanghai_date(utcnow())
        first = shanghai_date(earliest)
        while first <= today:  # in half-years: a roll-up refresh covers a year at most
            last = min(today, first + timedelta(days=180))
            for instrument_id in sorted(instruments):
                await refresh(session, instrument_id, first, last)
            first = last + timedelta(days=1)
