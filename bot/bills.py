"""The bill a researcher gets on WeChat when the service is done: fee, voucher share, what is
left to pay, and where to pay it — the payment page when the holding unit takes WeChat Pay,
the transfer's details otherwise."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.conversation.base import yuan
from vouchers.models import VoucherCheckout
from vouchers.payments.gateway import WECHAT_PAY
from yixiang.registry import ServiceRegistry

# The mini-program's payment page (it opens a JSAPI order and calls wx.requestPayment).
MINIPROGRAM_PAY_PAGE = "pages/booking/pay?id={booking_id}"


def pays_in_wechat(services: ServiceRegistry, unit_id: uuid.UUID) -> bool:
    """Whether WeChat Pay is on and collects for the unit (its sub-merchant is configured)."""
    pay = services.get(WECHAT_PAY)
    return pay is not None and pay.sub_mchid(unit_id) is not None


def pay_link(h5_base_url: str, booking_id: uuid.UUID | str) -> str:
    """The H5 payment page of a booking (empty when the bot has no pages to link to)."""
    base = h5_base_url.rstrip("/")
    return f"{base}/bookings/{booking_id}/pay" if base else ""


async def due_checkout(session: AsyncSession, booking_id: uuid.UUID) -> VoucherCheckout | None:
    return await session.scalar(select(VoucherCheckout).where(VoucherCheckout.booking_id == booking_id))


def bill_text(checkout: VoucherCheckout, *, in_wechat: bool, link: str) -> str:
    number = checkout.booking_number or str(checkout.booking_id)
    lines = [f"预约 {number} 服务已完成，费用 {yuan(checkout.fee_fen)} 元"]
    if checkout.voucher_fen:
        lines[0] += f"，创新券已抵扣 {yuan(checkout.voucher_fen)} 元"
    if checkout.due_fen <= 0:
        lines.append("无需另行支付。")
        return "\n".join(lines)
    lines.append(f"还需支付 {yuan(checkout.due_fen)} 元。")
    if in_wechat:
        lines.append(f"点此用微信支付：{link}" if link else "请在仪享小程序“我的预约”中用微信支付。")
    else:
        lines.append(f"请以对公转账方式支付，备注预约号 {number}。")
    return "\n".join(lines)
