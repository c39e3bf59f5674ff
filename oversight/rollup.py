"""The daily usage roll-up (issue 21): per instrument, Asia/Shanghai day and session source, the
effective, external and internal seconds of :func:`oversight.usage.daily_hours` — stored, so the
bureaus' indicators (``oversight.indicators``) sum days instead of matching sessions to bookings.

Whatever changes a day's figures marks the day stale (``oversight.stale``): ingest and
recomputation of sensor sessions, a manual session, a machine-time booking confirmed, cancelled or
not shown up for. The periodic job :func:`refresh_stale` recomputes the marked days from the
sessions and bookings (the same every time: it replaces the day's rows), and
``yixiang oversight rollup --from --to`` rebuilds a whole range.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from catalogue.models import ServiceMode
from oversight.models import SessionSource, StaleUsageDay, UsageDay, UsageSession
from oversight.stale import mark_stale
from oversight.usage import booked_windows, daily_hours, day_range, sessions_between
from yixiang.db import transaction, utcnow

ROLLUP_DUE = "oversight.usage_rollup_due"  # periodic: recompute the stale days
STALE_BATCH = 2000  # marks taken per transaction


async def refresh(session: AsyncSession, instrument_id: uuid.UUID, first: date, last: date) -> None:
    """Replace the instrument's roll-up rows from ``first`` to ``last`` (inclusive) with what its
    counted sessions and booked windows give (in the caller's transaction)."""
    start, end = day_range(first, last)
    sessions = await sessions_between(session, instrument_id, start, end)
    windows = await booked_windows(session, instrument_id, start, end) if sessions else []
    await session.execute(
        delete(UsageDay).where(
            UsageDay.instrument_id == instrument_id, UsageDay.day >= first, UsageDay.day <= last
        )
    )
    rows: list[dict[str, Any]] = []
    now = utcnow()
    for source in SessionSource:
        of_source = [s for s in sessions if s.source == source]
        if not of_source:
            continue
        for day in daily_hours(of_source, windows, first, last):
            if day.effective_seconds > 0:
                rows.append(
                    {
                        "instrument_id": instrument_id,
                        "day": day.day,
                        "source": source,
                        "effective_seconds": day.effective_seconds,
                        "external_seconds": day.external_seconds,
                        "internal_seconds": day.internal_seconds,
                        "booked_seconds": day.booked_seconds,
                        "updated_at": now,
                    }
                )
    if rows:
        await session.execute(insert(UsageDay), rows)


def _runs(days: list[date]) -> list[tuple[date, date]]:
    """Sorted days as runs of consecutive days."""
    runs: list[tuple[date, date]] = []
    for day in days:
        if runs and runs[-1][1] + timedelta(days=1) == day:
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


async def refresh_stale(session: AsyncSession, limit: int = STALE_BATCH) -> int:
    """Recompute up to ``limit`` stale days, then unmark those not marked again meanwhile.
    Returns the number of days recomputed."""
    async with transaction(session):
        marks = (
            await session.execute(
                select(StaleUsageDay.instrument_id, StaleUsageDay.day, StaleUsageDay.marked_at)
                .order_by(StaleUsageDay.instrument_id, StaleUsageDay.day)
                .limit(limit)
            )
        ).all()
        by_instrument: dict[uuid.UUID, list[date]] = {}
        for mark in marks:
            by_instrument.setdefault(mark.instrument_id, []).append(mark.day)
        for instrument_id, days in by_instrument.items():
            for first, last in _runs(days):
                await refresh(session, instrument_id, first, last)
        for mark in marks:
            await session.execute(
                delete(StaleUsageDay).where(
                    and_(
                        StaleUsageDay.instrument_id == mark.instrument_id,
                        StaleUsageDay.day == mark.day,
                        StaleUsageDay.marked_at <= mark.marked_at,
                    )
                )
            )
    return len(marks)


async def refresh_all_stale(session: AsyncSession) -> int:
    total = 0
    while done := await refresh_stale(session):
        total += done
    return total


async def rebuild(session: AsyncSession, first: date, last: date) -> int:
    """Recompute every instrument's roll-up from ``first`` to ``last``, a month per transaction;
    returns the number of instruments that had sessions in the range."""
    seen: set[uuid.UUID] = set()
    month_first = first
    while month_first <= last:
        month_last = min(
            last, (month_first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(1)
        )
        start, end = day_range(month_first, month_last)
        async with transaction(session):
            ids = set(
                await session.scalars(
                    select(UsageSession.instrument_id)
                    .where(UsageSession.start_at < end, UsageSession.end_at > start)
                    .distinct()
                )
            ) | set(
                await session.scalars(
                    select(UsageDay.instrument_id)
                    .where(UsageDay.day >= month_first, UsageDay.day <= month_last)
                    .distinct()
                )
            )
            for instrument_id in sorted(ids):
                await refresh(session, instrument_id, month_first, month_last)
        seen |= ids
        month_first = month_last + timedelta(days=1)
    return len(seen)


async def mark_booking_days(session: AsyncSession, payload: dict[str, Any]) -> None:
    """A machine-time booking entered or left the booked windows: its days' external share changes."""
    if payload.get("mode") != ServiceMode.machine_time.value or not payload.get("start"):
        return
    start = datetime.fromisoformat(payload["start"])
    end = datetime.fromisoformat(payload["end"]) if payload.get("end") else start
    async with transaction(session):
        await mark_stale(session, [(uuid.UUID(str(payload["instrument_id"])), start, end)])
