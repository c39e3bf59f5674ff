"""WeChat Pay as the refund and reconciliation tests meet it: the local fake WeChat Pay server, the
app's WeChat Pay service pointed at it, and bookings completed and paid through it.

``settle_paid_order`` stands in for ``vouchers.payments.apply.apply_transaction`` (written beside
this work): it records a transaction WeChat Pay reports paid the way apply does — the order paid,
ledger entry ``payment:{out_trade_no}`` (cash_clearing + / firm_payments −), the checkout's paid and
due. On merge it is to be replaced by a call to ``apply_transaction``.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import msgspec
import pytest
from sqlalchemy import select

from accounts.models import User
from tests.fakes.wechatpay import FakeWeChatPay, new_rsa_key
from tests.support import Backend
from tests.vouchers.desk import UNIT_ZJLG, VoucherDesk, order
from vouchers.checkout import capture_voucher_share
from vouchers.ledger import (
    Posting,
    cash_clearing_account,
    firm_payments_account,
    open_cash_accounts,
    post_entry,
)
from vouchers.models import (
    EntryKind,
    PaymentChannel,
    PaymentMethod,
    PaymentOrder,
    PaymentOrderStatus,
    VoucherCheckout,
)
from vouchers.payments.gateway import WECHAT_PAY, WeChatPay
from vouchers.settings import WeChatPaySettings
from vouchers.wechatpay.client import MerchantKeys, PrepayOrder, WeChatPayClient
from vouchers.wechatpay.messages import Transaction
from vouchers.wechatpay.signing import load_public_key
from yixiang.clock import SHANGHAI
from yixiang.db import utcnow

MCHID = "1900000109"
APPID = "wx5f3c9a7e2d1b0a00"
MERCHANT_KEY = new_rsa_key()


@pytest.fixture
async def wechat_pay(backend: Backend) -> AsyncIterator[FakeWeChatPay]:
    """The fake WeChat Pay server, and the app's WeChat Pay service talking to it; each test its
    own sub-merchant for the demo unit 之江理工 (so one test's bill never holds another's)."""
    fake = FakeWeChatPay(mchid=MCHID, merchant_public_key=MERCHANT_KEY.public_key())
    # transaction ids unique across the tests sharing one database (each fake counts from 1)
    fake._ids = itertools.count(uuid.uuid4().int % 10**15)
    fake.start()
    sub_mchid = f"19{uuid.uuid4().int % 10**8:08d}"
    settings = WeChatPaySettings(
        enabled=True,
        base_url=fake.base_url,
        mchid=MCHID,
        appid=APPID,
        notify_url="https://yixiang.example.gov.cn/api/v1/payments/wechat/notify",
        sub_mchids={str(UNIT_ZJLG): sub_mchid},
    )
    keys = MerchantKeys(
        mchid=MCHID,
        serial_no="5157F09EFDC096DE15EBE81A47057A7232F1B8E1",
        private_key=MERCHANT_KEY,
        apiv3_key=fake.apiv3_key,
        platform_keys={fake.platform_key_id: load_public_key(fake.platform_public_pem)},
    )
    client = WeChatPayClient(keys, fake.base_url)
    backend.runtime.services[WECHAT_PAY] = WeChatPay(settings, client)
    yield fake
    backend.runtime.services.pop(WECHAT_PAY)
    await client.aclose()
    fake.stop()


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
    """What apply_transaction does with a paid transaction (see the module's doc): to be replaced
    by ``vouchers.payments.apply.apply_transaction`` on merge."""
    async with backend.runtime.session_maker() as session, session.begin():
        found = await session.scalar(
            select(PaymentOrder)
            .where(PaymentOrder.out_trade_no == transaction.out_trade_no)
            .with_for_update()
        )
        assert found is not None and transaction.paid and transaction.amount is not None
        if found.status == PaymentOrderStatus.paid:
            return
        found.status = PaymentOrderStatus.paid
        found.transaction_id = transaction.transaction_id
        found.paid_at = (
            datetime.fromisoformat(transaction.success_time) if transaction.success_time else utcnow()
        )
        await open_cash_accounts(session, found.unit_id)
        await post_entry(
            session,
            Posting(
                key=f"payment:{found.out_trade_no}",
                kind=EntryKind.payment,
                lines=[
                    (cash_clearing_account(found.unit_id), found.amount_fen),
                    (firm_payments_account(found.unit_id), -found.amount_fen),
                ],
                booking_id=found.booking_id,
                reason="微信支付",
            ),
        )
        checkout = await session.get(VoucherCheckout, found.booking_id, with_for_update=True)
        assert checkout is not None
        checkout.payment_method = PaymentMethod.wechat_pay
        checkout.paid_fen += found.amount_fen
        checkout.due_fen = max(0, checkout.due_fen - found.amount_fen)
