"""Archiving old sensor readings: a due month goes to the object storage as gzip CSV and out of the
table, a recent month or one with a day waiting for the roll-up stays, reruns do nothing twice, a
run cut short at any step is finished by the next, and a restore brings back rows that give the
same sessions.

The suite's database is shared by every test: each test here has a year of its own, and passes
the ``now`` that makes its months due or not."""

from __future__ import annotations

import csv
import gzip
import hashlib
import sqlite3
from datetime import date, datetime, timedelta
from pathlib import Path

import msgspec
import pytest
from click.testing import CliRunner
from sqlalchemy import delete, func, select

from oversight.archive import ArchiveOutcome, Step, archive_due, archive_month, restore_month
from oversight.archive_files import COLUMNS
from oversight.archive_months import due_months, parse_month
from oversight.errors import (
    ArchiveMonthNotDue,
    InvalidArchiveMonth,
    ReadingArchiveBusy,
    ReadingArchiveDamaged,
    ReadingArchiveNotFound,
)
from oversight.ingest import Message, ingest
from oversight.models import ArchiveStatus, ReadingArchive, SensorReading, SessionSource, UsageSession
from oversight.plugin import READINGS_ARCHIVE_DUE
from oversight.protocol import Envelope
from oversight.rollup import refresh_all_stale
from oversight.session_upkeep import monitor_for_update, recompute_sessions, thresholds_of
from results.storage import create_storage
from tests.booking.world import run_periodic_job
from tests.oversight.world import Monitored, P, at, monitored_instrument
from yixiang.cli import main
from yixiang.clock import SHANGHAI
from yixiang.db import transaction

KEPT = 13


def day_of_use(m: Monitored, day: str, first_seq: int) -> list[bytes]:
    """Two runs a minute apart by reading: 09:00-09:20 at 900 W, 10:00-10:10 at 600 W, off between."""
    messages = []
    for minute in range(80):
        moment = at(day, "09:00") + timedelta(minutes=minute)
        watts = 900 if minute < 20 else 600 if 60 <= minute < 70 else 0
        messages.append(m.message(first_seq + minute, moment, "on" if watts else "off", watts))
    return messages


def after(year: int) -> datetime:
    """A moment when January of ``year`` is due (kept 13 months) and February is not."""
    return datetime(year + 1, 3, 10, 12, 0, tzinfo=SHANGHAI)


async def sent_on(backend, day: str, messages: list[bytes]) -> None:
    """The readings as ingest takes them on the evening of ``day`` (today it refuses them: their
    months are archived or due, ``Refusal.too_old``)."""
    async with backend.runtime.session_maker() as session:
        result = await ingest(
            session,
            [Message(msgspec.json.decode(m, type=Envelope)) for m in messages],
            secret_key=backend.settings.secret_key,
            future_skew=timedelta(minutes=5),
            kept_months=KEPT,
            now=at(day, "22:00"),
        )
    assert result.accepted == len(messages), result.refused


async def sensor_with_use(backend, client, login, year: int) -> Monitored:
    """A sensor with a day of use in January and in February of ``year``, rolled up."""
    m = await monitored_instrument(backend, client, await login(P), running_watts=100)
    await sent_on(backend, f"{year}-01-15", day_of_use(m, f"{year}-01-15", 1))
    await sent_on(backend, f"{year}-02-15", day_of_use(m, f"{year}-02-15", 1000))
    await roll_up(backend)
    return m


async def roll_up(backend) -> None:
    async with backend.runtime.session_maker() as session:
        await refresh_all_stale(session)


async def readings(backend, m: Monitored, month: date) -> list[list[str]]:
    """The sensor's readings of the month, as the archive's CSV writes them."""
    end = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    async with backend.runtime.session_maker() as session:
        rows = await session.scalars(
            select(SensorReading)
            .where(
                SensorReading.sensor_id == m.sensor_id,
                SensorReading.read_at >= datetime.combine(month, datetime.min.time(), SHANGHAI),
                SensorReading.read_at < datetime.combine(end, datetime.min.time(), SHANGHAI),
            )
            .order_by(SensorReading.seq)
        )
        return [
            [r.sensor_id, str(r.seq), str(r.instrument_id), r.read_at.isoformat(), r.state.value,
             str(r.watts), r.received_at.isoformat()]
            for r in rows
        ]  # fmt: skip


