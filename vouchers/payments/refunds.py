"""Money paid back through WeChat Pay: a fee correction, a waiver, a duplicate payment.

Two steps, so no database transaction stays open while WeChat Pay answers:

1. :func:`reserve_refund`, in the caller's transaction and under the booking's checkout lock,
   records the refund as ``processing`` — never beyond what the paid orders still hold (their
   amounts minus every refund processing, succeeded or abnormal), one per idempotency key.
2. :func:`submit_refund` asks WeChat Pay, then :func:`apply_refund` records its answer. A call
   that fails leaves the refund ``processing``; the refund job (:func:`sync_refunds`) asks again
   with the same ``out_refund_no``, which WeChat Pay treats as the same refund, never a second.

:func:`apply_refund` takes a refund as WeChat Pay reports it (a notification or a query): on
SUCCESS it posts the ledger entry ``cash_refund:{out_refund_no}`` (cash_clearing − / firm_payments +)
exactly once, counts it on the order and the checkout, and tells the firm; CLOSED and ABNORMAL are
recorded for finance. Every change of a booking's refunds runs under its checkout's lock.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from vouchers.checkout_store import lock_checkout
from vouchers.errors import NotPaidByWeChat, RefundExceedsPaid
from vouchers.ledger import (
    Posting,
    cash_clearing_account,
    firm_payments_account,
    open_cash_accounts,
    post_entry,
)
from vouchers.models import (
    EntryKind,
    PaymentOrder,
    PaymentOrderStatus,
    PaymentRefund,
    RefundStatus,
    VoucherCheckout,
)
from vouchers.payments.gateway import WeChatPay
from vouchers.wechatpay.client import WeChatPayError, WeChatPayUnavailable
from vouchers.wechatpay.messages import Refund
from yixiang.db import transaction, utcnow
from yixiang.errors import InvalidInput
from yixiang.outbox import emit

log = logging.getLogger("vouchers.payments.refunds")

# To the firm's researcher who paid (the bot's notify consumers send it on WeChat):
# {user_id, booking_id, booking_code, amount_fen, cause, reason, out_refund_no, enterprise_id, unit_id}
REFUND_SUCCEEDED = "vouchers.refund_succeeded"

CAUSES = {
    "fee_correction": "费用更正",
    "waiver": "费用免除",
    "cancellation": "服务取消",
    "duplicate_payment": "重复支付",
}
# What a paid order can no longer give back: refunds on their way, done, or stuck at WeChat Pay
# (an abnormal refund left the merchant's account; finance settles it outside the platform).
RESERVED = (RefundStatus.processing, RefundStatus.succeeded, RefundStatus.abnormal)
# WeChat Pay's refusals a later attempt may get past; any other refusal closes the refund.
RETRYABLE_CODES = {"NOT_ENOUGH", "FREQUENCY_LIMITED", "SYSTEM_ERROR", "ORDER_IS_PROCESSING"}
_STATES = {
    "SUCCESS": RefundStatus.succeeded,
    "CLOSED": RefundStatus.closed,
    "ABNORMAL": RefundStatus.abnormal,
}


@dataclass(frozen=True)
class RefundRequest:
    """What the WeChat Pay call needs, read while the refund was reserved."""

    refund_id: uuid.UUID
    out_refund_no: str
    out_trade_no: str
    amount_fen: int
    total_fen: int
    reason: str
    sub_mchid: str


def new_out_refund_no() -> str:
    return f"RF{utcnow():%Y%m%d%H%M%S}{uuid.uuid4().hex[:18]}"


async def refundable_orders(session: AsyncSession, booking_id: uuid.UUID) -> list[tuple[PaymentOrder, int]]:
    """The booking's paid orders with what each can still give back (latest paid first)."""
    reserved = (
        select(PaymentRefund.order_id, func.sum(PaymentRefund.amount_fen).label("fen"))
        .where(PaymentRefund.booking_id == booking_id, PaymentRefund.status.in_(RESERVED))
        .group_by(PaymentRefund.order_id)
        .subquery()
    )
    rows = await session.execute(
        select(PaymentOrder, func.coalesce(reserved.c.fen, 0))
        .outerjoin(reserved, reserved.c.order_id == PaymentOrder.id)
        .where(PaymentOrder.booking_id == booking_id, PaymentOrder.status == PaymentOrderStatus.paid)
        .order_by(PaymentOrder.paid_at.desc(), PaymentOrder.id)
        .execution_options(populate_existing=True)
    )
    return [(order, order.amount_fen - int(fen)) for order, fen in rows.all()]


async def refundable_fen(session: AsyncSession, booking_id: uuid.UUID) -> int:
    return sum(left for _, left in await refundable_orders(session, booking_id))


