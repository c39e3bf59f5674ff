"""What the bot says about a requested time: that it has passed, or why a day is closed."""

from __future__ import annotations

from datetime import date, datetime

import chinese_calendar

from yixiang.clock import SHANGHAI
from yixiang.dates import When

HOLIDAY_NAMES = {
    "New Year's Day": "元旦",
    "Spring Festival": "春节",
    "Tomb-sweeping Day": "清明节",
    "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节",
    "National Day": "国庆节",
    "Mid-autumn Festival": "中秋节",
    "Anti-Fascist 70th Day": "抗战胜利纪念日",
}


def passed(when: When, now: datetime) -> str | None:
    """A clear refusal for a time that is over (「昨天下午」, 「今天9点」 at 10:30)."""
    if when.end <= now or (when.exact and when.start < now):
        return f"{when.label()} 已经过去了，不能预约过去的时间。请换一个之后的时间，例如「明天下午」。"
    return None


def closed_reason(day: date) -> str:
    """Why nothing is free on a day, when the calendar of holidays says it: 「10月1日是国庆节假期」."""
    try:
        holiday, name = chinese_calendar.get_holiday_detail(day)
    except NotImplementedError:  # a year the holiday data does not cover yet
        return ""
    if holiday and name:
        return f"{day.month}月{day.day}日是{HOLIDAY_NAMES.get(str(name), str(name))}假期，多数仪器不开放。"
    if holiday:
        return f"{day.month}月{day.day}日是周末，多数仪器不开放。"
    return ""


def day_of(when: When) -> date:
    return when.start.astimezone(SHANGHAI).date()