async def record_of(backend, month: date) -> ReadingArchive | None:
    async with backend.runtime.session_maker() as session:
        return await session.get(ReadingArchive, month)


def object_path(backend, record: ReadingArchive) -> Path:
    return Path(backend.settings.data_dir) / "results" / record.object_key


def object_rows(path: Path) -> list[list[str]]:
    with gzip.open(path, "rt", newline="") as f:
        header, *rows = list(csv.reader(f))
    assert tuple(header) == COLUMNS
    return rows


async def archive(backend, year: int, **options) -> list[ArchiveOutcome]:
    async with backend.runtime.session_maker() as session:
        return await archive_due(
            session, create_storage(backend.settings), kept_months=KEPT, now=after(year), **options
        )


async def test_a_due_month_goes_to_the_object_storage_and_a_recent_one_stays(backend, client, login):
    m = await sensor_with_use(backend, client, login, 2011)
    january, february = date(2011, 1, 1), date(2011, 2, 1)
    before = await readings(backend, m, january)
    assert len(before) == 80

    outcomes = [o for o in await archive(backend, 2011, batch=30) if o.month == january]

    assert [(o.object_key, o.row_count, o.rows_deleted) for o in outcomes] == [
        ("archive/readings/2011-01.csv.gz", 80, 80)
    ]
    assert await readings(backend, m, january) == []
    assert len(await readings(backend, m, february)) == 80  # ended 13 months ago at most: kept
    record = await record_of(backend, january)
    assert record is not None and record.status == ArchiveStatus.archived
    path = object_path(backend, record)
    # exactly the month's rows, ordered by sensor and sequence, and the recorded checksum and size
    assert object_rows(path) == before
    assert record.sha256 == hashlib.sha256(path.read_bytes()).hexdigest() == outcomes[0].sha256
    assert (record.row_count, record.bytes, record.rows_deleted) == (80, path.stat().st_size, 80)
    assert await record_of(backend, february) is None


async def archived_january(backend, client, login, year: int) -> tuple[Monitored, date, ReadingArchive]:
    """A sensor with use in January and February of ``year``, January archived."""
    m = await sensor_with_use(backend, client, login, year)
    january = date(year, 1, 1)
    await archive(backend, year)
    record = await record_of(backend, january)
    assert record is not None and record.status == ArchiveStatus.archived
    return m, january, record


async def test_a_rerun_does_nothing_twice(backend, client, login):
    m, january, record = await archived_january(backend, client, login, 2012)
    written = object_path(backend, record).stat()

    assert january not in [o.month for o in await archive(backend, 2012)]
    async with backend.runtime.session_maker() as session:
        again = await archive_month(
            session, create_storage(backend.settings), january, kept_months=KEPT, now=after(2012)
        )
    assert again is not None and again.rows_deleted == 0

    assert object_path(backend, record).stat().st_mtime_ns == written.st_mtime_ns  # not written again
    after_rerun = await record_of(backend, january)
    assert after_rerun is not None
    assert (after_rerun.status, after_rerun.sha256, after_rerun.updated_at) == (
        ArchiveStatus.archived,
        record.sha256,
        record.updated_at,
    )
    assert await readings(backend, m, january) == []


async def test_a_month_with_a_day_waiting_for_the_roll_up_is_not_due(backend, client, login):
    m = await monitored_instrument(backend, client, await login(P), running_watts=100)
    january = date(2013, 1, 1)
    await roll_up(backend)  # whatever else the suite left marked
    await sent_on(backend, "2013-01-15", day_of_use(m, "2013-01-15", 1))  # marks 2013-01-15 stale

    async with backend.runtime.session_maker() as session:
        assert january not in await due_months(session, kept_months=KEPT, now=after(2013))
        with pytest.raises(ArchiveMonthNotDue) as refused:
            await archive_month(
                session, create_storage(backend.settings), january, kept_months=KEPT, now=after(2013)
            )
    assert refused.value.code == "archive_month_not_due"
    assert await record_of(backend, january) is None
    assert len(await readings(backend, m, january)) == 80

    await roll_up(backend)
    assert january in [o.month for o in await archive(backend, 2013)]
    assert await readings(backend, m, january) == []