async def reserved_for(session: AsyncSession, key: str) -> list[RefundRequest]:
    """The refunds made under an idempotency key (none: the key is new)."""
    rows = await session.execute(
        select(PaymentRefund, PaymentOrder)
        .join(PaymentOrder, PaymentOrder.id == PaymentRefund.order_id)
        .where(or_(PaymentRefund.key == key, PaymentRefund.key.like(f"{key}#%")))
        .order_by(PaymentRefund.key)
    )
    return [_request(refund, order) for refund, order in rows.all()]


async def reserve_refund(
    session: AsyncSession,
    booking_id: uuid.UUID,
    amount_fen: int,
    *,
    cause: str,
    reason: str,
    actor: uuid.UUID | None,
    key: str,
    out_trade_no: str | None = None,
    locked: bool = False,
    keep_owed: bool = False,
) -> list[RefundRequest]:
    """Record the refund as processing, in the caller's transaction, under the checkout lock
    (``locked``: the caller holds it already). Taken from one order (``out_trade_no``) or from the
    booking's paid orders, latest first (a refund larger than one order's remainder becomes one
    refund per order, keyed ``key``, ``key#2`` ...). ``keep_owed``: no more than the paid orders
    hold beyond what the firm owes (the fee less the voucher share), the rest being its due. The
    same key again returns the refunds it made, never new ones."""
    if cause not in CAUSES:
        raise InvalidInput("未知的退款原因", field="cause", allowed=sorted(CAUSES))
    if amount_fen <= 0:
        raise InvalidInput("退款金额必须大于 0", field="amount_fen", amount_fen=amount_fen)
    async with transaction(session):
        checkout = None if locked else await lock_checkout(session, booking_id)
        existing = await reserved_for(session, key)
        if existing:
            return existing
        orders = await refundable_orders(session, booking_id)
        if out_trade_no is not None:
            orders = [(o, left) for o, left in orders if o.out_trade_no == out_trade_no]
        if not orders:
            raise NotPaidByWeChat()
        available = sum(left for _, left in orders)
        if keep_owed:
            checkout = checkout or await session.get(VoucherCheckout, booking_id)
            owed = max(0, checkout.fee_fen - checkout.voucher_fen) if checkout is not None else 0
            beyond = max(0, await refundable_fen(session, booking_id) - owed)
            amount_fen = min(amount_fen, beyond, available)
            if amount_fen <= 0:
                raise RefundExceedsPaid(amount_fen=0, refundable_fen=0)
        if amount_fen > available:
            raise RefundExceedsPaid(amount_fen=amount_fen, refundable_fen=available)
        made: list[RefundRequest] = []
        remaining = amount_fen
        for order, left in orders:
            if remaining == 0:
                break
            part = min(left, remaining)
            if part <= 0:
                continue
            refund = PaymentRefund(
                id=uuid.uuid4(),
                out_refund_no=new_out_refund_no(),
                key=key if not made else f"{key}#{len(made) + 1}",
                order_id=order.id,
                booking_id=booking_id,
                amount_fen=part,
                cause=cause,
                reason=reason,
                status=RefundStatus.processing,
                refund_id="",
                requested_by=actor,
                requested_at=utcnow(),
            )
            session.add(refund)
            made.append(_request(refund, order))
            remaining -= part
        await session.flush()
        return made


def _request(refund: PaymentRefund, order: PaymentOrder) -> RefundRequest:
    return RefundRequest(
        refund_id=refund.id,
        out_refund_no=refund.out_refund_no,
        out_trade_no=order.out_trade_no,
        amount_fen=refund.amount_fen,
        total_fen=order.amount_fen,
        reason=f"{CAUSES.get(refund.cause, '退款')}：{refund.reason}"
        if refund.reason
        else CAUSES[refund.cause],
        sub_mchid=order.sub_mchid,
    )


async def submit_refund(session: AsyncSession, pay: WeChatPay, request: RefundRequest) -> RefundStatus:
    """Ask WeChat Pay for the refund (no transaction open) and record its answer; the refund's
    status after it (``processing`` while money is on its way or the call must be retried)."""
    try:
        answer = await pay.client.refund(
            out_trade_no=request.out_trade_no,
            out_refund_no=request.out_refund_no,
            refund_fen=request.amount_fen,
            total_fen=request.total_fen,
            reason=request.reason,
            notify_url=pay.settings.notify_url,
            sub_mchid=request.sub_mchid or None,
        )
    except WeChatPayUnavailable as exc:
        await _note_error(session, request.refund_id, str(exc), close=False)
        return RefundStatus.processing
    except WeChatPayError as exc:
        # 401/403: our merchant key or permission is wrong: fixed by an operator, then retried
        retry = exc.code in RETRYABLE_CODES or exc.status >= 500 or exc.status in (401, 403, 429)
        await _note_error(session, request.refund_id, f"{exc.code} {exc.message}", close=not retry)
        return RefundStatus.processing if retry else RefundStatus.closed
    await apply_refund(session, answer)
    async with transaction(session, read_only=True):
        status = await session.scalar(
            select(PaymentRefund.status).where(PaymentRefund.id == request.refund_id)
        )
    return status or RefundStatus.processing


