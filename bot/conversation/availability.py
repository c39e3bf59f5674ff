"""XRD 明天有空吗: free machine-time slots of an instrument, by its calendar."""

from __future__ import annotations

import uuid
from datetime import timedelta

from bot.conversation.base import LIST_LIMIT, UNAVAILABLE, Reply, Turn, numbered, when_text
from bot.conversation.details import current_instrument
from bot.conversation.intents import query_text
from bot.conversation.search import find, summary_line
from yixiang.dates import When, parse_when, strip_used

DEFAULT_DAYS = 7


async def handle(turn: Turn, rest: str) -> Reply:
    if turn.ports.catalog is None or turn.ports.bookings is None:
        return Reply(UNAVAILABLE)
    when = parse_when(rest, turn.now)
    query = query_text(strip_used(rest, when))
    instrument_id: uuid.UUID | None = None
    name = ""
    if query:
        found = await find(turn, query)
        if not found:
            return Reply(f"没有找到与「{query}」相关的仪器。")
        if len(found) > 1:
            turn.set_flow(
                "pick", purpose="instrument", ids=[str(i.id) for i in found], names=[i.name for i in found]
            )
            return Reply(
                "找到多台仪器，请先回复序号选择一台，再问空闲时段：\n"
                + numbered([summary_line(i) for i in found])
            )
        instrument_id, name = found[0].id, found[0].name
    else:
        instrument_id = current_instrument(turn)
        name = (turn.state or {}).get("name") or (turn.state or {}).get("instrument_name") or ""
    if instrument_id is None:
        return Reply("想查哪台仪器的空闲时段？例如「XRD 明天有空吗」。")
    return await list_free(turn, instrument_id, name, when)


async def list_free(turn: Turn, instrument_id: uuid.UUID, name: str, when: When | None) -> Reply:
    assert turn.ports.bookings is not None
    if when is None:
        start = turn.now
        end = turn.now + timedelta(days=DEFAULT_DAYS)
        label = f"未来 {DEFAULT_DAYS} 天"
    else:
        start, end, label = max(when.start, turn.now), when.end, when.label()
    slots = await turn.ports.bookings.free_slots(instrument_id, start, end) if end > start else []
    turn.set_flow(
        "instrument",
        instrument_id=str(instrument_id),
        name=name,
        slots=[[s.start.isoformat(), s.end.isoformat()] for s in slots[:LIST_LIMIT]],
    )
    if not slots:
        return Reply(f"{name} 在{label}没有空闲时段。换个日期试试，例如「下周三有空吗」。")
    lines = [when_text(s.start, s.end) for s in slots[:LIST_LIMIT]]
    more = f"（另有 {len(slots) - LIST_LIMIT} 个时段未列出）" if len(slots) > LIST_LIMIT else ""
    return Reply(f"{name} 在{label}的空闲时段{more}：\n" + numbered(lines, "回复「预约 序号」预约对应时段。"))
