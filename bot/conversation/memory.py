"""Conversation memory: the last request (search, free slots, booking) and its slots, kept in the
conversation state so that a message that only adds a slot refines it instead of starting over:
「核磁 明天」 → 「下午呢」 (明天下午), 「换成后天」, 「那XRD呢」 (the same day, another instrument)."""

from __future__ import annotations

import dataclasses
from datetime import datetime, time
from typing import Any

from bot.conversation.base import Turn
from bot.understanding import Reading
from bot.understanding.slots import Slots
from yixiang.clock import SHANGHAI
from yixiang.dates import When, parse_when

REFINABLE = ("search", "availability", "book")


def remember(turn: Turn, intent: str, reading: Reading) -> None:
    s = reading.slots
    when = s.when
    last: dict[str, Any] = {
        "intent": intent,
        "instrument": s.instrument,
        "instrument_said": s.instrument_said,
        "brand": s.brand,
        "brand_said": s.brand_said,
        "words": list(reading.words),
        "when": [when.start.isoformat(), when.end.isoformat(), when.exact] if when else None,
        "place": s.place,
        "place_name": s.place_name,
        "sort": s.sort,
        "duration": s.duration_minutes,
    }
    turn.state = {**(turn.state or {}), "last": last}


def _merge_when(old: When | None, new: When | None, text: str, now: datetime) -> When | None:
    """「后天上午」 then 「下午呢」: the new part of day on the remembered day. A part of day said
    alone resolves to today (tomorrow once it has passed: 「下午呢」 in the evening); when the
    remembered day was another, it is meant for that day."""
    if new is None:
        return old
    if old is None or new.whole_days:
        return new
    today = now.astimezone(SHANGHAI).date()
    # read again as at this morning's midnight: a part of day alone is today then, whatever the hour
    midnight = datetime.combine(today, time(0), SHANGHAI)
    at_midnight = parse_when(text, midnight) or new
    old_day, new_day = (w.start.astimezone(SHANGHAI).date() for w in (old, at_midnight))
    if new_day != today or old_day == today:
        return new  # a day was said with it, or the remembered day is today anyway
    start = datetime.combine(old_day, new.start.astimezone(SHANGHAI).time(), SHANGHAI)
    return When(start, start + (new.end - new.start), new.exact, ())


def refine(turn: Turn, reading: Reading) -> Reading | None:
    """The last request with this message's slots put in; None when there is nothing to refine."""
    last = (turn.state or {}).get("last")
    if not last or last.get("intent") not in REFINABLE:
        return None
    s = reading.slots
    data = last.get("when")
    old_when = (
        When(datetime.fromisoformat(data[0]), datetime.fromisoformat(data[1]), bool(data[2]), ())
        if data
        else None
    )
    instrument_changed = bool(s.instrument or s.brand or reading.words)
    merged = Slots(
        instrument=s.instrument or ("" if instrument_changed else last["instrument"]),
        instrument_said=s.instrument_said or ("" if instrument_changed else last["instrument_said"]),
        brand=s.brand or ("" if instrument_changed else last["brand"]),
        brand_said=s.brand_said or ("" if instrument_changed else last["brand_said"]),
        when=_merge_when(old_when, s.when, reading.text, turn.now) if s.when else old_when,
        duration_minutes=s.duration_minutes or last.get("duration"),
        samples=s.samples,
        sort=s.sort or last["sort"],
        place=s.place or last["place"],
        place_name=s.place_name or last["place_name"],
    )
    words = reading.words if instrument_changed else tuple(last["words"])
    return dataclasses.replace(reading, intent=last["intent"], confidence=0.8, slots=merged, words=words)
