"""Moving old sensor readings out of the database into the object storage (issue 25 goal 4,
docs/growth.md).

Raw readings are needed only to derive sessions again, which happens within days; the sessions
and the daily roll-up keep the figures. Which months are due: ``oversight.archive_months``; the
object's format: ``oversight.archive_files``. Archiving a month, each step its own transaction:

1. claim it: its row in ``oversight_reading_archives`` (status ``exporting``) held for ``LEASE``;
2. write its readings to ``archive/readings/YYYY-MM.csv.gz`` in the results' object storage
   (``results.storage``: a directory on the embedded default, S3 in production): gzip CSV with a
   header, ordered by sensor and sequence, streamed from a server-side cursor;
3. once the object is complete, record its row count, SHA-256 and size (status ``deleting``);
4. read the object back against the record, then delete the rows it holds, ``DELETE_BATCH`` keys
   per transaction: a reading that arrived in the month after the export stays;
5. mark it ``archived``.

A rerun after a crash at any step redoes only what is not done: before 3 the object is written
again under the same key (replaced whole), after 3 the deletes go on; a recorded object is never
written again. :func:`restore_month` puts an archived month's rows back (those not present),
after the same check, and marks it ``restored``: the daily job leaves it in the table until
``archive-readings --month`` is run again.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    String,
    Table,
    Uuid,
    bindparam,
    delete,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from oversight.archive_files import COLUMNS, GzipCsvWriter, object_rows, reading_values, verify_object
from oversight.archive_months import (
    archive_key,
    check_due,
    due_months,
    month_label,
    month_span,
    sensed_instruments,
)
from oversight.batch_writes import among, pairs_among
from oversight.errors import (
    ReadingArchiveBusy,
    ReadingArchiveDamaged,
    ReadingArchiveNotFound,
)
from oversight.ingest import INSERT_READINGS
from oversight.models import (
    ArchiveStatus,
    ReadingArchive,
    SensorReading,
)
from results.storage import ResultStorage, StoredObject
from yixiang.db import insert_ignoring_conflict, is_postgres, transaction, utcnow

log = logging.getLogger("yixiang.oversight.archive")

# A run that died leaves its month to another run after this long; each step renews it.
LEASE = timedelta(hours=1)
DELETE_BATCH = 50_000  # rows deleted (or restored) per transaction: no lock is held long
EXPORT_CHUNK = 5_000  # rows fetched from the cursor at a time
_READINGS: Table = SensorReading.__table__  # type: ignore[assignment]


class Step(enum.StrEnum):
    """What a run has just done (told to the caller's ``step`` callback with the month and a row
    count)."""

    exported = "exported"  # the object is complete
    recorded = "recorded"  # ... and recorded with its checksum
    deleted = "deleted"  # a batch of rows deleted
    restored = "restored"  # a batch of rows put back


StepCallback = Callable[[date, Step, int], Awaitable[None]]


@dataclass(frozen=True)
class ArchiveOutcome:
    month: date
    object_key: str
    row_count: int
    sha256: str
    bytes: int
    rows_deleted: int  # by this run


@dataclass(frozen=True)
class RestoreOutcome:
    month: date
    object_key: str
    row_count: int
    rows_inserted: int  # the others were in the table already


# --- claiming a month -------------------------------------------------------------------------------


async def _claim(session: AsyncSession, month: date, *, create: bool) -> _Recorded:
    """Hold the month's record for this run (made, status exporting, when ``create``); refused while
    another run holds it."""
    now = utcnow()
    async with transaction(session):
        if create:
            await insert_ignoring_conflict(
                session,
                ReadingArchive,
                {
                    "month": month,
                    "status": ArchiveStatus.exporting,
                    "object_key": archive_key(month),
                    "rows_deleted": 0,
                    "updated_at": now,
                },
                ["month"],
            )
        claimed = await session.execute(
            update(ReadingArchive)
            .where(
                ReadingArchive.month == month,
                or_(ReadingArchive.claimed_until.is_(None), ReadingArchive.claimed_until < now),
            )
            .values(claimed_until=now + LEASE, updated_at=now)
        )
        record = await _record_of(session, month) if getattr(claimed, "rowcount", 0) == 1 else None
    if record is None:
        raise ReadingArchiveBusy(month=month_label(month))
    return record


async def _update(session: AsyncSession, month: date, **values: Any) -> None:
    async with transaction(session):
        await session.execute(
            update(ReadingArchive).where(ReadingArchive.month == month).values(updated_at=utcnow(), **values)
        )


async def _release(session: AsyncSession, month: date) -> None:
    """After a failure: let a rerun take the month at once (a process that died holds it for LEASE)."""
    try:
        await session.rollback()
        await _update(session, month, claimed_until=None)
    except Exception:
        log.warning("reading archive %s: releasing the month failed", month_label(month), exc_info=True)


# --- the object ----------------------------------------------------------------------------------


async def _export(session: AsyncSession, storage: ResultStorage, month: date) -> tuple[StoredObject, int]:
    """Write the month's readings as one gzip CSV object; returns it and its row count."""
    start, end = month_span(month)
    writer = await storage.writer(archive_key(month))
    try:
        out = GzipCsvWriter(writer)
        async with transaction(session, read_only=True):
            # the instruments as one array: PostgreSQL then reads the month through the index on
            # (instrument, read time), where a join with them scanned the whole table
            instruments = list(await session.scalars(select(sensed_instruments().c.id)))
            conn = await session.connection()
            result = await session.stream(
                select(*(getattr(SensorReading, c) for c in COLUMNS))
                .where(
                    among(conn, _READINGS.c.instrument_id, instruments, Uuid()),
                    SensorReading.read_at >= start,
                    SensorReading.read_at < end,
                )
                .order_by(SensorReading.sensor_id, SensorReading.seq)
                .execution_options(yield_per=EXPORT_CHUNK)
            )
            async for rows in result.partitions():
                await out.write(rows)
        return await out.finish(), out.rows
    except BaseException:
        await writer.abort()
        raise