class Interrupted(Exception):
    pass


@pytest.mark.parametrize(
    ("year", "interrupted_at"),
    [(2014, Step.exported), (2015, Step.recorded), (2016, Step.deleted)],
)
async def test_a_run_cut_short_is_finished_by_the_next(backend, client, login, year, interrupted_at):
    m = await sensor_with_use(backend, client, login, year)
    january = date(year, 1, 1)
    before = await readings(backend, m, january)

    async def step(month: date, done: Step, rows: int) -> None:
        if (month, done) == (january, interrupted_at):
            raise Interrupted(done)

    with pytest.raises(Interrupted):
        await archive(backend, year, batch=30, step=step)
    cut = await record_of(backend, january)
    assert cut is not None
    left = await readings(backend, m, january)
    if interrupted_at == Step.deleted:  # one batch of 30 deleted and committed
        assert (cut.status, len(left)) == (ArchiveStatus.deleting, 50)
    elif interrupted_at == Step.recorded:  # the object complete and recorded, nothing deleted
        assert (cut.status, cut.row_count, left) == (ArchiveStatus.deleting, 80, before)
    else:  # the object written, not recorded: nothing deleted
        assert (cut.status, cut.sha256, left) == (ArchiveStatus.exporting, None, before)

    assert january in [o.month for o in await archive(backend, year, batch=30)]

    record = await record_of(backend, january)
    assert record is not None and record.status == ArchiveStatus.archived
    assert await readings(backend, m, january) == []
    path = object_path(backend, record)
    assert object_rows(path) == before
    assert record.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert record.rows_deleted == 80
    assert sorted(p.name for p in path.parent.glob(f"{year}-01*")) == [f"{year}-01.csv.gz"]


async def sensor_sessions(backend, m: Monitored, month: date) -> list[tuple[datetime, datetime, int, bool]]:
    async with backend.runtime.session_maker() as session:
        rows = await session.scalars(
            select(UsageSession)
            .where(
                UsageSession.instrument_id == m.instrument_id,
                UsageSession.source == SessionSource.sensor,
                UsageSession.start_at >= datetime.combine(month, datetime.min.time(), SHANGHAI),
                UsageSession.start_at
                < datetime.combine(month, datetime.min.time(), SHANGHAI) + timedelta(days=31),
            )
            .order_by(UsageSession.start_at)
        )
        return [(s.start_at, s.end_at, s.energy_j, s.counted) for s in rows]


async def test_a_restore_brings_back_rows_that_give_the_same_sessions(backend, client, login):
    m = await sensor_with_use(backend, client, login, 2017)
    january = date(2017, 1, 1)
    before = await readings(backend, m, january)
    sessions = await sensor_sessions(backend, m, january)
    assert len(sessions) == 2
    await archive(backend, 2017)
    assert await readings(backend, m, january) == []
    storage = create_storage(backend.settings)

    async with backend.runtime.session_maker() as session:
        restored = await restore_month(session, storage, january, batch=30)
        again = await restore_month(session, storage, january)
    assert (restored.row_count, restored.rows_inserted, again.rows_inserted) == (80, 80, 0)
    assert await readings(backend, m, january) == before
    record = await record_of(backend, january)
    assert record is not None and record.status == ArchiveStatus.restored

    # the month's sessions derived again from the restored readings alone
    low, high = at("2017-01-15", "00:00"), at("2017-01-16", "00:00")
    async with backend.runtime.session_maker() as session, transaction(session):
        await session.execute(
            delete(UsageSession).where(
                UsageSession.instrument_id == m.instrument_id,
                UsageSession.start_at >= low,
                UsageSession.start_at < high,
            )
        )
        monitor = await monitor_for_update(session, m.instrument_id)
        await recompute_sessions(session, m.instrument_id, low, high, thresholds_of(monitor))
    assert await sensor_sessions(backend, m, january) == sessions

    # a restored month stays until it is archived again by name: its object's rows deleted again
    await roll_up(backend)
    assert january not in [o.month for o in await archive(backend, 2017)]
    written = object_path(backend, record).stat().st_mtime_ns
    async with backend.runtime.session_maker() as session:
        archived = await archive_month(session, storage, january, kept_months=KEPT, now=after(2017))
    assert archived is not None and archived.sha256 == record.sha256 and archived.rows_deleted == 80
    assert object_path(backend, record).stat().st_mtime_ns == written
    again_record = await record_of(backend, january)
    assert again_record is not None and again_record.status == ArchiveStatus.archived
    assert await readings(backend, m, january) == []


