"""WeChat Pay as the refund and reconciliation tests meet it: the local fake WeChat Pay server, the
app's WeChat Pay service pointed at it, and bookings completed and paid through it.

``settle_paid_order`` applies a transaction WeChat Pay reports paid as its notification does
(``vouchers.payments.apply.apply_transaction``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import msgspec
import pytest
from sqlalchemy import select

from accounts.models import User
from tests.fakes.wechatpay import FakeWeChatPay
from tests.support import Backend
from tests.vouchers.desk import UNIT_ZJLG, VoucherDesk, order
from tests.vouchers.paying import APPID, MCHID, wechat_pay_in
from vouchers.checkout import capture_voucher_share
from vouchers.models import (
    PaymentChannel,
    PaymentOrder,
)
from vouchers.payments.apply import apply_transaction
from vouchers.payments.gateway import WECHAT_PAY, WeChatPay
from vouchers.wechatpay.client import PrepayOrder
from vouchers.wechatpay.messages import Transaction
from yixiang.clock import SHANGHAI


@pytest.fixture
def wechat_pay(backend: Backend) -> Iterator[FakeWeChatPay]:
    """The fake WeChat Pay server, and the app's WeChat Pay service talking to it; each test its
    own sub-merchant for the demo unit 之江理工 (so one test's bill never holds another's)."""
    with wechat_pay_in(backend) as fake:
        yield fake


def the_pay(backend: Backend) -> WeChatPay:
    return backend.runtime.services[WECHAT_PAY]


@dataclass
class PaidBooking:
    booking_id: uuid.UUID
    firm: uuid.UUID
    program_id: str
    fee_fen: int
    voucher_fen: int
    due_fen: int
    out_trade_nos: list[str]


async def completed_booking(
    world: VoucherDesk, fee_fen: int, *, grant_fen: int = 10_000_000, **program: object
) -> PaidBooking:
    """A firm with a grant, and a booking of the demo unit completed at ``fee_fen`` (the voucher
    share captured as booking captures it at completion)."""
    firm, prog = await world.firm_with_grant(grant_fen, **program)
    o = order(firm, fee_fen)
    result = await world.run(capture_voucher_share, o)
    return PaidBooking(o.booking_id, firm, prog["id"], fee_fen, result.voucher_fen, result.due_fen, [])


async def pay_in_wechat(
    backend: Backend,
    fake: FakeWeChatPay,
    booking: PaidBooking,
    amount_fen: int | None = None,
    *,
    record: bool = True,
) -> str:
    """The firm pays (``amount_fen``, default what it owes) with a Native order: placed with WeChat
    Pay, paid by the payer, and (``record``) the order and its paid transaction recorded."""
    pay = the_pay(backend)
    out_trade_no = f"YX{uuid.uuid4().hex[:24].upper()}"
    amount = booking.due_fen if amount_fen is None else amount_fen
    sub_mchid = pay.sub_mchid(UNIT_ZJLG) or ""
    expires = datetime.now(SHANGHAI) + timedelta(hours=2)
    await pay.client.prepay(
        "native",
        PrepayOrder(
            appid=APPID,
            out_trade_no=out_trade_no,
            description="仪享-检测费",
            total_fen=amount,
            notify_url=pay.settings.notify_url,
            expires_at=expires,
            sub_mchid=sub_mchid or None,
        ),
    )
    transaction = msgspec.convert(fake.pay(out_trade_no), Transaction)
    booking.out_trade_nos.append(out_trade_no)
    if not record:
        return out_trade_no
    async with backend.runtime.session_maker() as session, session.begin():
        payer = await session.scalar(select(User.id).where(User.username == "demo-researcher"))
        session.add(
            PaymentOrder(
                out_trade_no=out_trade_no,
                booking_id=booking.booking_id,
                enterprise_id=booking.firm,
                unit_id=UNIT_ZJLG,
                amount_fen=amount,
                channel=PaymentChannel.native,
                mchid=MCHID,
                sub_mchid=sub_mchid,
                code_url="weixin://wxpay/bizpayurl?pr=test",
                expires_at=expires,
                created_by=payer,  # the researcher who opened it: told when money comes back
            )
        )
    await settle_paid_order(backend, transaction)
    return out_trade_no


async def settle_paid_order(backend: Backend, transaction: Transaction) -> None:
    """The paid transaction applied as WeChat Pay's notification applies it."""
    async with backend.runtime.session_maker() as session, session.begin():
        await apply_transaction(session, transaction)
