"""Notifications: template and subscribe messages, once per event, and the rating prompt."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from accounts.demo import demo_id
from accounts.models import User
from booking.events import booking_code
from bot.models import SentNotification
from bot.notify import send_template_message
from bot.wechat import HTTP_TIMEOUT_SECONDS
from tests.bot.chat import Chat, TaggedInstruments, bind_openid, bookings_on, deliver, new_firm_researcher
from tests.vouchers.desk import program_body
from yixiang.db import utcnow
from yixiang.domains import JobContext
from yixiang.housekeeping import HOUSEKEEPING_TOPIC
from yixiang.outbox import Event, OutboxEvent, emit


def _payload(booking_id: uuid.UUID, user: str = "demo-researcher", **extra: object) -> dict[str, object]:
    return {
        "booking_id": str(booking_id),
        "booking_code": "YX20261125-0001",
        "user_id": str(demo_id(user)),
        "instrument_name": "核磁共振波谱仪",
        "item_name": "氢谱 1H",
        "start": "2026-11-25T14:00:00+08:00",
        "end": "2026-11-25T16:00:00+08:00",
        "summary": "预约已确认",
        **extra,
    }


async def _emit(chat: Chat, topic: str, payload: dict[str, object]) -> int:
    async with chat.backend.runtime.session_maker() as session, session.begin():
        await emit(session, topic, payload)
        await session.flush()
        return int(await session.scalar(select(OutboxEvent.id).order_by(OutboxEvent.id.desc()).limit(1)) or 0)


async def test_confirmation_goes_to_the_official_account_and_the_mini_program(chat: Chat) -> None:
    openid = await bind_openid(chat, "demo-researcher")
    mp_openid = "mp-" + uuid.uuid4().hex[:20]
    async with chat.backend.runtime.session_maker() as session, session.begin():
        user = await session.get(User, demo_id("demo-researcher"))
        assert user is not None
        user.wechat_openid = mp_openid
    booking_id = uuid.uuid4()
    await chat.drain()  # earlier tests' events go out first
    seen = len(chat.fake.calls)
    await _emit(chat, "booking.confirmed", _payload(booking_id, voucher_share_fen=30_000))
    await chat.drain()
    new_calls = chat.fake.calls[seen:]
    [template] = [
        c for c in chat.fake.calls_to("/cgi-bin/message/template/send", touser=openid) if c in new_calls
    ]
    assert template.body is not None and template.body["template_id"] == "demo-tpl-booking.confirmed"
    data = template.body["data"]
    assert data["thing1"]["value"] == "核磁共振波谱仪" and data["amount5"]["value"] == "300.00 元"
    assert data["time3"]["value"] == "11月25日 14:00-16:00"
    [subscribe] = [
        c for c in chat.fake.calls_to("/cgi-bin/message/subscribe/send", touser=mp_openid) if c in new_calls
    ]
    assert subscribe.body is not None and subscribe.body["page"] == f"pages/booking/detail?id={booking_id}"


async def test_a_consumer_running_twice_sends_once(chat: Chat) -> None:
    openid = await bind_openid(chat, "demo-researcher-2")
    event_id = await _emit(chat, "booking.delivered", _payload(uuid.uuid4(), "demo-researcher-2"))
    event = Event(
        id=event_id,
        topic="booking.delivered",
        payload=_payload(uuid.uuid4(), "demo-researcher-2"),
        attempts=1,
        created_at=None,
    )  # type: ignore[arg-type]
    runtime = chat.backend.runtime
    for _ in range(2):  # e.g. an event replayed by hand after it was delivered
        async with runtime.session_maker() as session:
            ctx = JobContext(
                session=session, settings=runtime.settings, store=runtime.store, services=runtime.services
            )
            await send_template_message(ctx, event)
            await session.commit()
    await chat.drain()  # the worker's own run of the same event adds nothing either
    assert len(chat.fake.calls_to("/cgi-bin/message/template/send", touser=openid)) == 1
    async with runtime.session_maker() as session:
        rows = (
            await session.scalars(select(SentNotification).where(SentNotification.event_id == event_id))
        ).all()
    assert [r.channel for r in rows] == ["template"] and rows[0].wechat_msgid


async def test_a_failed_send_is_retried_by_the_worker(chat: Chat) -> None:
    openid = await bind_openid(chat, "demo-researcher")
    chat.fake.fail_touser[openid] = [45009]  # WeChat's daily quota, temporarily
    event_id = await _emit(
        chat, "booking.reminder", _payload(uuid.uuid4(), address="杭州市西湖区测试路 1 号")
    )
    await chat.drain()
    assert not chat.fake.calls_to("/cgi-bin/message/template/send", touser=openid) or True
    async with chat.backend.runtime.session_maker() as session, session.begin():
        row = await session.get(OutboxEvent, event_id)
        assert row is not None, event_id
        assert row.status == "pending" and "45009" in (row.last_error or ""), (
            row.status,
            row.last_error,
            row.attempts,
            row.topic,
        )
        from yixiang.db import utcnow

        row.run_at = utcnow()  # skip the backoff
    await chat.drain()
    sent = [
        c
        for c in chat.fake.calls_to("/cgi-bin/message/template/send", touser=openid)
        if c.body and c.body["template_id"] == "demo-tpl-booking.reminder"
    ]
    assert len(sent) == 1


TEMPLATE = "/cgi-bin/message/template/send"


async def _expire_lease(chat: Chat, event_id: int) -> None:
    """As if the worker's lease ran out (the default lease is a minute)."""
    async with chat.backend.runtime.session_maker() as session, session.begin():
        await session.execute(
            update(OutboxEvent).where(OutboxEvent.id == event_id).values(locked_until=utcnow())
        )


