"""A payment order for what a booking's firm owes, placed with WeChat Pay for the firm to pay:
JSAPI inside WeChat (the mini-program's ``wx.requestPayment`` with the signed parameters we
return), Native for a desk (a QR code of ``code_url``).

One open order per booking and channel at a time: asking again returns it (a double tap places
nothing twice). An order whose amount no longer matches what is owed (a fee correction) is
replaced, and the sync job closes the old one at WeChat Pay. The order is recorded before it is
placed, so an order WeChat Pay took is never unknown to us, whatever fails after.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal
from accounts.models import User
from vouchers.access import require_checkout_visible
from vouchers.checkout_store import lock_checkout
from vouchers.errors import (
    NotCaptured,
    NotFirmMember,
    NothingDue,
    PaymentOrderNotFound,
    PaymentOrderPending,
    PaymentUnavailable,
    StatementNotFound,
    WeChatNotLinked,
    WeChatPayOff,
)
from vouchers.models import (
    CheckoutState,
    PaymentChannel,
    PaymentOrder,
    PaymentOrderStatus,
    VoucherCheckout,
    VoucherProgram,
)
from vouchers.payments.gateway import WeChatPay
from vouchers.rules import fen_to_yuan
from vouchers.statements import booking_number
from vouchers.wechatpay.client import PrepayOrder, WeChatPayError, WeChatPayUnavailable
from vouchers.wechatpay.signing import jsapi_parameters
from yixiang.db import transaction, utcnow
from yixiang.locking import locked

# An order about to expire is not handed out again: the firm needs time to pay it.
MIN_TIME_LEFT = timedelta(minutes=5)
# An order recorded but not yet placed (its prepay call in flight) blocks a second one this long.
PLACING_SECONDS = 30


async def open_payment_order(
    session: AsyncSession,
    pay: WeChatPay | None,
    principal: Principal,
    booking_id: uuid.UUID,
    channel: PaymentChannel,
) -> PaymentOrder:
    """The open order the firm pays now (placed with WeChat Pay if it was not yet)."""
    order = await _record_order(session, pay, principal, booking_id, channel)
    if order.prepay_id or order.code_url:
        return order
    assert pay is not None
    try:
        placed = await pay.client.prepay(
            channel.value,
            PrepayOrder(
                appid=pay.settings.appid,
                out_trade_no=order.out_trade_no,
                description=f"仪享 预约{booking_number_of(order)} 服务费",
                total_fen=order.amount_fen,
                notify_url=pay.settings.notify_url,
                expires_at=order.expires_at,
                sub_mchid=order.sub_mchid or None,
                openid=order.payer_openid or None,
                attach=str(order.booking_id),
            ),
        )
    except (WeChatPayError, WeChatPayUnavailable) as exc:
        # Refused or unanswered: the order stays recorded and open; the sync job asks WeChat Pay
        # about it and closes it when it expires (a payment that still arrives is applied).
        raise PaymentUnavailable(reason=str(exc)[:200]) from None
    async with transaction(session):
        fresh = await session.get(PaymentOrder, order.id, populate_existing=True)
        assert fresh is not None
        if channel == PaymentChannel.jsapi:
            fresh.prepay_id = placed
        else:
            fresh.code_url = placed
    return fresh


def booking_number_of(order: PaymentOrder) -> str:
    return order.out_trade_no.rsplit("-", 1)[0]


async def _record_order(
    session: AsyncSession,
    pay: WeChatPay | None,
    principal: Principal,
    booking_id: uuid.UUID,
    channel: PaymentChannel,
) -> PaymentOrder:
    async with transaction(session):
        checkout = require_checkout_visible(
            principal, found := await lock_checkout(session, booking_id), await _region(session, found)
        )
        if checkout.enterprise_id not in principal.enterprise_ids:
            raise NotFirmMember(enterprise_id=str(checkout.enterprise_id))
        if checkout.state == CheckoutState.held:
            raise NotCaptured(state=checkout.state.value)
        if checkout.due_fen <= 0:
            raise NothingDue()
        sub_mchid = pay.sub_mchid(checkout.unit_id) if pay is not None else None
        if pay is None or sub_mchid is None:
            raise WeChatPayOff()
        openid = ""
        if channel == PaymentChannel.jsapi:
            openid = (
                await session.scalar(select(User.wechat_openid).where(User.id == principal.user_id)) or ""
            )
            if not openid:
                raise WeChatNotLinked()
        now = utcnow()
        orders = (
            await session.scalars(
                locked(
                    select(PaymentOrder)
                    .where(
                        PaymentOrder.booking_id == booking_id, PaymentOrder.status == PaymentOrderStatus.open
                    )
                    .order_by(PaymentOrder.id)
                )
            )
        ).all()
        for order in orders:
            if (
                order.channel == channel
                and order.amount_fen == checkout.due_fen
                and order.payer_openid == openid
                and order.expires_at - now > MIN_TIME_LEFT
            ):
                if (
                    order.prepay_id
                    or order.code_url
                    or now - order.created_at > timedelta(seconds=PLACING_SECONDS)
                ):
                    return order  # placed (or its placing failed: it is placed again, same number)
                raise PaymentOrderPending()
        count = await session.scalar(select(func.count()).where(PaymentOrder.booking_id == booking_id))
        order = PaymentOrder(
            id=uuid.uuid4(),
            out_trade_no=f"{booking_number(checkout)}-{int(count or 0) + 1:02d}"[:32],
            booking_id=booking_id,
            enterprise_id=checkout.enterprise_id,
            unit_id=checkout.unit_id,
            amount_fen=checkout.due_fen,
            channel=channel,
            status=PaymentOrderStatus.open,
            mchid=pay.settings.mchid,
            sub_mchid=sub_mchid,
            payer_openid=openid,
            created_by=principal.user_id,
            created_at=now,
            expires_at=now + timedelta(minutes=pay.settings.order_minutes),
        )
        session.add(order)
        await session.flush()
        return order


async def _region(session: AsyncSession, checkout: VoucherCheckout | None) -> str | None:
    """The region of the programme that paid the booking's voucher share (its officers see it)."""
    if checkout is None or checkout.program_id is None:
        return None
    return await session.scalar(
        select(VoucherProgram.region_code).where(VoucherProgram.id == checkout.program_id)
    )


