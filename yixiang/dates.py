"""Chinese date and time expressions, resolved in Asia/Shanghai against a given ``now``.

"明天下午", "下周三", "周五上午", "11月25日", "25号 14:00-16:00", "下午两点到四点", "上午",
"昨天" (a day that has passed: the caller says so), and the English a researcher types
("tomorrow afternoon", "next Tuesday 2-4pm", "3pm") ...
No maintained PyPI parser fits (the chinese-time NLP packages are unmaintained since 2021 and
do not resolve "周三" against a reference time as a booking needs), so this is a small scanner:
it finds date, weekday, period and clock tokens anywhere in a message, resolves them, and says
which parts of the text it used, so "预约 XRD 明天下午" leaves "预约 XRD" for the rest of the bot
(and the search API takes a whole sentence: ``without_time_words``). It lives in the shell
because both the bot (resolving) and search (leaving time words out of a query) read it.

Conventions (documented for researchers in the bot's help):
- A bare weekday ("周三") is the next such day, today included; "这周三" is this week's
  (weeks start on Monday), "下周三" next week's, "上周三" last week's (in the past).
- A date without a year that has passed means next year; "25号" that has passed, next month.
- Without a day, a time of day means today if that time is still ahead, otherwise tomorrow.
- Periods: 上午/早上 08:00-12:00, 中午 12:00-14:00, 下午 13:00-18:00, 傍晚 17:00-19:00,
  晚上 18:00-22:00, 凌晨 00:00-06:00; a day alone is the whole day.
- A clock range ("14:00-16:00", "两点到四点") is exact; a single clock ("明天9点") is a window of
  one hour in which a slot should start.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from yixiang.clock import SHANGHAI

WEEKDAY_NAMES = "一二三四五六日"

PERIODS: dict[str, tuple[int, int]] = {
    "凌晨": (0, 6),
    "早上": (8, 12),
    "早晨": (8, 12),
    "清晨": (6, 9),
    "上午": (8, 12),
    "中午": (12, 14),
    "下午": (13, 18),
    "傍晚": (17, 19),
    "晚上": (18, 22),
    "夜里": (18, 22),
    "夜间": (18, 22),
    "全天": (0, 24),
    "整天": (0, 24),
    "一整天": (0, 24),
}
AFTERNOON = {"下午", "傍晚", "晚上", "夜里", "夜间"}

_CN_DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
NUM = r"(?:\d{1,2}|[零〇一二两三四五六七八九十]{1,3})"
_PREFIX = r"下下个?|下个?|上上个?|上个?|这个?|本"
_EN_WEEKDAYS = {
    "monday": 0, "mon": 0, "tuesday": 1, "tues": 1, "tue": 1, "wednesday": 2, "wed": 2,
    "thursday": 3, "thurs": 3, "thur": 3, "thu": 3, "friday": 4, "fri": 4, "saturday": 5,
    "sat": 5, "sunday": 6, "sun": 6,
}  # fmt: skip
_EN_PERIODS = {"morning": "上午", "noon": "中午", "afternoon": "下午", "evening": "晚上", "night": "晚上"}
_EN_DAYS = {"yesterday": -1, "today": 0, "tonight": 0, "tomorrow": 1, "day after tomorrow": 2}
_REL_DAYS = {
    "前天": -2, "昨天": -1, "昨日": -1, "今天": 0, "今日": 0, "今儿": 0, "明天": 1, "明日": 1, "明儿": 1,
    "后天": 2, "大后天": 3,
}  # fmt: skip


def _words(words: Iterable[str]) -> str:
    """Alternatives of English words, longest first, matched as whole words."""
    return "|".join(sorted(words, key=len, reverse=True))


_HOUR_END = r"\s*(?:[点时:：]|am|pm|a\.m\.|p\.m\.)"

_TOKEN = re.compile(
    "|".join(
        [
            r"(?P<ymd>(?P<y>\d{4})[年\-/.](?P<m>\d{1,2})[月\-/.](?P<d>\d{1,2})[日号]?)",
            rf"(?P<md>(?P<m2>{NUM})月(?P<d2>{NUM})[日号]?)",
            r"(?P<mds>(?<![\d:])(?P<m3>\d{1,2})/(?P<d3>\d{1,2})(?![\d/]))",
            r"(?P<rel>大后天|后天|明天|明日|明儿|今天|今日|今儿|昨天|昨日|前天)",
            rf"(?P<erel>(?<![a-z])(?:the )?(?P<ed>{_words(_EN_DAYS)})(?![a-z]))",
            rf"(?P<eweekday>(?<![a-z])(?:(?P<ewp>next|this|last) )?(?P<ewd>{_words(_EN_WEEKDAYS)})(?![a-z]))",
            rf"(?P<ndays>(?P<nd>{NUM})天(?:后|以后|之后))",
            rf"(?P<weekday>(?P<wp>{_PREFIX})?(?:周|星期|礼拜)(?P<wd>[一二三四五六日天1-7]))",
            rf"(?P<weekend>(?P<wep>{_PREFIX})?周末)",
            rf"(?P<week>(?P<wkp>{_PREFIX})(?:周|星期|礼拜))",
            r"(?P<eweek>(?<![a-z])(?P<ewkp>next|this|last) week(?![a-z]))",
            r"(?P<dom>(?P<dd>\d{1,2}|[一二三]?十[一二三四五六七八九]?|[一二三四五六七八九])[日号])",
            r"(?P<ampm>(?<![\d:])(?P<ah>\d{1,2})(?:[:：](?P<amm>\d{2}))?\s*(?P<ap>am|pm|a\.m\.|p\.m\.)(?![a-z]))",
            r"(?P<colon>(?P<hh>\d{1,2})[:：](?P<mm>\d{2}))",
            rf"(?P<cn>(?P<ch>{NUM})[点时](?:(?P<half>半)|(?P<quarter>一刻)|(?P<tq>三刻)|(?P<cm>\d{{1,2}}|[零〇一二三四五六七八九十]{{1,3}})分?)?)",
            rf"(?P<bare>(?<![\d:])(?P<bh>{NUM})(?=\s*(?:-|~|～|到|至|—|–|to)\s*{NUM}(?:[:：]\d{{2}})?{_HOUR_END}))",
            r"(?P<period>" + "|".join(sorted(PERIODS, key=len, reverse=True)) + ")",
            rf"(?P<eperiod>(?<![a-z])(?:in the )?(?P<ep>{_words(_EN_PERIODS)})(?![a-z]))",
            r"(?P<sep>-|~|～|到|至|—|–|(?<![a-z])to(?![a-z]))",
        ]
    ),
    re.IGNORECASE,
)


def cn_number(text: str) -> int | None:
    """'25' -> 25, '二十五' -> 25, '两' -> 2, '十' -> 10; None when it is not a small number."""
    if text.isdigit():
        return int(text)
    if not text or any(ch not in _CN_DIGITS and ch != "十" for ch in text):
        return None
    if "十" in text:
        tens, _, ones = text.partition("十")
        t = _CN_DIGITS.get(tens, -1) if tens else 1
        o = _CN_DIGITS.get(ones, -1) if ones else 0
        return None if t < 0 or o < 0 else t * 10 + o
    if len(text) == 1:
        return _CN_DIGITS[text]
    return None


def normalize(text: str) -> str:
    """Full-width digits and punctuation to ASCII (WeChat keyboards send both)."""
    out = []
    for ch in text:
        code = ord(ch)
        if 0xFF01 <= code <= 0xFF5E:
            ch = chr(code - 0xFEE0)
        elif ch == "\u3000":
            ch = " "
        out.append(ch)
    return "".join(out)


@dataclass(frozen=True)
class When:
    """A resolved expression: a window in Asia/Shanghai; ``exact`` when the user gave a clock range."""

    start: datetime
    end: datetime
    exact: bool
    used: tuple[tuple[int, int], ...]  # spans of the (normalized) text that were date/time

    @property
    def whole_days(self) -> bool:
        s, e = self.start.astimezone(SHANGHAI), self.end.astimezone(SHANGHAI)
        return s.time() == time(0) and e.time() == time(0)

    def label(self) -> str:
        return describe(self.start, self.end, whole_days=self.whole_days)


def describe(start: datetime, end: datetime, *, whole_days: bool = False) -> str:
    """'11月25日（周三）14:00-16:00' in Asia/Shanghai."""
    s, e = start.astimezone(SHANGHAI), end.astimezone(SHANGHAI)
    day = f"{s.month}月{s.day}日（周{WEEKDAY_NAMES[s.weekday()]}）"
    if whole_days:
        last = (e - timedelta(days=1)).date()
        if last == s.date():
            return day
        return f"{day}至{last.month}月{last.day}日（周{WEEKDAY_NAMES[last.weekday()]}）"
    end_text = "24:00" if e.date() > s.date() and e.time() == time(0) else f"{e:%H:%M}"
    return f"{day}{s:%H:%M}-{end_text}"


@dataclass
class _Clock:
    hour: int
    minute: int
    period: str | None
    span: tuple[int, int]


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(0), SHANGHAI) + timedelta(hours=hour, minutes=minute)


def _apply_period(hour: int, period: str | None) -> int:
    if period in AFTERNOON and hour < 12:
        return hour + 12
    if period == "中午" and hour < 5:
        return hour + 12
    if period == "凌晨" and hour == 12:
        return 0
    return hour


def _week_offset(prefix: str | None) -> int | None:
    if not prefix:
        return None
    if prefix.startswith(("下下", "上上")):
        return 2 if prefix[0] == "下" else -2
    if prefix.startswith(("下", "上")):
        return 1 if prefix[0] == "下" else -1
    return 0


def _valid_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


DAY_KINDS = (
    "ymd",
    "md",
    "mds",
    "rel",
    "erel",
    "eweekday",
    "ndays",
    "weekday",
    "weekend",
    "week",
    "eweek",
    "dom",
)


def parse_when(text: str, now: datetime) -> When | None:
    """Find a date/time expression in ``text`` (normalized) and resolve it; None when there is none."""
    text = normalize(text)
    local_now = now.astimezone(SHANGHAI)
    today = local_now.date()
    day: date | None = None
    span_days = 1
    used: list[tuple[int, int]] = []
    period: str | None = None
    period_span: tuple[int, int] | None = None
    clocks: list[_Clock] = []
    saw_sep_between = False

    for match in _TOKEN.finditer(text):
        kind = match.lastgroup
        g = match.groupdict()
        span = match.span()
        if kind in DAY_KINDS:
            if day is not None:
                continue  # the first day mentioned wins
            resolved = _resolve_day(kind, g, today)
            if resolved is None:
                return None
            day, span_days = resolved
            used.append(span)
            if kind == "erel" and (g["ed"] or "").lower() == "tonight" and period is None:
                period = "晚上"
        elif kind in ("period", "eperiod"):
            if period is None or clocks:
                period = g["period"] or _EN_PERIODS[(g["ep"] or "").lower()]
                if period_span is None:
                    period_span = span
                used.append(span)
        elif kind in ("colon", "cn", "bare", "ampm"):
            clock = _clock(kind, g, period, span)
            if clock is None:
                continue
            if len(clocks) == 1 and not saw_sep_between:
                continue  # two clocks without a range between them: keep the first
            if len(clocks) < 2:
                clocks.append(clock)
                used.append(span)
        elif kind == "sep" and len(clocks) == 1:
            saw_sep_between = True
            used.append(span)

    if day is None and period is None and not clocks:
        return None
    if len(clocks) == 1 and saw_sep_between:
        used.pop()  # a dangling "-" after one clock is not part of the expression

    if span_days > 1:
        assert day is not None
        start = _at(day, 0)
        return When(start, start + timedelta(days=span_days), False, tuple(used))

    exact = False
    if clocks:
        first = clocks[0]
        start_h = _apply_period(first.hour, first.period)
        if len(clocks) == 2:
            second = clocks[1]
            end_h = _apply_period(second.hour, second.period or first.period)
            if first.period is None and second.period in AFTERNOON and start_h + 12 < end_h:
                start_h += 12  # "2-4pm", "2点到下午4点"
            start_min, end_min = start_h * 60 + first.minute, end_h * 60 + second.minute
            if end_min <= start_min and end_h < 12 and (end_h + 12) * 60 + second.minute > start_min:
                end_min += 12 * 60  # "9点到3点" means 9:00-15:00
            if end_min <= start_min or end_min > 24 * 60:
                return None
            exact = True
        else:
            start_min = start_h * 60 + first.minute
            end_min = start_min + 60
        if start_min >= 24 * 60:
            return None
    elif period is not None:
        start_min, end_min = PERIODS[period][0] * 60, PERIODS[period][1] * 60
    else:
        start_min, end_min = 0, 24 * 60

    if day is None:
        day = today if _at(today, 0) + timedelta(minutes=end_min) > local_now else today + timedelta(days=1)
    start = _at(day, 0) + timedelta(minutes=start_min)
    end = _at(day, 0) + timedelta(minutes=end_min)
    return When(start, end, exact, tuple(sorted(used)))


def _clock(
    kind: str | None, g: dict[str, str | None], period: str | None, span: tuple[int, int]
) -> _Clock | None:
    if kind == "colon":
        hour, minute = int(g["hh"] or 0), int(g["mm"] or 0)
    elif kind == "ampm":
        hour, minute = int(g["ah"] or 0), int(g["amm"] or 0)
        if hour > 12:
            return None
        pm = (g["ap"] or "").lower().startswith("p")
        period = "下午" if pm else ("凌晨" if hour == 12 else "上午")  # 12am is midnight, 12pm noon
    elif kind == "cn":
        h = cn_number(g["ch"] or "")
        if h is None:
            return None
        hour = h
        if g["half"]:
            minute = 30
        elif g["quarter"]:
            minute = 15
        elif g["tq"]:
            minute = 45
        elif g["cm"]:
            minute = cn_number(g["cm"]) or 0
        else:
            minute = 0
    else:
        b = cn_number(g["bh"] or "")
        if b is None:
            return None
        hour, minute = b, 0
    if hour > 24 or minute > 59:
        return None
    return _Clock(hour, minute, period, span)


def _weekday(today: date, target: int, prefix: str | None) -> date:
    offset = _week_offset(prefix)
    if offset is None:
        return today + timedelta(days=(target - today.weekday()) % 7)
    monday = today - timedelta(days=today.weekday())
    return monday + timedelta(days=7 * offset + target)


def _resolve_day(kind: str | None, g: dict[str, str | None], today: date) -> tuple[date, int] | None:
    if kind == "ymd":
        d = _valid_date(int(g["y"] or 0), int(g["m"] or 0), int(g["d"] or 0))
        return (d, 1) if d else None
    if kind in ("md", "mds"):
        m = cn_number((g["m2"] if kind == "md" else g["m3"]) or "")
        dd = cn_number((g["d2"] if kind == "md" else g["d3"]) or "")
        if m is None or dd is None:
            return None
        d = _valid_date(today.year, m, dd)
        if d is not None and d < today:
            d = _valid_date(today.year + 1, m, dd)
        return (d, 1) if d else None
    if kind == "rel":
        return today + timedelta(days=_REL_DAYS[g["rel"] or "今天"]), 1
    if kind == "erel":
        return today + timedelta(days=_EN_DAYS[(g["ed"] or "today").lower()]), 1
    if kind == "eweekday":
        target = _EN_WEEKDAYS[(g["ewd"] or "").lower()]
        prefix = {"next": "下", "this": "这", "last": "上"}.get((g["ewp"] or "").lower())
        return _weekday(today, target, prefix), 1
    if kind == "ndays":
        n = cn_number(g["nd"] or "")
        return (today + timedelta(days=n), 1) if n is not None else None
    if kind == "weekday":
        wd = g["wd"] or ""
        target = 6 if wd in "日天7" else (int(wd) - 1 if wd.isdigit() else WEEKDAY_NAMES.index(wd))
        return _weekday(today, target, g["wp"]), 1
    if kind == "weekend":
        offset = _week_offset(g["wep"]) or 0
        monday = today - timedelta(days=today.weekday())
        saturday = monday + timedelta(days=7 * offset + 5)
        if offset == 0 and today.weekday() == 6:
            return today, 1
        return saturday, 2
    if kind in ("week", "eweek"):
        prefix = (
            g["wkp"]
            if kind == "week"
            else {"next": "下", "this": "这", "last": "上"}[(g["ewkp"] or "").lower()]
        )
        offset = _week_offset(prefix) or 0
        monday = today - timedelta(days=today.weekday()) + timedelta(days=7 * offset)
        start = monday if offset < 0 else max(monday, today)
        return start, (monday + timedelta(days=7) - start).days
    if kind == "dom":
        dd = cn_number(g["dd"] or "")
        if dd is None:
            return None
        year, month = today.year, today.month
        for _ in range(13):
            d = _valid_date(year, month, dd)
            if d is not None and d >= today:
                return d, 1
            month += 1
            if month > 12:
                year, month = year + 1, 1
        return None
    return None


def strip_used(text: str, when: When | None) -> str:
    """The (normalized) text without the parts that were the date/time expression."""
    text = normalize(text)
    if when is None:
        return text.strip()
    out, last = [], 0
    for start, end in when.used:
        out.append(text[last:start])
        last = end
    out.append(text[last:])
    return " ".join("".join(out).split())


def without_time_words(text: str, now: datetime) -> str:
    """A sentence without its date and time expression ("明天下午的核磁" -> "的核磁")."""
    return strip_used(text, parse_when(text, now))
