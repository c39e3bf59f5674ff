"""The conversation table (``tests/bot/data/conversations.toml``): multi-turn behaviour —
refinement, 「更多」, leaving, booking from a sentence to confirmation — through the real webhook."""

from __future__ import annotations

import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Any

from tests.bot.chat import Chat, TaggedInstruments, bind_openid, new_firm_researcher, new_openid
from yixiang.clock import shanghai_today

TABLE = Path(__file__).parent / "data" / "conversations.toml"


def conversations() -> list[dict[str, Any]]:
    with TABLE.open("rb") as f:
        found: list[dict[str, Any]] = tomllib.load(f)["conversation"]
    return found


def test_the_table_holds_at_least_fifty_conversations() -> None:
    names = [c["name"] for c in conversations()]
    assert len(names) >= 50 and len(set(names)) == len(names)


async def test_each_conversation_goes_as_the_table_says(chat: Chat, instruments: TaggedInstruments) -> None:
    # One researcher of a firm with a voucher for every bound conversation (one follower each):
    # the table's bookings use distinct hours, and the checks read the firm's own records.
    _, researcher = await new_firm_researcher(chat, voucher_fen=1_000_000)
    sender = chat.sender()
    today = shanghai_today()
    days = {name: today + timedelta(days=n) for name, n in (("today", 0), ("in_two_days", 2))}
    names = {"nmr": instruments.nmr, "xrd": instruments.xrd, "icp": instruments.icp}
    names |= {name: f"{day.month}月{day.day}日" for name, day in days.items()}
    failures = []
    for conversation in conversations():
        openid = await bind_openid(chat, researcher) if conversation.get("bound") else new_openid()
        for message, *expected in conversation["steps"]:
            reply = (await sender.text(openid, message.format(**names))).content
            for text in (e.format(**names) for e in expected):
                missing = text[1:] in reply if text.startswith("!") else text not in reply
                if missing:
                    failures.append(f"{conversation['name']}: 「{message}」 → {reply!r} (expected {text!r})")
    assert not failures, "\n".join(failures)
