"""The worker: drains the outbox with retries, backoff and a dead-letter state, and runs periodic jobs.

Claiming takes a lease (``locked_until``): on PostgreSQL with ``SKIP LOCKED``
(``yixiang.locking.claim``) so replicas never take the same event; on SQLite under the database
write lock. A worker that dies mid-job
simply lets its lease run out and another worker takes the event again; consumers are idempotent
because each one's effect commits together with its delivery mark.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from yixiang.db import conflict_ignoring_inserts, insert_ignoring_conflict, utcnow
from yixiang.domains import Consumer, Domain, JobContext, PeriodicJob, consumer_name, idle_selector
from yixiang.heartbeat import Heartbeat
from yixiang.locking import claim
from yixiang.outbox import Event, EventStatus, OutboxDelivery, OutboxEvent, PeriodicJobRun, emit
from yixiang.registry import ServiceRegistry
from yixiang.settings import Settings
from yixiang.store import MemoryStore, Store

log = logging.getLogger("yixiang.worker")

MAX_BACKOFF_SECONDS = 600
# How long a worker that found fewer events than a batch waits before claiming again: a
# notification goes out at most this much later, and under load batches fill up.
BATCH_LINGER_SECONDS = 0.2

# Built once: every event runs them (SQLAlchemy then only binds the values).
_MARK_DELIVERED = conflict_ignoring_inserts(OutboxDelivery, ["event_id", "consumer"])
_MARK_DONE = (
    update(OutboxEvent)
    .where(
        OutboxEvent.id.in_(bindparam("p_ids", expanding=True)),
        OutboxEvent.locked_by == bindparam("p_worker"),
    )
    .values(status=EventStatus.done, locked_until=None, done_at=bindparam("p_now"), last_error=None)
)


def backoff_seconds(attempts: int) -> float:
    return float(min(2 ** max(attempts - 1, 0), MAX_BACKOFF_SECONDS))


class Worker:
    def __init__(
        self,
        session_maker: async_sessionmaker[AsyncSession],
        domains: Sequence[Domain],
        *,
        settings: Settings,
        store: Store | None = None,
        services: ServiceRegistry | None = None,
        name: str | None = None,
        batch_size: int = 20,
        only_topics: set[str] | None = None,
    ) -> None:
        self.session_maker = session_maker
        self.settings = settings
        self.store: Store = store if store is not None else MemoryStore()
        self.services = services if services is not None else ServiceRegistry()
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self.batch_size = batch_size
        # A worker dedicated to some topics (tests, or a replica for slow sends) claims only those.
        self.only_topics = only_topics
        self.lease = timedelta(seconds=settings.worker_lease_seconds)
        self.max_attempts = settings.worker_max_attempts
        self.consumers: dict[str, list[Consumer]] = {}
        self.periodic_jobs: list[PeriodicJob] = []
        self._jobs_registered = False
        # Set by ``yixiang worker``: the loop touches it so a liveness probe sees a hung loop.
        self.heartbeat: Heartbeat | None = None
        self._claim = self._claim_statement()
        for domain in domains:
            for topic, consumers in domain.consumers.items():
                self.consumers.setdefault(topic, []).extend(consumers)
            self.periodic_jobs.extend(domain.periodic_jobs)
        self._job_topics = {job.topic for job in self.periodic_jobs}

    # --- claiming -------------------------------------------------------------------------
    def _claim_statement(self) -> Any:
        """Lease up to a batch of due events in one statement: an UPDATE of the rows a locking
        subquery picks, returning them. Built once per worker (only the values change)."""
        now: Any = bindparam("p_now")
        due = claim(
            select(OutboxEvent.id)
            .where(
                OutboxEvent.status == EventStatus.pending,
                OutboxEvent.run_at <= now,
                or_(OutboxEvent.locked_until.is_(None), OutboxEvent.locked_until < now),
            )
            .order_by(OutboxEvent.run_at, OutboxEvent.id)
            .limit(self.batch_size)
        )
        if self.only_topics is not None:
            due = due.where(OutboxEvent.topic.in_(sorted(self.only_topics)))
        return (
            update(OutboxEvent)
            .where(OutboxEvent.id.in_(due.scalar_subquery()))
            .values(
                locked_until=bindparam("p_until"),
                locked_by=bindparam("p_worker"),
                attempts=OutboxEvent.attempts + 1,
            )
            .returning(
                OutboxEvent.id,
                OutboxEvent.topic,
                OutboxEvent.payload,
                OutboxEvent.attempts,
                OutboxEvent.created_at,
                OutboxEvent.run_at,
            )
        )

    async def claim(self) -> list[Event]:
        now = utcnow()
        async with self.session_maker() as session, session.begin():
            conn = await session.connection()
            result = await conn.execute(
                self._claim, {"p_now": now, "p_until": now + self.lease, "p_worker": self.name}
            )
            rows = result.all()
        return [
            Event(id=r.id, topic=r.topic, payload=r.payload, attempts=r.attempts, created_at=r.created_at)
            for r in sorted(rows, key=lambda r: (r.run_at, r.id))
        ]

    # --- processing -----------------------------------------------------------------------
    async def handle(self, events: Sequence[Event]) -> int:
        """Process a claimed batch; returns how many events were handled successfully."""
        to_run = await self._settle_idle(events)
        done = 0
        for event in events:
            consumers = to_run.get(event.id)
            done += True if consumers is None else await self.process(event, consumers)
        return done

    async def _settle_idle(self, events: Sequence[Event]) -> dict[int, list[Consumer]]:
        """Settle in one transaction what needs no consumer to run: the events a consumer's idle
        selector picks are marked delivered to it, and events left with no consumer are marked
        done. Returns, for each other event, the consumers still to run."""
        remaining = self._all_consumers(events)
        selective = list(
            dict.fromkeys(c for consumers in remaining.values() for c in consumers if idle_selector(c))
        )
        if not selective and all(remaining.values()):
            return remaining
        try:
            async with self.session_maker() as session, session.begin():
                ctx = JobContext(
                    session=session, settings=self.settings, store=self.store, services=self.services
                )
                marks = []
                for consumer in selective:
                    theirs = [event for event in events if consumer in remaining[event.id]]
                    idle = await idle_selector(consumer)(ctx, theirs)  # type: ignore[misc]
                    for event in theirs:
                        if event.id in idle:
                            remaining[event.id].remove(consumer)
                            marks.append({"event_id": event.id, "consumer": consumer_name(consumer)})
                settled = [event_id for event_id, consumers in remaining.items() if not consumers]
                conn = await session.connection()
                if marks:
                    await conn.execute(_MARK_DELIVERED[conn.dialect.name], marks)
                if settled:
                    await conn.execute(
                        _MARK_DONE, {"p_ids": settled, "p_worker": self.name, "p_now": utcnow()}
                    )
        except Exception:
            log.warning(
                "worker %s: settling a batch failed, running it event by event", self.name, exc_info=True
            )
            return self._all_consumers(events)
        return {event_id: consumers for event_id, consumers in remaining.items() if consumers}

    def _all_consumers(self, events: Sequence[Event]) -> dict[int, list[Consumer]]:
        return {event.id: list(self.consumers.get(event.topic, ())) for event in events}

    async def process(self, event: Event, consumers: Sequence[Consumer] | None = None) -> bool:
        """Run the event's consumers (all of them unless told which are left); True when all
        succeeded. The last consumer's transaction also marks the event done: its effect, its
        delivery mark and the event's status commit together, one commit fewer per event.

        A consumer may commit part of its work itself (``ctx.session.commit()``, e.g. a record
        made before calling a service that takes no idempotency key); its delivery mark commits
        with it. If it then fails, the mark is removed again (``_failed``) so it runs again, and
        it must recognise what it had committed (bot/notify.py)."""
        if consumers is None:
            consumers = self.consumers.get(event.topic, [])
        started = time.monotonic()
        done = await self._run_consumers(event, consumers)
        job = event.payload.get("job") if event.topic in self._job_topics else None
        if isinstance(job, str):
            await self._job_ran(job, time.monotonic() - started, succeeded=done)
        return done

    async def _run_consumers(self, event: Event, consumers: Sequence[Consumer]) -> bool:
        running: Consumer | None = None
        try:
            for consumer in consumers[:-1]:
                running = consumer
                async with self.session_maker() as session:
                    await self._deliver(session, consumer, event)
                    await session.commit()
            running = consumers[-1] if consumers else None
            async with self.session_maker() as session:
                if running is not None:
                    await self._deliver(session, running, event)
                await session.execute(
                    _MARK_DONE, {"p_ids": [event.id], "p_worker": self.name, "p_now": utcnow()}
                )
                await session.commit()
        except Exception as exc:
            await self._failed(event, exc, running)
            return False
        return True

    async def _job_ran(self, job: str, seconds: float, *, succeeded: bool) -> None:
        """Record a periodic job's run (its duration and outcome) where ``/metrics`` reads it:
        the worker is often a process of its own, and the API process serves the metrics."""
        try:
            async with self.session_maker() as session, session.begin():
                await session.execute(
                    update(PeriodicJobRun)
                    .where(PeriodicJobRun.name == job)
                    .values(
                        last_finished_at=utcnow(),
                        last_duration_ms=round(seconds * 1000),
                        last_succeeded=succeeded,
                    )
                )
        except Exception:  # the job's own outcome stands; only its figure is lost
            log.warning("worker %s: recording job %s's run failed", self.name, job, exc_info=True)

    async def _deliver(self, session: AsyncSession, consumer: Consumer, event: Event) -> None:
        # The delivery mark goes first and commits with the consumer's effect: a row already
        # there means an earlier run delivered it (the effect committed), and a concurrent run
        # of the same delivery waits on the row until this one commits or rolls back.
        conn = await session.connection()
        marked = await conn.execute(
            _MARK_DELIVERED[conn.dialect.name],
            {"event_id": event.id, "consumer": consumer_name(consumer)},
        )
        if not marked.rowcount:
            return
        ctx = JobContext(session=session, settings=self.settings, store=self.store, services=self.services)
        await consumer(ctx, event)

    async def _finish(self, event: Event, status: EventStatus, error: str | None = None) -> None:
        async with self.session_maker() as session, session.begin():
            await session.execute(
                update(OutboxEvent)
                .where(OutboxEvent.id == event.id, OutboxEvent.locked_by == self.name)
                .values(status=status, locked_until=None, done_at=utcnow(), last_error=error)
            )

    async def _failed(self, event: Event, exc: Exception, consumer: Consumer | None = None) -> None:
        error = f"{type(exc).__name__}: {exc}"[:2000]
        if event.attempts >= self.max_attempts:
            log.error(
                "event %s (%s) dead after %d attempts: %s", event.id, event.topic, event.attempts, error
            )
            await self._finish(event, EventStatus.dead, error)
            return
        delay = backoff_seconds(event.attempts)
        log.warning("event %s (%s) failed, retry in %ss: %s", event.id, event.topic, delay, error)
        async with self.session_maker() as session, session.begin():
            retried = await session.execute(
                update(OutboxEvent)
                .where(OutboxEvent.id == event.id, OutboxEvent.locked_by == self.name)
                .values(locked_until=None, run_at=utcnow() + timedelta(seconds=delay), last_error=error)
            )
            # Undelivered, even if it committed part of its work — unless another worker holds the
            # event now (our lease ran out): that worker's mark is not ours to remove.
            if consumer is not None and getattr(retried, "rowcount", 0) == 1:
                await session.execute(
                    delete(OutboxDelivery).where(
                        OutboxDelivery.event_id == event.id,
                        OutboxDelivery.consumer == consumer_name(consumer),
                    )
                )

    async def run_once(self) -> int:
        """Claim and process one batch; returns how many events were handled successfully."""
        return (await self._run_batch())[1]

    async def _run_batch(self) -> tuple[int, int]:
        """(events claimed, events handled) of one batch."""
        events = await self.claim()
        return len(events), await self.handle(events)

    async def drain(self, max_rounds: int = 10_000) -> int:
        """Process until nothing is due (tests and the CLI use this)."""
        total = 0
        for _ in range(max_rounds):
            await self.tick_periodic()
            events = await self.claim()
            if not events:
                break
            total += await self.handle(events)
        return total

    # --- periodic jobs --------------------------------------------------------------------
    async def tick_periodic(self, now: datetime | None = None) -> list[str]:
        """Emit the run event of every due periodic job this worker wins; returns their names."""
        now = now or utcnow()
        if not self._jobs_registered:  # a job's row, once: due at once if no replica made it yet
            async with self.session_maker() as session, session.begin():
                for job in self.periodic_jobs:
                    await insert_ignoring_conflict(
                        session, PeriodicJobRun, {"name": job.name, "next_run_at": now}, ["name"]
                    )
            self._jobs_registered = True
        # Which are due, in one read: a claim is a write transaction per job (on SQLite each
        # takes the database's write lock), so only the due ones, mostly none, are claimed.
        async with self.session_maker() as session:
            due = set(
                (
                    await session.scalars(
                        select(PeriodicJobRun.name).where(PeriodicJobRun.next_run_at <= now)
                    )
                ).all()
            )
        won: list[str] = []
        for job in self.periodic_jobs:
            if job.name not in due:
                continue
            async with self.session_maker() as session, session.begin():
                # The conditional update is the claim: of two replicas, one sees a row count of 1.
                result = await session.execute(
                    update(PeriodicJobRun)
                    .where(PeriodicJobRun.name == job.name, PeriodicJobRun.next_run_at <= now)
                    .values(
                        next_run_at=now + timedelta(seconds=job.every_seconds),
                        last_run_at=now,
                        last_run_by=self.name,
                    )
                )
                if getattr(result, "rowcount", 0) == 1:
                    await emit(session, job.topic, {"job": job.name, "scheduled_for": now.isoformat()})
                    won.append(job.name)
        return won

    async def run(self, stop: asyncio.Event) -> None:
        log.info("worker %s started", self.name)
        poll = self.settings.worker_poll_seconds
        loop = asyncio.get_running_loop()
        next_tick = loop.time()
        while not stop.is_set():
            try:
                if self.heartbeat is not None:
                    self.heartbeat.beat()
                # Once per poll, not once per batch: each tick costs a transaction per job.
                if loop.time() >= next_tick:
                    await self.tick_periodic()
                    next_tick = loop.time() + poll
                claimed, handled = await self._run_batch()
            except asyncio.CancelledError:
                raise
            except Exception:  # database down: keep the loop alive and retry
                log.warning("worker %s: cycle failed, retrying", self.name, exc_info=True)
                claimed = handled = 0
            # Nothing due: wait for the next poll. A short batch: linger a moment so the next
            # claim gathers several events, whose fixed costs (the claim, the idle sweep) they
            # then share, instead of paying them one event at a time under a steady trickle.
            pause = poll if handled == 0 else BATCH_LINGER_SECONDS if claimed < self.batch_size else 0
            if pause:
                try:
                    await asyncio.wait_for(stop.wait(), timeout=min(pause, poll))
                except TimeoutError:
                    pass
        log.info("worker %s stopped", self.name)
