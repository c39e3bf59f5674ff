"""XRD 明天有空吗: free machine-time slots of an instrument, by its calendar."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from bot.conversation import ranges
from bot.conversation.base import LIST_LIMIT, UNAVAILABLE, Reply, Turn, more_hint, numbered
from bot.conversation.details import current_instrument
from bot.conversation.memory import remember
from bot.conversation.search import find, summary_line
from bot.conversation.when_words import closed_reason, day_of, passed
from bot.understanding import Reading
from yixiang.dates import When

DEFAULT_DAYS = 7
KEPT_SLOTS = 200  # remembered for 「更多」 and 「预约 序号」


async def handle(turn: Turn, reading: Reading) -> Reply:
    if turn.ports.catalog is None or turn.ports.bookings is None:
        return Reply(UNAVAILABLE)
    when = reading.slots.when
    if when is not None and (refused := passed(when, turn.now)):
        return Reply(refused)
    query = reading.query
    remember(turn, "availability", reading)
    instrument_id: uuid.UUID | None = None
    name = ""
    if query:
        found = await find(turn, query)
        if not found:
            if reading.slots.instrument:  # a known instrument word: say what the platform lacks
                return Reply(
                    f"平台上暂时没有开放预约的{reading.slots.instrument_said}（{reading.slots.instrument}）。"
                )
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
    free = await turn.ports.bookings.free_ranges(instrument_id, start, end) if end > start else None
    kept: dict[str, Any] = ranges.remembered(free) if free is not None else {"slots": [], "bounds": []}
    slots: list[list[str]] = kept["slots"][:KEPT_SLOTS]
    shown = min(LIST_LIMIT, len(slots))
    kept["slots"] = slots
    turn.set_flow("instrument", instrument_id=str(instrument_id), name=name, shown=shown, **kept)
    if not slots:
        why = closed_reason(day_of(when)) if when is not None else ""
        return Reply(f"{name} 在{label}没有空闲时段。{why}换个日期试试，例如「下周三有空吗」。")
    state = turn.state or {}
    total = len(slots)
    footer = "\n".join(x for x in (ranges.how_to_pick(state, "预约 "), more_hint(shown, total)) if x)
    return Reply(f"{name} 在{label}有 {total} 段空闲时间：\n" + numbered(ranges.lines(slots[:shown]), footer))


async def more(turn: Turn) -> Reply | None:
    """The next page of the free time in the conversation; None when there is none."""
    state = turn.state or {}
    if state.get("flow") != "instrument" or not state.get("slots") or "shown" not in state:
        return None
    slots, shown = state["slots"], state["shown"]
    if shown >= len(slots):
        return Reply(f"已经是全部 {len(slots)} 段空闲时间了。")
    page = slots[shown : shown + LIST_LIMIT]
    state["shown"] = shown + len(page)
    footer = "\n".join(
        x for x in (ranges.how_to_pick(state, "预约 "), more_hint(state["shown"], len(slots))) if x
    )
    return Reply(
        f"共 {len(slots)} 段空闲时间，第 {shown + 1}-{state['shown']} 段：\n"
        + numbered(ranges.lines(page), footer, shown + 1)
    )