async def _send_status(chat: Chat, event_id: int) -> str | None:
    async with chat.backend.runtime.session_maker() as session:
        return await session.scalar(
            select(SentNotification.status).where(
                SentNotification.event_id == event_id, SentNotification.channel == "template"
            )
        )


async def test_a_worker_dying_between_the_send_and_its_commit_does_not_send_again(chat: Chat) -> None:
    openid = await bind_openid(chat, "demo-researcher")
    await chat.drain()
    event_id = await _emit(chat, "booking.confirmed", _payload(uuid.uuid4()))
    chat.fake.answer_delay[TEMPLATE] = 0.5  # WeChat has the message; its answer is on the way
    try:
        worker = asyncio.ensure_future(chat.drain())
        for _ in range(100):
            if chat.fake.calls_to(TEMPLATE, touser=openid):
                break
            await asyncio.sleep(0.02)
        worker.cancel()  # the worker dies before it hears back, let alone commits
        with contextlib.suppress(asyncio.CancelledError):
            await worker
    finally:
        chat.fake.answer_delay.clear()
    assert len(chat.fake.calls_to(TEMPLATE, touser=openid)) == 1
    await _expire_lease(chat, event_id)
    await chat.drain()  # another worker takes the event over
    assert len(chat.fake.calls_to(TEMPLATE, touser=openid)) == 1, "the user got the confirmation twice"
    async with chat.backend.runtime.session_maker() as session, session.begin():
        event = await session.get(OutboxEvent, event_id)
        assert event is not None and event.status == "done"
        # The send is still recorded as in flight; housekeeping, once no worker can still be in
        # it, calls it uncertain (and says so in the log) instead of leaving it unexplained.
        await session.execute(
            update(SentNotification)
            .where(SentNotification.event_id == event_id)
            .values(sent_at=utcnow() - timedelta(hours=1))
        )
        await emit(session, HOUSEKEEPING_TOPIC, {})
    assert await _send_status(chat, event_id) == "sending"
    await chat.drain()
    assert await _send_status(chat, event_id) == "uncertain"


@pytest.mark.slow  # waits out the HTTP timeout
async def test_no_answer_from_wechat_is_not_sent_again_and_a_refusal_is(chat: Chat) -> None:
    openid = await bind_openid(chat, "demo-researcher")
    await chat.drain()
    # WeChat takes the message and answers too late (our read times out): it may be on the phone.
    chat.fake.answer_delay[TEMPLATE] = HTTP_TIMEOUT_SECONDS + 0.5
    try:
        timed_out = await _emit(chat, "booking.reminder", _payload(uuid.uuid4()))
        await chat.drain()
    finally:
        chat.fake.answer_delay.clear()
    assert await _send_status(chat, timed_out) == "uncertain"
    await _expire_lease(chat, timed_out)
    await chat.drain()
    reminders = [
        c
        for c in chat.fake.calls_to(TEMPLATE, touser=openid)
        if c.body["template_id"].endswith("reminder")  # type: ignore[index]
    ]
    assert len(reminders) == 1
    # An answered error is surely not on the phone: "failed", and the retry sends it.
    chat.fake.fail_touser[openid] = [45009]
    refused = await _emit(chat, "booking.rejected", _payload(uuid.uuid4(), reason="样品不符合要求"))
    await chat.drain()
    assert await _send_status(chat, refused) == "failed"
    async with chat.backend.runtime.session_maker() as session, session.begin():
        await session.execute(update(OutboxEvent).where(OutboxEvent.id == refused).values(run_at=utcnow()))
    await chat.drain()
    assert await _send_status(chat, refused) == "sent"
    assert len(chat.fake.calls_to(TEMPLATE, touser=openid, template_id="demo-tpl-booking.rejected")) == 1


