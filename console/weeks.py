"""The days a desk looks at, in Asia/Shanghai: today, this week (Monday to Sunday)."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from yixiang.clock import SHANGHAI, shanghai_today


def today_range() -> tuple[datetime, datetime]:
    start = datetime.combine(shanghai_today(), time(), tzinfo=SHANGHAI)
    return start, start + timedelta(days=1)


def week_range() -> tuple[datetime, datetime]:
    today = shanghai_today()
    start = datetime.combine(today - timedelta(days=today.weekday()), time(), tzinfo=SHANGHAI)
    return start, start + timedelta(days=7)
