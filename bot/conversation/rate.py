"""评价: after results are delivered the bot asks for 1-5; a reply with the digit rates the booking."""

from __future__ import annotations

import re
import uuid

from bot.conversation.base import Reply, Turn, numbered
from bot.conversation.intents import clean
from bot.conversation.my_bookings import bookings_of, line

SCORE = re.compile(r"^\s*([1-5一二三四五])\s*(?:分|星)?[\s,，。:：]*(.*)$", re.S)
CN_SCORE = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5}
PROMPT = "请为本次服务打分：回复 1-5 的数字（5 为非常满意），可在数字后附上评语，例如「5 数据很专业」。"


def prompt_for(instrument_name: str, code: str) -> str:
    return f"您在 {instrument_name} 的预约（{code}）已完成并交付结果。{PROMPT}"


async def handle(turn: Turn, rest: str) -> Reply:
    found = await bookings_of(turn)
    if isinstance(found, Reply):
        return found
    open_ = [b for b in found if b.can_rate]
    if not open_:
        return Reply("没有待评价的预约。")
    if len(open_) == 1:
        return ask_score(turn, open_[0].id, open_[0].code)
    turn.set_flow("pick", purpose="rate", ids=[str(b.id) for b in open_])
    return Reply("要评价哪条预约？请回复序号：\n" + numbered([line(b) for b in open_]))


def ask_score(turn: Turn, booking_id: uuid.UUID, code: str = "") -> Reply:
    turn.set_flow("rate", booking_id=str(booking_id), code=code)
    return Reply(PROMPT)


async def resume(turn: Turn, text: str) -> Reply | None:
    match = SCORE.match(clean(text))
    if match is None:
        return None
    if turn.principal is None or turn.ports.bookings is None:
        from bot.conversation.base import NEEDS_BINDING

        return Reply(NEEDS_BINDING)
    raw = match.group(1)
    score = CN_SCORE.get(raw) or int(raw)
    comment = match.group(2).strip()[:500]
    booking = await turn.ports.bookings.rate(
        turn.principal,
        uuid.UUID((turn.state or {})["booking_id"]),
        score=score,
        comment=comment,
        idempotency_key=turn.effect_key("rate"),
    )
    turn.clear_flow()
    return Reply(f"感谢您的评价（{score} 分）！预约 {booking.code} 已完成评价。")


async def reprompt(turn: Turn) -> Reply:
    return Reply(PROMPT + "（发送「取消」暂不评价）")
