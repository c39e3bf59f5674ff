"""Marking days of the usage roll-up stale (``oversight.rollup`` recomputes them).

Kept apart from the roll-up itself so that ingest, which writes sessions, can mark without
importing the matching of sessions to bookings (which imports ingest)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date, datetime, timedelta

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from oversight.models import StaleUsageDay
from yixiang.clock import shanghai_date
from yixiang.db import is_postgres, utcnow


def days_of(low: datetime, high: datetime) -> list[date]:
    """The Asia/Shanghai days from ``low``'s to ``high``'s, both included."""
    first, last = shanghai_date(low), shanghai_date(max(low, high))
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


async def mark_stale(session: AsyncSession, spans: Iterable[tuple[uuid.UUID, datetime, datetime]]) -> None:
    """Mark the days each ``(instrument, low, high)`` touches; a mark already there is renewed,
    so a change made while the job recomputes the day is not lost."""
    now = utcnow()
    rows = sorted(
        {(instrument_id, day) for instrument_id, low, high in spans for day in days_of(low, high)}
    )  # in key order: concurrent markers never wait on each other in a cycle
    if not rows:
        return
    statement = (postgresql.insert if is_postgres(session) else sqlite.insert)(StaleUsageDay)
    statement = statement.on_conflict_do_update(
        index_elements=["instrument_id", "day"], set_={"marked_at": statement.excluded.marked_at}
    )
    conn = await session.connection()
    await conn.execute(statement, [{"instrument_id": i, "day": d, "marked_at": now} for i, d in rows])
