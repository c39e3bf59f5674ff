"""Long work started from a page (a search reindex, a monthly import): a record one can leave and
come back to, with its progress while it runs and its result or error after.

The record lives in the database; the running count lives in the store (``long-job:{id}``), because
the work may hold the database's write lock for its whole length (a reindex on SQLite does) and a
progress row could not be written meanwhile. The work runs as a task of the process that started
it; a record left "running" by a process that died shows as interrupted once its progress is stale.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import msgspec
from sqlalchemy import Enum, String, Text, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from yixiang.db import Base, transaction, utcnow
from yixiang.store import Store

log = logging.getLogger(__name__)

PROGRESS_TTL_SECONDS = 86_400
PROGRESS_EVERY_SECONDS = 0.5
# A running job whose progress has not moved for this long is taken as interrupted.
STALE_AFTER = timedelta(minutes=15)


class JobStatus(enum.StrEnum):
    running = "running"
    done = "done"
    failed = "failed"


class LongJob(Base):
    __tablename__ = "long_jobs"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    kind: Mapped[str] = mapped_column(String(40), index=True)
    title: Mapped[str] = mapped_column(String(200))
    status: Mapped[JobStatus] = mapped_column(
        Enum(JobStatus, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e]),
        default=JobStatus.running,
    )
    # Who may look at it besides the operator: the organisation it was started for (a unit).
    organization_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    started_by: Mapped[uuid.UUID | None]
    done: Mapped[int] = mapped_column(default=0)
    total: Mapped[int] = mapped_column(default=0)
    result: Mapped[dict[str, Any] | None]
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class Progress(msgspec.Struct):
    done: int
    total: int
    at: datetime


@dataclass(frozen=True)
class JobView:
    job: LongJob
    done: int
    total: int
    interrupted: bool

    @property
    def percent(self) -> int:
        if self.job.status == JobStatus.done:
            return 100
        return int(self.done * 100 / self.total) if self.total else 0


class JobFailed(Exception):
    """Raised by a job's work to end it with a message for the person who started it."""

    def __init__(self, message: str, result: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.result = result


ProgressReport = Callable[[int, int], None]
Work = Callable[[ProgressReport], Awaitable[dict[str, Any]]]

# The tasks running in this process (kept so they are not collected mid-run).
_running: set[asyncio.Task[None]] = set()


def _key(job_id: uuid.UUID) -> str:
    return f"long-job:{job_id}"


async def start_job(
    session_maker: async_sessionmaker[AsyncSession],
    store: Store,
    *,
    kind: str,
    title: str,
    started_by: uuid.UUID | None,
    organization_id: uuid.UUID | None,
    work: Work,
) -> uuid.UUID:
    """Record the job, start ``work`` in the background and return at once with the job's id.
    ``work`` reports its progress through the callback it is given and returns the result."""
    job_id = uuid.uuid4()
    async with session_maker() as session, transaction(session):
        session.add(
            LongJob(
                id=job_id,
                kind=kind,
                title=title,
                status=JobStatus.running,
                organization_id=organization_id,
                started_by=started_by,
            )
        )
    task = asyncio.create_task(_run(session_maker, store, job_id, work), name=f"long-job:{kind}")
    _running.add(task)
    task.add_done_callback(_running.discard)
    return job_id


async def _run(
    session_maker: async_sessionmaker[AsyncSession], store: Store, job_id: uuid.UUID, work: Work
) -> None:
    latest = Progress(0, 0, utcnow())
    written = 0.0  # when the store last got the count (monotonic seconds)
    pending: set[asyncio.Task[None]] = set()
    loop = asyncio.get_running_loop()

    def write(progress: Progress) -> None:
        task = loop.create_task(
            store.set(_key(job_id), msgspec.json.encode(progress), ttl=PROGRESS_TTL_SECONDS)
        )
        pending.add(task)
        task.add_done_callback(pending.discard)

    def report(done: int, total: int) -> None:
        # Called from inside the work's loop, perhaps many times a second (an import reports each
        # row) and perhaps from a worker thread: the store gets the count at most twice a second.
        nonlocal latest, written
        latest = Progress(done, total, utcnow())
        now = time.monotonic()
        if now - written >= PROGRESS_EVERY_SECONDS or done >= total:
            written = now
            loop.call_soon_threadsafe(write, latest)

    status, result, error = JobStatus.done, None, None
    try:
        result = await work(report)
    except JobFailed as exc:
        status, error, result = JobStatus.failed, exc.message, exc.result
    except Exception as exc:  # the record says it failed; the log keeps the trace
        log.exception("long job %s failed", job_id)
        status, error = JobStatus.failed, f"{type(exc).__name__}: {exc}"[:2000]
    if pending:
        await asyncio.gather(*pending, return_exceptions=True)
    async with session_maker() as session, transaction(session):
        job = await session.get(LongJob, job_id)
        if job is not None:
            job.status = status
            job.done, job.total = latest.done, latest.total
            job.result = result
            job.error = error
            job.finished_at = utcnow()


async def view_job(store: Store, job: LongJob) -> JobView:
    if job.status != JobStatus.running:
        return JobView(job, job.done, job.total, interrupted=False)
    raw = await store.get(_key(job.id))
    progress = msgspec.json.decode(raw, type=Progress) if raw else None
    last_moved = progress.at if progress else job.created_at
    stale = utcnow() - last_moved > STALE_AFTER
    return JobView(
        job, progress.done if progress else 0, progress.total if progress else 0, interrupted=stale
    )


async def recent_jobs(
    session: AsyncSession,
    *,
    kind: str,
    organization_ids: set[uuid.UUID] | None,
    limit: int = 10,
    started_by: uuid.UUID | None = None,
) -> list[LongJob]:
    """Newest first; ``organization_ids`` None: every organisation's (the operator);
    ``started_by``: only the jobs that person started."""
    query = select(LongJob).where(LongJob.kind == kind)
    if organization_ids is not None:
        query = query.where(LongJob.organization_id.in_(organization_ids))
    if started_by is not None:
        query = query.where(LongJob.started_by == started_by)
    rows = await session.scalars(query.order_by(LongJob.created_at.desc()).limit(limit))
    return list(rows.all())