async def _note_error(session: AsyncSession, refund_id: uuid.UUID, error: str, *, close: bool) -> None:
    """Record WeChat Pay's failure on a refund still processing. A refusal no retry can help
    closes it: WeChat Pay made no refund, so its amount is the order's to give back again."""
    values: dict[str, Any] = {"last_error": error[:200]}
    if close:
        values |= {"status": RefundStatus.closed, "finished_at": utcnow()}
    async with transaction(session):
        booking_id = await session.scalar(
            select(PaymentRefund.booking_id).where(PaymentRefund.id == refund_id)
        )
        if booking_id is not None:
            await lock_checkout(session, booking_id)
        await session.execute(
            update(PaymentRefund)
            .where(PaymentRefund.id == refund_id, PaymentRefund.status == RefundStatus.processing)
            .values(**values)
        )
    log.warning("refund %s: WeChat Pay answered %s%s", refund_id, error, " (closed)" if close else "")


async def request_refund(
    session: AsyncSession,
    pay: WeChatPay,
    booking_id: uuid.UUID,
    amount_fen: int,
    cause: str,
    reason: str,
    actor: uuid.UUID | None,
    key: str,
    *,
    out_trade_no: str | None = None,
    keep_owed: bool = False,
) -> list[RefundRequest]:
    """Reserve the refund (its own transaction; call it with none open) and ask WeChat Pay for it."""
    if session.in_transaction() and session.info.get("transaction_depth", 0):
        raise RuntimeError("request_refund calls WeChat Pay: call it outside a transaction")
    made = await reserve_refund(
        session,
        booking_id,
        amount_fen,
        cause=cause,
        reason=reason,
        actor=actor,
        key=key,
        out_trade_no=out_trade_no,
        keep_owed=keep_owed,
    )
    for request in made:
        await submit_refund(session, pay, request)
    return made


def _success_time(refund: Refund) -> datetime:
    try:
        moment = datetime.fromisoformat(refund.success_time)
    except ValueError:
        return utcnow()
    return moment if moment.tzinfo is not None else utcnow()


async def apply_refund(session: AsyncSession, refund: Refund) -> bool:
    """A refund as WeChat Pay reports it (a notification or a query) changes our records at most
    once: True when this call changed them. Joins the caller's transaction when one is open."""
    state = _STATES.get(refund.state)
    if state is None:  # PROCESSING: nothing new but WeChat Pay's number for it
        if refund.refund_id:
            async with transaction(session):
                await session.execute(
                    update(PaymentRefund)
                    .where(PaymentRefund.out_refund_no == refund.out_refund_no, PaymentRefund.refund_id == "")
                    .values(refund_id=refund.refund_id)
                )
        return False
    async with transaction(session):
        booking_id = await session.scalar(
            select(PaymentRefund.booking_id).where(PaymentRefund.out_refund_no == refund.out_refund_no)
        )
        if booking_id is None:
            log.warning("refund %s reported by WeChat Pay is not ours", refund.out_refund_no)
            return False
        checkout = await lock_checkout(session, booking_id)
        row = await session.scalar(
            select(PaymentRefund)
            .where(PaymentRefund.out_refund_no == refund.out_refund_no)
            .execution_options(populate_existing=True)
        )
        assert row is not None
        # processing → any end; abnormal → succeeded or closed (finance retried it at WeChat Pay)
        if row.status in (RefundStatus.succeeded, RefundStatus.closed) or row.status == state:
            return False
        row.refund_id = refund.refund_id or row.refund_id
        if state != RefundStatus.succeeded:
            row.status, row.finished_at = state, utcnow()
            await session.flush()
            log.warning("refund %s ended %s at WeChat Pay", row.out_refund_no, state.value)
            return True
        if refund.amount is not None and refund.amount.refund != row.amount_fen:
            row.status = RefundStatus.abnormal
            row.last_error = f"微信支付退款金额 {refund.amount.refund} 分与申请的 {row.amount_fen} 分不符"
            await session.flush()
            return True
        order = await session.get(PaymentOrder, row.order_id, populate_existing=True)
        assert order is not None
        await _post_cash_refund(session, row, order)
        row.status, row.finished_at, row.last_error = RefundStatus.succeeded, _success_time(refund), ""
        order.refunded_fen += row.amount_fen
        if checkout is not None:
            checkout.cash_refunded_fen += row.amount_fen
            checkout.updated_at = utcnow()
        await emit(
            session,
            REFUND_SUCCEEDED,
            {
                "user_id": str(order.created_by) if order.created_by else None,
                "booking_id": str(booking_id),
                "booking_code": _booking_code(checkout, booking_id),
                "amount_fen": row.amount_fen,
                "cause": row.cause,
                "cause_text": CAUSES.get(row.cause, "退款"),
                "reason": row.reason,
                "out_refund_no": row.out_refund_no,
                "enterprise_id": str(order.enterprise_id),
                "unit_id": str(order.unit_id),
            },
            key=f"{REFUND_SUCCEEDED}:{row.out_refund_no}",
        )
        await session.flush()
        return True


