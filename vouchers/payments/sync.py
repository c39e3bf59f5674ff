"""Orders WeChat Pay has not told us about: asked about, and closed when they expire.

A notification can be lost (our service was down for longer than WeChat Pay retries) and a firm
may leave the payment sheet open: every open order not heard of for ``QUIET`` is queried; a paid
one is applied like a notification; one past its expiry, or replaced by an order of another
amount, is closed at WeChat Pay so it can no longer be paid, then here.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from vouchers.models import PaymentOrder, PaymentOrderStatus, VoucherCheckout
from vouchers.payments.apply import apply_transaction
from vouchers.payments.gateway import WeChatPay
from vouchers.wechatpay.client import WeChatPayError, WeChatPayUnavailable
from yixiang.db import transaction, utcnow

log = logging.getLogger("vouchers.payments")

QUIET = timedelta(seconds=60)  # an order this old with no news is asked about
BATCH = 200


async def sync_order(session: AsyncSession, pay: WeChatPay, order_id: uuid.UUID) -> PaymentOrderStatus:
    """Ask WeChat Pay about one order and apply the answer; close it if it should no longer be paid.
    No transaction is held while WeChat Pay answers."""
    async with transaction(session, read_only=True):
        order = await session.get(PaymentOrder, order_id, populate_existing=True)
        assert order is not None
        due = await session.scalar(
            select(VoucherCheckout.due_fen).where(VoucherCheckout.booking_id == order.booking_id)
        )
        out_trade_no, sub_mchid, amount, expires_at = (
            order.out_trade_no,
            order.sub_mchid or None,
            order.amount_fen,
            order.expires_at,
        )
    if order.status != PaymentOrderStatus.open:
        return order.status
    try:
        txn = await pay.client.query(out_trade_no, sub_mchid)
    except WeChatPayError as exc:
        if exc.code != "ORDER_NOT_EXIST":
            raise
        txn = None  # its placing never reached WeChat Pay: nothing can be paid on it
    async with transaction(session):
        if txn is not None:
            await apply_transaction(session, txn)
        fresh = await session.get(PaymentOrder, order_id, populate_existing=True)
        assert fresh is not None
        fresh.last_queried_at = utcnow()
        if fresh.status != PaymentOrderStatus.open:
            return fresh.status
        stale = expires_at <= utcnow() or due != amount
    if not stale:
        return PaymentOrderStatus.open
    if txn is not None:
        try:
            await pay.client.close(out_trade_no, sub_mchid)
        except WeChatPayError as exc:
            if exc.code != "ORDERPAID":
                raise
            paid = await pay.client.query(out_trade_no, sub_mchid)  # paid just now: apply it
            async with transaction(session):
                await apply_transaction(session, paid)
    async with transaction(session):
        # Closed at WeChat Pay: a payment that raced the close was applied above, or is refused.
        fresh = await session.get(PaymentOrder, order_id, populate_existing=True)
        assert fresh is not None
        if fresh.status == PaymentOrderStatus.open:
            fresh.status, fresh.closed_at = PaymentOrderStatus.closed, utcnow()
        return fresh.status


async def sync_open_orders(session: AsyncSession, pay: WeChatPay) -> int:
    """The periodic job: every open order quiet for a while; returns how many were asked about."""
    now = utcnow()
    async with transaction(session, read_only=True):
        ids = (
            await session.scalars(
                select(PaymentOrder.id)
                .where(
                    PaymentOrder.status == PaymentOrderStatus.open,
                    PaymentOrder.created_at <= now - QUIET,
                    or_(PaymentOrder.last_queried_at.is_(None), PaymentOrder.last_queried_at <= now - QUIET),
                )
                .order_by(PaymentOrder.created_at)
                .limit(BATCH)
            )
        ).all()
    for order_id in ids:
        try:
            await sync_order(session, pay, order_id)
        except (WeChatPayError, WeChatPayUnavailable) as exc:
            log.warning("payment order %s not synced: %s", order_id, exc)
    return len(ids)
