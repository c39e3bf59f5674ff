"""Intent: what the researcher wants, with a confidence, from the words the slots left.

Commands are a table read top to bottom (specific phrases before general ones: 取消预约 before
取消, 我的预约 before 预约). A command matches as a whole word — Latin words at word boundaries
(「find NMR」 is not 「bind」), one-character Chinese commands (约, 找, 查, 券) only where a word
starts (大约 and 检查 are not commands) — never as an edit-distance guess over the message;
the typos researchers make are listed as words of their command (我的预越, 帮组).

Without a command, an instrument or brand word is a search; unknown words alone are a search
only when they look like a name or a model (short), else the bot asks (low confidence); a
message of slots alone (「下午呢」, 「换成后天」) refines the last request.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import datetime

from bot.understanding.normalise import normalise, only_a_question_mark
from bot.understanding.segment import boundaries, words
from bot.understanding.slots import Slots, Text, find_slots
from search.sentence import STOP_WORDS
from yixiang.dates import cn_number

# Below this the bot asks one short question with choices instead of acting.
CONFIDENT = 0.5

# (intent, words, how): "alone" — the whole message (punctuation and particles aside);
# "word" — anywhere, as a whole word; "start" — at the start of the message.
COMMANDS: list[tuple[str, tuple[str, ...], str]] = [
    (
        "leave",
        (
            "取消",
            "算了",
            "退出",
            "不要了",
            "不用了",
            "放弃",
            "不约了",
            "算了吧",
            "quit",
            "exit",
            "cancel",
            "stop",
            "q",
        ),
        "alone",
    ),
    (
        "greeting",
        (
            "你好",
            "您好",
            "你好呀",
            "嗨",
            "哈喽",
            "在吗",
            "在不在",
            "有人吗",
            "早上好",
            "上午好",
            "下午好",
            "晚上好",
            "早",
            "hi",
            "hello",
            "hey",
            "good morning",
        ),
        "alone",
    ),
    (
        "thanks",
        (
            "谢谢",
            "多谢",
            "感谢",
            "谢了",
            "谢谢你",
            "谢谢啦",
            "辛苦了",
            "好的谢谢",
            "好的",
            "好",
            "ok",
            "okay",
            "嗯",
            "嗯嗯",
            "收到",
            "明白了",
            "thanks",
            "thank you",
            "thx",
            "ty",
        ),
        "alone",
    ),
    (
        "help",
        (
            "帮助",
            "帮组",
            "幫助",
            "菜单",
            "功能",
            "怎么用",
            "使用说明",
            "说明",
            "你能做什么",
            "能做什么",
            "help",
            "menu",
        ),
        "alone",
    ),
    ("help", ("帮助", "帮组", "怎么用", "使用说明", "help"), "word"),
    (
        "human",
        (
            "人工客服",
            "转人工",
            "人工服务",
            "人工",
            "客服",
            "投诉",
            "真人",
            "联系客服",
            "找客服",
            "customer service",
            "human",
            "agent",
            "complaint",
            "complain",
        ),
        "word",
    ),
    ("bind", ("绑定", "帮定", "邦定", "綁定", "bind"), "start"),
    (
        "more",
        (
            "还有吗",
            "还有呢",
            "还有没有",
            "还有别的吗",
            "还有其他的吗",
            "还有别的",
            "更多",
            "下一页",
            "下页",
            "再来点",
            "继续",
            "换一批",
            "后面的",
            "next",
            "more",
            "next page",
            "show more",
        ),
        "alone",
    ),
    (
        "cancel",
        (
            "取消预约",
            "取消预定",
            "取消预订",
            "取消订单",
            "撤销预约",
            "退订",
            "不去了",
            "cancel booking",
            "cancel my booking",
            "cancel reservation",
            "cancel the booking",
        ),
        "word",
    ),
    (
        "my_bookings",
        (
            "我的预约",
            "我的预定",
            "我的预订",
            "我的订单",
            "预约记录",
            "预约列表",
            "查预约",
            "我约的",
            "我的预越",
            "约了哪些",
            "最近的预约",
            "最近预约",
            "my bookings",
            "my booking",
            "my reservations",
            "my orders",
            "bookings",
        ),
        "word",
    ),
    (
        "voucher_history",
        ("券记录", "用券记录", "券明细", "券流水", "卷记录", "抵扣记录", "扣款记录", "voucher history"),
        "word",
    ),
    (
        "vouchers",
        (
            "创新券",
            "创新卷",
            "券余额",
            "卷余额",
            "余额",
            "额度",
            "还剩多少",
            "券",
            "vouchers",
            "voucher",
            "balance",
        ),
        "word",
    ),
    (
        "results",
        (
            "检测结果",
            "检测报告",
            "结果",
            "报告",
            "检测数据",
            "数据下载",
            "下载",
            "出数据",
            "results",
            "result",
            "report",
            "download",
        ),
        "word",
    ),
    ("rate", ("评价", "打分", "评分", "rate", "review"), "word"),
    (
        "live_status",
        (
            "现在能用吗",
            "现在能用",
            "现在可以用吗",
            "现在可以用",
            "现在能不能用",
            "现在空闲吗",
            "现在空闲",
            "现在闲着吗",
            "现在有空吗",
            "现在有人用吗",
            "现在有人在用吗",
            "现在在用吗",
            "有人在用吗",
            "在运行吗",
            "开机了吗",
            "开着吗",
            "运行状态",
            "现场状态",
            "实时状态",
            "free now",
            "available now",
            "in use now",
        ),
        "word",
    ),
    (
        "availability",
        (
            "有没有空",
            "有空",
            "空闲",
            "空档",
            "档期",
            "排期",
            "可预约时间",
            "什么时候能约",
            "哪天能约",
            "能约吗",
            "可以约吗",
            "available",
            "availability",
            "free slots",
            "free",
        ),
        "word",
    ),
    ("book", ("预约", "预定", "预订", "预越", "我要约", "想约", "约", "订", "book", "reserve"), "word"),
    (
        "details",
        (
            "详情",
            "详细",
            "介绍",
            "参数",
            "收费标准",
            "收费",
            "价格",
            "多少钱",
            "details",
            "price",
            "how much",
        ),
        "word",
    ),
    (
        "search",
        (
            "搜索",
            "查找",
            "寻找",
            "哪里有",
            "哪有",
            "有没有",
            "找",
            "搜",
            "查",
            "search",
            "find",
            "look for",
            "where",
        ),
        "word",
    ),
]
# Chit-chat that is no instrument name: a message of unknown words with one of these is "other".
CHITCHAT = frozenset("随便 聊聊 聊天 聊聊天 哈哈 呵呵 嘿嘿 你 谁 天气 机器人 知道 不 无聊 测试 test".split())
# Commands whose phrases are read before any slot: 「最近的预约」 is my bookings, not "nearest".
# 「XRD 现在能用吗」: 现在 is the live status's, not a time slot.
FIRST = ("cancel", "my_bookings", "voucher_history", "live_status")
FOLLOW_UP = re.compile(
    r"^(?:那么?|换成|改成|换到|改到|换|改|还是|what about|how about)|(?:呢|怎么样|行吗|可以吗)$"
)
PARTICLES = re.compile(r"^[\s吗呢吧啊呀嘛哦了的]+|[\s吗呢吧啊呀嘛哦了的]+$")
LIST_NUMBER = re.compile(r"^(?:第|选|要)?\s*(\d{1,2}|[一二三四五六七八九十]{1,2})\s*(?:个|项|号|条|台)?$")
BIND_CODE = re.compile(r"(?<!\d)\d{6}(?!\d)")


@dataclass(frozen=True)
class Reading:
    """What a message says: its intent (with a confidence), its slots, and its other words."""

    text: str  # normalised
    intent: str
    confidence: float
    slots: Slots
    words: tuple[str, ...] = ()  # words that are neither slots nor commands nor stop words
    follow_up: bool = False  # "那XRD呢", "下午呢", "换成后天": refines the last request
    number: int | None = None  # a choice from a list (1-based): "2", "第二个", "预约 2"
    code: str = ""  # a six-digit bind code

    @property
    def confident(self) -> bool:
        return self.confidence >= CONFIDENT

    @property
    def query(self) -> str:
        """What to search for: the instrument and brand as said, and the other words."""
        parts = [self.slots.instrument_said, self.slots.brand_said, *self.words]
        return " ".join(p for p in parts if p)


@functools.cache
def _patterns() -> list[tuple[str, str, str, re.Pattern[str]]]:
    found = []
    for intent, phrases, how in COMMANDS:
        for phrase in sorted(phrases, key=len, reverse=True):  # 联系客服 before 客服
            escaped = re.escape(phrase)
            if phrase.isascii():
                escaped = rf"(?<![a-z0-9]){escaped}(?![a-z0-9])"
            found.append((intent, phrase, how, re.compile(escaped)))
    return found


def _bare(text: str) -> str:
    return " ".join(PARTICLES.sub("", text).split())


def _command(rest: str, only: tuple[str, ...] = ()) -> tuple[str, int, int] | None:
    """The first command of the table in the text (slots already blanked), as (intent, start, end)."""
    plain, bare = " ".join(rest.split()), _bare(rest)
    starts: frozenset[int] | None = None
    for intent, phrase, how, pattern in _patterns():
        if only and intent not in only:
            continue
        if how == "alone":
            if phrase in (plain, bare):
                return intent, 0, len(rest)
            continue
        for match in pattern.finditer(rest):
            start, end = match.span()
            if how == "start" and rest[:start].strip():
                break
            if len(phrase) == 1 and not phrase.isascii():
                starts = starts if starts is not None else boundaries(rest)
                if start not in starts and rest[:start].strip():
                    continue
            return intent, start, end
    return None


def _content_words(rest: str) -> tuple[str, ...]:
    kept = []
    for word, _, _ in words(rest):
        if word in STOP_WORDS or FOLLOW_UP.fullmatch(word) or word in ("换成", "改成", "换到", "改到"):
            continue
        kept.append(word)
    return tuple(kept)


def _looks_like_a_name(found: tuple[str, ...]) -> bool:
    """Unknown words a researcher would send as a search: a model or a short name."""
    if not found or len(found) > 3:
        return False
    if all(w.isascii() for w in found):
        return True
    return len(found) <= 2 and sum(len(w) for w in found) <= 6


def _number(text: str) -> int | None:
    match = LIST_NUMBER.match(text)
    return cn_number(match.group(1)) if match else None


def understand(message: str, now: datetime) -> Reading:
    text = normalise(message)
    if not text:
        intent = "help" if only_a_question_mark(message) else "other"
        return Reading(text, intent, 1.0 if intent == "help" else 0.0, Slots())
    number = _number(text)
    if number is not None:
        return Reading(text, "pick", 1.0, Slots(), number=number)
    t = Text(text)
    command = _command(text)
    if command is not None and command[0] in ("leave", "greeting", "thanks", "help", "more"):
        if command[0] != "help" or command[1:] == (0, len(text)):
            return Reading(text, command[0], 1.0, Slots())
    first = _command(text, FIRST)
    if first is not None:
        t.use(first[1], first[2])
    slots = find_slots(t, now)
    follow_up = bool(FOLLOW_UP.search(text))
    command = first or _command(t.rest)
    code = ""
    if command is not None:
        intent, start, end = command
        t.use(start, end)
        for other, _, how, pattern in _patterns():  # 「券还剩多少」: every word of the command is used
            if other == intent and how == "word":
                for match in pattern.finditer(t.rest):
                    t.use(*match.span())
        if intent == "bind":
            found = BIND_CODE.search(t.rest)
            code = found.group() if found else ""
            if found:
                t.use(*found.span())
        rest_words = _content_words(t.rest)
        number = _number(" ".join(rest_words)) if len(rest_words) == 1 else None
        if number is not None:
            rest_words = ()
        return Reading(text, intent, 0.9, slots, rest_words, follow_up, number, code)
    rest_words = _content_words(t.rest)
    if slots.instrument or slots.brand:
        return Reading(text, "search", 0.85 if slots.instrument else 0.7, slots, rest_words, follow_up)
    if rest_words:
        if _looks_like_a_name(rest_words) and not (follow_up or CHITCHAT.intersection(rest_words)):
            return Reading(text, "search", 0.6, slots, rest_words, follow_up)
        return Reading(text, "other", 0.3, slots, rest_words, follow_up)
    if slots.any:
        return Reading(text, "refine", 0.7, slots, (), True)
    return Reading(text, "other", 0.1, slots, (), follow_up)