def _booking_code(checkout: VoucherCheckout | None, booking_id: uuid.UUID) -> str:
    return (checkout.booking_number if checkout is not None else "") or str(booking_id)


async def _post_cash_refund(session: AsyncSession, refund: PaymentRefund, order: PaymentOrder) -> None:
    await open_cash_accounts(session, order.unit_id)
    await post_entry(
        session,
        Posting(
            key=f"cash_refund:{refund.out_refund_no}",
            kind=EntryKind.cash_refund,
            lines=[
                (cash_clearing_account(order.unit_id), -refund.amount_fen),
                (firm_payments_account(order.unit_id), refund.amount_fen),
            ],
            booking_id=refund.booking_id,
            actor_id=refund.requested_by,
            reason=f"微信支付退款（{CAUSES.get(refund.cause, '退款')}）",
            extra={"out_refund_no": refund.out_refund_no, "out_trade_no": order.out_trade_no},
        ),
    )


async def sync_refunds(
    session: AsyncSession, pay: WeChatPay, *, older_than: timedelta, limit: int = 100
) -> int:
    """The refund job: every refund still processing a while after it was asked for is asked
    again (never sent: the same ``out_refund_no``) or queried, and its answer applied. Returns
    how many changed."""
    cutoff = utcnow() - older_than
    async with transaction(session, read_only=True):
        rows = (
            await session.execute(
                select(PaymentRefund, PaymentOrder)
                .join(PaymentOrder, PaymentOrder.id == PaymentRefund.order_id)
                .where(PaymentRefund.status == RefundStatus.processing, PaymentRefund.requested_at <= cutoff)
                .order_by(PaymentRefund.requested_at)
                .limit(limit)
            )
        ).all()
        pending = [(refund.refund_id, _request(refund, order)) for refund, order in rows]
    changed = 0
    for wechat_refund_id, request in pending:
        if not wechat_refund_id:  # WeChat Pay never answered the request: ask again, same number
            before = RefundStatus.processing
            after = await submit_refund(session, pay, request)
            changed += after != before
            continue
        try:
            answer = await pay.client.query_refund(request.out_refund_no, request.sub_mchid or None)
        except (WeChatPayError, WeChatPayUnavailable) as exc:
            log.warning("refund %s: query failed: %s", request.out_refund_no, exc)
            continue
        changed += await apply_refund(session, answer)
    return changed


async def list_refunds(
    session: AsyncSession,
    *,
    everything: bool,
    unit_ids: set[uuid.UUID],
    enterprise_ids: set[uuid.UUID],
    booking_id: uuid.UUID | None,
    status: RefundStatus | None,
    limit: int,
    offset: int,
) -> list[PaymentRefund]:
    """Refunds newest first: all of them (``everything``: finance, platform admins), else those
    of the caller's units' orders and of the caller's firms' orders."""
    query = select(PaymentRefund).join(PaymentOrder, PaymentOrder.id == PaymentRefund.order_id)
    if not everything:
        query = query.where(
            or_(
                PaymentOrder.unit_id.in_(sorted(unit_ids)),
                PaymentOrder.enterprise_id.in_(sorted(enterprise_ids)),
            )
        )
    if booking_id is not None:
        query = query.where(PaymentRefund.booking_id == booking_id)
    if status is not None:
        query = query.where(PaymentRefund.status == status)
    rows = await session.scalars(
        query.order_by(PaymentRefund.requested_at.desc(), PaymentRefund.id).limit(limit).offset(offset)
    )
    return list(rows.all())


async def refunds_by_key(session: AsyncSession, key: str) -> list[PaymentRefund]:
    rows = await session.scalars(
        select(PaymentRefund)
        .where(or_(PaymentRefund.key == key, PaymentRefund.key.like(f"{key}#%")))
        .order_by(PaymentRefund.key)
        .execution_options(populate_existing=True)
    )
    return list(rows.all())
