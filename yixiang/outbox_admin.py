"""The outbox as the platform operator watches it: counts by status, events listed and filtered,
periodic jobs' last and next runs, and a dead event put back in the queue.

A retried event starts again with a fresh count of attempts; the consumers that had already
handled it skip it (their delivery marks stay: ``yixiang.worker``), so only those that failed run.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from yixiang.db import transaction, utcnow
from yixiang.errors import Conflict, NotFound
from yixiang.outbox import EventStatus, OutboxEvent, PeriodicJobRun


class EventNotDead(Conflict):
    code = "event_not_dead"
    message = "只有已放弃的事件可以重试"


async def status_counts(session: AsyncSession) -> dict[EventStatus, int]:
    rows = await session.execute(select(OutboxEvent.status, func.count()).group_by(OutboxEvent.status))
    counts = dict.fromkeys(EventStatus, 0)
    counts.update({status: int(n) for status, n in rows.all()})
    return counts


async def list_events(
    session: AsyncSession, *, status: EventStatus | None, topic: str | None, limit: int, offset: int
) -> tuple[Sequence[OutboxEvent], int]:
    """Newest first."""
    query = select(OutboxEvent)
    if status is not None:
        query = query.where(OutboxEvent.status == status)
    if topic:
        query = query.where(OutboxEvent.topic == topic)
    total = int(await session.scalar(select(func.count()).select_from(query.subquery())) or 0)
    rows = await session.scalars(query.order_by(OutboxEvent.id.desc()).limit(limit).offset(offset))
    return rows.all(), total


async def periodic_jobs(session: AsyncSession) -> Sequence[PeriodicJobRun]:
    return (await session.scalars(select(PeriodicJobRun).order_by(PeriodicJobRun.name))).all()


async def retry_dead_event(session: AsyncSession, event_id: int) -> None:
    """A dead event back to pending, due now, with its attempts counted afresh; its last error stays
    until a try succeeds or fails again. Refused for an event that is not dead (done or still
    being tried): once is enough."""
    async with transaction(session):
        retried = await session.execute(
            update(OutboxEvent)
            .where(OutboxEvent.id == event_id, OutboxEvent.status == EventStatus.dead)
            .values(status=EventStatus.pending, attempts=0, run_at=utcnow(), locked_until=None, done_at=None)
        )
        if not getattr(retried, "rowcount", 0):
            if await session.get(OutboxEvent, event_id) is None:
                raise NotFound("没有这个事件", event_id=event_id)
            raise EventNotDead(event_id=event_id)
