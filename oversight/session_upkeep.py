"""Keeping the instruments' sessions and live state in step with their stored readings: the batch's
readings extend the open session or, when they fall among earlier ones (late, out of order), the
sessions of the time around them are derived again from every stored reading there
(``oversight.sessions``). Monitor rows are locked in instrument order (``oversight.ingest``'s
lock order); the same code serves a change of thresholds (``oversight.usage``).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, NamedTuple

from sqlalchemy import DateTime, Table, Uuid, and_, bindparam, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from catalogue.models import Instrument
from oversight.batch_writes import BatchInsert, BatchUpdate, among, pairs_among
from oversight.models import (
    InstrumentMonitor,
    PowerState,
    SensorReading,
    SessionSource,
    UsageSession,
)
from oversight.sessions import Point, Run, Thresholds, live_state, runs_of
from oversight.stale import mark_stale
from yixiang.db import conflict_ignoring_inserts, utcnow
from yixiang.locking import locked


class Stored(NamedTuple):
    """A reading stored by this batch (its fields in the order of the readings' columns)."""

    sensor_id: str
    seq: int
    instrument_id: uuid.UUID
    read_at: datetime
    state: PowerState
    watts: int
    received_at: datetime


def thresholds_of(monitor: InstrumentMonitor) -> Thresholds:
    return _thresholds(monitor.running_watts, monitor.min_session_minutes, monitor.offline_after_minutes)


@lru_cache(maxsize=256)  # built once per distinct setting: a batch asks for every instrument's
def _thresholds(running_watts: int, min_session_minutes: int, offline_after_minutes: int) -> Thresholds:
    return Thresholds(
        running_watts=running_watts,
        min_session=timedelta(minutes=min_session_minutes),
        offline_after=timedelta(minutes=offline_after_minutes),
    )


async def monitor_for_update(session: AsyncSession, instrument_id: uuid.UUID) -> InstrumentMonitor:
    """The instrument's monitor row, locked (made with the default thresholds if missing)."""
    return (await monitors_for_update(session, [instrument_id]))[instrument_id]


async def monitors_for_update(
    session: AsyncSession, instrument_ids: list[uuid.UUID]
) -> dict[uuid.UUID, InstrumentMonitor]:
    """The instruments' monitor rows, locked in instrument order (made if missing)."""
    ids = sorted(set(instrument_ids))
    conn = await session.connection()
    now = utcnow()
    await _INSERT_MONITORS.run(conn, [(i, now) for i in ids])
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
# The instrument id's type named outright: a foreign key column takes its referenced column's type
# only once that table is loaded, maybe after this module (a bound UUID SQLite would not take).
_INSTRUMENTS: Table = Instrument.__table__  # type: ignore[assignment]
_INSERT_MONITORS = BatchInsert(
    _MONITORS,
    ("instrument_id", "updated_at"),
    other=conflict_ignoring_inserts(InstrumentMonitor, ["instrument_id"])["sqlite"],
    tail="ON CONFLICT (instrument_id) DO NOTHING",
)
_UPDATE_MONITORS = BatchUpdate(  # rows this batch has locked
    _MONITORS,
    ("instrument_id", "last_reading_at", "last_state", "last_watts", "state_since"),
    other=update(_MONITORS)
    .where(_MONITORS.c.instrument_id == bindparam("b_instrument_id", type_=_INSTRUMENTS.c.id.type))
    .values(
        last_reading_at=bindparam("b_last_reading_at"),
        last_state=bindparam("b_last_state"),
        last_watts=bindparam("b_last_watts"),
        state_since=bindparam("b_state_since"),
    ),
    param_prefix="b_",
)
_EXTEND_SESSIONS = BatchUpdate(  # sessions of instruments whose monitor rows this batch has locked
    _SESSIONS,
    ("id", "end_at", "energy_j", "counted"),
    other=update(_SESSIONS)
    .where(_SESSIONS.c.id == bindparam("b_id"))
    .values(end_at=bindparam("b_end_at"), energy_j=bindparam("b_energy_j"), counted=bindparam("b_counted")),
    param_prefix="b_",
)
_INSERT_SESSIONS = BatchInsert(
    _SESSIONS,
    (
        "id",
        "instrument_id",
        "start_at",
        "end_at",
        "energy_j",
        "counted",
        "source",
        "reason",
        "annotation_note",
        "created_at",
    ),
    other=insert(_SESSIONS),
)


async def _locked_monitor_rows(
    session: AsyncSession, instrument_ids: list[uuid.UUID]
) -> dict[uuid.UUID, Any]:
    ids = sorted(set(instrument_ids))
    conn = await session.connection()
    now = utcnow()
    await _INSERT_MONITORS.run(conn, [(i, now) for i in ids])
    rows = await conn.execute(
        locked(select(_MONITORS).where(among(conn, _MONITORS.c.instrument_id, ids, Uuid()))).order_by(
            _MONITORS.c.instrument_id
        )
    )
    return {row.instrument_id: row for row in rows}


async def update_instruments(session: AsyncSession, by_instrument: dict[uuid.UUID, list[Stored]]) -> None:
    """Live state and sessions of every instrument the batch has readings of.

    Readings all later than the instrument's newest (the usual case: a sensor reporting as it
    goes) extend its sessions from where they stand: the newest reading (kept on the monitor) and
    the session it ended, if running. Anything else (late, out of order) recomputes the sessions
    around the readings from every stored one (:func:`recompute_sessions`); both give the same."""
    monitors = await _locked_monitor_rows(session, list(by_instrument))
    appended: dict[uuid.UUID, tuple[Point | None, list[Stored], Thresholds]] = {}
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
            appended[instrument_id] = (last, new, thresholds)
        else:
            await recompute_sessions(session, instrument_id, low, newest.read_at, thresholds)
        if monitor.last_reading_at is None or newest.read_at > monitor.last_reading_at:
            state = live_state(Point(newest.read_at, newest.state, newest.watts), thresholds)
            silent = (
                monitor.last_reading_at is None
                or newest.read_at - monitor.last_reading_at > thresholds.offline_after
            )
            changes.append(
                (
                    instrument_id,
                    newest.read_at,
                    state,
                    newest.watts,
                    newest.read_at if silent or state != monitor.last_state else monitor.state_since,
                )
            )
    if changes:
        await _UPDATE_MONITORS.run(await session.connection(), changes)
    if appended:
        await _extend_sessions(session, monitors, appended)
    await mark_stale(session, touched)


async def _extend_sessions(
    session: AsyncSession,
    monitors: dict[uuid.UUID, Any],
    appended: dict[uuid.UUID, tuple[Point | None, list[Stored], Thresholds]],
) -> None:
    conn = await session.connection()
    open_ends = [
        (instrument_id, last.at)
        for instrument_id, (last, _, _) in appended.items()
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
                pairs_among(
                    conn,
                    (_SESSIONS.c.instrument_id, _SESSIONS.c.end_at),
                    open_ends,
                    (Uuid(), DateTime(timezone=True)),
                ),
            )
        )
        running = {row.instrument_id: row for row in rows}
    extended: list[tuple[Any, ...]] = []
    added: list[tuple[Any, ...]] = []
    now = utcnow()
    for instrument_id, (last, new, thresholds) in appended.items():
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
            counted = end - current.start_at >= thresholds.min_session
            extended.append((current.id, end, current.energy_j + run.energy_j, counted))
        added.extend(
            (
                uuid.uuid4(),
                instrument_id,
                run.start,
                run.end,
                run.energy_j,
                run.counted,
                SessionSource.sensor,
                "",
                "",
                now,
            )
            for run in runs
        )
    if extended:
        await _EXTEND_SESSIONS.run(conn, extended)
    if added:
        await _INSERT_SESSIONS.run(conn, added)


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
