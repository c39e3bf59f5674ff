"""One message in, one reply out: leave words, the current flow, then intent detection."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from types import ModuleType

from bot.conversation import (
    availability,
    bind,
    book,
    cancel,
    details,
    my_bookings,
    pick,
    rate,
    results,
    search,
    voucher,
    wechat_events,
)
from bot.conversation import help as help_intent
from bot.conversation.base import Reply, Turn, fit_text, pick_number
from bot.conversation.intents import detect, is_leave
from yixiang.errors import DomainError

log = logging.getLogger("bot.conversation")

Handler = Callable[[Turn, str], Awaitable[Reply]]

HANDLERS: dict[str, Handler] = {
    "help": help_intent.handle,
    "bind": bind.handle,
    "search": search.handle,
    "details": details.handle,
    "availability": availability.handle,
    "book": book.handle,
    "my_bookings": my_bookings.handle,
    "cancel_booking": cancel.handle,
    "voucher": voucher.handle,
    "voucher_history": voucher.history,
    "results": results.handle,
    "rate": rate.handle,
}

# Flows that continue with the next message; those with ``reprompt`` insist on an answer.
FLOWS: dict[str, ModuleType] = {"book": book, "pick": pick, "cancel": cancel, "rate": rate}


async def respond(turn: Turn) -> Reply:
    try:
        if turn.incoming.kind == "event":
            reply = await wechat_events.handle(turn)
        elif turn.incoming.kind == "text":
            reply = await respond_to_text(turn, turn.incoming.text)
        else:
            reply = Reply("目前只能看懂文字消息。发送「帮助」查看可以做什么。")
    except DomainError as exc:
        # A rule of another domain said no (slot taken, no balance...): its message is for the user.
        reply = Reply(exc.message)
    if reply.text:
        reply.text = fit_text(reply.text)
    return reply


async def respond_to_text(turn: Turn, text: str) -> Reply:
    if is_leave(text):
        had_flow = turn.state is not None and turn.state.get("flow") in FLOWS
        turn.clear_flow()
        return Reply("好的，已退出当前操作。" if had_flow else "好的。发送「帮助」查看可以做什么。")
    flow = FLOWS.get(str((turn.state or {}).get("flow")))
    if flow is not None:
        reply: Reply | None = await flow.resume(turn, text)
        if reply is not None:
            return reply
    intent = detect(text)
    if intent is not None:
        return await HANDLERS[intent.name](turn, intent.rest)
    if flow is not None:
        reprompt: Reply = await flow.reprompt(turn)
        return reprompt
    if pick_number(text, 99) is not None:
        return Reply("这个序号已过期或没有对应的列表。请重新搜索，或发送「帮助」查看用法。")
    # Anything else is most likely an instrument name: "核磁", "XRD", "扫描电镜 杭州".
    return await search.handle(turn, text)
