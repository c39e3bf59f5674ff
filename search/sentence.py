"""A whole sentence as a query: "明天下午有没有便宜点的核磁" searches for 核磁.

Researchers type sentences, in the bot and in the mini-program's search box alike. What is not
about the instrument is left out of the query terms: the date and time expression
(``yixiang.dates``), and the stop words below — particles, verbs of asking and finding, words for
"instrument" — matched as whole words (jieba's words with the search vocabulary, whole Latin
words), so a name that contains one of them ("查" in 检查) keeps it. The bot's understanding
reads the same stop words (bot may import search, not the other way round).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from datetime import datetime

import jieba

from search.phonetic import correct
from search.text import normalize, synonyms
from yixiang.dates import without_time_words

STOP_WORDS = frozenset(
    """
    的 了 吗 呢 吧 啊 呀 嘛 哦 哈 么 吗吗 嗯 哪 那 这 那个 这个 一下 一台 一个 台 个 些 点 一点
    我 我们 我想 我要 想 要 想要 需要 请 请问 麻烦 帮 帮我 帮忙 给 给我 能 能不能 可以 可不可以 有 有没有
    有吗 还有 在 哪 哪里 哪儿 哪有 哪里有 什么 怎么 怎么样 是 是不是 用 做 测 找 找找 搜 搜索 查 查查 查找
    寻找 看看 看 一些 仪器 设备 机器 机子 台仪器 附近 周边 这边 当地 本地 预约 预定 预订 约 订
    i i'd want need to a an the some any for me my please can could is are there do does find search
    look looking book booking reserve instrument instruments machine near nearby where with
    便宜 便宜点 便宜的 最便宜 实惠 价格低 价格便宜 低价 评分高 评分最高 好评 口碑好 评价好 最好 最近 离我近
    cheap cheaper cheapest best nearest closest top rated 送 送样 寄样 送检 大约 大概 仪 到 in at on of
    what about how
    """.split()
)
# Emoji, pictographs and WeChat's emoticon codes ("[微笑]") say nothing a search or a command needs.
EMOJI = re.compile(r"[\U0001F000-\U0001FAFF\u2600-\u27BF\u2B00-\u2BFF\uFE0F\u200D]|\[[\u4e00-\u9fff]{1,4}\]")
# Punctuation becomes a space; "-", ":", "/", "~", "." and "+" stay (14:00-16:00, ICP-MS, 12/3).
PUNCTUATION = re.compile(r"[^\w\s\-:/~.+]")


@functools.lru_cache(maxsize=16384)
def clean(text: str) -> str:
    """Normalised (full width → half, Traditional → Simplified, lower case) without emoji or
    punctuation, spaces collapsed."""
    text = EMOJI.sub(" ", unicodedata.normalize("NFKC", text))
    return " ".join(PUNCTUATION.sub(" ", normalize(text)).split())


PIECE = re.compile(r"[a-z0-9]+(?:[-./+'][a-z0-9]+)*|[\u3400-\u9fff]+")


def words(text: str) -> list[tuple[str, int, int]]:
    """The words of a cleaned text as (word, start, end): Latin words whole ("icp-ms", "jsm-7800"),
    Chinese runs cut by jieba with the search vocabulary (核磁共振 stays one word)."""
    synonyms()  # the vocabulary is jieba's dictionary from here on
    found: list[tuple[str, int, int]] = []
    for piece in PIECE.finditer(text):
        if piece.group()[0].isascii():
            found.append((piece.group(), piece.start(), piece.end()))
        else:
            found.extend((w, piece.start() + s, piece.start() + e) for w, s, e in _cut(piece.group()))
    return found


@functools.lru_cache(maxsize=16384)
def _cut(run: str) -> tuple[tuple[str, int, int], ...]:
    return tuple(jieba.tokenize(run))


def query_of_sentence(sentence: str, now: datetime) -> str:
    """The query terms of a sentence: no date or time words, no stop words."""
    # Corrected first: a slip may be a stop word on its own (点 in 扫描点镜 is "a bit").
    text = clean(without_time_words(correct(clean(sentence)), now))
    return " ".join(w for w, _, _ in words(text) if w not in STOP_WORDS)
