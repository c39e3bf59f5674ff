"""What the bot says about a requested time: that it has passed, or why a day is closed."""

from __future__ import annotations

from datetime import date, datetime

from catalogue.workdays import WorkingDayCalendar, holiday_name
from yixiang.clock import SHANGHAI
from yixiang.dates import When


def passed(when: When, now: datetime) -> str | None:
    """A clear refusal for a time that is over (「昨天下午」, 「今天9点」 at 10:30)."""
    if when.end <= now or (when.exact and when.start < now):
        return f"{when.label()} 已经过去了，不能预约过去的时间。请换一个之后的时间，例如「明天下午」。"
    return None


def closed_reason(day: date) -> str:
    """Why nothing is free on a day, when the holiday calendar says it: 「10月1日是国庆节假期」
    (catalogue.workdays: chinesecalendar, then the maintained table for later years)."""
    name = holiday_name(day)
    if name:
        return f"{day.month}月{day.day}日是{name}假期，多数仪器不开放。"
    if not WorkingDayCalendar().is_working_day(day):
        return f"{day.month}月{day.day}日是周末，多数仪器不开放。"
    return ""


def day_of(when: When) -> date:
    return when.start.astimezone(SHANGHAI).date()
