"""The transactional outbox: events written in the same transaction as the change they announce.

The worker (``yixiang.worker``) drains them. A consumer's effect and its delivery mark commit
together, so an event is handled once per consumer even when a worker dies mid-job.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import BigInteger, Enum, Index, Integer, String, Text, bindparam, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from yixiang.db import Base, conflict_ignoring_inserts, utcnow
from yixiang.driver_statements import DriverStatement

BigId = BigInteger().with_variant(Integer, "sqlite")


class EventStatus(enum.StrEnum):
    pending = "pending"
    done = "done"
    dead = "dead"  # gave up after the configured attempts; kept for inspection and replay


class OutboxEvent(Base):
    __tablename__ = "outbox_events"
    # The worker's claim and the outbox lag read the pending events in run_at order; done events
    # stay for 30 days (yixiang.housekeeping), so without it each claim scans them all.
    __table_args__ = (Index("ix_outbox_events_due", "status", "run_at", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    topic: Mapped[str] = mapped_column(String(100), index=True)
    payload: Mapped[dict[str, Any]]
    # Optional de-duplication key: a second event with the same key is dropped at insert.
    key: Mapped[str | None] = mapped_column(String(200), unique=True)
    status: Mapped[EventStatus] = mapped_column(
        Enum(EventStatus, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e]),
        default=EventStatus.pending,
    )
    attempts: Mapped[int] = mapped_column(default=0)
    run_at: Mapped[datetime] = mapped_column(default=utcnow)
    locked_until: Mapped[datetime | None]
    locked_by: Mapped[str | None] = mapped_column(String(100))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    done_at: Mapped[datetime | None]


class OutboxDelivery(Base):
    """One row per (event, consumer) that completed: the consumer's idempotency record."""

    __tablename__ = "outbox_deliveries"

    event_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    consumer: Mapped[str] = mapped_column(String(255), primary_key=True)
    delivered_at: Mapped[datetime] = mapped_column(default=utcnow)


class PeriodicJobRun(Base):
    """When each periodic job runs next; claimed by a conditional update so one replica wins."""

    __tablename__ = "periodic_jobs"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    next_run_at: Mapped[datetime]
    last_run_at: Mapped[datetime | None]
    last_run_by: Mapped[str | None] = mapped_column(String(100))
    # How the last run that reached its end went (``/metrics`` shows them): its consumers' time
    # from the start of the first to the commit of the last, and whether all succeeded.
    last_finished_at: Mapped[datetime | None]
    last_duration_ms: Mapped[int | None]
    last_succeeded: Mapped[bool | None]


class Event(msgspec.Struct, frozen=True):
    id: int
    topic: str
    payload: dict[str, Any]
    attempts: int
    created_at: datetime


# Built once: every booking transition, catalogue change and rating emits one. Plain inserts on
# the session's connection, not ORM objects for the unit of work to flush; a keyed event is
# ignored when its key is taken. Left out, status, attempts, run_at and created_at take their
# columns' defaults.
_INSERT = DriverStatement(insert(OutboxEvent))
_INSERT_KEYED = {
    dialect: DriverStatement(statement)
    for dialect, statement in conflict_ignoring_inserts(OutboxEvent, ["key"]).items()
}


def _jsonable(payload: dict[str, Any]) -> dict[str, Any]:
    """Payloads may carry UUIDs and datetimes; store them as JSON-native values."""
    result: dict[str, Any] = msgspec.json.decode(msgspec.json.encode(payload))
    return result


async def emit(
    session: AsyncSession,
    topic: str,
    payload: dict[str, Any] | None = None,
    *,
    run_at: datetime | None = None,
    key: str | None = None,
) -> None:
    """Add an event to the caller's open transaction. With ``key``, a duplicate is ignored."""
    values: dict[str, Any] = {"topic": topic, "payload": _jsonable(payload or {})}
    if run_at is not None:
        values["run_at"] = run_at
    conn = await session.connection()
    if key is None:
        await _INSERT.run(conn, values)
    else:
        await _INSERT_KEYED[conn.dialect.name].run(conn, values | {"key": key})


_KEYS_TAKEN = select(OutboxEvent.key).where(OutboxEvent.key.in_(bindparam("p_keys", expanding=True)))


async def emitted_keys(session: AsyncSession, keys: list[str]) -> set[str]:
    """Which of these de-duplication keys an event already carries (to skip building it again)."""
    taken: set[str] = set()
    for first in range(0, len(keys), 500):
        rows = await session.scalars(_KEYS_TAKEN, {"p_keys": keys[first : first + 500]})
        taken.update(key for key in rows if key is not None)
    return taken
