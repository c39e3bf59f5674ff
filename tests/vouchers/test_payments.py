"""Paying what a booking owes in WeChat, against the fake WeChat Pay server: the order, the
signed parameters the mini-program needs, the notification (repeated, forged, stale) applied
once, the order asked about when no notification comes, expired orders closed, a payment for
what was no longer owed recorded and flagged for a refund."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from tests.support import error_code
from tests.vouchers.desk import VoucherDesk
from tests.vouchers.paying import MERCHANT_KEY, DueBooking, completed_with_due, wechat_pay_in
from vouchers.ledger import check_ledger
from vouchers.models import EntryKind, JournalEntry, PaymentNotification, PaymentOrder
from vouchers.payments.apply import PAYMENT_OVERPAID
from vouchers.payments.gateway import WECHAT_PAY
from vouchers.payments.sync import sync_open_orders
from vouchers.wechatpay.signing import rsa_verify
from yixiang.db import utcnow
from yixiang.outbox import OutboxEvent

NOTIFY = "/api/v1/wechatpay/notifications"


async def _order(world: VoucherDesk, due: DueBooking, channel: str = "jsapi") -> dict[str, Any]:
    response = await world.client.post(
        f"/api/v1/bookings/{due.booking_id}/payment-orders", json={"channel": channel}, headers=due.researcher
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def _statement(world: VoucherDesk, due: DueBooking) -> dict[str, Any]:
    return dict(
        (
            await world.client.get(f"/api/v1/bookings/{due.booking_id}/statement", headers=due.researcher)
        ).json()
    )


async def _payments_of(world: VoucherDesk, booking_id: str) -> int:
    async with world.backend.runtime.session_maker() as session:
        return int(
            await session.scalar(
                select(func.count()).where(
                    JournalEntry.booking_id == uuid.UUID(booking_id), JournalEntry.kind == EntryKind.payment
                )
            )
            or 0
        )


async def test_the_firm_pays_in_wechat_and_a_repeated_notification_pays_once(world: VoucherDesk) -> None:
    with wechat_pay_in(world.backend) as fake:
        due = await completed_with_due(world)
        order = await _order(world, due)
        assert order["amount_fen"] == due.due_fen and order["status"] == "open"
        assert order["out_trade_no"].startswith(due.number)
        # what wx.requestPayment gets, signed with the merchant's key over WeChat's four lines
        params = order["jsapi"]
        message = f"{params['appId']}\n{params['timeStamp']}\n{params['nonceStr']}\n{params['package']}\n"
        assert params["package"].startswith("prepay_id=") and params["signType"] == "RSA"
        assert rsa_verify(MERCHANT_KEY.public_key(), message, params["paySign"])
        # a double tap gets the same order, not a second one at WeChat Pay
        again = await _order(world, due)
        assert again["out_trade_no"] == order["out_trade_no"]
        assert sum(1 for c in fake.calls if c.path.endswith("/jsapi")) == 1

        fake.pay(order["out_trade_no"], openid=due.openid)
        headers, body = fake.payment_notification(order["out_trade_no"])
        forged = fake.payment_notification(order["out_trade_no"], bad_signature=True)
        stale = fake.payment_notification(order["out_trade_no"], timestamp=int(time.time()) - 600)
        for h, b in (forged, stale):
            refused = await world.client.post(NOTIFY, content=b, headers=h)
            assert refused.status_code == 401 and refused.json()["code"] == "FAIL", refused.text
        assert (await _statement(world, due))["due_fen"] == due.due_fen  # nothing applied yet
        for _ in range(3):
            accepted = await world.client.post(NOTIFY, content=body, headers=headers)
            assert accepted.status_code == 204 and accepted.content == b"", accepted.text

        statement = await _statement(world, due)
        assert (statement["due_fen"], statement["paid_fen"]) == (0, due.due_fen)
        assert statement["payment_method"] == "wechat_pay"
        assert statement["payment_reference"] == fake.orders[order["out_trade_no"]].transaction_id
        assert statement["evidence"]["payment"]["detail"]["method"] == "wechat_pay"
        paid_text = f"已通过微信支付向之江理工大学分析测试中心支付 {due.due_fen / 100:.2f} 元"
        assert statement["payment_instructions"].startswith(paid_text), statement["payment_instructions"]
        assert await _payments_of(world, due.booking_id) == 1
        listed = await world.client.get(
            f"/api/v1/bookings/{due.booking_id}/payment-orders", headers=due.provider
        )
        assert [(o["status"], o["amount_fen"]) for o in listed.json()] == [("paid", due.due_fen)]
        # nothing more to pay
        more = await world.client.post(
            f"/api/v1/bookings/{due.booking_id}/payment-orders",
            json={"channel": "native"},
            headers=due.researcher,
        )
        assert more.status_code == 409 and error_code(more) == "nothing_due"
        async with world.backend.runtime.session_maker() as session:
            seen = await session.scalars(
                select(PaymentNotification.applied).where(
                    PaymentNotification.reference == order["out_trade_no"]
                )
            )
            assert list(seen.all()) == [True]  # one notification id, applied once
            assert (await check_ledger(session))["ok"]


async def test_a_desk_pays_by_qr_code_and_asks_rather_than_waits(world: VoucherDesk) -> None:
    with wechat_pay_in(world.backend) as fake:
        due = await completed_with_due(world)
        order = await _order(world, due, "native")
        assert order["code_url"].startswith("weixin://") and order["jsapi"] is None
        assert "扫码支付" in order["summary"]
        fake.pay(order["out_trade_no"])
        checked = await world.client.post(
            f"/api/v1/payment-orders/{order['out_trade_no']}/check", headers=due.researcher
        )
        assert checked.status_code == 200 and checked.json()["status"] == "paid", checked.text
        assert (await _statement(world, due))["due_fen"] == 0
        # another firm's user learns nothing of the order
        other = await world.headers("demo-researcher-2")
        hidden = await world.client.post(
            f"/api/v1/payment-orders/{order['out_trade_no']}/check", headers=other
        )
        assert hidden.status_code == 404 and error_code(hidden) == "payment_order_not_found"


async def test_refusals_say_why_in_chinese(world: VoucherDesk) -> None:
    due = await completed_with_due(world)
    off = await world.client.post(
        f"/api/v1/bookings/{due.booking_id}/payment-orders", json={"channel": "jsapi"}, headers=due.researcher
    )
    assert (
        off.status_code == 409
        and error_code(off) == "wechat_pay_unavailable"
        and "对公转账" in off.json()["error"]["message"]
    )
    with wechat_pay_in(world.backend):
        provider = await world.client.post(
            f"/api/v1/bookings/{due.booking_id}/payment-orders",
            json={"channel": "native"},
            headers=due.provider,
        )
        assert provider.status_code in (403, 404), provider.text
        bad = await world.client.post(
            f"/api/v1/bookings/{due.booking_id}/payment-orders",
            json={"channel": "cash"},
            headers=due.researcher,
        )
        assert bad.status_code == 400, bad.text


async def test_unnotified_orders_are_asked_about_and_expired_ones_closed(world: VoucherDesk) -> None:
    with wechat_pay_in(world.backend) as fake:
        paid, lapsed = await completed_with_due(world), await completed_with_due(world)
        paid_order, lapsed_order = await _order(world, paid), await _order(world, lapsed, "native")
        fake.pay(paid_order["out_trade_no"])  # the notification never comes
        async with world.backend.runtime.session_maker() as session, session.begin():
            long_ago = utcnow() - timedelta(minutes=10)
            await session.execute(
                update(PaymentOrder)
                .where(
                    PaymentOrder.out_trade_no.in_([paid_order["out_trade_no"], lapsed_order["out_trade_no"]])
                )
                .values(created_at=long_ago)
            )
            await session.execute(
                update(PaymentOrder)
                .where(PaymentOrder.out_trade_no == lapsed_order["out_trade_no"])
                .values(expires_at=long_ago)
            )
        async with world.backend.runtime.session_maker() as session:
            await sync_open_orders(session, world.backend.runtime.services[WECHAT_PAY])
        assert (await _statement(world, paid))["due_fen"] == 0
        assert fake.orders[lapsed_order["out_trade_no"]].state == "CLOSED"
        listed = await world.client.get(
            f"/api/v1/bookings/{lapsed.booking_id}/payment-orders", headers=lapsed.researcher
        )
        assert listed.json()[0]["status"] == "closed"
        # the firm can still pay: a new order, with a new number
        renewed = await _order(world, lapsed, "native")
        assert renewed["out_trade_no"] != lapsed_order["out_trade_no"]


async def test_paying_twice_records_both_and_flags_the_second_for_a_refund(world: VoucherDesk) -> None:
    with wechat_pay_in(world.backend) as fake:
        due = await completed_with_due(world)
        in_app, at_desk = await _order(world, due), await _order(world, due, "native")
        for order in (in_app, at_desk):
            fake.pay(order["out_trade_no"], openid=due.openid)
            headers, body = fake.payment_notification(order["out_trade_no"])
            assert (await world.client.post(NOTIFY, content=body, headers=headers)).status_code == 204
        statement = await _statement(world, due)
        assert (statement["due_fen"], statement["paid_fen"]) == (0, 2 * due.due_fen)
        async with world.backend.runtime.session_maker() as session:
            flagged = (
                await session.scalars(
                    select(OutboxEvent.payload).where(OutboxEvent.topic == PAYMENT_OVERPAID)
                )
            ).all()
            assert {
                "booking_id": due.booking_id,
                "out_trade_no": at_desk["out_trade_no"],
                "amount_fen": due.due_fen,
            } in [{k: str(v) if k == "booking_id" else v for k, v in p.items()} for p in flagged]
            assert (await check_ledger(session))["ok"]


@pytest.mark.slow
async def test_fifty_notifications_and_queries_racing_settle_the_order_once(world: VoucherDesk) -> None:
    with wechat_pay_in(world.backend) as fake:
        due = await completed_with_due(world)
        order = await _order(world, due)
        fake.pay(order["out_trade_no"], openid=due.openid)
        headers, body = fake.payment_notification(order["out_trade_no"])
        check = f"/api/v1/payment-orders/{order['out_trade_no']}/check"
        answers = await asyncio.gather(
            *(
                world.client.post(NOTIFY, content=body, headers=headers)
                if i % 5
                else world.client.post(check, headers=due.researcher)
                for i in range(50)
            )
        )
        assert {a.status_code for a in answers} <= {200, 204}, [
            a.text for a in answers if a.status_code >= 300
        ]
        assert await _payments_of(world, due.booking_id) == 1
        statement = await _statement(world, due)
        assert (statement["due_fen"], statement["paid_fen"]) == (0, due.due_fen)
        async with world.backend.runtime.session_maker() as session:
            assert (await check_ledger(session))["ok"]


async def test_a_unit_that_is_its_own_merchant_is_paid_without_a_sub_merchant(world: VoucherDesk) -> None:
    with wechat_pay_in(world.backend, direct=True) as fake:
        due = await completed_with_due(world)
        order = await _order(world, due, "native")
        placed = [c for c in fake.calls if c.path.endswith("/native")][-1]
        assert placed.path == "/v3/pay/transactions/native" and placed.body is not None
        assert "sub_mchid" not in placed.body and placed.body["mchid"] == fake.mchid
        fake.pay(order["out_trade_no"])
        headers, body = fake.payment_notification(order["out_trade_no"])
        assert (await world.client.post(NOTIFY, content=body, headers=headers)).status_code == 204
        assert (await _statement(world, due))["due_fen"] == 0
