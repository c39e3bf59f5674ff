"""Worker side of bookings: the periodic jobs' consumers (expiry of requests, reminders)."""

from __future__ import annotations

import logging

from booking.services import expire_overdue_requests, schedule_reminders
from yixiang.domains import JobContext
from yixiang.outbox import Event

log = logging.getLogger("booking.jobs")


async def expire_requests(ctx: JobContext, event: Event) -> None:
    expired = await expire_overdue_requests(ctx.session)
    if expired:
        log.info("expired %d booking requests past their approval deadline", len(expired))


async def send_reminders(ctx: JobContext, event: Event) -> None:
    await schedule_reminders(ctx.session)