async def _verify(storage: ResultStorage, record: _Recorded) -> None:
    await verify_object(
        storage,
        record.object_key,
        rows=record.row_count or 0,
        sha256=record.sha256 or "",
        size=record.bytes or 0,
    )


# --- deleting and restoring rows -----------------------------------------------------------------

_DELETE_ONE = delete(SensorReading).where(
    SensorReading.sensor_id == bindparam("p_sensor"), SensorReading.seq == bindparam("p_seq")
)


async def _delete_readings(session: AsyncSession, keys: list[tuple[str, int]]) -> int:
    conn = await session.connection()
    if is_postgres(session):  # the keys as two arrays (unnest): one statement of two parameters
        pair = (_READINGS.c.sensor_id, _READINGS.c.seq)
        result = await conn.execute(
            delete(_READINGS).where(pairs_among(conn, pair, keys, (String(), BigInteger())))
        )
    else:  # SQLite limits a statement's parameters; a delete by key per row is cheap in process
        result = await conn.execute(_DELETE_ONE, [{"p_sensor": s, "p_seq": q} for s, q in keys])
    return max(getattr(result, "rowcount", 0), 0)


async def _delete_archived(
    session: AsyncSession, storage: ResultStorage, record: _Recorded, batch: int, step: StepCallback
) -> int:
    await _verify(storage, record)
    deleted = 0
    async for rows in object_rows(storage, record.object_key, batch):
        async with transaction(session):
            n = await _delete_readings(session, [(r[0], int(r[1])) for r in rows])
            await session.execute(
                update(ReadingArchive)
                .where(ReadingArchive.month == record.month)
                .values(rows_deleted=ReadingArchive.rows_deleted + n, claimed_until=utcnow() + LEASE)
            )
        deleted += n
        await step(record.month, Step.deleted, n)
    return deleted


async def _ignore(month: date, step: Step, rows: int) -> None:
    return None


async def archive_month(
    session: AsyncSession,
    storage: ResultStorage,
    month: date,
    *,
    kept_months: int,
    now: datetime | None = None,
    batch: int = DELETE_BATCH,
    step: StepCallback = _ignore,
) -> ArchiveOutcome | None:
    """Archive one month (or finish it); None when it holds no readings. A restored month is
    archived again: its rows the object holds are deleted (the object is never written again once
    recorded)."""
    now = now or utcnow()
    label = month_label(month)
    async with transaction(session, read_only=True):
        record = await _record_of(session, month)
        if record is None or record.status in (ArchiveStatus.exporting, ArchiveStatus.restored):
            await check_due(session, month, kept_months, now)
    if record is not None and record.status == ArchiveStatus.archived:
        return _outcome(record, 0)
    record = await _claim(session, month, create=True)
    try:
        if record.status == ArchiveStatus.archived:  # another run finished it meanwhile
            await _update(session, month, claimed_until=None)
            return _outcome(record, 0)
        if record.status == ArchiveStatus.exporting:
            stored, count = await _export(session, storage, month)
            if count == 0:  # nothing recorded refers to the object: it goes with the claim
                await storage.delete(stored.key)
                async with transaction(session):
                    await session.execute(delete(ReadingArchive).where(ReadingArchive.month == month))
                return None
            await step(month, Step.exported, count)
            await _update(
                session,
                month,
                status=ArchiveStatus.deleting,
                object_key=stored.key,
                row_count=count,
                sha256=stored.sha256,
                bytes=stored.size,
                archived_at=utcnow(),
                claimed_until=utcnow() + LEASE,
            )
            log.info(
                "readings of %s written to %s: %d rows, %d bytes, sha256 %s",
                label,
                stored.key,
                count,
                stored.size,
                stored.sha256,
            )
            await step(month, Step.recorded, count)
            record = _Recorded(month, ArchiveStatus.deleting, stored.key, count, stored.sha256, stored.size)
        elif record.status == ArchiveStatus.restored:
            await _update(session, month, status=ArchiveStatus.deleting, rows_deleted=0, deleted_at=None)
        deleted = await _delete_archived(session, storage, record, batch, step)
        await _update(session, month, status=ArchiveStatus.archived, deleted_at=utcnow(), claimed_until=None)
    except BaseException:
        await _release(session, month)
        raise
    log.info("readings of %s archived: %d rows deleted by this run (%s)", label, deleted, record.object_key)
    return _outcome(record, deleted)


