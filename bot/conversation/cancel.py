"""取消预约: pick a cancellable booking, confirm, cancel (the voucher hold is released by booking)."""

from __future__ import annotations

import uuid

from bot.conversation.base import Reply, Turn, numbered, pick_number
from bot.conversation.book import CONFIRM_WORDS
from bot.conversation.intents import clean
from bot.conversation.my_bookings import bookings_of, line
from bot.ports import BookingView


async def handle(turn: Turn, rest: str) -> Reply:
    found = await bookings_of(turn)
    if isinstance(found, Reply):
        return found
    cancellable = [b for b in found if b.can_cancel]
    state = turn.state or {}
    if state.get("flow") == "booking" and state.get("booking_id"):
        for b in cancellable:
            if str(b.id) == state["booking_id"] and not rest:
                return ask(turn, b)
    if not cancellable:
        turn.clear_flow()
        return Reply("没有可以取消的预约。")
    index = pick_number(rest, len(cancellable)) if rest else None
    if index is not None:
        return ask(turn, cancellable[index])
    if len(cancellable) == 1:
        return ask(turn, cancellable[0])
    turn.set_flow("pick", purpose="cancel", ids=[str(b.id) for b in cancellable])
    return Reply("要取消哪条预约？请回复序号：\n" + numbered([line(b) for b in cancellable]))


def ask(turn: Turn, b: BookingView) -> Reply:
    turn.set_flow("cancel", booking_id=str(b.id), code=b.code)
    return Reply(f"确认取消预约 {b.code}（{line(b)}）？\n回复 1 确认取消，回复「算了」保留。")


async def choose(turn: Turn, booking_id: uuid.UUID) -> Reply:
    found = await bookings_of(turn)
    if isinstance(found, Reply):
        return found
    for b in found:
        if b.id == booking_id and b.can_cancel:
            return ask(turn, b)
    turn.clear_flow()
    return Reply("这条预约已不能取消。")


async def resume(turn: Turn, text: str) -> Reply | None:
    if clean(text).strip("。.!！") not in CONFIRM_WORDS:
        return None
    assert turn.ports.bookings is not None and turn.principal is not None
    booking = await turn.ports.bookings.cancel(
        turn.principal,
        uuid.UUID((turn.state or {})["booking_id"]),
        reason="研究人员通过公众号取消",
        idempotency_key=turn.effect_key("cancel"),
    )
    turn.clear_flow()
    return Reply(
        f"预约 {booking.code} 已取消，状态：{booking.status_label}。如有冻结的创新券额度会自动释放。"
    )


async def reprompt(turn: Turn) -> Reply:
    return Reply("回复 1 确认取消，回复「算了」保留这条预约。")