async def test_the_commands_refuse_bad_months_with_a_code(backend):
    storage = create_storage(backend.settings)
    with pytest.raises(InvalidArchiveMonth) as bad:
        parse_month("2025-13")
    assert bad.value.code == "archive_month_invalid"
    async with backend.runtime.session_maker() as session:
        with pytest.raises(ReadingArchiveNotFound) as missing:
            await restore_month(session, storage, date(1999, 1, 1))
        with pytest.raises(ArchiveMonthNotDue):
            await archive_month(session, storage, date(2999, 1, 1), kept_months=KEPT)
    assert missing.value.code == "reading_archive_not_found"
    assert "未归档" in missing.value.message


async def test_the_worker_archives_the_due_months_daily(backend, client, login):
    m = await sensor_with_use(backend, client, login, 2018)
    assert any(
        j.name == "oversight-readings-archive" for d in backend.runtime.domains for j in d.periodic_jobs
    )

    await run_periodic_job(backend, READINGS_ARCHIVE_DUE)  # now: every month of 2018 is due

    for month in (date(2018, 1, 1), date(2018, 2, 1)):
        record = await record_of(backend, month)
        assert record is not None and record.status == ArchiveStatus.archived
        assert await readings(backend, m, month) == []
    async with backend.runtime.session_maker() as session:
        left = await session.scalar(select(func.count()).where(SensorReading.sensor_id == m.sensor_id))
    assert left == 0


@pytest.mark.slow
def test_the_commands_on_the_embedded_default(tmp_path: Path) -> None:
    env = {"YIXIANG_DATA_DIR": str(tmp_path), "YIXIANG_DEMO_DATA": "false", "YIXIANG_LOG_LEVEL": "ERROR"}
    assert CliRunner().invoke(main, ["demo", "load"], env=env).exit_code == 0
    with sqlite3.connect(tmp_path / "yixiang.db") as db:
        sensor, instrument = db.execute("SELECT id, instrument_id FROM oversight_sensors LIMIT 1").fetchone()
        db.executemany(  # three readings of 2019-01, written as ingest stores them
            "INSERT INTO oversight_readings (sensor_id, seq, instrument_id, read_at, state, watts,"
            " received_at) VALUES (?, ?, ?, ?, 'off', 0, ?)",
            [(sensor, 10**9 + n, instrument, f"2019-01-1{n} 01:00:00.000000", "2019-01-20 00:00:00.000000")
             for n in range(3)],
        )  # fmt: skip

    archived = CliRunner().invoke(main, ["oversight", "archive-readings"], env=env)
    assert archived.exit_code == 0, archived.output
    assert "2019-01: 3 readings in archive/readings/2019-01.csv.gz" in archived.stdout
    assert (tmp_path / "results" / "archive" / "readings" / "2019-01.csv.gz").exists()
    again = CliRunner().invoke(main, ["oversight", "archive-readings"], env=env)
    assert "no month of readings is due" in again.stdout
    restored = CliRunner().invoke(main, ["oversight", "restore-readings", "2019-01"], env=env)
    assert restored.exit_code == 0, restored.output
    assert "2019-01: 3 of the 3 readings" in restored.stdout
    with sqlite3.connect(tmp_path / "yixiang.db") as db:
        back = db.execute("SELECT count(*) FROM oversight_readings WHERE seq >= 1000000000").fetchone()
    assert back == (3,)

    for command, code in (
        (["oversight", "restore-readings", "2018-01"], "reading_archive_not_found"),
        (["oversight", "restore-readings", "2025-13"], "archive_month_invalid"),
        (["oversight", "archive-readings", "--month", "2999-01"], "archive_month_not_due"),
    ):
        refused = CliRunner().invoke(main, command, env=env)
        assert refused.exit_code == 1, refused.output
        assert code in refused.stderr


