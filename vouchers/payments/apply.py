"""A transaction WeChat Pay reports paid becomes the firm's payment, exactly once.

It may be reported many times and at once (the notification repeats; the sync job and the
firm's "I have paid" query ask too): the checkout is locked, then the order, and an order already
paid changes nothing. Money WeChat Pay took is always recorded, even for an order we had closed
or replaced; what the booking no longer owed is refunded (``PAYMENT_OVERPAID``).
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from vouchers.checkout import within_caller_transaction
from vouchers.checkout_store import store_evidence
from vouchers.errors import PaymentOrderNotFound
from vouchers.ledger import (
    Posting,
    cash_clearing_account,
    firm_payments_account,
    open_cash_accounts,
    post_entry,
)
from vouchers.models import EntryKind, PaymentMethod, PaymentOrder, PaymentOrderStatus, VoucherCheckout
from vouchers.statements import PAYMENT_RECEIVED
from vouchers.wechatpay.messages import Transaction
from yixiang.db import utcnow
from yixiang.errors import Conflict
from yixiang.locking import locked
from yixiang.outbox import emit

log = logging.getLogger("vouchers.payments")

# Paid for a booking that owed less (paid twice, or the fee was corrected meanwhile):
# {booking_id, out_trade_no, amount_fen} — the refunds module pays it back.
PAYMENT_OVERPAID = "vouchers.payment_overpaid"


class PaymentMismatch(Conflict):
    code = "payment_mismatch"
    message = "微信支付报告的订单与平台记录不符"


def _paid_at(txn: Transaction) -> datetime:
    try:
        return datetime.fromisoformat(txn.success_time)
    except ValueError:
        return utcnow()


async def apply_transaction(session: AsyncSession, txn: Transaction) -> bool:
    """Apply what WeChat Pay says of an order; True when it changed something."""
    async with within_caller_transaction(session):
        # The booking's checkout first, then the order (the lock order), one round trip each.
        booking = select(PaymentOrder.booking_id).where(PaymentOrder.out_trade_no == txn.out_trade_no)
        checkout = await session.scalar(
            locked(
                select(VoucherCheckout).where(VoucherCheckout.booking_id == booking.scalar_subquery())
            ).execution_options(populate_existing=True)
        )
        if checkout is None:
            raise PaymentOrderNotFound(out_trade_no=txn.out_trade_no)
        order = await session.scalar(
            locked(
                select(PaymentOrder).where(PaymentOrder.out_trade_no == txn.out_trade_no)
            ).execution_options(populate_existing=True)
        )
        assert order is not None
        if not txn.paid:
            if txn.trade_state in ("CLOSED", "REVOKED") and order.status == PaymentOrderStatus.open:
                order.status, order.closed_at = PaymentOrderStatus.closed, utcnow()
                return True
            return False
        if order.status == PaymentOrderStatus.paid:
            return False
        amount = txn.amount.total if txn.amount is not None else None
        if amount != order.amount_fen or (txn.sub_mchid or "") != order.sub_mchid:
            log.error(
                "WeChat Pay reports order %s paid with %s fen to %r; we placed %s fen to %r: not applied",
                order.out_trade_no,
                amount,
                txn.sub_mchid,
                order.amount_fen,
                order.sub_mchid,
            )
            raise PaymentMismatch(out_trade_no=order.out_trade_no)
        paid_at = _paid_at(txn)
        order.status, order.paid_at, order.closed_at = PaymentOrderStatus.paid, paid_at, None
        order.transaction_id = txn.transaction_id or None
        await open_cash_accounts(session, order.unit_id)
        await post_entry(
            session,
            Posting(
                key=f"payment:{order.out_trade_no}",
                kind=EntryKind.payment,
                lines=[
                    (cash_clearing_account(order.unit_id), order.amount_fen),
                    (firm_payments_account(order.unit_id), -order.amount_fen),
                ],
                booking_id=order.booking_id,
                reason=f"微信支付（{order.transaction_id or order.out_trade_no}）",
            ),
        )
        owed = min(checkout.due_fen, order.amount_fen)
        checkout.paid_fen += order.amount_fen
        checkout.due_fen -= owed
        checkout.updated_at = utcnow()
        if owed:
            checkout.payment_method = PaymentMethod.wechat_pay
            checkout.payment_received_at = paid_at
            checkout.payment_reference = order.transaction_id or order.out_trade_no
            detail = {
                "method": "wechat_pay",
                "paid_fen": checkout.paid_fen,
                "reference": checkout.payment_reference,
            }
            await store_evidence(session, order.booking_id, "payment", paid_at, detail)
        if checkout.due_fen == 0 and owed:
            await emit(
                session,
                PAYMENT_RECEIVED,
                {
                    "booking_id": order.booking_id,
                    "paid_fen": checkout.paid_fen,
                    "reference": checkout.payment_reference,
                },
            )
        if order.amount_fen > owed:
            await emit(
                session,
                PAYMENT_OVERPAID,
                {
                    "booking_id": order.booking_id,
                    "out_trade_no": order.out_trade_no,
                    "amount_fen": order.amount_fen - owed,
                },
            )
        await session.flush()
        return True
