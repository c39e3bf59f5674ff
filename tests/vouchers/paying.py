"""WeChat Pay in a voucher test: the fake server on loopback, and the service the app uses to
reach it registered in the running app (as start-up registers it when WeChat Pay is enabled),
with the demo unit as a sub-merchant. And a booking completed through booking's API that leaves
its firm something to pay."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import update

from accounts.models import Role, User
from tests.booking.world import machine_time, make_instrument, served, set_calendar
from tests.fakes.wechatpay import FakeWeChatPay, new_rsa_key
from tests.support import Backend
from tests.vouchers.desk import UNIT_ZJLG, VoucherDesk, new_user
from vouchers.payments.gateway import WECHAT_PAY, WeChatPay
from vouchers.settings import WeChatPaySettings
from vouchers.wechatpay.client import MerchantKeys, WeChatPayClient
from vouchers.wechatpay.signing import load_public_key
from yixiang.db import utcnow

MCHID = "1900000109"
SUB_MCHID = "1900000201"
APPID = "wx5f3c9a7e2d1b0a00"
MERCHANT_KEY = new_rsa_key()


@contextmanager
def wechat_pay_in(backend: Backend, *, direct: bool = False) -> Iterator[FakeWeChatPay]:
    """WeChat Pay collecting for the demo unit: as its sub-merchant, or (``direct``) the unit
    being the merchant itself."""
    fake = FakeWeChatPay(mchid=MCHID, merchant_public_key=MERCHANT_KEY.public_key())
    fake.start()
    settings = WeChatPaySettings(
        enabled=True,
        base_url=fake.base_url,
        mchid=MCHID,
        appid=APPID,
        notify_url="https://yixiang.example.cn/api/v1/wechatpay/notifications",
        sub_mchids={} if direct else {str(UNIT_ZJLG): SUB_MCHID},
        direct_units=[str(UNIT_ZJLG)] if direct else [],
    )
    keys = MerchantKeys(
        mchid=MCHID,
        serial_no="5157F09EFDC096DE15EBE81A47057A7232F1B8E1",
        private_key=MERCHANT_KEY,
        apiv3_key=fake.apiv3_key,
        platform_keys={fake.platform_key_id: load_public_key(fake.platform_public_pem)},
    )
    backend.runtime.services[WECHAT_PAY] = WeChatPay(settings, WeChatPayClient(keys, fake.base_url))
    try:
        yield fake
    finally:
        backend.runtime.services.pop(WECHAT_PAY)
        fake.stop()


@dataclass
class DueBooking:
    booking_id: str
    number: str
    due_fen: int
    researcher: dict[str, str]
    provider: dict[str, str]
    openid: str


async def completed_with_due(world: VoucherDesk) -> DueBooking:
    """A new firm (half its fees on vouchers) books 2 h of a demo-unit instrument at 200 元/h,
    is served 65 min (billed 150 元 by the half hour... as the calendar says) and owes the rest;
    its researcher has signed in to the mini-program (an openid for JSAPI)."""
    client, backend = world.client, world.backend
    firm, _ = await world.firm_with_grant(5_000_000)
    username = await new_user(backend, firm, Role.researcher)
    openid = f"o-{uuid.uuid4().hex[:20]}"
    async with backend.runtime.session_maker() as session, session.begin():
        await session.execute(update(User).where(User.username == username).values(wechat_openid=openid))
    researcher = await world.headers(username)
    provider = await world.headers("demo-provider")
    instrument = await make_instrument(backend)
    await set_calendar(client, provider, instrument.instrument_id, needs_approval=False)
    start = (utcnow() + timedelta(hours=2)).replace(minute=0, second=0, microsecond=0)
    created = await client.post(
        "/api/v1/bookings",
        json=machine_time(instrument, start, start + timedelta(hours=2)),
        headers=researcher,
    )
    assert created.status_code == 201, created.text
    booking_id, number = created.json()["id"], created.json()["number"]
    done = await served(client, backend, provider, booking_id, minutes=65)
    assert done.status_code == 200, done.text
    assert done.json()["due_fen"] > 0, done.json()
    return DueBooking(booking_id, number, done.json()["due_fen"], researcher, provider, openid)
