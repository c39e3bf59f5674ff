"""The whole flow in WeChat, over the encrypted webhook, with the real domains behind the bot:
找核磁 → a confirmed booking with its voucher hold → the provider completes and delivers → the
researcher gets the bill (what vouchers left to pay, in WeChat) and pays it through WeChat Pay
(the fake server, its notification) → is told (confirmation, results, rating request) →
replying "5" rates the booking."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from accounts.demo import demo_id
from accounts.models import User
from booking.models import Booking, BookingStatus
from catalogue.models import Instrument
from tests.booking.world import booked_for_the_past, check_in_when_due, iso, make_instrument, set_calendar
from tests.bot.chat import Chat, bind_openid
from tests.results.flow import upload
from tests.vouchers.paying import wechat_pay_in
from yixiang.db import utcnow
from yixiang.outbox import emit


@pytest.mark.slow
async def test_a_researcher_books_gets_results_and_rates_in_wechat(chat: Chat) -> None:
    backend, client = chat.backend, chat.backend.client
    # An always-open NMR of the demo provider's unit, indexed for search.
    tag = uuid.uuid4().hex[:6].upper()
    nmr = await make_instrument(backend)
    async with backend.runtime.session_maker() as session, session.begin():
        instrument = await session.get(Instrument, nmr.instrument_id)
        assert instrument is not None
        instrument.name, instrument.aliases, instrument.model = "核磁共振波谱仪", ["NMR", "核磁"], f"E2E{tag}"
        instrument.category_code = (await session.scalar(select(Instrument.category_code).limit(1))) or "99"
        await emit(session, "catalogue.instrument_changed", {"instrument_ids": [instrument.id]})
    provider = await client.post("/api/v1/auth/dev-login", json={"username": "demo-provider"})
    provider_headers = {"Authorization": f"Bearer {provider.json()['token']}"}
    await set_calendar(client, provider_headers, nmr.instrument_id)
    await chat.drain()

    sender = chat.sender()
    openid = await bind_openid(chat, "demo-researcher")
    listing = await sender.text(openid, "找核磁")
    assert "1. " in listing.content and "核磁" in listing.content
    found = await sender.text(openid, f"找 E2E{tag}")
    assert "1. 核磁共振波谱仪" in found.content, found.content
    details = await sender.text(openid, "1")
    assert f"E2E{tag}" in details.content or "核磁共振波谱仪" in details.content
    asked = await sender.text(openid, "预约")
    assert "日期和时段" in asked.content, asked.content
    # one machine-time item: the bot goes straight to the confirmation
    confirm = await sender.text(openid, "后天 14:00-16:00")
    assert "项目：机时" in confirm.content and "400.00 元" in confirm.content, (
        confirm.content
    )  # 2 h at 200 元/h
    # WeChat retries a message it got no answer to: three deliveries, one booking, one answer
    msgid, created = sender.next_msgid(), int(time.time())
    replies = [await sender.text(openid, "1", msgid=msgid, create_time=created) for _ in range(3)]
    assert len({r.content for r in replies}) == 1
    assert "预约已提交" in replies[0].content, replies[0].content

    async with backend.runtime.session_maker() as session:
        [booking] = (
            await session.scalars(select(Booking).where(Booking.instrument_id == nmr.instrument_id))
        ).all()
    assert booking.status == BookingStatus.confirmed
    assert booking.enterprise_id == demo_id("firm-qinghe")
    researcher = await client.post("/api/v1/auth/dev-login", json={"username": "demo-researcher"})
    wallet = await client.get(
        "/api/v1/me/vouchers", headers={"Authorization": f"Bearer {researcher.json()['token']}"}
    )
    [hold] = [h for h in wallet.json()["holds"] if h["booking_id"] == str(booking.id)]
    assert hold["held_fen"] > 0  # confirmed with its voucher hold
    balance = await sender.text(openid, "券还剩多少")
    assert "元" in balance.content, balance.content

    # The provider runs the session and delivers the report.
    assert (await check_in_when_due(client, backend, provider_headers, booking.id)).is_success
    ended = utcnow()
    await booked_for_the_past(backend, booking.id, ended - timedelta(hours=1))
    with wechat_pay_in(backend) as wechat_pay:
        completed = await client.post(
            f"/api/v1/bookings/{booking.id}/complete",
            json={"actual_start": iso(ended - timedelta(hours=1)), "actual_end": iso(ended)},
            headers=provider_headers,
        )
        assert completed.status_code == 200, completed.text
        due = completed.json()["due_fen"]
        assert due > 0, completed.json()
        await chat.drain()
        # the bill: on the template message, and in words with where to pay
        [bill] = [
            c
            for c in chat.fake.calls
            if (c.body or {}).get("touser") == openid
            and (c.body or {}).get("template_id") == "demo-tpl-booking.completed"
        ]
        assert bill.body is not None and bill.body["data"]["amount5"]["value"] == f"{due / 100:,.2f} 元"
        [words] = [
            c.body["text"]["content"]
            for c in chat.fake.calls
            if c.path == "/cgi-bin/message/custom/send"
            and (c.body or {}).get("touser") == openid
            and "还需支付" in c.body["text"]["content"]
        ]
        assert f"还需支付 {due / 100:,.2f} 元" in words and "微信支付" in words, words
        # the mini-program's payment page opens a JSAPI order and WeChat takes the payment
        researcher_headers = {"Authorization": f"Bearer {researcher.json()['token']}"}
        async with backend.runtime.session_maker() as session, session.begin():
            user = await session.get(User, demo_id("demo-researcher"))
            assert user is not None
            user.wechat_openid = user.wechat_openid or f"o-mp-{uuid.uuid4().hex[:16]}"
        order = await client.post(
            f"/api/v1/bookings/{booking.id}/payment-orders",
            json={"channel": "jsapi"},
            headers=researcher_headers,
        )
        assert order.status_code == 201 and order.json()["jsapi"]["paySign"], order.text
        wechat_pay.pay(order.json()["out_trade_no"])
        headers, body = wechat_pay.payment_notification(order.json()["out_trade_no"])
        paid = await client.post("/api/v1/wechatpay/notifications", content=body, headers=headers)
        assert paid.status_code == 204, paid.text
        statement = await client.get(f"/api/v1/bookings/{booking.id}/statement", headers=researcher_headers)
        assert (statement.json()["due_fen"], statement.json()["paid_fen"]) == (0, due)
    delivered = await upload(client, provider_headers, str(booking.id), [("NMR报告.pdf", b"%PDF-1.7 report")])
    assert delivered.status_code == 201, delivered.text

    await chat.drain()
    sent = [c for c in chat.fake.calls if (c.body or {}).get("touser") == openid]
    templates = [c.body["template_id"] for c in sent if c.path == "/cgi-bin/message/template/send"]
    assert "demo-tpl-booking.confirmed" in templates
    [confirmed] = [c for c in sent if (c.body or {}).get("template_id") == "demo-tpl-booking.confirmed"]
    assert confirmed.body["data"]["amount5"]["value"] == f"{hold['held_fen'] / 100:,.2f} 元"  # the held share
    assert "demo-tpl-booking.delivered" in templates
    assert "demo-tpl-booking.rating_requested" in templates

    thanks = await sender.text(openid, "5")
    assert "5 分" in thanks.content, thanks.content
    async with backend.runtime.session_maker() as session:
        rated = await session.get(Booking, booking.id)
    assert rated is not None and rated.status == BookingStatus.rated
    assert rated.voucher_fen is not None and rated.voucher_fen > 0  # captured at checkout, no paperwork
    assert rated.due_fen == 0  # paid in WeChat: the booking owes nothing
