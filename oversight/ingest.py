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

from sqlalchemy import String, Table, bindparam, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from oversight.batch_writes import BatchInsert, BatchUpdate, among
from oversight.models import (
    RefusedMessages,
    Sensor,
    SensorReading,
    SensorStatus,
)
from oversight.months import kept_since
from oversight.protocol import Envelope, Parsed, Refusal, parse, parse_envelope, verify
from oversight.secrets import SecretUnreadable, unseal
from oversight.session_upkeep import Stored, update_instruments
from yixiang.clock import shanghai_date
from yixiang.db import conflict_ignoring_inserts, is_postgres, transaction, utcnow


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
    stored_read_at: list[datetime] = field(default_factory=list)  # the readings stored (their times)

    def count(self, reason: Refusal) -> int:
        return sum(1 for _, r in self.refused if r == reason)


async def ingest(
    session: AsyncSession,
    messages: Sequence[Message],
    *,
    secret_key: str,
    future_skew: timedelta,
    kept_months: int,
    now: datetime | None = None,
) -> IngestResult:
    now = now or utcnow()
    oldest = kept_since(now, kept_months)
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
        good: list[tuple[int, Parsed, Any]] = []
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
            elif p.reading.ts < oldest:
                result.refused.append((index, Refusal.too_old))
            else:
                good.append((index, p, sensor))
        stored = await _store_readings(session, good, now, result)
        await _count_refusals(session, result.refused, now)
        await _touch_sensors(session, [(p, s) for _, p, s in good], now)
        by_instrument: dict[uuid.UUID, list[Stored]] = defaultdict(list)
        for reading in stored:
            by_instrument[reading.instrument_id].append(reading)
            result.stored_read_at.append(reading.read_at)
        if by_instrument:
            await update_instruments(session, by_instrument)
    result.refused.sort()
    return result


_READINGS: Table = SensorReading.__table__  # type: ignore[assignment]
# Each new (sensor, seq) once, returning those inserted (also how an archived month is restored)
INSERT_READINGS = BatchInsert(
    _READINGS,
    ("sensor_id", "seq", "instrument_id", "read_at", "state", "watts", "received_at"),
    other=conflict_ignoring_inserts(SensorReading, ["sensor_id", "seq"])["sqlite"].returning(
        SensorReading.sensor_id, SensorReading.seq
    ),
    tail="ON CONFLICT (sensor_id, seq) DO NOTHING RETURNING sensor_id, seq",
)

_SENSORS: Table = Sensor.__table__  # type: ignore[assignment]
_TOUCH_SENSORS = BatchUpdate(
    _SENSORS,
    ("id", "last_seen_at", "firmware", "signal_dbm"),
    other=update(_SENSORS)
    .where(_SENSORS.c.id == bindparam("b_id"))
    .values(
        last_seen_at=bindparam("b_last_seen_at"),
        firmware=bindparam("b_firmware"),
        signal_dbm=bindparam("b_signal_dbm"),
    ),
    param_prefix="b_",
    lock_first=True,  # two processes may be given the same sensor's messages
)


async def _active_sensors(session: AsyncSession, ids: set[str]) -> dict[str, Any]:
    """The active sensors among ``ids`` (rows: id, instrument_id, secret_sealed, firmware, signal_dbm)."""
    if not ids:
        return {}
    conn = await session.connection()
    rows = await conn.execute(
        select(
            Sensor.id, Sensor.instrument_id, Sensor.secret_sealed, Sensor.firmware, Sensor.signal_dbm
        ).where(among(conn, _SENSORS.c.id, sorted(ids), String()), Sensor.status == SensorStatus.active)
    )
    return {s.id: s for s in rows}


async def _store_readings(
    session: AsyncSession, good: list[tuple[int, Parsed, Any]], now: datetime, result: IngestResult
) -> list[Stored]:
    """Insert each new ``(sensor, seq)`` once; one seen before is a duplicate when it says the
    same, a replay when it says something else. Returns the readings stored now."""
    first: dict[tuple[str, int], tuple[int, Parsed, Any]] = {}
    again: list[tuple[int, Parsed]] = []
    for index, p, sensor in good:
        key = (sensor.id, p.reading.seq)
        if key in first:
            again.append((index, p))
        else:
            first[key] = (index, p, sensor)
    values = [
        Stored(sensor.id, p.reading.seq, sensor.instrument_id, r.ts, r.state, r.watts, now)
        for _, p, sensor in sorted(first.values(), key=lambda f: (f[2].id, f[1].reading.seq))
        for r in (p.reading,)
    ]  # in key order: two batches inserting the same messages never wait on each other in a cycle
    inserted: set[tuple[str, int]] = set()
    if values:
        conn = await session.connection()
        rows = await INSERT_READINGS.run(conn, values)  # Stored's fields are the columns
        inserted.update((row.sensor_id, row.seq) for row in rows)
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
    return [v for v in values if (v.sensor_id, v.seq) in inserted]


async def _count_refusals(session: AsyncSession, refused: list[tuple[int, Refusal]], now: datetime) -> None:
    counts = Counter(reason for _, reason in refused)
    if not counts:
        return
    day = shanghai_date(now)
    upsert = postgresql.insert if is_postgres(session) else sqlite.insert
    for reason, n in sorted(counts.items()):
        statement = upsert(RefusedMessages).values(day=day, reason=reason.value, count=n)
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=["day", "reason"],
                set_={"count": RefusedMessages.count + statement.excluded.count},
            )
        )


async def _touch_sensors(session: AsyncSession, good: list[tuple[Parsed, Any]], now: datetime) -> None:
    newest: dict[str, tuple[Parsed, Any]] = {}
    for p, sensor in good:
        if sensor.id not in newest or p.reading.seq > newest[sensor.id][0].reading.seq:
            newest[sensor.id] = (p, sensor)
    if not newest:
        return
    rows = []
    for sensor_id in sorted(newest):
        reading, sensor = newest[sensor_id][0].reading, newest[sensor_id][1]
        rows.append(
            (
                sensor_id,
                now,
                sensor.firmware if reading.firmware is None else reading.firmware,
                sensor.signal_dbm if reading.rssi is None else reading.rssi,
            )
        )
    await _TOUCH_SENSORS.run(await session.connection(), rows)