@dataclass(frozen=True)
class _Recorded:
    """A month's archive record as read (values: a commit expires no attribute of it)."""

    month: date
    status: ArchiveStatus
    object_key: str
    row_count: int | None
    sha256: str | None
    bytes: int | None


async def _record_of(session: AsyncSession, month: date) -> _Recorded | None:
    async with transaction(session, read_only=True):
        row = (
            await session.execute(
                select(
                    ReadingArchive.month,
                    ReadingArchive.status,
                    ReadingArchive.object_key,
                    ReadingArchive.row_count,
                    ReadingArchive.sha256,
                    ReadingArchive.bytes,
                ).where(ReadingArchive.month == month)
            )
        ).one_or_none()
    return _Recorded(*row) if row is not None else None


def _outcome(record: _Recorded, deleted: int) -> ArchiveOutcome:
    return ArchiveOutcome(
        record.month,
        record.object_key,
        record.row_count or 0,
        record.sha256 or "",
        record.bytes or 0,
        deleted,
    )


async def archive_due(
    session: AsyncSession,
    storage: ResultStorage,
    *,
    kept_months: int,
    now: datetime | None = None,
    batch: int = DELETE_BATCH,
    step: StepCallback = _ignore,
) -> list[ArchiveOutcome]:
    """Archive every due month, oldest first; a month another run holds is left to it. A month
    whose object does not check out is left as it is, the others done, and the first such failure
    raised at the end (the job's run fails and is retried)."""
    outcomes = []
    damaged: list[ReadingArchiveDamaged] = []
    for month in await due_months(session, kept_months=kept_months, now=now):
        try:
            outcome = await archive_month(
                session, storage, month, kept_months=kept_months, now=now, batch=batch, step=step
            )
        except ReadingArchiveBusy:
            log.info("readings of %s: another run is archiving them", month_label(month))
            continue
        except ReadingArchiveDamaged as exc:
            log.error("readings of %s not deleted: %s %s", month_label(month), exc.code, exc.details)
            damaged.append(exc)
            continue
        if outcome is not None:
            outcomes.append(outcome)
    if damaged:
        raise damaged[0]
    return outcomes


async def restore_month(
    session: AsyncSession,
    storage: ResultStorage,
    month: date,
    *,
    batch: int = DELETE_BATCH,
    step: StepCallback = _ignore,
) -> RestoreOutcome:
    """Put an archived month's readings back (those not in the table), once its object checks out."""
    record = await _record_of(session, month)
    if record is None or record.status == ArchiveStatus.exporting:
        raise ReadingArchiveNotFound(month=month_label(month))
    record = await _claim(session, month, create=False)
    inserted = 0
    try:
        await _verify(storage, record)
        async for rows in object_rows(storage, record.object_key, batch):
            async with transaction(session):
                conn = await session.connection()
                n = len((await INSERT_READINGS.run(conn, [reading_values(r) for r in rows])).all())
                await session.execute(
                    update(ReadingArchive)
                    .where(ReadingArchive.month == month)
                    .values(claimed_until=utcnow() + LEASE)
                )
            inserted += n
            await step(month, Step.restored, n)
        await _update(session, month, status=ArchiveStatus.restored, restored_at=utcnow(), claimed_until=None)
    except BaseException:
        await _release(session, month)
        raise
    log.info(
        "readings of %s restored from %s: %d rows put back", month_label(month), record.object_key, inserted
    )
    return RestoreOutcome(month, record.object_key, record.row_count or 0, inserted)
