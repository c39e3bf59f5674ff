"""Taking in sensor messages, from MQTT (``oversight.mqtt``) and HTTP alike: check, store, refuse
and count, then bring the instruments' sessions and live state up to date — in one transaction per
batch.

Late, repeated and out-of-order messages give the same sessions as one in-order delivery:
readings are stored once per ``(sensor, seq)`` and each batch recomputes the sessions of the time
around its readings from every stored reading (``oversight.sessions``), replacing those there.
Ingest processes racing on one instrument are ordered by the rows they lock, in one order every
batch follows: readings (by sensor and sequence), refusal counters (by reason), sensors (by id),
then the instruments' monitor rows (by instrument id).
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from oversight.models import (
    InstrumentMonitor,
    RefusedMessages,
    Sensor,
    SensorReading,
    SensorStatus,
    SessionSource,
    UsageSession,
)
from oversight.protocol import Envelope, Parsed, Refusal, parse, parse_envelope, verify
from oversight.secrets import SecretUnreadable, unseal
from oversight.sessions import Point, Run, Thresholds, live_state, runs_of
from yixiang.clock import shanghai_date
from yixiang.db import insert_ignoring_conflict, is_postgres, transaction, utcnow
from yixiang.locking import lock_row


@dataclass(frozen=True)
class Message:
    """One message as it arrived: an MQTT payload (with its topic's sensor id) or an envelope
    from an HTTP batch."""

    payload: bytes | Envelope
    topic_sensor: str | None = None


@dataclass
class IngestResult:
    accepted: int = 0
    refused: list[tuple[int, Refusal]] = field(default_factory=list)  # (index in the batch, reason)

    def count(self, reason: Refusal) -> int:
        return sum(1 for _, r in self.refused if r == reason)


def thresholds_of(monitor: InstrumentMonitor) -> Thresholds:
    return Thresholds(
        running_watts=monitor.running_watts,
        min_session=timedelta(minutes=monitor.min_session_minutes),
        offline_after=timedelta(minutes=monitor.offline_after_minutes),
    )


async def ingest(
    session: AsyncSession,
    messages: Sequence[Message],
    *,
    secret_key: str,
    future_skew: timedelta,
    now: datetime | None = None,
) -> IngestResult:
    now = now or utcnow()
    result = IngestResult()
    parsed: list[tuple[int, Parsed]] = []
    for index, message in enumerate(messages):
        outcome = (
            parse_envelope(message.payload)
            if isinstance(message.payload, Envelope)
            else parse(message.payload)
        )
        if isinstance(outcome, Refusal):
            result.refused.append((index, outcome))
        elif message.topic_sensor is not None and message.topic_sensor != outcome.reading.sensor_id:
            result.refused.append((index, Refusal.topic_mismatch))
        else:
            parsed.append((index, outcome))
    async with transaction(session):
        sensors = await _active_sensors(session, {p.reading.sensor_id for _, p in parsed})
        keys: dict[str, bytes] = {}
        good: list[tuple[int, Parsed, Sensor]] = []
        for index, p in parsed:
            sensor = sensors.get(p.reading.sensor_id)
            if sensor is None or sensor.instrument_id is None:
                result.refused.append((index, Refusal.unknown_sensor))
                continue
            if sensor.id not in keys:
                try:
                    keys[sensor.id] = unseal(sensor.secret_sealed, secret_key, sensor.id)
                except SecretUnreadable:
                    keys[sensor.id] = b""  # sealed under another secret key: nothing verifies
            if not keys[sensor.id] or not verify(p, keys[sensor.id]):
                result.refused.append((index, Refusal.bad_signature))
            elif p.reading.ts > now + future_skew:
                result.refused.append((index, Refusal.far_future))
            else:
                good.append((index, p, sensor))
        stored = await _store_readings(session, good, now, result)
        await _count_refusals(session, result.refused, now)
        await _touch_sensors(session, [(p, s) for _, p, s in good], now)
        by_instrument: dict[uuid.UUID, list[SensorReading]] = defaultdict(list)
        for reading in stored:
            by_instrument[reading.instrument_id].append(reading)
        for instrument_id in sorted(by_instrument):
            await _update_instrument(session, instrument_id, by_instrument[instrument_id])
    result.refused.sort()
    return result


async def _active_sensors(session: AsyncSession, ids: set[str]) -> dict[str, Sensor]:
    if not ids:
        return {}
    rows = await session.scalars(
        select(Sensor).where(Sensor.id.in_(ids), Sensor.status == SensorStatus.active)
    )
    return {s.id: s for s in rows}


async def _store_readings(
    session: AsyncSession, good: list[tuple[int, Parsed, Sensor]], now: datetime, result: IngestResult
) -> list[SensorReading]:
    """Insert each new ``(sensor, seq)`` once; one seen before is a duplicate when it says the
    same, a replay when it says something else. Returns the readings stored now."""
    first: dict[tuple[str, int], tuple[int, Parsed, Sensor]] = {}
    again: list[tuple[int, Parsed]] = []
    for index, p, sensor in good:
        key = (sensor.id, p.reading.seq)
        if key in first:
            again.append((index, p))
        else:
            first[key] = (index, p, sensor)
    values = [
        {
            "sensor_id": sensor.id,
            "seq": p.reading.seq,
            "instrument_id": sensor.instrument_id,
            "read_at": p.reading.ts,
            "state": p.reading.state,
            "watts": p.reading.watts,
            "received_at": now,
        }
        for _, p, sensor in sorted(first.values(), key=lambda f: (f[2].id, f[1].reading.seq))
    ]  # in key order: two batches inserting the same messages never wait on each other in a cycle
    inserted: set[tuple[str, int]] = set()
    insert = postgresql.insert if is_postgres(session) else sqlite.insert
    for chunk in range(0, len(values), 500):
        statement = (
            insert(SensorReading)
            .values(values[chunk : chunk + 500])
            .on_conflict_do_nothing(index_elements=["sensor_id", "seq"])
            .returning(SensorReading.sensor_id, SensorReading.seq)
        )
        inserted.update((row.sensor_id, row.seq) for row in await session.execute(statement))
    seen = [(index, p) for key, (index, p, _) in first.items() if key not in inserted] + again
    if seen:
        stored_before = {
            (r.sensor_id, r.seq): r
            for r in await session.scalars(
                select(SensorReading).where(
                    tuple_(SensorReading.sensor_id, SensorReading.seq).in_(
                        [(p.reading.sensor_id, p.reading.seq) for _, p in seen]
                    )
                )
            )
        }
        for index, p in seen:
            known = stored_before.get((p.reading.sensor_id, p.reading.seq))
            same = known is not None and (known.read_at, known.state, known.watts) == (
                p.reading.ts,
                p.reading.state,
                p.reading.watts,
            )
            result.refused.append((index, Refusal.duplicate if same else Refusal.replayed))
    result.accepted = len(inserted)
    return [SensorReading(**v) for v in values if (v["sensor_id"], v["seq"]) in inserted]


async def _count_refusals(session: AsyncSession, refused: list[tuple[int, Refusal]], now: datetime) -> None:
    counts = Counter(reason for _, reason in refused)
    if not counts:
        return
    day = shanghai_date(now)
    insert = postgresql.insert if is_postgres(session) else sqlite.insert
    for reason, n in sorted(counts.items()):
        statement = insert(RefusedMessages).values(day=day, reason=reason.value, count=n)
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=["day", "reason"],
                set_={"count": RefusedMessages.count + statement.excluded.count},
            )
        )


async def _touch_sensors(session: AsyncSession, good: list[tuple[Parsed, Sensor]], now: datetime) -> None:
    newest: dict[str, Parsed] = {}
    for p, sensor in good:
        if sensor.id not in newest or p.reading.seq > newest[sensor.id].reading.seq:
            newest[sensor.id] = p
    for sensor_id in sorted(newest):
        reading = newest[sensor_id].reading
        values: dict[str, Any] = {"last_seen_at": now}
        if reading.firmware is not None:
            values["firmware"] = reading.firmware
        if reading.rssi is not None:
            values["signal_dbm"] = reading.rssi
        await session.execute(update(Sensor).where(Sensor.id == sensor_id).values(**values))


async def monitor_for_update(session: AsyncSession, instrument_id: uuid.UUID) -> InstrumentMonitor:
    """The instrument's monitor row, locked (made with the default thresholds if missing)."""
    await insert_ignoring_conflict(
        session, InstrumentMonitor, {"instrument_id": instrument_id}, ["instrument_id"]
    )
    monitor = await lock_row(session, InstrumentMonitor, instrument_id)
    assert monitor is not None
    return monitor


async def _update_instrument(
    session: AsyncSession, instrument_id: uuid.UUID, new: list[SensorReading]
) -> None:
    monitor = await monitor_for_update(session, instrument_id)
    thresholds = thresholds_of(monitor)
    newest = max(new, key=lambda r: (r.read_at, r.seq))
    if monitor.last_reading_at is None or newest.read_at > monitor.last_reading_at:
        state = live_state(Point(newest.read_at, newest.state, newest.watts), thresholds)
        silent = (
            monitor.last_reading_at is None
            or newest.read_at - monitor.last_reading_at > thresholds.offline_after
        )
        if silent or state != monitor.last_state:
            monitor.state_since = newest.read_at
        monitor.last_reading_at, monitor.last_state, monitor.last_watts = newest.read_at, state, newest.watts
    await recompute_sessions(session, instrument_id, min(r.read_at for r in new), newest.read_at, thresholds)


async def recompute_sessions(
    session: AsyncSession, instrument_id: uuid.UUID, low: datetime, high: datetime, thresholds: Thresholds
) -> None:
    """Replace the instrument's sensor sessions around ``[low, high]`` with those its stored readings
    give. Every run, short ones too, is kept as a session (``counted`` says whether it is long
    enough), so the sessions that a reading in the window could join all overlap the window
    widened by the offline gap; the window grows to cover them. Existing rows are updated in
    place where they overlap a new run, so a session keeps its id and annotation."""
    gap = thresholds.offline_after
    low, high = low - gap, high + gap
    overlaps = and_(
        UsageSession.instrument_id == instrument_id,
        UsageSession.source == SessionSource.sensor,
        UsageSession.start_at <= high,
        UsageSession.end_at >= low,
    )
    old = list(await session.scalars(select(UsageSession).where(overlaps).order_by(UsageSession.start_at)))
    if old:
        low, high = min(low, old[0].start_at), max(high, max(s.end_at for s in old))
    rows = await session.execute(
        select(
            SensorReading.read_at,
            SensorReading.state,
            SensorReading.watts,
            SensorReading.sensor_id,
            SensorReading.seq,
        ).where(
            SensorReading.instrument_id == instrument_id,
            SensorReading.read_at >= low - gap,
            SensorReading.read_at <= high + gap,
        )
    )
    points = [Point(r.read_at, r.state, r.watts, (r.sensor_id, r.seq)) for r in rows]
    runs = [run for run in runs_of(points, thresholds) if run.end >= low and run.start <= high]
    await _replace(session, instrument_id, old, runs)


async def _replace(
    session: AsyncSession, instrument_id: uuid.UUID, old: list[UsageSession], runs: list[Run]
) -> None:
    unused = list(old)
    for run in runs:
        match = max(
            (s for s in unused if s.start_at <= run.end and s.end_at >= run.start),
            key=lambda s: min(s.end_at, run.end) - max(s.start_at, run.start),
            default=None,
        )
        if match is None:
            session.add(
                UsageSession(
                    instrument_id=instrument_id,
                    start_at=run.start,
                    end_at=run.end,
                    energy_wh=run.energy_wh,
                    counted=run.counted,
                    source=SessionSource.sensor,
                )
            )
            continue
        unused.remove(match)
        match.start_at, match.end_at, match.energy_wh, match.counted = (
            run.start,
            run.end,
            run.energy_wh,
            run.counted,
        )
    if unused:
        await session.execute(delete(UsageSession).where(UsageSession.id.in_([s.id for s in unused])))
    await session.flush()
