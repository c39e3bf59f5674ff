"""Worker side of bookings: the periodic jobs' consumers (expiry of requests, reminders), and
what booking does on other domains' events (a payment recorded, a fee corrected by vouchers)."""

from __future__ import annotations

import logging
import uuid

from booking.services import expire_overdue_requests, schedule_reminders
from booking.voucher_share import on_fee_corrected, on_payment_received
from booking.waitlist import tend_waiting_lists
from yixiang.domains import JobContext
from yixiang.outbox import Event

log = logging.getLogger("booking.jobs")


async def expire_requests(ctx: JobContext, event: Event) -> None:
    expired = await expire_overdue_requests(ctx.session)
    if expired:
        log.info("expired %d booking requests past their approval deadline", len(expired))


async def send_reminders(ctx: JobContext, event: Event) -> None:
    await schedule_reminders(ctx.session)


async def settle_amount_due(ctx: JobContext, event: Event) -> None:
    await on_payment_received(ctx.session, uuid.UUID(str(event.payload["booking_id"])))


async def show_corrected_fee(ctx: JobContext, event: Event) -> None:
    await on_fee_corrected(ctx.session, uuid.UUID(str(event.payload["booking_id"])), event.payload)


async def offer_waiting_lists(ctx: JobContext, event: Event) -> None:
    made = await tend_waiting_lists(ctx.session)
    if made:
        log.info("offered freed machine time to %d researchers on waiting lists", made)
