"""Small text helpers of the flows (a confirmation word, a name typed inside a flow); reading a
message — intent and slots — is ``bot.understanding``."""

from __future__ import annotations

import re

from yixiang.dates import normalize

FILLER = re.compile(r"(请问|请|帮我|帮忙|我想|我要|想要|一下|吗|呢|吧|啊|的|了|仪器|设备|一台)")
PUNCTUATION = re.compile(r"[，。！？、；：,.!?;:\"'“”‘’（）()\[\]【】<>《》\s]+")


def clean(text: str) -> str:
    return normalize(text).strip().lower()


def query_text(text: str) -> str:
    """A search query from what is left of a message: no filler words or punctuation."""
    return " ".join(PUNCTUATION.sub(" ", FILLER.sub(" ", clean(text))).split())