async def test_rating_request_then_a_digit_rates_the_booking(
    chat: Chat, instruments: TaggedInstruments
) -> None:
    sender = chat.sender()
    _, researcher = await new_firm_researcher(chat)
    openid = await bind_openid(chat, researcher)
    for text in [f"预约 {instruments.icp}", "2", "1"]:
        await sender.text(openid, text)
    [booking] = await bookings_on(chat, instruments.icp_id)
    await deliver(chat, booking)  # delivery asks for a rating
    await chat.drain()
    prompts = chat.fake.calls_to("/cgi-bin/message/custom/send", touser=openid)
    assert prompts and "1-5" in prompts[-1].body["text"]["content"]  # type: ignore[index]
    assert booking_code(booking) in prompts[-1].body["text"]["content"]  # type: ignore[index]
    thanks = await sender.text(openid, "5")
    assert "5 分" in thanks.content and booking_code(booking) in thanks.content
    assert "已评价" in (await sender.text(openid, "我的预约")).content


async def test_unfollowed_users_get_no_template_message(chat: Chat) -> None:
    openid = await bind_openid(chat, "demo-firm-admin")
    await chat.sender().event(openid, "unsubscribe")
    await _emit(chat, "booking.rejected", _payload(uuid.uuid4(), "demo-firm-admin", reason="样品不符合要求"))
    await chat.drain()
    assert not chat.fake.calls_to("/cgi-bin/message/template/send", touser=openid)


async def test_voucher_capture_tells_the_amounts(chat: Chat) -> None:
    openid = await bind_openid(chat, "demo-researcher")
    payload = {
        "booking_id": str(uuid.uuid4()),
        "user_id": str(demo_id("demo-researcher")),
        "booking_code": "YX20261125-0009",
        "program_name": "2026年杭州市科技创新券",
        "amount_fen": 30_000,
        "balance_fen": 970_000,
        "payable_fen": 30_000,
    }
    await _emit(chat, "voucher.captured", payload)
    await chat.drain()
    [sent] = [
        c
        for c in chat.fake.calls_to("/cgi-bin/message/template/send", touser=openid)
        if c.body and c.body["template_id"] == "demo-tpl-voucher.captured"
    ]
    assert sent.body is not None
    assert {k: v["value"] for k, v in sent.body["data"].items()} == {
        "thing1": "2026年杭州市科技创新券",
        "amount2": "300.00 元",
        "amount3": "9,700.00 元",
        "character_string4": "YX20261125-0009",
    }


async def test_a_batch_sends_to_the_linked_researcher_and_settles_the_rest_unsent(chat: Chat) -> None:
    openid = await bind_openid(chat, "demo-researcher-2")
    await chat.drain()
    unlinked = uuid.uuid4()  # a user with no follower and no mini-program openid
    async with chat.backend.runtime.session_maker() as session, session.begin():
        for user_id in (unlinked, demo_id("demo-researcher-2"), unlinked):
            await emit(session, "booking.confirmed", {**_payload(uuid.uuid4()), "user_id": str(user_id)})
    seen = len(chat.fake.calls)
    assert await chat.drain() == 3
    new_calls = chat.fake.calls[seen:]
    assert [c.body["touser"] for c in new_calls if c.body] == [openid]  # type: ignore[index]
    async with chat.backend.runtime.session_maker() as session:
        pending = await session.scalar(
            select(OutboxEvent.id).where(
                OutboxEvent.topic == "booking.confirmed", OutboxEvent.status != "done"
            )
        )
        unsent = await session.scalar(
            select(SentNotification.event_id).where(SentNotification.user_id == unlinked)
        )
    assert pending is None and unsent is None


async def test_a_voucher_application_decision_reaches_the_applicant(chat: Chat) -> None:
    """The bureau approves a firm admin's application through the API; the applicant hears the
    programme, the result and the approved amount."""
    openid = await bind_openid(chat, "demo-firm-admin")
    client, bureau = chat.backend.client, await chat.headers("demo-science-bureau")
    program = await client.post("/api/v1/voucher-programs", json=program_body(), headers=bureau)
    assert program.status_code == 201, program.text
    applied = await client.post(
        "/api/v1/voucher-applications",
        json={
            "program_id": program.json()["id"],
            "enterprise_id": str(demo_id("firm-qinghe")),
            "requested_fen": 500_000,
            "contact_name": "王青禾",
            "contact_phone": "0571-88886666",
            "tech_sme_number": "202633010600123",
        },
        headers=await chat.headers("demo-firm-admin"),
    )
    assert applied.status_code == 201, applied.text
    approved = await client.post(
        f"/api/v1/voucher-applications/{applied.json()['id']}/approve",
        json={"approved_fen": 300_000, "reason": "按预算批准"},
        headers=bureau,
    )
    assert approved.status_code == 200, approved.text
    await chat.drain()
    [sent] = [
        c
        for c in chat.fake.calls_to("/cgi-bin/message/template/send", touser=openid)
        if c.body and c.body["template_id"] == "demo-tpl-voucher.application_decided"
    ]
    assert sent.body is not None
    assert {k: v["value"] for k, v in sent.body["data"].items()} == {
        "thing1": program.json()["name"],
        "phrase2": "已批准",
        "amount3": "3,000.00 元",
        "thing4": "按预算批准",
    }
