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
    chitchat,
    details,
    live,
    memory,
    my_bookings,
    pick,
    rate,
    results,
    search,
    voucher,
    wechat_events,
)
from bot.conversation import help as help_intent
from bot.conversation.base import Reply, Turn, fit_text
from bot.understanding import Reading, understand
from yixiang.errors import DomainError

log = logging.getLogger("bot.conversation")

Handler = Callable[[Turn, Reading], Awaitable[Reply]]


def _rest(handler: Callable[[Turn, str], Awaitable[Reply]]) -> Handler:
    """A handler that reads only a number or a code left in the message (「取消预约 2」, 「绑定 123456」)."""

    async def handle(turn: Turn, reading: Reading) -> Reply:
        return await handler(turn, reading.code or (str(reading.number) if reading.number else ""))

    return handle


HANDLERS: dict[str, Handler] = {
    "help": _rest(help_intent.handle),
    "bind": _rest(bind.handle),
    "search": search.handle,
    "details": details.handle,
    "availability": availability.handle,
    "live_status": live.handle,
    "book": book.handle,
    "my_bookings": _rest(my_bookings.handle),
    "cancel": _rest(cancel.handle),
    "vouchers": _rest(voucher.handle),
    "voucher_history": _rest(voucher.history),
    "results": _rest(results.handle),
    "rate": _rest(rate.handle),
    "human": chitchat.human,
    "greeting": chitchat.greeting,
    "thanks": chitchat.thanks,
    "other": chitchat.clarify,
}

# How sure the bot must be to leave a flow for another request (a bare unknown word is not).
FLOW_INTERRUPT = 0.7
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


async def more(turn: Turn) -> Reply:
    """还有吗 / 更多 / 下一页 / next: the next page of whatever list the conversation shows."""
    for module in (search, availability, my_bookings):
        reply: Reply | None = await module.more(turn)
        if reply is not None:
            return reply
    return Reply("现在没有可以继续的列表。发送仪器名称（如「核磁」）开始搜索。")


async def respond_to_text(turn: Turn, text: str) -> Reply:
    reading = understand(text, turn.now)
    if reading.intent == "leave":
        had_flow = turn.state is not None and turn.state.get("flow") in FLOWS
        turn.clear_flow()
        return Reply("好的，已退出当前操作。" if had_flow else "好的。发送「帮助」查看可以做什么。")
    flow = FLOWS.get(str((turn.state or {}).get("flow")))
    if flow is not None:
        resumed: Reply | None = await flow.resume(turn, text)
        if resumed is not None:
            return resumed
    if reading.intent == "more":
        return await more(turn)
    if reading.intent == "pick":
        if flow is not None:
            reprompt: Reply = await flow.reprompt(turn)
            return reprompt
        return Reply("这个序号已过期或没有对应的列表。请重新搜索，或发送「帮助」查看用法。")
    if reading.follow_up or reading.intent == "refine":
        refined = memory.refine(turn, reading)
        if refined is not None:
            reading = refined
        elif reading.intent == "refine":
            return Reply("想找什么仪器？请发送名称，例如「核磁」「明天下午的XRD」。")
    if flow is not None and reading.confidence < FLOW_INTERRUPT:
        # Inside a flow, a guess (unknown words) is a wrong answer to its question, not a search.
        again: Reply = await flow.reprompt(turn)
        return again
    return await HANDLERS[reading.intent](turn, reading)
