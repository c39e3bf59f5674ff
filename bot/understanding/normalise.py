"""Normalisation: full width → half width, Traditional → Simplified, lower case, no emoji or
punctuation (except what times and model numbers need: 14:00-16:00, ICP-MS, 12/3).

The same cleaning search applies to a whole-sentence query (``search.sentence.clean``), so the
bot and the search box read a message alike.
"""

from __future__ import annotations

from search.sentence import clean


def normalise(text: str) -> str:
    return clean(text)


def only_a_question_mark(text: str) -> bool:
    """ "?" alone asks what the bot can do (WeChat users send it to a silent account)."""
    return text.strip() in {"?", "？", "??", "？？"}
