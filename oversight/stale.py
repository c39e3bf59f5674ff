"""Marking days of the usage roll-up stale (``oversight.rollup`` recomputes them).

Kept apart from the roll-up itself so that ingest, which writes sessions, can mark without
importing the matching of sessions to bookings (which imports ingest)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date, datetime, timedelta

from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from oversight.batch_writes import BatchInsert
from oversight.models import StaleUsageDay
from yixiang.clock import shanghai_date
from yixiang.db import utcnow


def days_of(low: datetime, high: datetime) -> list[date]:
    """The Asia/Shanghai days from ``low``'s to ``high``'s, both included."""
    first, last = shanghai_date(low), shanghai_date(max(low, high))
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


_UPSERT = sqlite.insert(StaleUsageDay)
_MARK = BatchInsert(
    StaleUsageDay.__table__,  # type: ignore[arg-type]
    ("instrument_id", "day", "marked_at"),
    other=_UPSERT.on_conflict_do_update(
        index_elements=["instrument_id", "day"], set_={"marked_at": _UPSERT.excluded.marked_at}
    ),
    tail="ON CONFLICT (instrument_id, day) DO UPDATE SET marked_at = excluded.marked_at",
)


async def mark_stale(session: AsyncSession, spans: Iterable[tuple[uuid.UUID, datetime, datetime]]) -> None:
    """Mark the days each ``(instrument, low, high)`` touches; a mark already there is renewed,
    so a change made while the job recomputes the day is not lost."""
    now = utcnow()
    rows = sorted(
        {(instrument_id, day) for instrument_id, low, high in spans for day in days_of(low, high)}
    )  # in key order: concurrent markers never wait on each other in a cycle
    if not rows:
        return
    await _MARK.run(await session.connection(), [(i, d, now) for i, d in rows])
