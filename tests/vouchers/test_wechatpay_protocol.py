"""The WeChat Pay APIv3 client, notifications and trade bill against the local fake, with the
protocol's real signatures and encryption both ways."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta

import pytest

from tests.fakes.wechatpay import FakeWeChatPay, new_rsa_key
from vouchers.wechatpay.bill import parse_trade_bill
from vouchers.wechatpay.client import (
    MerchantKeys,
    PrepayOrder,
    WeChatPayClient,
    WeChatPayError,
    WeChatPayUnavailable,
)
from vouchers.wechatpay.messages import Refund
from vouchers.wechatpay.notifications import Notification, open_notification
from vouchers.wechatpay.signing import SignatureError, jsapi_parameters, load_public_key, rsa_verify
from yixiang.clock import SHANGHAI

MCHID = "1900000109"
SUB_MCHID = "1900000201"
APPID = "wx5f3c9a7e2d1b0a00"
MERCHANT_KEY = new_rsa_key()


@pytest.fixture
def fake() -> Iterator[FakeWeChatPay]:
    fake = FakeWeChatPay(mchid=MCHID, merchant_public_key=MERCHANT_KEY.public_key())
    fake.start()
    yield fake
    fake.stop()


def keys_for(fake: FakeWeChatPay, **change: object) -> MerchantKeys:
    values: dict[str, object] = {
        "mchid": MCHID,
        "serial_no": "5157F09EFDC096DE15EBE81A47057A7232F1B8E1",
        "private_key": MERCHANT_KEY,
        "apiv3_key": fake.apiv3_key,
        "platform_keys": {fake.platform_key_id: load_public_key(fake.platform_public_pem)},
    }
    return MerchantKeys(**(values | change))  # type: ignore[arg-type]


@pytest.fixture
async def client(fake: FakeWeChatPay) -> AsyncIterator[WeChatPayClient]:
    client = WeChatPayClient(keys_for(fake), fake.base_url)
    yield client
    await client.aclose()


def order(out_trade_no: str, total: int = 30000, **change: object) -> PrepayOrder:
    values: dict[str, object] = {
        "appid": APPID,
        "out_trade_no": out_trade_no,
        "description": "仪享-核磁共振波谱仪 测试费",
        "total_fen": total,
        "notify_url": "https://yixiang.example.cn/api/v1/payments/wechat/notify",
        "expires_at": datetime.now(SHANGHAI) + timedelta(hours=2),
        "openid": "o-payer-1",
    }
    return PrepayOrder(**(values | change))  # type: ignore[arg-type]


async def test_jsapi_and_native_orders_are_placed_signed_and_the_client_gets_signed_pay_parameters(
    fake: FakeWeChatPay, client: WeChatPayClient
) -> None:
    prepay_id = await client.prepay("jsapi", order("YX20261202-000001"))
    code_url = await client.prepay("native", order("YX20261202-000002", sub_mchid=SUB_MCHID, openid=None))

    assert prepay_id.startswith("wx") and code_url.startswith("weixin://wxpay/bizpayurl")
    assert fake.orders["YX20261202-000001"].openid == "o-payer-1"
    assert fake.orders["YX20261202-000002"].sub_mchid == SUB_MCHID
    # placing the same order again gives the same prepay id (a retry after a lost answer)
    assert await client.prepay("jsapi", order("YX20261202-000001")) == prepay_id

    params = jsapi_parameters(MERCHANT_KEY, appid=APPID, prepay_id=prepay_id)
    message = f"{APPID}\n{params['timeStamp']}\n{params['nonceStr']}\n{params['package']}\n"
    assert params["package"] == f"prepay_id={prepay_id}"
    assert rsa_verify(MERCHANT_KEY.public_key(), message, params["paySign"])


async def test_a_request_signed_with_another_key_is_refused_by_wechat_pay(fake: FakeWeChatPay) -> None:
    stranger = WeChatPayClient(keys_for(fake, private_key=new_rsa_key()), fake.base_url)
    with pytest.raises(WeChatPayError) as refused:
        await stranger.prepay("jsapi", order("YX20261202-000003"))
    await stranger.aclose()
    assert (refused.value.status, refused.value.code) == (401, "SIGN_ERROR")
    assert "YX20261202-000003" not in fake.orders


async def test_an_answer_not_signed_by_the_platform_key_we_know_is_not_trusted(fake: FakeWeChatPay) -> None:
    other_platform = {fake.platform_key_id: new_rsa_key().public_key()}
    client = WeChatPayClient(keys_for(fake, platform_keys=other_platform), fake.base_url)
    with pytest.raises(WeChatPayUnavailable, match="bad signature"):
        await client.prepay("jsapi", order("YX20261202-000004"))
    await client.aclose()


async def test_query_close_and_the_states_an_order_goes_through(
    fake: FakeWeChatPay, client: WeChatPayClient
) -> None:
    await client.prepay("jsapi", order("YX20261202-000010"))
    await client.prepay("jsapi", order("YX20261202-000011", sub_mchid=SUB_MCHID))
    assert (await client.query("YX20261202-000010")).trade_state == "NOTPAY"

    fake.pay("YX20261202-000010")
    paid = await client.query("YX20261202-000010")
    assert paid.paid and paid.transaction_id and paid.amount and paid.amount.total == 30000

    await client.close("YX20261202-000011", SUB_MCHID)
    assert (await client.query("YX20261202-000011", SUB_MCHID)).trade_state == "CLOSED"
    with pytest.raises(WeChatPayError) as refused:
        await client.close("YX20261202-000010")
    assert refused.value.code == "ORDERPAID"
    with pytest.raises(WeChatPayError) as missing:
        await client.query("YX20261202-999999")
    assert (missing.value.status, missing.value.code) == (404, "ORDER_NOT_EXIST")


async def refund(client: WeChatPayClient, number: str, out_refund_no: str, fen: int, total: int) -> Refund:
    return await client.refund(
        out_trade_no=number,
        out_refund_no=out_refund_no,
        refund_fen=fen,
        total_fen=total,
        reason="费用更正",
        notify_url="https://yixiang.example.cn/api/v1/payments/wechat/refund-notify",
    )


async def test_partial_refunds_never_exceed_what_was_paid(
    fake: FakeWeChatPay, client: WeChatPayClient
) -> None:
    await client.prepay("jsapi", order("YX20261202-000020", total=10000))
    fake.pay("YX20261202-000020")

    first = await refund(client, "YX20261202-000020", "R1", 6000, 10000)
    assert first.state == "PROCESSING" and first.amount and first.amount.refund == 6000
    again = await refund(client, "YX20261202-000020", "R1", 6000, 10000)
    assert again.refund_id == first.refund_id  # the same refund number is the same refund
    with pytest.raises(WeChatPayError) as refused:
        await refund(client, "YX20261202-000020", "R2", 4001, 10000)
    assert refused.value.code == "INVALID_REQUEST"

    fake.finish_refund("R1")
    assert (await client.query_refund("R1")).state == "SUCCESS"


async def test_notifications_open_only_when_signed_by_the_platform_in_time_and_encrypted_with_our_key(
    fake: FakeWeChatPay, client: WeChatPayClient
) -> None:
    await client.prepay("jsapi", order("YX20261202-000030"))
    fake.pay("YX20261202-000030")
    keys = keys_for(fake)

    def opened(headers: dict[str, str], body: bytes, apiv3_key: bytes = keys.apiv3_key) -> Notification:
        return open_notification(headers, body, platform_keys=keys.platform_keys, apiv3_key=apiv3_key)

    note = opened(*fake.payment_notification("YX20261202-000030"))
    transaction = note.transaction
    assert note.event_type == "TRANSACTION.SUCCESS" and transaction is not None
    assert transaction.out_trade_no == "YX20261202-000030" and transaction.paid

    refusals = {
        "bad signature": fake.payment_notification("YX20261202-000030", bad_signature=True),
        "timestamp outside the window": fake.payment_notification(
            "YX20261202-000030", timestamp=int(time.time()) - 600
        ),
    }
    for reason, (headers, body) in refusals.items():
        with pytest.raises(SignatureError) as refused:
            opened(headers, body)
        assert refused.value.reason == reason
    headers, body = fake.payment_notification("YX20261202-000030")
    with pytest.raises(SignatureError, match="does not decrypt"):
        opened(headers, body, apiv3_key=b"0" * 32)
    with pytest.raises(SignatureError, match="bad signature"):
        opened(headers, body.replace(b"TRANSACTION.SUCCESS", b"TRANSACTION.CLOSED"))


async def test_the_days_trade_bill_lists_payments_and_refunds_in_fen(
    fake: FakeWeChatPay, client: WeChatPayClient
) -> None:
    for number, total in (("YX20261202-000040", 12345), ("YX20261202-000041", 500)):
        await client.prepay("jsapi", order(number, total=total))
        fake.pay(number)
    fake.refunds_settle_immediately = True
    await client.refund(
        out_trade_no="YX20261202-000040",
        out_refund_no="R40",
        refund_fen=345,
        total_fen=12345,
        reason="更正",
        notify_url="https://x/n",
    )
    bill = parse_trade_bill(await client.trade_bill(datetime.now(SHANGHAI).date()))

    payments = {line.out_trade_no: line.paid_fen for line in bill.lines if line.trade_state == "SUCCESS"}
    refunds = [(line.out_refund_no, line.refund_fen) for line in bill.lines if line.trade_state == "REFUND"]
    assert payments == {"YX20261202-000040": 12345, "YX20261202-000041": 500}
    assert refunds == [("R40", 345)]
    assert (bill.count, bill.paid_fen, bill.refunded_fen) == (3, 12845, 345)

    fake.tamper_bills = True
    with pytest.raises(WeChatPayUnavailable, match="hash"):
        await client.trade_bill(datetime.now(SHANGHAI).date())