async def test_a_damaged_object_is_not_restored(backend, client, login):
    m, january, record = await archived_january(backend, client, login, 2019)
    path = object_path(backend, record)
    rows = object_rows(path)
    rows[0][5] = str(int(rows[0][5]) + 1)  # one reading's watts changed
    with gzip.open(path, "wt", newline="") as f:
        f.writelines(",".join(r) + "\n" for r in [list(COLUMNS), *rows])

    async with backend.runtime.session_maker() as session:
        with pytest.raises(ReadingArchiveDamaged) as damaged:
            await restore_month(session, create_storage(backend.settings), january)
    assert damaged.value.code == "reading_archive_damaged"
    assert await readings(backend, m, january) == []
    after_refusal = await record_of(backend, january)
    assert after_refusal is not None
    assert (after_refusal.status, after_refusal.claimed_until) == (ArchiveStatus.archived, None)


async def test_a_month_one_run_holds_is_refused_to_another(backend, client, login):
    m = await sensor_with_use(backend, client, login, 2020)
    january = date(2020, 1, 1)
    storage = create_storage(backend.settings)
    refusals = []

    async def meanwhile(month: date, done: Step, rows: int) -> None:
        if (month, done) == (january, Step.recorded):
            async with backend.runtime.session_maker() as other:
                for attempt in (
                    archive_month(other, storage, january, kept_months=KEPT, now=after(2020)),
                    restore_month(other, storage, january),
                ):
                    with pytest.raises(ReadingArchiveBusy) as busy:
                        await attempt
                    refusals.append(busy.value.code)

    assert january in [o.month for o in await archive(backend, 2020, step=meanwhile)]
    assert refusals == ["reading_archive_busy", "reading_archive_busy"]
    assert await readings(backend, m, january) == []


async def test_a_damaged_object_keeps_its_rows_and_not_the_other_months(backend, client, login):
    m = await sensor_with_use(backend, client, login, 2021)
    january, february = date(2021, 1, 1), date(2021, 2, 1)

    async def cut(month: date, done: Step, rows: int) -> None:
        if (month, done) == (january, Step.recorded):
            raise Interrupted(done)

    with pytest.raises(Interrupted):
        await archive(backend, 2021, step=cut)
    record = await record_of(backend, january)
    assert record is not None and record.status == ArchiveStatus.deleting
    path = object_path(backend, record)
    good = path.read_bytes()
    path.write_bytes(b"not what was recorded")

    async with backend.runtime.session_maker() as session:
        with pytest.raises(ReadingArchiveDamaged):  # a month later: February is due too
            await archive_due(
                session,
                create_storage(backend.settings),
                kept_months=KEPT,
                now=after(2021) + timedelta(days=31),
            )
    assert len(await readings(backend, m, january)) == 80
    after_refusal = await record_of(backend, january)
    assert after_refusal is not None and after_refusal.status == ArchiveStatus.deleting
    assert await readings(backend, m, february) == []
    done = await record_of(backend, february)
    assert done is not None and done.status == ArchiveStatus.archived

    path.write_bytes(good)  # the object put back (from a copy of the bucket): the next run finishes
    assert january in [o.month for o in await archive(backend, 2021)]
    assert await readings(backend, m, january) == []
