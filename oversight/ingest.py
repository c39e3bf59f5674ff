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

from sqlalchemy import Table, and_, bindparam, delete, insert, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from oversight.models import (
    InstrumentMonitor,
    PowerState,
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
from oversight.stale import mark_stale
from yixiang.clock import shanghai_date
from yixiang.db import conflict_ignoring_inserts, is_postgres, transaction, utcnow
from yixiang.locking import locked


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
            await _update_instruments(session, by_instrument)
    result.refused.sort()
    return result


_INSERT_READINGS = {
    dialect: statement.returning(SensorReading.sensor_id, SensorReading.seq)
    for dialect, statement in conflict_ignoring_inserts(SensorReading, ["sensor_id", "seq"]).items()
}
_INSERT_MONITORS = conflict_ignoring_inserts(InstrumentMonitor, ["instrument_id"])


@dataclass(frozen=True)
class Stored:
    """A reading stored by this batch."""

    sensor_id: str
    seq: int
    instrument_id: uuid.UUID
    read_at: datetime
    state: PowerState
    watts: int
    received_at: datetime


_SENSORS: Table = Sensor.__table__  # type: ignore[assignment]
_TOUCH_SENSOR = (
    update(_SENSORS)
    .where(_SENSORS.c.id == bindparam("b_id"))
    .values(
        last_seen_at=bindparam("b_last_seen_at"),
        firmware=bindparam("b_firmware"),
        signal_dbm=bindparam("b_signal_dbm"),
    )
)


async def _active_sensors(session: AsyncSession, ids: set[str]) -> dict[str, Any]:
    """The active sensors among ``ids`` (rows: id, instrument_id, secret_sealed, firmware, signal_dbm)."""
    if not ids:
        return {}
    conn = await session.connection()
    rows = await conn.execute(
        select(
            Sensor.id, Sensor.instrument_id, Sensor.secret_sealed, Sensor.firmware, Sensor.signal_dbm
        ).where(Sensor.id.in_(ids), Sensor.status == SensorStatus.active)
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
    if values:
        # executemany: one statement compiled once (cached), sent as multi-row batches by SQLAlchemy
        conn = await session.connection()
        rows = await conn.execute(_INSERT_READINGS[conn.dialect.name], values)
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
    return [Stored(**v) for v in values if (v["sensor_id"], v["seq"]) in inserted]


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
            {
                "b_id": sensor_id,
                "b_last_seen_at": now,
                "b_firmware": sensor.firmware if reading.firmware is None else reading.firmware,
                "b_signal_dbm": sensor.signal_dbm if reading.rssi is None else reading.rssi,
            }
        )
    conn = await session.connection()
    await conn.execute(_TOUCH_SENSOR, rows)  # one statement, executed for each row


async def monitor_for_update(session: AsyncSession, instrument_id: uuid.UUID) -> InstrumentMonitor:
    """The instrument's monitor row, locked (made with the default thresholds if missing)."""
    return (await monitors_for_update(session, [instrument_id]))[instrument_id]


async def monitors_for_update(
    session: AsyncSession, instrument_ids: list[uuid.UUID]
) -> dict[uuid.UUID, InstrumentMonitor]:
    """The instruments' monitor rows, locked in instrument order (made if missing)."""
    ids = sorted(set(instrument_ids))
    conn = await session.connection()
    await conn.execute(
        _INSERT_MONITORS[conn.dialect.name], [{"instrument_id": i, "updated_at": utcnow()} for i in ids]
    )
    rows = await session.scalars(
        locked(select(InstrumentMonitor).where(InstrumentMonitor.instrument_id.in_(ids)))
        .order_by(InstrumentMonitor.instrument_id)
        .execution_options(populate_existing=True)
    )
    return {m.instrument_id: m for m in rows}


def _last_point(monitor: Any) -> Point | None:
    """The instrument's newest reading as the session rules see it (from its monitor)."""
    if monitor.last_reading_at is None or monitor.last_state is None:
        return None
    state = {"running": PowerState.on, "standby": PowerState.standby}.get(monitor.last_state, PowerState.off)
    return Point(monitor.last_reading_at, state, monitor.last_watts or 0)


# The statements of the usual case (readings arriving in order), on the driver without the ORM's
# unit of work: each executed once per batch, for all its instruments (executemany).
_MONITORS: Table = InstrumentMonitor.__table__  # type: ignore[assignment]
_SESSIONS: Table = UsageSession.__table__  # type: ignore[assignment]
_UPDATE_MONITOR = (
    update(_MONITORS)
    .where(_MONITORS.c.instrument_id == bindparam("b_instrument_id"))
    .values(
        last_reading_at=bindparam("b_last_reading_at"),
        last_state=bindparam("b_last_state"),
        last_watts=bindparam("b_last_watts"),
        state_since=bindparam("b_state_since"),
    )
)
_EXTEND_SESSION = (
    update(_SESSIONS)
    .where(_SESSIONS.c.id == bindparam("b_id"))
    .values(end_at=bindparam("b_end_at"), energy_j=bindparam("b_energy_j"), counted=bindparam("b_counted"))
)


async def _locked_monitor_rows(
    session: AsyncSession, instrument_ids: list[uuid.UUID]
) -> dict[uuid.UUID, Any]:
    ids = sorted(set(instrument_ids))
    conn = await session.connection()
    await conn.execute(
        _INSERT_MONITORS[conn.dialect.name], [{"instrument_id": i, "updated_at": utcnow()} for i in ids]
    )
    rows = await conn.execute(
        locked(select(_MONITORS).where(_MONITORS.c.instrument_id.in_(ids))).order_by(
            _MONITORS.c.instrument_id
        )
    )
    return {row.instrument_id: row for row in rows}


async def _update_instruments(session: AsyncSession, by_instrument: dict[uuid.UUID, list[Stored]]) -> None:
    """Live state and sessions of every instrument the batch has readings of.

    Readings all later than the instrument's newest (the usual case: a sensor reporting as it
    goes) extend its sessions from where they stand: the newest reading (kept on the monitor) and
    the session it ended, if running. Anything else (late, out of order) recomputes the sessions
    around the readings from every stored one (:func:`recompute_sessions`); both give the same."""
    monitors = await _locked_monitor_rows(session, list(by_instrument))
    appended: dict[uuid.UUID, tuple[Point | None, list[Stored]]] = {}
    changes = []
    touched = []  # the days whose roll-up the new readings may change (oversight.rollup)
    for instrument_id in sorted(by_instrument):
        monitor, new = monitors[instrument_id], by_instrument[instrument_id]
        thresholds = thresholds_of(monitor)
        last = _last_point(monitor)
        low = min(r.read_at for r in new)
        newest = max(new, key=lambda r: (r.read_at, r.seq))
        running_since = last.at if last is not None and monitor.last_state == "running" else low
        touched.append((instrument_id, min(low, running_since), newest.read_at))
        if last is None or low > last.at:
            appended[instrument_id] = (last, new)
        else:
            await recompute_sessions(session, instrument_id, low, newest.read_at, thresholds)
        if monitor.last_reading_at is None or newest.read_at > monitor.last_reading_at:
            state = live_state(Point(newest.read_at, newest.state, newest.watts), thresholds)
            silent = (
                monitor.last_reading_at is None
                or newest.read_at - monitor.last_reading_at > thresholds.offline_after
            )
            changes.append(
                {
                    "b_instrument_id": instrument_id,
                    "b_last_reading_at": newest.read_at,
                    "b_last_state": state,
                    "b_last_watts": newest.watts,
                    "b_state_since": newest.read_at
                    if silent or state != monitor.last_state
                    else monitor.state_since,
                }
            )
    conn = await session.connection()
    if changes:
        await conn.execute(_UPDATE_MONITOR, changes)
    if appended:
        await _extend_sessions(session, monitors, appended)
    await mark_stale(session, touched)


async def _extend_sessions(
    session: AsyncSession,
    monitors: dict[uuid.UUID, Any],
    appended: dict[uuid.UUID, tuple[Point | None, list[Stored]]],
) -> None:
    conn = await session.connection()
    open_ends = [
        (instrument_id, last.at)
        for instrument_id, (last, _) in appended.items()
        if last is not None and monitors[instrument_id].last_state == "running"
    ]
    running: dict[uuid.UUID, Any] = {}
    if open_ends:
        rows = await conn.execute(
            select(
                _SESSIONS.c.id,
                _SESSIONS.c.instrument_id,
                _SESSIONS.c.start_at,
                _SESSIONS.c.end_at,
                _SESSIONS.c.energy_j,
            ).where(
                _SESSIONS.c.source == SessionSource.sensor,
                tuple_(_SESSIONS.c.instrument_id, _SESSIONS.c.end_at).in_(open_ends),
            )
        )
        running = {row.instrument_id: row for row in rows}
    extended: list[dict[str, Any]] = []
    added: list[dict[str, Any]] = []
    for instrument_id, (last, new) in appended.items():
        thresholds = thresholds_of(monitors[instrument_id])
        points = [Point(r.read_at, r.state, r.watts, (r.sensor_id, r.seq)) for r in new]
        runs = runs_of(([last] if last is not None else []) + points, thresholds)
        current = running.get(instrument_id)
        if runs and last is not None and runs[0].start == last.at:
            run, runs = runs[0], runs[1:]
            if current is None:  # not where it should be (thresholds changed since?): start afresh
                await recompute_sessions(
                    session, instrument_id, last.at, max(p.at for p in points), thresholds
                )
                continue
            end = max(current.end_at, run.end)
            extended.append(
                {
                    "b_id": current.id,
                    "b_end_at": end,
                    "b_energy_j": current.energy_j + run.energy_j,
                    "b_counted": end - current.start_at >= thresholds.min_session,
                }
            )
        added.extend(
            {
                "id": uuid.uuid4(),
                "instrument_id": instrument_id,
                "start_at": run.start,
                "end_at": run.end,
                "energy_j": run.energy_j,
                "counted": run.counted,
                "source": SessionSource.sensor,
                "reason": "",
                "annotation_note": "",
                "created_at": utcnow(),
            }
            for run in runs
        )
    if extended:
        await conn.execute(_EXTEND_SESSION, extended)
    if added:
        await conn.execute(insert(_SESSIONS), added)


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
    await mark_stale(session, [(instrument_id, low, high)])


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
                    energy_j=run.energy_j,
                    counted=run.counted,
                    source=SessionSource.sensor,
                )
            )
            continue
        unused.remove(match)
        match.start_at, match.end_at, match.energy_j, match.counted = (
            run.start,
            run.end,
            run.energy_j,
            run.counted,
        )
    if unused:
        await session.execute(delete(UsageSession).where(UsageSession.id.in_([s.id for s in unused])))
    await session.flush()
