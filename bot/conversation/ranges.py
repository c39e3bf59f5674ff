"""Free time offered as ranges (09:00-12:00), not 30-minute pieces: the user picks a range and,
if they like, a length (「预约 1 两小时」); the booking starts at the range's start. The rules that
bound a booking (shortest, longest) are said with the list, before the user chooses."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from bot.conversation.base import pick_number, when_text
from bot.ports import FreeRanges
from bot.understanding.slots import Text, find_duration
from yixiang.dates import normalize

# 「1」「预约 2」「3 两小时」「第2个，90分钟」: a list number first, then anything said of the length.
_NUMBER_THEN_REST = re.compile(
    r"^\s*(?:预约|约|book)?\s*(第?[0-9一二三四五六七八九十]+[个项号条]?)\s*[,，、]?\s*(.*)$"
)


def span(minutes: int) -> str:
    hours, rest = divmod(minutes, 60)
    return "".join(part for part in (f"{hours} 小时" if hours else "", f"{rest} 分钟" if rest else ""))


def remembered(free: FreeRanges) -> dict[str, Any]:
    """What the conversation keeps of a list of ranges (its state is JSON)."""
    return {
        "slots": [[r.start.isoformat(), r.end.isoformat()] for r in free.ranges],
        "bounds": [free.min_minutes, free.max_minutes, free.step_minutes],
    }


def lines(ranges: list[list[str]]) -> list[str]:
    return [when_text(datetime.fromisoformat(a), datetime.fromisoformat(b)) for a, b in ranges]


def how_to_pick(state: dict[str, Any], prefix: str = "") -> str:
    if not state.get("bounds"):  # a list remembered before ranges were offered
        return f"回复「{prefix}序号」预约对应时段。"
    low, high, step = state["bounds"]
    return (
        f"每次可约 {span(low)}至 {span(high)}，以 {span(step)}为单位。"
        f"回复「{prefix}序号」从该段开头约 {span(low)}，可加时长，如「{prefix}1 两小时」；"
        "也可直接说时间，如「后天 9点到11点」。"
    )


def number_and_minutes(text: str, count: int) -> tuple[int, int | None] | None:
    """The list index and the length said with it, from 「2」「预约 2 两小时」; None if no number."""
    found = _NUMBER_THEN_REST.match(normalize(text))
    if found is None:
        return None
    index = pick_number(found.group(1), count)
    if index is None:
        return None
    rest = found.group(2).strip()
    minutes = find_duration(Text(rest)) if rest else None
    if rest and minutes is None:
        return None  # something else was said after the number: not a pick
    return index, minutes


def take(state: dict[str, Any], index: int, minutes: int | None) -> tuple[datetime, datetime] | str:
    """[start, end) from the start of range ``index``, ``minutes`` long (the shortest booking if
    not said); or why not, in words."""
    start, end = (datetime.fromisoformat(x) for x in state["slots"][index])
    if not state.get("bounds"):  # a list remembered before ranges were offered: its pieces as they were
        return start, end
    low, high, step = state["bounds"]
    wanted = minutes if minutes is not None else low
    wanted = -(-wanted // step) * step  # a started step is a booked step
    if wanted < low:
        return f"每次至少预约 {span(low)}。"
    if wanted > high:
        return f"每次最多预约 {span(high)}，可以分成几次预约。"
    if start + timedelta(minutes=wanted) > end:
        return f"这一段只到 {when_text(start, end)[-5:]}，放不下 {span(wanted)}：请缩短时长或换一段。"
    return start, start + timedelta(minutes=wanted)
