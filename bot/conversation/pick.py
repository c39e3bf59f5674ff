"""Numbered lists: a reply with the number continues with the item it names."""

from __future__ import annotations

import uuid

from bot.conversation.base import Reply, Turn, pick_number


async def resume(turn: Turn, text: str) -> Reply | None:
    state = turn.state or {}
    ids = state.get("ids") or []
    index = pick_number(text, len(ids))
    if index is None:
        return None
    purpose = state.get("purpose")
    if purpose == "choice":  # the bot asked back: the number answers with the message beside it
        from bot.conversation.router import respond_to_text

        turn.clear_flow()
        return await respond_to_text(turn, ids[index])
    chosen = uuid.UUID(ids[index])
    if purpose == "instrument":
        from bot.conversation import details

        return await details.show(turn, chosen)
    if purpose == "booking":
        from bot.conversation import my_bookings

        return await my_bookings.show_one(turn, chosen)
    if purpose == "cancel":
        from bot.conversation import cancel

        return await cancel.choose(turn, chosen)
    if purpose == "results":
        from bot.conversation import results

        return await results.send(turn, chosen)
    if purpose == "rate":
        from bot.conversation import rate

        return rate.ask_score(turn, chosen)
    return None


async def reprompt(turn: Turn) -> Reply:
    count = len((turn.state or {}).get("ids") or [])
    return Reply(f"请回复 1-{count} 的序号继续，或发送「取消」退出。")
