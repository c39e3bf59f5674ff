"""Greetings, thanks, asking for a person, and the short question the bot asks when unsure."""

from __future__ import annotations

import logging
import uuid

from bot.conversation.base import Reply, Turn, numbered
from bot.models import HumanRequest
from bot.settings import WeChatSettings
from bot.understanding import Reading

log = logging.getLogger("bot.conversation")

# The choices offered when the bot is unsure; a number answers with the message beside it.
CHOICES = [
    ("找仪器", "找仪器"),
    ("查看我的预约", "我的预约"),
    ("查创新券余额", "券还剩多少"),
    ("联系人工客服", "人工"),
]


async def greeting(turn: Turn, reading: Reading) -> Reply:
    return Reply(
        "您好！我是仪享助手。直接发送仪器名称即可搜索，例如「核磁」「明天下午的XRD」；发送「帮助」查看全部用法。"
    )


async def thanks(turn: Turn, reading: Reading) -> Reply:
    return Reply("不客气！还需要什么，直接发给我就好。")


async def clarify(turn: Turn, reading: Reading) -> Reply:
    """Low confidence: one short question with numbered choices, never a search for the sentence."""
    turn.set_flow("pick", purpose="choice", ids=[message for _, message in CHOICES])
    return Reply("没太明白您的意思。您是想：\n" + numbered([label for label, _ in CHOICES], "回复序号即可。"))


async def _instrument_in_conversation(turn: Turn) -> uuid.UUID | None:
    state = turn.state or {}
    if state.get("instrument_id"):
        return uuid.UUID(state["instrument_id"])
    if state.get("booking_id") and turn.ports.bookings is not None and turn.principal is not None:
        for b in await turn.ports.bookings.list_mine(turn.principal, limit=50):
            if str(b.id) == state["booking_id"]:
                return b.instrument_id
    return None


async def human(turn: Turn, reading: Reading) -> Reply:
    """人工 / 客服 / 投诉: the provider's contact for the instrument or booking in the conversation,
    else the platform's service desk with its hours; the request is recorded (bot_human_requests)
    for the people who answer."""
    desk = WeChatSettings.of(turn.settings).service_desk
    instrument_id = await _instrument_in_conversation(turn)
    contact = None
    if instrument_id is not None and turn.ports.catalog is not None:
        d = await turn.ports.catalog.details(instrument_id, turn.principal)
        if d is not None and (d.contact_phone or d.contact_name):
            who = " ".join(x for x in (d.contact_name, d.contact_phone) if x)
            contact = f"{d.name}（{d.unit_name}）的联系人：{who}。\n如需投诉或平台帮助：{desk}"
    booking_id = (turn.state or {}).get("booking_id")
    async with turn.session_maker() as session, session.begin():
        session.add(
            HumanRequest(
                openid=turn.openid,
                user_id=turn.principal.user_id if turn.principal else None,
                instrument_id=instrument_id,
                booking_id=uuid.UUID(booking_id) if booking_id else None,
                text=(turn.incoming.text or reading.text)[:500],  # as the user wrote it
                referred_to="provider" if contact else "desk",
            )
        )
    log.info("bot.human_requested openid=%s instrument=%s", turn.openid[:6] + "***", instrument_id)
    return Reply(contact or f"已记下您的请求。{desk}")
