"""Intent detection for Chinese messages: keywords with synonyms, common typos and one-character slips.

Rules are a table read top to bottom; the first match wins, so specific phrases ("取消预约",
"我的预约", "券记录") come before the general ones ("取消", "预约", "券"). A keyword of three or
more characters also matches with one character wrong ("我的预越"), which catches most
pinyin-input slips without confusing short words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from yixiang.dates import normalize

# Words that only leave the current flow; matched against the whole message.
LEAVE_WORDS = {"取消", "算了", "退出", "不要了", "不用了", "放弃", "不约了", "quit", "exit", "q"}

# (intent, keywords, how): "anywhere" matches inside the text, "prefix" only at its start,
# "exact" only the whole message.
RULES: list[tuple[str, tuple[str, ...], str]] = [
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
            "help",
            "?",
            "你好",
            "您好",
            "hi",
            "hello",
        ),
        "exact",
    ),
    ("help", ("帮助", "帮组", "怎么用", "使用说明", "help"), "anywhere"),
    ("bind", ("绑定", "帮定", "邦定", "綁定", "bind"), "prefix"),
    (
        "cancel_booking",
        ("取消预约", "取消预定", "取消预订", "取消订单", "撤销预约", "退订", "不去了"),
        "anywhere",
    ),
    (
        "my_bookings",
        ("我的预约", "我的预定", "我的预订", "我的订单", "预约记录", "预约列表", "查预约", "我约的"),
        "anywhere",
    ),
    (
        "voucher_history",
        ("券记录", "用券记录", "券明细", "券流水", "卷记录", "抵扣记录", "扣款记录"),
        "anywhere",
    ),
    (
        "voucher",
        ("创新券", "创新卷", "券余额", "卷余额", "余额", "额度", "还剩多少", "券", "voucher"),
        "anywhere",
    ),
    ("results", ("结果", "报告", "检测数据", "数据下载", "出数据", "report"), "anywhere"),
    ("rate", ("评价", "打分", "评分", "rate"), "anywhere"),
    (
        "availability",
        ("有空", "空闲", "空档", "档期", "排期", "可预约时间", "什么时候能约", "哪天能约", "有没有空"),
        "anywhere",
    ),
    ("book", ("预约", "预定", "预订", "预越", "约", "订"), "prefix"),
    ("book", ("预约", "预定", "预订", "我要约", "想约"), "anywhere"),
    ("details", ("详情", "详细", "介绍", "参数", "收费", "价格", "多少钱"), "anywhere"),
    ("search", ("搜索", "查找", "寻找", "哪里有", "哪有", "有没有", "找", "搜", "查"), "prefix"),
]

FILLER = re.compile(r"(请问|请|帮我|帮忙|我想|我要|想要|一下|吗|呢|吧|啊|的|了|仪器|设备|一台)")
PUNCTUATION = re.compile(r"[，。！？、；：,.!?;:\"'“”‘’（）()\[\]【】<>《》\s]+")


@dataclass(frozen=True)
class Intent:
    name: str
    rest: str  # the message without the keyword (a search query, a date, a number...)


def clean(text: str) -> str:
    return normalize(text).strip().lower()


def is_leave(text: str) -> bool:
    return PUNCTUATION.sub("", clean(text)) in LEAVE_WORDS


def _near(keyword: str, text: str) -> int:
    """Index of ``keyword`` in ``text`` with at most one character substituted; -1 when absent."""
    n = len(keyword)
    for i in range(len(text) - n + 1):
        window = text[i : i + n]
        if sum(a != b for a, b in zip(window, keyword, strict=True)) <= 1:
            return i
    return -1


def _find(keyword: str, text: str, how: str) -> int:
    if how == "exact":
        return 0 if PUNCTUATION.sub("", text) == keyword else -1
    if how == "prefix":
        if text.startswith(keyword):
            return 0
        return 0 if len(keyword) >= 3 and _near(keyword, text[: len(keyword)]) == 0 else -1
    at = text.find(keyword)
    if at < 0 and len(keyword) >= 3:
        at = _near(keyword, text)
    return at


def detect(text: str) -> Intent | None:
    t = clean(text)
    if not t:
        return None
    for name, keywords, how in RULES:
        for keyword in keywords:
            at = _find(keyword, t, how)
            if at >= 0:
                rest = (t[:at] + " " + t[at + len(keyword) :]).strip()
                return Intent(name, " ".join(rest.split()))
    return None


def query_text(text: str) -> str:
    """A search query from what is left of a message: no filler words or punctuation."""
    return " ".join(PUNCTUATION.sub(" ", FILLER.sub(" ", clean(text))).split())
