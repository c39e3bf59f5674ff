"""Understanding what researchers type: the utterance table, and each layer alone.

The table is ``tests/bot/data/utterances.csv``, one utterance a row with what the bot must read
from it; a product person extends it without touching code (its header says how). Dates resolve
against Monday 2026-11-23 10:30 in Shanghai.
"""

from __future__ import annotations

import csv
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.understanding import Reading, understand
from bot.understanding.normalise import normalise
from bot.understanding.segment import boundaries, words
from bot.understanding.slots import Text, find_place, find_slots
from yixiang.clock import SHANGHAI
from yixiang.dates import When

NOW = datetime(2026, 11, 23, 10, 30, tzinfo=SHANGHAI)  # a Monday morning
TABLE = Path(__file__).parent / "data" / "utterances.csv"
COLUMNS = (
    "intent",
    "instrument",
    "brand",
    "when",
    "duration",
    "samples",
    "sort",
    "place",
    "words",
    "follow_up",
    "number",
)


def rows() -> list[dict[str, str]]:
    with TABLE.open(encoding="utf-8") as f:
        lines = [line for line in f if not line.startswith("#")]
    return [{k: (v or "").strip() for k, v in row.items()} for row in csv.DictReader(lines)]


def when_text(when: When | None) -> str:
    """'11-24 13:00-18:00', '11-24 14:00-16:00 exact', '11-24' (a whole day), '11-28~11-29'."""
    if when is None:
        return ""
    s, e = when.start.astimezone(SHANGHAI), when.end.astimezone(SHANGHAI)
    if when.whole_days:
        last = e - timedelta(days=1)
        return f"{s:%m-%d}" if last.date() == s.date() else f"{s:%m-%d}~{last:%m-%d}"
    return f"{s:%m-%d %H:%M}-{e:%H:%M}" + (" exact" if when.exact else "")


def read(reading: Reading) -> dict[str, str]:
    s = reading.slots
    return {
        "intent": reading.intent,
        "instrument": s.instrument,
        "brand": s.brand,
        "when": when_text(s.when),
        "duration": str(s.duration_minutes or ""),
        "samples": str(s.samples or ""),
        "sort": s.sort,
        "place": s.place_name,
        "words": " ".join(reading.words),
        "follow_up": "yes" if reading.follow_up else "",
        "number": str(reading.number or ""),
    }


def test_the_table_holds_at_least_three_hundred_utterances() -> None:
    assert len(rows()) >= 300
    texts = [row["text"] for row in rows()]
    assert len(set(texts)) == len(texts), "an utterance is in the table twice"


@pytest.mark.parametrize("row", rows(), ids=lambda row: row["text"])
def test_each_utterance_is_understood_as_the_table_says(row: dict[str, str]) -> None:
    expected = {column: row[column] for column in COLUMNS}
    assert read(understand(row["text"], NOW)) == expected


def test_confidence_is_low_only_where_the_bot_asks_back() -> None:
    for row in rows():
        reading = understand(row["text"], NOW)
        assert reading.confident == (row["intent"] != "other"), row["text"]


def test_normalisation_folds_width_script_case_punctuation_and_emoji() -> None:
    assert normalise("ＮＭＲ，明天下午？") == "nmr 明天下午"
    assert normalise("掃描電鏡😀[微笑]") == "扫描电镜"
    assert normalise("１４：００－１６：００") == "14:00-16:00"
    assert normalise("ICP-MS!!") == "icp-ms"


def test_segmentation_keeps_instrument_words_and_latin_models_whole() -> None:
    assert [w for w, _, _ in words("附近有没有液相")] == ["附近", "有没有", "液相"]
    assert [w for w, _, _ in words("jsm-7800f 核磁共振")] == ["jsm-7800f", "核磁共振"]
    assert 1 not in boundaries("大约") and 2 in boundaries("我想约")  # where 约 starts


def test_slots_are_found_anywhere_and_leave_the_rest() -> None:
    t = Text(normalise("明天下午三点到五点 杭州 便宜的核磁 2个小时"))
    slots = find_slots(t, NOW)
    assert (slots.instrument, slots.place_name, slots.sort, slots.duration_minutes) == (
        "NMR",
        "杭州",
        "price",
        120,
    )
    assert t.rest.split() == ["的"]
    assert find_place(Text("滨江区附近")) == ("330108", "滨江")


def test_commands_are_whole_words_never_guesses() -> None:
    assert understand("find NMR", NOW).intent == "search"
    assert understand("bind 123456", NOW).code == "123456"
    assert understand("binder clips", NOW).intent != "bind"
    assert understand("大约三点", NOW).intent == "refine"  # 约 inside 大约 is no booking


@pytest.mark.parametrize("hour", [10, 21])
def test_a_part_of_day_alone_refines_the_remembered_day_morning_or_evening(hour: int) -> None:
    """「XRD 后天上午有空吗」 then 「下午呢」: 后天下午, also in the evening, when 「下午」 alone
    would otherwise mean tomorrow's (today's has passed)."""
    from types import SimpleNamespace

    from bot.conversation.memory import refine, remember

    now = NOW.replace(hour=hour)
    turn: Any = SimpleNamespace(state={}, now=now)
    remember(turn, "availability", understand("XRD 后天上午有空吗", now))
    refined = refine(turn, understand("下午呢", now))
    assert refined is not None and refined.slots.when is not None
    start = refined.slots.when.start.astimezone(SHANGHAI)
    assert (start.date(), start.hour) == (now.date() + timedelta(days=2), 13)
    said_tomorrow = refine(turn, understand("明天下午呢", now))
    assert said_tomorrow is not None and said_tomorrow.slots.when is not None
    assert said_tomorrow.slots.when.start.astimezone(SHANGHAI).date() == now.date() + timedelta(days=1)