def client_parameters(pay: WeChatPay, order: PaymentOrder) -> dict[str, str] | None:
    """What the mini-program passes to ``wx.requestPayment`` (JSAPI orders only)."""
    if order.channel != PaymentChannel.jsapi or not order.prepay_id:
        return None
    return jsapi_parameters(pay.client.keys.private_key, appid=pay.settings.appid, prepay_id=order.prepay_id)


def describe(order: PaymentOrder) -> str:
    amount = fen_to_yuan(order.amount_fen)
    if order.status == PaymentOrderStatus.paid:
        return f"已通过微信支付 {amount} 元"
    if order.status == PaymentOrderStatus.closed:
        return "支付单已关闭"
    if order.channel == PaymentChannel.native:
        return f"请用微信扫码支付 {amount} 元"
    return f"请在微信中确认支付 {amount} 元"


def expired(order: PaymentOrder, now: datetime) -> bool:
    return order.status == PaymentOrderStatus.open and order.expires_at <= now


async def booking_orders(
    session: AsyncSession, principal: Principal, booking_id: uuid.UUID
) -> list[PaymentOrder]:
    """A booking's payment orders, newest first, for whoever may see its statement."""
    checkout = await session.get(VoucherCheckout, booking_id)
    require_checkout_visible(principal, checkout, await _region(session, checkout))
    rows = await session.scalars(
        select(PaymentOrder)
        .where(PaymentOrder.booking_id == booking_id)
        .order_by(PaymentOrder.created_at.desc())
    )
    return list(rows.all())


async def visible_order(session: AsyncSession, principal: Principal, out_trade_no: str) -> PaymentOrder:
    order = await session.scalar(select(PaymentOrder).where(PaymentOrder.out_trade_no == out_trade_no))
    if order is None:
        raise PaymentOrderNotFound()
    try:
        await booking_orders(session, principal, order.booking_id)
    except StatementNotFound:
        raise PaymentOrderNotFound() from None
    return order
