"""Payment routes: a firm pays what a booking owes in WeChat; WeChat Pay tells us it was paid."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, get, post
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal
from vouchers.models import PaymentOrder
from vouchers.payments import orders as order_service
from vouchers.payments.gateway import WECHAT_PAY, WeChatPay
from vouchers.payments.notify import receive_notification
from vouchers.payments.sync import sync_order
from vouchers.schemas import PaymentOrderIn, PaymentOrderOut
from yixiang.db import transaction


def _pay(request: Request[Any, Any, Any]) -> WeChatPay | None:
    pay: WeChatPay | None = request.app.state.services.get(WECHAT_PAY)
    return pay


def order_out(pay: WeChatPay | None, order: PaymentOrder) -> PaymentOrderOut:
    return PaymentOrderOut(
        out_trade_no=order.out_trade_no,
        booking_id=order.booking_id,
        amount_fen=order.amount_fen,
        channel=order.channel,
        status=order.status,
        expires_at=order.expires_at,
        paid_at=order.paid_at,
        refunded_fen=order.refunded_fen,
        summary=order_service.describe(order),
        code_url=order.code_url or None,
        jsapi=order_service.client_parameters(pay, order) if pay is not None else None,
    )


class BookingPaymentController(Controller):
    path = "/api/v1/bookings"
    tags = ["vouchers"]

    @post(
        "/{booking_id:uuid}/payment-orders",
        status_code=201,
        summary="Firm: pay what the booking owes in WeChat (JSAPI) or by QR code (Native)",
    )
    async def open(
        self,
        booking_id: uuid.UUID,
        data: PaymentOrderIn,
        principal: Principal,
        db_session: AsyncSession,
        request: Request[Any, Any, Any],
    ) -> PaymentOrderOut:
        pay = _pay(request)
        order = await order_service.open_payment_order(db_session, pay, principal, booking_id, data.channel)
        return order_out(pay, order)

    @get("/{booking_id:uuid}/payment-orders", summary="The booking's payment orders, newest first")
    async def index(
        self,
        booking_id: uuid.UUID,
        principal: Principal,
        db_session: AsyncSession,
        request: Request[Any, Any, Any],
    ) -> list[PaymentOrderOut]:
        async with transaction(db_session, read_only=True):
            orders = await order_service.booking_orders(db_session, principal, booking_id)
        return [order_out(None, order) for order in orders]


class PaymentOrderController(Controller):
    path = "/api/v1/payment-orders"
    tags = ["vouchers"]

    @post(
        "/{out_trade_no:str}/check",
        status_code=200,
        summary="After paying: ask WeChat Pay now rather than wait for its notification",
    )
    async def check(
        self,
        out_trade_no: str,
        principal: Principal,
        db_session: AsyncSession,
        request: Request[Any, Any, Any],
    ) -> PaymentOrderOut:
        pay = _pay(request)
        async with transaction(db_session, read_only=True):
            order = await order_service.visible_order(db_session, principal, out_trade_no)
        if pay is not None:
            await sync_order(db_session, pay, order.id)
        async with transaction(db_session, read_only=True):
            fresh = await db_session.get(PaymentOrder, order.id, populate_existing=True)
        assert fresh is not None
        return order_out(pay, fresh)


ROUTES: list[Any] = [BookingPaymentController, PaymentOrderController, receive_notification]
