"""The shell's own periodic work: forget expired idempotency records and old events.

Other domains forget their own expired records on the same topic (accounts: refresh tokens).
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete

from yixiang.db import utcnow
from yixiang.domains import Domain, JobContext, PeriodicJob
from yixiang.idempotency import IdempotencyRecord
from yixiang.outbox import Event, EventStatus, OutboxEvent

HOUSEKEEPING_TOPIC = "shell.housekeeping"
DONE_EVENT_RETENTION = timedelta(days=30)


async def purge_expired(ctx: JobContext, event: Event) -> None:
    now = utcnow()
    session = ctx.session
    await session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.expires_at < now))
    # Delivered events are history once their consumers' records have served their purpose;
    # dead letters stay until someone has looked at them.
    await session.execute(
        delete(OutboxEvent).where(
            OutboxEvent.status == EventStatus.done, OutboxEvent.done_at < now - DONE_EVENT_RETENTION
        )
    )


SHELL_DOMAIN = Domain(
    name="shell",
    consumers={HOUSEKEEPING_TOPIC: [purge_expired]},
    periodic_jobs=[PeriodicJob(name="shell-housekeeping", every_seconds=3600, topic=HOUSEKEEPING_TOPIC)],
)
