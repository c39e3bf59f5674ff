"""The outbox consumers and periodic jobs of refunds and reconciliation (wired in vouchers.plugin).

Each commits the worker's delivery mark first (``ctx.session.commit()``) so that no transaction
stays open while WeChat Pay answers; what a crash interrupts is picked up by the next run (a
reserved refund still processing is sent again by the refund job, with the same number).
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from vouchers.errors import NotPaidByWeChat, RefundExceedsPaid
from vouchers.payments.gateway import WECHAT_PAY
from vouchers.payments.reconcile import reconcile_missing_days
from vouchers.payments.refunds import refundable_fen, request_refund, sync_refunds
from yixiang.clock import SHANGHAI, shanghai_date
from yixiang.db import utcnow
from yixiang.domains import JobContext, PeriodicJob
from yixiang.outbox import Event

log = logging.getLogger("vouchers.payments.refund_jobs")

REFUNDS_DUE = "vouchers.refunds_due"
RECONCILE_DUE = "vouchers.reconcile_due"
# Emitted by apply (vouchers/payments/apply.py) when a transaction is applied for a booking that
# owed nothing any more (paid twice: in WeChat and at the desk's QR code):
# {booking_id, out_trade_no, amount_fen}
PAYMENT_OVERPAID = "vouchers.payment_overpaid"

PERIODIC_JOBS = [
    PeriodicJob(name="vouchers-refunds", every_seconds=300, topic=REFUNDS_DUE),
    PeriodicJob(name="vouchers-reconcile", every_seconds=3600, topic=RECONCILE_DUE),
]


async def query_processing_refunds(ctx: JobContext, event: Event) -> None:
    pay = ctx.services.get(WECHAT_PAY)
    if pay is None:
        return
    await ctx.session.commit()
    await sync_refunds(ctx.session, pay, older_than=timedelta(minutes=pay.settings.refund_query_minutes))


async def reconcile_yesterday(ctx: JobContext, event: Event) -> None:
    pay = ctx.services.get(WECHAT_PAY)
    now = utcnow()
    if pay is None or now.astimezone(SHANGHAI).hour < pay.settings.bill_hour:
        return
    await ctx.session.commit()
    await reconcile_missing_days(ctx.session, pay, shanghai_date(now) - timedelta(days=1))


async def refund_overpayment(ctx: JobContext, event: Event) -> None:
    """A booking paid twice: the second payment goes back whole, from its own order — never more
    than the booking's paid orders still hold beyond what it owes (a correction may have given
    some back already)."""
    pay = ctx.services.get(WECHAT_PAY)
    if pay is None:
        log.error("payment_overpaid %s: WeChat Pay is off, nothing refunded", event.payload)
        return
    booking_id = uuid.UUID(str(event.payload["booking_id"]))
    out_trade_no = str(event.payload["out_trade_no"])
    amount = int(event.payload["amount_fen"])
    try:
        await request_refund(
            ctx.session,
            pay,
            booking_id,
            amount,
            "duplicate_payment",
            "同一预约重复支付，退还多付的款项",
            None,
            f"duplicate_payment:{out_trade_no}",
            out_trade_no=out_trade_no,
            keep_owed=True,
        )
    except (RefundExceedsPaid, NotPaidByWeChat) as exc:
        await ctx.session.rollback()
        left = await refundable_fen(ctx.session, booking_id)
        log.warning("payment_overpaid %s: %s (refundable now %d fen)", out_trade_no, exc.code, left)


CONSUMERS = {
    REFUNDS_DUE: [query_processing_refunds],
    RECONCILE_DUE: [reconcile_yesterday],
    PAYMENT_OVERPAID: [refund_overpayment],
}
