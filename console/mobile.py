"""The firm's phone page for paying a booking's bill, the one the bot links to
(``{YIXIANG_WECHAT_H5_BASE_URL}/bookings/{id}/pay`` with the base at ``https://host/console/m``).

375 px wide, no framework, nothing from another host. In WeChat's own browser the 微信支付 button
opens a JSAPI order and hands its signed parameters to ``WeixinJSBridge`` (built into that
browser); outside WeChat the page offers a Native order's QR code, drawn here as SVG. Either way
the page then asks the server to check the order with WeChat Pay (``sync_order``, as the API's
check route does) instead of waiting for the notification.

Sign-in is the console's own session: WeChat's web authorisation inside WeChat, the password form
elsewhere (``console.phone``). Every rule is the payment services': ``open_payment_order`` (who
may pay, how much, one open order per channel), ``visible_order`` + ``sync_order``.
"""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request, Response, get, post
from litestar.response import Redirect, Template
from markupsafe import Markup
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal, requires_user
from booking.models import Booking
from console.pages import act, render
from vouchers import statements as statement_service
from vouchers.errors import NotFirmMember
from vouchers.evidence import rating_window
from vouchers.models import PaymentChannel, PaymentOrder, PaymentOrderStatus, VoucherCheckout
from vouchers.payments import orders as order_service
from vouchers.payments.gateway import WECHAT_PAY, WeChatPay
from vouchers.payments.sync import sync_order
from yixiang.db import transaction, utcnow
from yixiang.errors import DomainError, InvalidInput

UNITS = {"minute": "分钟", "sample": "个样品", "item": "项"}
RATES = {"internal": "校内价", "external": "校外价"}


def qr_svg(code_url: str) -> Markup:
    """The Native order's ``code_url`` as an inline SVG QR code (WeChat scans it to pay)."""
    import segno  # only where a desktop payment page is drawn, not in every API process

    return Markup(segno.make(code_url, error="m").svg_inline(scale=5, title="微信扫码支付"))


def billing_basis(booking: Booking | None) -> list[str]:
    """How the fee was reckoned, one sentence per line of the booking's fee (its fee standard)."""
    if booking is None:
        return []
    said = []
    for line in (booking.fee_breakdown or {}).get("lines", []):
        unit_price = int(line.get("unit_price_fen", 0))
        per = (
            "小时" if line.get("quantity_unit") == "minute" else UNITS.get(str(line.get("quantity_unit")), "")
        )
        said.append(
            f"{line.get('name', '')}：{RATES.get(str(line.get('rate')), str(line.get('rate', '')))} "
            f"{unit_price // 100}.{unit_price % 100:02d} 元/{per}"
        )
    return said


def open_native_order(orders: list[PaymentOrder], due_fen: int) -> PaymentOrder | None:
    """The placed, unexpired Native order for what is owed now (its QR code is worth showing)."""
    now = utcnow()
    for order in orders:
        if (
            order.channel == PaymentChannel.native
            and order.status == PaymentOrderStatus.open
            and order.code_url
            and order.amount_fen == due_fen
            and not order_service.expired(order, now)
        ):
            return order
    return None


async def _payers_orders(
    session: AsyncSession, principal: Principal, booking_id: uuid.UUID
) -> list[PaymentOrder]:
    """The booking's orders, for a member of its firm: a booking the caller may not see is not
    there (404); one it sees but is not the firm's (the unit's staff, a bureau) is refused (403)."""
    orders = await order_service.booking_orders(session, principal, booking_id)
    checkout = await session.get(VoucherCheckout, booking_id)
    if checkout is None or checkout.enterprise_id not in principal.enterprise_ids:
        raise NotFirmMember(enterprise_id=str(checkout.enterprise_id if checkout else ""))
    return orders


def wechat_pay(request: Request[Any, Any, Any]) -> WeChatPay | None:
    pay: WeChatPay | None = request.app.state.services.get(WECHAT_PAY)
    return pay


def _page(booking_id: uuid.UUID) -> str:
    return f"/console/m/bookings/{booking_id}/pay"


@get(
    "/m/bookings/{booking_id:uuid}/pay",
    summary="Phone: the firm's bill and its WeChat Pay",
    guards=[requires_user],
)
async def pay_page(
    request: Request[Any, Any, Any], booking_id: uuid.UUID, principal: Principal, db_session: AsyncSession
) -> Template:
    async with transaction(db_session, read_only=True):
        bill = await statement_service.statement(
            db_session, principal, booking_id, rating_window=rating_window(request.app.state)
        )
        orders = await _payers_orders(db_session, principal, booking_id)
        booking = await db_session.get(Booking, booking_id)
    native = open_native_order(orders, bill.due_fen)
    return render(
        request,
        "mobile_pay.html",
        bill=bill,
        basis=billing_basis(booking),
        paid=bill.due_fen == 0 and bill.paid_fen > 0,
        native=native,
        qr=qr_svg(native.code_url) if native else None,
        wechat_pay=wechat_pay(request) is not None,
    )


@post(
    "/m/bookings/{booking_id:uuid}/pay/{channel:str}",
    summary="Phone: open the payment order (jsapi: its signed parameters; native: its QR code)",
    guards=[requires_user],
    status_code=200,
)
async def open_order(
    request: Request[Any, Any, Any],
    booking_id: uuid.UUID,
    channel: str,
    principal: Principal,
    db_session: AsyncSession,
) -> Response[Any] | Redirect:
    try:
        chosen = PaymentChannel(channel)
    except ValueError:
        raise InvalidInput("支付方式只能是 jsapi 或 native") from None
    async with transaction(db_session, read_only=True):
        await _payers_orders(db_session, principal, booking_id)  # the refusals a page shows as such
    pay = wechat_pay(request)
    if chosen == PaymentChannel.native:

        async def work() -> str:
            await order_service.open_payment_order(db_session, pay, principal, booking_id, chosen)
            return "请用微信扫描下方二维码支付"

        return await act(_page(booking_id), work)
    # JSAPI: the page's script asks (fetch) and passes the answer to WeixinJSBridge
    try:
        order = await order_service.open_payment_order(db_session, pay, principal, booking_id, chosen)
    except DomainError as exc:
        return Response({"error": exc.code, "message": exc.message}, status_code=exc.status)
    assert pay is not None  # open_payment_order refuses without WeChat Pay
    return Response(
        {"out_trade_no": order.out_trade_no, "jsapi": order_service.client_parameters(pay, order)}
    )


@post(
    "/m/payment-orders/{out_trade_no:str}/check",
    summary="Phone: after paying, ask WeChat Pay about the order now",
    guards=[requires_user],
    status_code=200,
)
async def check_order(
    request: Request[Any, Any, Any], out_trade_no: str, principal: Principal, db_session: AsyncSession
) -> Response[Any]:
    pay = wechat_pay(request)
    try:
        async with transaction(db_session, read_only=True):
            order = await order_service.visible_order(db_session, principal, out_trade_no[:40])
    except DomainError as exc:
        return Response({"error": exc.code, "message": exc.message}, status_code=exc.status)
    if pay is not None:
        await sync_order(db_session, pay, order.id)
    async with transaction(db_session, read_only=True):
        fresh = await db_session.get(PaymentOrder, order.id, populate_existing=True)
    assert fresh is not None
    return Response(
        {
            "status": fresh.status.value,
            "paid": fresh.status == PaymentOrderStatus.paid,
            "summary": order_service.describe(fresh),
        }
    )


ROUTES = [pay_page, open_order, check_order]
