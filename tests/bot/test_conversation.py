"""Conversations over the encrypted webhook, with the real domains behind the bot."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import datetime

import pytest
from sqlalchemy import select

from accounts.demo import demo_id
from booking.events import booking_code
from bot.conversation import base, my_bookings, ranges
from bot.conversation.base import fit_text, pick_number
from bot.models import HumanRequest
from bot.settings import WeChatSettings
from catalogue.models import ServiceItem
from tests.bot.chat import (
    REPORT,
    Chat,
    TaggedInstruments,
    bind_openid,
    bookings_on,
    deliver,
    new_firm_researcher,
    new_openid,
)


def test_numbers_in_many_spellings_pick_from_a_list() -> None:
    assert [pick_number(t, 5) for t in ["2", "２", "第2个", "二", "6", "x"]] == [1, 1, 1, 1, None, None]


def test_long_replies_fit_wechat_and_say_so() -> None:
    text = "\n".join(f"{i}. 核磁共振波谱仪 之江理工大学分析测试中心" for i in range(200))
    cut = fit_text(text)
    assert len(cut.encode()) <= 2000 and cut.endswith("小程序中查看全部）") and cut.startswith("0. ")


async def test_unbound_followers_can_search_but_must_bind_to_book(
    chat: Chat, instruments: TaggedInstruments
) -> None:
    sender, openid = chat.sender(), new_openid()
    found = await sender.text(openid, f"找 {instruments.nmr}")
    assert f"1. 核磁共振波谱仪 {instruments.nmr}" in found.content and "\n2. " not in found.content
    details = await sender.text(openid, "1")
    assert "氢谱 1H" in details.content and "300.00 元/小时" in details.content
    assert "绑定" in (await sender.text(openid, "预约")).content
    assert "绑定" in (await sender.text(openid, "我的预约")).content
    assert "绑定" in (await sender.text(openid, "券还剩多少")).content


async def test_from_search_to_a_booking_with_a_voucher_hold(
    chat: Chat, instruments: TaggedInstruments
) -> None:
    sender = chat.sender()
    firm, researcher = await new_firm_researcher(chat, voucher_fen=1_000_000)
    openid = await bind_openid(chat, researcher)
    listing = await sender.text(openid, f"找 {instruments.nmr}")
    assert "1. " in listing.content
    assert instruments.nmr in (await sender.text(openid, "1")).content
    asked = await sender.text(openid, "预约")
    assert "日期和时段" in asked.content
    items = await sender.text(openid, "后天 14:00-16:00")
    assert "1. 氢谱 1H" in items.content and "2. 碳谱 13C" in items.content
    confirm = await sender.text(openid, "1")
    assert "600.00 元" in confirm.content and "创新券抵扣：300.00 元" in confirm.content
    assert "计费方式：按实际使用时长计费" in confirm.content  # said before the user commits
    msgid, created = sender.next_msgid(), int(time.time())
    replies = [await sender.text(openid, "1", msgid=msgid, create_time=created) for _ in range(3)]
    assert len({r.content for r in replies}) == 1  # WeChat's retries: the same answer
    assert "预约已提交" in replies[0].content and "已确认" in replies[0].content
    [booking] = await bookings_on(chat, instruments.nmr_id)  # one booking, for the user's firm
    assert booking.enterprise_id == firm
    wallet = await chat.backend.client.get("/api/v1/me/vouchers", headers=await chat.headers(researcher))
    assert [h["held_fen"] for h in wallet.json()["holds"] if h["booking_id"] == str(booking.id)] == [30_000]
    code = booking_code(booking)
    assert code in replies[0].content

    listed = await sender.text(openid, "我的预约")
    assert code in listed.content
    # Another firm's researcher never sees it.
    other = await bind_openid(chat, "demo-researcher-2")
    assert code not in (await sender.text(other, "我的预约")).content

    # The slot is taken now: the other firm is offered what is still free that day.
    for text in [f"预约 {instruments.nmr}", "后天 14:00-15:00"]:
        reply = await sender.text(other, text)
    assert "不可预约" in reply.content and "1. " in reply.content

    cancel_ask = await sender.text(openid, "取消预约")
    assert code in cancel_ask.content
    done = await sender.text(openid, "1")
    assert "已取消" in done.content
    assert "已取消" in (await sender.text(openid, "我的预约")).content


async def test_one_message_can_fill_several_steps(chat: Chat, instruments: TaggedInstruments) -> None:
    sender = chat.sender()
    openid = await bind_openid(chat, "demo-researcher")
    slots = await sender.text(openid, f"预约 {instruments.xrd} 大后天上午")
    # XRD has one item, so after the slot comes the confirmation directly.
    # free time as ranges, with the shortest and longest booking said before the choice
    assert "可预约时段" in slots.content and "1. " in slots.content and "09:00-12:00" in slots.content
    assert "每次可约 1 小时至" in slots.content
    confirm = await sender.text(openid, "1 两小时")
    assert (
        "请确认预约" in confirm.content and "粉末衍射" in confirm.content and "09:00-11:00" in confirm.content
    )
    assert "预约已提交" in (await sender.text(openid, "确认")).content


async def test_sample_testing_asks_for_the_number_of_samples(
    chat: Chat, instruments: TaggedInstruments
) -> None:
    sender = chat.sender()
    openid = await bind_openid(chat, "demo-researcher")
    ask = await sender.text(openid, f"预约 {instruments.icp}")
    assert "样品数量" in ask.content
    assert "数量" in (await sender.text(openid, "很多")).content  # not a number: asked again
    confirm = await sender.text(openid, "3")
    assert "样品：3 个" in confirm.content and "450.00 元" in confirm.content
    booked = await sender.text(openid, "1")
    assert "预约已提交" in booked.content and "样品：3 个" in booked.content


async def test_leave_words_end_any_flow_and_stale_numbers_are_not_guessed(
    chat: Chat, instruments: TaggedInstruments
) -> None:
    sender = chat.sender()
    openid = await bind_openid(chat, "demo-researcher")
    await sender.text(openid, f"预约 {instruments.nmr}")
    assert "没看懂" in (await sender.text(openid, "随便什么时候")).content
    assert "已退出" in (await sender.text(openid, "算了")).content
    assert "序号已过期" in (await sender.text(openid, "1")).content
    await sender.text(openid, "找核磁")
    assert "已退出" in (await sender.text(openid, "取消")).content


async def test_conversation_state_expires(chat: Chat, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(base, "STATE_TTL_SECONDS", 0.3)
    sender, openid = chat.sender(), new_openid()
    await sender.text(openid, "找核磁")
    await asyncio.sleep(0.5)
    assert "序号已过期" in (await sender.text(openid, "1")).content


async def test_availability_lists_free_slots_by_the_calendar(
    chat: Chat, instruments: TaggedInstruments
) -> None:
    sender, openid = chat.sender(), new_openid()
    reply = await sender.text(openid, f"{instruments.xrd} 后天有空吗")
    # the opening hours (09:00-17:00) as one range, not eight pieces
    assert "空闲时间" in reply.content and "1. " in reply.content and "09:00-17:00" in reply.content
    assert "2. " not in reply.content and "17:00-18:00" not in reply.content


async def test_voucher_balance_shows_only_the_users_firm(chat: Chat) -> None:
    _, researcher = await new_firm_researcher(chat, voucher_fen=200_000)
    sender = chat.sender()
    qinghe = await bind_openid(chat, "demo-researcher")
    granted = await bind_openid(chat, researcher)
    unfunded = await bind_openid(chat, "demo-researcher-2")  # 蓝湾 holds no vouchers
    mine = await sender.text(qinghe, "券还剩多少")
    theirs = await sender.text(granted, "创新卷")
    assert "可用" in mine.content and "2,000.00 元" not in mine.content
    assert "可用 2,000.00 元" in theirs.content
    assert "没有可用的创新券" in (await sender.text(unfunded, "券还剩多少")).content
    assert "发放 2,000.00 元" in (await sender.text(granted, "券记录")).content


async def test_results_link_and_rating_by_digit(chat: Chat, instruments: TaggedInstruments) -> None:
    sender = chat.sender()
    _, researcher = await new_firm_researcher(chat)
    openid = await bind_openid(chat, researcher)
    for text in [f"预约 {instruments.icp}", "1", "1"]:
        await sender.text(openid, text)
    [booking] = await bookings_on(chat, instruments.icp_id)
    assert "还没有可下载" in (await sender.text(openid, "结果")).content
    await deliver(chat, booking)
    results = await sender.text(openid, "报告")
    link = re.search(r"/api/v1/results/\S+", results.content)
    assert link is not None, results.content
    # Tappable in WeChat: absolute, with its lifetime said.
    assert re.search(r"http://127\.0\.0\.1:8000/api/v1/results/", results.content), results.content
    assert "1 个文件" in results.content and "分钟内有效" in results.content
    assert (await chat.backend.client.get(link.group())).content == REPORT  # the link downloads the report
    prompt = await sender.text(openid, "评价")
    assert "1-5" in prompt.content
    thanks = await sender.text(openid, "5 数据很专业")
    assert "5 分" in thanks.content
    assert "已评价" in (await sender.text(openid, "我的预约")).content


async def test_details_link_to_the_h5_page_as_one_article_when_configured(
    chat: Chat, instruments: TaggedInstruments
) -> None:
    settings = chat.backend.settings
    WeChatSettings.of(settings).h5_base_url = "https://h5.yixiang.example"
    try:
        sender, openid = chat.sender(), new_openid()
        await sender.text(openid, f"找 {instruments.xrd}")
        reply = await sender.text(openid, "1")
        assert (
            reply.msg_type == "news"
            and reply.url == f"https://h5.yixiang.example/instruments/{instruments.xrd_id}"
        )
        assert reply.body.count("<item>") <= 1  # encrypted, but the decrypted reply holds one article
    finally:
        WeChatSettings.of(settings).h5_base_url = ""


async def test_my_bookings_tells_the_true_total_when_it_lists_only_the_newest(
    chat: Chat, instruments: TaggedInstruments
) -> None:
    _, researcher = await new_firm_researcher(chat)
    headers = await chat.headers(researcher)
    async with chat.backend.runtime.session_maker() as session:
        item_id = await session.scalar(
            select(ServiceItem.id).where(ServiceItem.instrument_id == instruments.icp_id)
        )
    body = {
        "instrument_id": str(instruments.icp_id),
        "mode": "sample_testing",
        "service_item_id": str(item_id),
    }
    for _ in range(my_bookings.KEPT + 2):
        made = await chat.backend.client.post("/api/v1/bookings", json=body | {"samples": 1}, headers=headers)
        assert made.status_code == 201, made.text
    listing = await chat.sender().text(await bind_openid(chat, researcher), "我的预约")
    assert f"共 {my_bookings.KEPT + 2} 条，这里是最近的 {my_bookings.KEPT} 条" in listing.content


async def test_a_request_for_a_person_is_recorded_with_what_the_chat_was_about(
    chat: Chat, instruments: TaggedInstruments
) -> None:
    sender, openid = chat.sender(), await bind_openid(chat, "demo-researcher")
    desk = await sender.text(openid, "人工客服")
    assert (
        "已记下您的请求" in desk.content
        and WeChatSettings.of(chat.backend.settings).service_desk in desk.content
    )
    await sender.text(openid, f"找 {instruments.xrd}")
    await sender.text(openid, "1")
    await sender.text(openid, "投诉：报告一直没出")
    async with chat.backend.runtime.session_maker() as session:
        asked = (
            await session.scalars(
                select(HumanRequest).where(HumanRequest.openid == openid).order_by(HumanRequest.id)
            )
        ).all()
    assert [(r.text, r.instrument_id) for r in asked] == [
        ("人工客服", None),
        ("投诉：报告一直没出", instruments.xrd_id),
    ]
    assert all(r.user_id == demo_id("demo-researcher") for r in asked)


def test_a_list_remembered_before_ranges_still_books_its_pieces() -> None:
    """A conversation whose free list was made by the previous version (pieces, no bounds)."""
    piece = ["2026-12-04T09:00:00+08:00", "2026-12-04T09:30:00+08:00"]
    old = {"slots": [piece]}
    assert ranges.take(old, 0, None) == tuple(datetime.fromisoformat(x) for x in piece)
    assert "序号" in ranges.how_to_pick(old)
