"""The outbox and the worker: events survive a dead worker, reach each consumer once, retry with
backoff, end in the dead-letter state, and periodic jobs run once across replicas."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import timedelta

import msgspec
import pytest
from sqlalchemy import select, text

from yixiang.db import utcnow
from yixiang.domains import Domain, JobContext, PeriodicJob, idle_when
from yixiang.outbox import Event, EventStatus, OutboxDelivery, OutboxEvent, PeriodicJobRun, emit
from yixiang.worker import Worker


@pytest.fixture
async def effects(backend):
    """A real table where a test consumer records its committed effects."""
    async with backend.runtime.session_maker() as session, session.begin():
        await session.execute(
            text("CREATE TABLE IF NOT EXISTS test_effects (event_id BIGINT, topic VARCHAR(100))")
        )
    return backend


def make_worker(
    backend, domain: Domain, *, lease: float = 30.0, max_attempts: int = 8, topics=None
) -> Worker:
    settings = msgspec.structs.replace(
        backend.settings, worker_lease_seconds=lease, worker_max_attempts=max_attempts
    )
    return Worker(
        backend.runtime.session_maker,
        [domain],
        settings=settings,
        only_topics=topics if topics is not None else set(domain.consumers),
    )


async def record_effect(ctx: JobContext, event: Event) -> None:
    await ctx.session.execute(
        text("INSERT INTO test_effects (event_id, topic) VALUES (:id, :topic)"),
        {"id": event.id, "topic": event.topic},
    )


async def effect_count(backend, topic: str) -> int:
    async with backend.runtime.session_maker() as session:
        return int(
            await session.scalar(text("SELECT count(*) FROM test_effects WHERE topic = :t"), {"t": topic})
        )


async def event_row(backend, topic: str) -> OutboxEvent:
    async with backend.runtime.session_maker() as session:
        row = await session.scalar(select(OutboxEvent).where(OutboxEvent.topic == topic))
        assert row is not None
        return row


async def emit_one(backend, topic: str, **kw) -> None:
    async with backend.runtime.session_maker() as session, session.begin():
        await emit(session, topic, {"hello": "世界", "id": uuid.uuid4()}, **kw)


async def test_an_event_is_not_written_when_its_transaction_rolls_back(effects):
    topic = f"test.rollback.{uuid.uuid4().hex}"
    with pytest.raises(RuntimeError):
        async with effects.runtime.session_maker() as session, session.begin():
            await emit(session, topic, {})
            raise RuntimeError("the change failed")
    async with effects.runtime.session_maker() as session:
        assert await session.scalar(select(OutboxEvent).where(OutboxEvent.topic == topic)) is None


async def test_event_survives_a_worker_killed_mid_job_and_is_delivered_once(effects):
    topic = f"test.kill.{uuid.uuid4().hex}"
    entered = asyncio.Event()
    calls = 0

    async def consumer(ctx: JobContext, event: Event) -> None:
        nonlocal calls
        calls += 1
        await record_effect(ctx, event)
        if calls == 1:
            entered.set()
            await asyncio.sleep(3600)  # the first worker dies here, effect not yet committed

    domain = Domain(name="test", consumers={topic: [consumer]})
    await emit_one(effects, topic)

    doomed = make_worker(effects, domain, lease=0.5)
    stop = asyncio.Event()
    task = asyncio.create_task(doomed.run(stop))
    await asyncio.wait_for(entered.wait(), timeout=10)
    task.cancel()  # the process dies: no commit, no "done"
    with pytest.raises(asyncio.CancelledError):
        await task

    row = await event_row(effects, topic)
    assert row.status == EventStatus.pending
    assert await effect_count(effects, topic) == 0

    survivor = make_worker(effects, domain, lease=0.5)
    assert await survivor.run_once() == 0  # the dead worker's lease still holds
    await asyncio.sleep(0.6)
    assert await survivor.run_once() == 1
    assert calls == 2
    assert await effect_count(effects, topic) == 1
    row = await event_row(effects, topic)
    assert row.status == EventStatus.done
    assert row.attempts == 2

    # a late duplicate delivery (e.g. the lease expired while the first worker was merely slow)
    # is recognised by the delivery record and changes nothing
    await survivor.process(Event(id=row.id, topic=topic, payload={}, attempts=3, created_at=row.created_at))
    assert await effect_count(effects, topic) == 1


async def test_failures_retry_with_backoff_then_go_to_the_dead_letter_state(effects):
    topic = f"test.fail.{uuid.uuid4().hex}"

    async def always_fails(ctx: JobContext, event: Event) -> None:
        raise ValueError("WeChat said no")

    worker = make_worker(effects, Domain(name="test", consumers={topic: [always_fails]}), max_attempts=2)
    await emit_one(effects, topic)
    assert await worker.run_once() == 0
    row = await event_row(effects, topic)
    assert row.status == EventStatus.pending
    assert row.attempts == 1
    assert "WeChat said no" in (row.last_error or "")
    assert row.run_at > utcnow()  # backed off
    assert await worker.run_once() == 0  # not due yet

    async with effects.runtime.session_maker() as session, session.begin():
        db_row = await session.get(OutboxEvent, row.id)
        assert db_row is not None
        db_row.run_at = utcnow() - timedelta(seconds=1)
    await worker.run_once()
    row = await event_row(effects, topic)
    assert row.status == EventStatus.dead
    assert row.attempts == 2


async def test_events_with_the_same_key_are_emitted_once(effects):
    topic = f"test.key.{uuid.uuid4().hex}"
    key = f"reminder:{uuid.uuid4()}"
    await emit_one(effects, topic, key=key)
    await emit_one(effects, topic, key=key)
    worker = make_worker(effects, Domain(name="test", consumers={topic: [record_effect]}))
    assert await worker.drain() == 1
    assert await effect_count(effects, topic) == 1


async def test_delayed_events_wait_for_their_time(effects):
    topic = f"test.delay.{uuid.uuid4().hex}"
    await emit_one(effects, topic, run_at=utcnow() + timedelta(seconds=0.5))
    worker = make_worker(effects, Domain(name="test", consumers={topic: [record_effect]}))
    assert await worker.run_once() == 0
    await asyncio.sleep(0.6)
    assert await worker.run_once() == 1


async def test_a_periodic_job_runs_once_across_two_workers(effects):
    name = f"test-job-{uuid.uuid4().hex[:8]}"
    topic = f"test.periodic.{name}"
    domain = Domain(
        name="test",
        consumers={topic: [record_effect]},
        periodic_jobs=[PeriodicJob(name=name, every_seconds=3600, topic=topic)],
    )
    first, second = make_worker(effects, domain), make_worker(effects, domain)
    now = utcnow()
    # both replicas wake at the same moment, several times over
    results = await asyncio.gather(*[w.tick_periodic(now) for w in (first, second) for _ in range(5)])
    assert sum(len(r) for r in results) == 1
    await asyncio.gather(first.drain(), second.drain())
    assert await effect_count(effects, topic) == 1
    # an hour later it is due again, and again exactly one replica runs it
    later = now + timedelta(seconds=3601)
    results = await asyncio.gather(first.tick_periodic(later), second.tick_periodic(later))
    assert sum(len(r) for r in results) == 1


def job_figure(metrics_text: str, name: str, job: str) -> float | None:
    found = re.search(rf'^{name}\{{job="{re.escape(job)}"\}} ([0-9.e+-]+)$', metrics_text, re.M)
    return float(found.group(1)) if found else None


async def test_metrics_show_each_jobs_last_run_its_failure_and_a_job_no_worker_runs(effects):
    """An operator reads from /metrics how long each periodic job took, whether it failed, and
    which one is waiting for a worker — whichever process ran it (the run is in the database)."""
    slow, broken, orphan = (f"test-{kind}-{uuid.uuid4().hex[:8]}" for kind in ("slow", "broken", "orphan"))

    async def takes_a_while(ctx: JobContext, event: Event) -> None:
        await asyncio.sleep(0.2)

    async def fails(ctx: JobContext, event: Event) -> None:
        raise RuntimeError("the bank's server did not answer")

    domain = Domain(
        name="test",
        consumers={f"test.{slow}": [takes_a_while], f"test.{broken}": [fails]},
        periodic_jobs=[
            PeriodicJob(name=slow, every_seconds=3600, topic=f"test.{slow}"),
            PeriodicJob(name=broken, every_seconds=3600, topic=f"test.{broken}"),
        ],
    )
    worker = make_worker(effects, domain)
    await worker.tick_periodic()
    await worker.drain()
    async with effects.runtime.session_maker() as session, session.begin():  # registered, never run
        session.add(PeriodicJobRun(name=orphan, next_run_at=utcnow() - timedelta(minutes=10)))

    metrics = (await effects.client.get("/metrics")).text
    took = job_figure(metrics, "yixiang_job_last_duration_seconds", slow)
    assert took is not None and 0.2 <= took < 5, metrics
    assert job_figure(metrics, "yixiang_job_last_run_failed", slow) == 0
    assert job_figure(metrics, "yixiang_job_last_run_failed", broken) == 1
    finished = job_figure(metrics, "yixiang_job_last_finished_timestamp_seconds", slow)
    assert finished is not None and abs(finished - utcnow().timestamp()) < 60
    assert job_figure(metrics, "yixiang_job_last_duration_seconds", orphan) is None  # never ran
    overdue = job_figure(metrics, "yixiang_job_overdue_seconds", orphan)
    assert overdue is not None and 590 <= overdue < 700
    assert job_figure(metrics, "yixiang_job_overdue_seconds", slow) == 0  # next run an hour away


def outbox_lag(metrics_text: str) -> float:
    found = re.search(r"^yixiang_outbox_lag_seconds ([0-9.e+-]+)$", metrics_text, re.M)
    assert found, metrics_text
    return float(found.group(1))


async def test_the_outbox_lag_counts_due_events_not_ones_scheduled_for_later(effects):
    """An operator alerted on the outbox's lag is not woken by an event that waits for its time
    (a retry's back-off, a job's next run), however long ago it was written; a due one that
    nobody handles is late from its time on."""
    written = utcnow() - timedelta(hours=3)
    scheduled = OutboxEvent(topic=f"test.later.{uuid.uuid4().hex}", payload={}, created_at=written)
    scheduled.run_at = utcnow() + timedelta(hours=1)
    async with effects.runtime.session_maker() as session, session.begin():
        session.add(scheduled)
    assert outbox_lag((await effects.client.get("/metrics")).text) < 3 * 3600 - 60

    late = OutboxEvent(topic=f"test.late.{uuid.uuid4().hex}", payload={}, created_at=written)
    late.run_at = utcnow() - timedelta(hours=2)
    async with effects.runtime.session_maker() as session, session.begin():
        session.add(late)
    try:
        assert 2 * 3600 - 60 < outbox_lag((await effects.client.get("/metrics")).text) < 2 * 3600 + 600
    finally:
        async with effects.runtime.session_maker() as session, session.begin():
            for event in (scheduled, late):
                await session.delete(await session.get(OutboxEvent, event.id))


async def test_two_workers_draining_together_deliver_each_event_once(effects):
    topic = f"test.parallel.{uuid.uuid4().hex}"
    async with effects.runtime.session_maker() as session, session.begin():
        for _ in range(40):
            await emit(session, topic, {})
    domain = Domain(name="test", consumers={topic: [record_effect]})
    workers = [make_worker(effects, domain) for _ in range(3)]
    await asyncio.gather(*[w.drain() for w in workers])
    assert await effect_count(effects, topic) == 40


async def emit_many(backend, topic: str, payloads: list[dict]) -> list[int]:
    async with backend.runtime.session_maker() as session, session.begin():
        for payload in payloads:
            await emit(session, topic, payload)
    async with backend.runtime.session_maker() as session:
        return list(
            (
                await session.scalars(
                    select(OutboxEvent.id).where(OutboxEvent.topic == topic).order_by(OutboxEvent.id)
                )
            ).all()
        )


async def test_events_a_consumer_has_nothing_to_do_for_are_settled_without_running_it(effects):
    topic = f"test.idle.{uuid.uuid4().hex}"
    ran: list[int] = []

    async def only_wanted(ctx: JobContext, events) -> set[int]:
        return {event.id for event in events if not event.payload["wanted"]}

    @idle_when(only_wanted)
    async def selective(ctx: JobContext, event: Event) -> None:
        ran.append(event.id)
        await record_effect(ctx, event)

    always: list[int] = []

    async def plain(ctx: JobContext, event: Event) -> None:
        always.append(event.id)

    ids = await emit_many(effects, topic, [{"wanted": i % 3 == 0} for i in range(9)])
    worker = make_worker(effects, Domain(name="test", consumers={topic: [selective, plain]}))
    assert await worker.drain() == 9
    assert ran == ids[::3] and await effect_count(effects, topic) == 3
    assert always == ids  # a consumer without a selector still sees every event
    async with effects.runtime.session_maker() as session:
        statuses = (await session.scalars(select(OutboxEvent.status).where(OutboxEvent.id.in_(ids)))).all()
        assert set(statuses) == {EventStatus.done}
        marks = (
            await session.scalars(select(OutboxDelivery.event_id).where(OutboxDelivery.event_id.in_(ids)))
        ).all()
        assert sorted(marks) == sorted(ids + ids)  # every (event, consumer) delivered once

    # the settled deliveries are recorded: running the event again (a replay) runs nothing
    idle_event = Event(id=ids[1], topic=topic, payload={"wanted": False}, attempts=2, created_at=utcnow())
    assert await worker.process(idle_event)
    assert ran == ids[::3] and always == ids


async def test_events_only_idle_consumers_want_are_marked_done_in_one_go(effects):
    topic = f"test.all-idle.{uuid.uuid4().hex}"

    async def none_wanted(ctx: JobContext, events) -> set[int]:
        return {event.id for event in events}

    @idle_when(none_wanted)
    async def never_needed(ctx: JobContext, event: Event) -> None:
        raise AssertionError("the selector said there is nothing to do")

    ids = await emit_many(effects, topic, [{} for _ in range(5)])
    worker = make_worker(effects, Domain(name="test", consumers={topic: [never_needed]}))
    assert await worker.run_once() == 5
    async with effects.runtime.session_maker() as session:
        rows = (await session.scalars(select(OutboxEvent).where(OutboxEvent.id.in_(ids)))).all()
        assert {(r.status, r.locked_until, r.done_at is not None) for r in rows} == {
            (EventStatus.done, None, True)
        }


async def test_a_failing_selector_leaves_the_batch_to_its_consumers(effects):
    topic = f"test.bad-selector.{uuid.uuid4().hex}"

    async def broken(ctx: JobContext, events) -> set[int]:
        raise RuntimeError("the selector's query failed")

    @idle_when(broken)
    async def consumer(ctx: JobContext, event: Event) -> None:
        await record_effect(ctx, event)

    await emit_many(effects, topic, [{} for _ in range(3)])
    worker = make_worker(effects, Domain(name="test", consumers={topic: [consumer]}))
    assert await worker.drain() == 3
    assert await effect_count(effects, topic) == 3


async def test_housekeeping_forgets_expired_idempotency_records(backend, client, login):
    from yixiang.housekeeping import HOUSEKEEPING_TOPIC
    from yixiang.idempotency import IdempotencyRecord

    async with backend.runtime.session_maker() as session, session.begin():
        session.add(
            IdempotencyRecord(
                scope_key=uuid.uuid4().hex,
                request_hash="x",
                completed=True,
                expires_at=utcnow() - timedelta(seconds=1),
            )
        )
    async with backend.runtime.session_maker() as session, session.begin():
        await emit(session, HOUSEKEEPING_TOPIC, {})
    await backend.runtime.worker().drain()
    async with backend.runtime.session_maker() as session:
        expired = await session.scalar(
            select(IdempotencyRecord).where(IdempotencyRecord.expires_at < utcnow())
        )
    assert expired is None


async def test_nested_transactions_commit_once_at_the_outermost_block(backend):
    from yixiang.db import transaction

    topic = f"test.nested.{uuid.uuid4().hex}"
    with pytest.raises(RuntimeError):
        async with backend.runtime.session_maker() as session, transaction(session):
            async with transaction(session):
                await emit(session, topic, {})  # an inner service's change...
            raise RuntimeError("...and the outer one fails afterwards")
    async with backend.runtime.session_maker() as session:
        assert await session.scalar(select(OutboxEvent).where(OutboxEvent.topic == topic)) is None
