"""The whole flow in WeChat, over the encrypted webhook, with the real domains behind the bot:
找核磁 → a confirmed booking with its voucher hold → the provider completes and delivers → the
researcher is told (confirmation, results, rating request) → replying "5" rates the booking."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from accounts.demo import demo_id
from booking.models import Booking, BookingStatus
from catalogue.models import Instrument
from tests.booking.world import booked_for_the_past, check_in_when_due, iso, make_instrument, set_calendar
from tests.bot.chat import Chat, bind_openid
from tests.results.flow import upload
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
    completed = await client.post(
        f"/api/v1/bookings/{booking.id}/complete",
        json={"actual_start": iso(ended - timedelta(hours=1)), "actual_end": iso(ended)},
        headers=provider_headers,
    )
    assert completed.status_code == 200, completed.text
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
