"""``yixiang oversight simulate``: realistic signed readings for the registered sensors, published
over MQTT (as real sensors do) or, with ``direct``, stored through the same ingest service the
HTTP gateway path uses (the embedded default without a broker).

Each sensor reports every ``REPORT_SECONDS`` of simulated time. Its instrument follows a profile
(the demo's, ``oversight.demo.PROFILES``; other sensors are "busy"): busy instruments run 09:10–
11:30 and 14:00–16:30 on working days and stand by in office hours, light ones run an hour on
Tuesdays and Thursdays, idle ones stay off, and "offline" sensors have dropped out (they send
nothing); besides, each sensor now and then misses a few reports. Simulated time starts
``backfill`` before now and runs ``speed`` times faster than the clock until it catches up with
now (a reading is never stamped in the future), then keeps pace.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from catalogue.workdays import WorkingDayCalendar, load_working_day_calendar
from oversight.demo import PREFIX, PROFILES
from oversight.ingest import Message, ingest
from oversight.models import PowerState, Sensor, SensorReading, SensorStatus
from oversight.mqtt import client_for
from oversight.protocol import ReadingBody, sign_reading
from oversight.secrets import SecretUnreadable, unseal
from oversight.settings import OversightSettings
from oversight.topics import topic_of
from yixiang.clock import SHANGHAI
from yixiang.db import utcnow
from yixiang.settings import Settings

REPORT_SECONDS = 10
RUNS = ((time(9, 10), time(11, 30)), (time(14, 0), time(16, 30)))
OFFICE = (time(8, 30), time(18, 0))
MISS_RATE = 0.01  # a report lost now and then (radio, power)


@dataclass
class SimulatedSensor:
    sensor_id: str
    secret: str
    profile: str
    seq: int
    rng: random.Random = field(default_factory=random.Random)

    def state_at(self, moment: datetime, calendar: WorkingDayCalendar) -> tuple[PowerState, int] | None:
        """(state, watts) at ``moment``, or None when the sensor sends nothing."""
        if self.profile == "offline" or self.rng.random() < MISS_RATE:
            return None
        local = moment.astimezone(SHANGHAI)
        now, working = local.time(), calendar.is_working_day(local.date())
        if self.profile.startswith("idle") or not working:
            return PowerState.off, 0
        running = (
            any(a <= now < b for a, b in RUNS)
            if self.profile == "busy"
            else local.weekday() in (1, 3) and time(10) <= now < time(11)
        )
        if running:
            return PowerState.on, self.rng.randint(1200, 1800)
        if OFFICE[0] <= now < OFFICE[1]:
            return PowerState.standby, self.rng.randint(15, 40)
        return PowerState.off, 0

    def reading(self, moment: datetime, calendar: WorkingDayCalendar) -> bytes | None:
        found = self.state_at(moment, calendar)
        if found is None:
            return None
        self.seq += 1
        state, watts = found
        body = ReadingBody(sensor_id=self.sensor_id, seq=self.seq, ts=moment, state=state, watts=watts)
        return sign_reading(body, self.secret)


def profile_of(sensor_id: str) -> str:
    if sensor_id.startswith(PREFIX) and sensor_id[len(PREFIX) :].isdigit():
        return PROFILES[(int(sensor_id[len(PREFIX) :]) - 1) % len(PROFILES)]
    return "busy"


async def simulated_sensors(session: AsyncSession, secret_key: str, limit: int) -> list[SimulatedSensor]:
    """Up to ``limit`` active sensors whose secrets this installation can read, each continuing
    after the highest sequence number stored for it."""
    found = []
    for sensor in await session.scalars(
        select(Sensor).where(Sensor.status == SensorStatus.active).order_by(Sensor.id)
    ):
        try:
            secret = unseal(sensor.secret_sealed, secret_key, sensor.id).decode()
        except SecretUnreadable:
            continue
        found.append(SimulatedSensor(sensor.id, secret, profile_of(sensor.id), 0, random.Random(sensor.id)))
        if len(found) >= limit:
            break
    if found:
        highest = dict(
            (
                await session.execute(
                    select(SensorReading.sensor_id, func.max(SensorReading.seq))
                    .where(SensorReading.sensor_id.in_([s.sensor_id for s in found]))
                    .group_by(SensorReading.sensor_id)
                )
            ).all()
        )
        for s in found:
            s.seq = int(highest.get(s.sensor_id) or 0)
    return found


@dataclass
class SimulationStats:
    ticks: int = 0
    sent: int = 0
    accepted: int = 0  # direct mode: what ingest stored


async def simulate(
    session_maker: async_sessionmaker[AsyncSession],
    settings: Settings,
    *,
    sensors: int,
    speed: float,
    direct: bool,
    backfill: timedelta = timedelta(0),
    ticks: int | None = None,
    clock: Callable[[], datetime] = utcnow,
    stop: asyncio.Event | None = None,
) -> SimulationStats:
    """Report until ``stop`` is set (or for ``ticks`` reports of every sensor)."""
    async with session_maker() as session:
        fleet = await simulated_sensors(session, settings.secret_key, sensors)
        calendar = await load_working_day_calendar(session)
    stats = SimulationStats()
    if not fleet:
        return stats
    section = OversightSettings.of(settings)
    simulated = clock() - backfill
    step = timedelta(seconds=REPORT_SECONDS)
    client = None if direct else client_for(section.mqtt_url)
    if client is not None:
        await client.__aenter__()
    try:
        while (ticks is None or stats.ticks < ticks) and not (stop is not None and stop.is_set()):
            batch = [(s.sensor_id, m) for s in fleet if (m := s.reading(simulated, calendar)) is not None]
            if direct:
                async with session_maker() as session:
                    result = await ingest(
                        session,
                        [Message(payload, sensor_id) for sensor_id, payload in batch],
                        secret_key=settings.secret_key,
                        future_skew=timedelta(seconds=section.future_skew_seconds),
                        kept_months=section.readings_kept_months,
                    )
                stats.accepted += result.accepted
            else:
                assert client is not None
                for sensor_id, payload in batch:
                    await client.publish(topic_of(sensor_id), payload, qos=1)
            stats.sent += len(batch)
            stats.ticks += 1
            simulated += step
            ahead = (simulated - clock()).total_seconds()
            wait = REPORT_SECONDS / speed if ahead < 0 else max(ahead, 0.0)
            if ticks is None or stats.ticks < ticks:
                await asyncio.sleep(wait if ahead >= 0 else min(wait, REPORT_SECONDS))
    finally:
        if client is not None:
            await client.__aexit__(None, None, None)
    return stats
