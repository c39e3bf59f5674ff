"""Which months of sensor readings the archive (``oversight.archive``) takes: months in
Asia/Shanghai, due once ended more than ``readings_kept_months`` ago with no day waiting for the
roll-up (``oversight.stale``)."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import exists, func, literal, select, union
from sqlalchemy.ext.asyncio import AsyncSession

from oversight.errors import ArchiveMonthNotDue, InvalidArchiveMonth
from oversight.models import (
    ArchiveStatus,
    ReadingArchive,
    Sensor,
    SensorBinding,
    SensorReading,
    StaleUsageDay,
)
from oversight.months import add_months
from oversight.usage import day_range
from yixiang.clock import shanghai_date
from yixiang.db import transaction, utcnow


def parse_month(text: str) -> date:
    """``2025-01`` → 2025-01-01."""
    found = re.fullmatch(r"(\d{4})-(\d{2})", text.strip())
    if found is None or not 1 <= int(found.group(2)) <= 12:
        raise InvalidArchiveMonth(month=text)
    return date(int(found.group(1)), int(found.group(2)), 1)


def month_label(month: date) -> str:
    return f"{month.year:04d}-{month.month:02d}"


def archive_key(month: date) -> str:
    return f"archive/readings/{month_label(month)}.csv.gz"


def last_due_month(today: date, kept_months: int) -> date:
    """The newest month that ended more than ``kept_months`` months before ``today``: with 13 kept
    on 2026-12-03, 2025-10 (it ended on 2025-11-01, and 2025-11-01 plus 13 months is past)."""
    return add_months(today.replace(day=1), -(kept_months + 1))


def month_span(month: date) -> tuple[datetime, datetime]:
    return day_range(month, add_months(month, 1) - timedelta(days=1))


def sensed_instruments() -> Any:
    """Every instrument a sensor is or was on: the readings' instruments, found through the index
    on (instrument, read time) instead of a pass over the whole table."""
    return union(
        select(Sensor.instrument_id.label("id")).where(Sensor.instrument_id.is_not(None)),
        select(SensorBinding.instrument_id.label("id")).where(SensorBinding.instrument_id.is_not(None)),
    ).subquery()


async def _oldest_reading(session: AsyncSession) -> datetime | None:
    ids = sensed_instruments()
    first = (
        select(func.min(SensorReading.read_at))
        .where(SensorReading.instrument_id == ids.c.id)
        .scalar_subquery()
        .label("first")
    )
    firsts = select(first).select_from(ids).subquery()
    oldest = await session.scalar(select(func.min(firsts.c.first)))
    return oldest if oldest is None or isinstance(oldest, datetime) else datetime.fromisoformat(oldest)


async def _has_readings(session: AsyncSession, month: date) -> bool:
    start, end = month_span(month)
    ids = sensed_instruments()
    one = exists().where(
        SensorReading.instrument_id == ids.c.id, SensorReading.read_at >= start, SensorReading.read_at < end
    )
    return (await session.scalar(select(literal(1)).select_from(ids).where(one).limit(1))) is not None


async def _has_stale_days(session: AsyncSession, month: date) -> bool:
    last = add_months(month, 1) - timedelta(days=1)
    marked = select(StaleUsageDay.day).where(StaleUsageDay.day >= month, StaleUsageDay.day <= last).limit(1)
    return (await session.scalar(marked)) is not None


async def due_months(session: AsyncSession, *, kept_months: int, now: datetime | None = None) -> list[date]:
    """The months to archive now, oldest first: those due and not yet archived (or restored), and
    those whose deletes a run left unfinished."""
    last = last_due_month(shanghai_date(now or utcnow()), kept_months)
    async with transaction(session, read_only=True):
        rows = await session.execute(select(ReadingArchive.month, ReadingArchive.status))
        recorded = {month: status for month, status in rows}
        months = [m for m, status in recorded.items() if status == ArchiveStatus.deleting]
        oldest = await _oldest_reading(session)
        month = shanghai_date(oldest).replace(day=1) if oldest is not None else add_months(last, 1)
        while month <= last:
            if recorded.get(month, ArchiveStatus.exporting) == ArchiveStatus.exporting and not (
                await _has_stale_days(session, month)
            ):
                if await _has_readings(session, month):
                    months.append(month)
            month = add_months(month, 1)
    return sorted(set(months))


async def check_due(session: AsyncSession, month: date, kept_months: int, now: datetime) -> None:
    if month > last_due_month(shanghai_date(now), kept_months) or await _has_stale_days(session, month):
        raise ArchiveMonthNotDue(month=month_label(month), kept_months=kept_months)
