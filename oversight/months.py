"""Calendar months in Asia/Shanghai, as seed 004 counts them (连续一个月 ..., 3个月内)."""

from __future__ import annotations

from datetime import date, datetime, time

from yixiang.clock import SHANGHAI, shanghai_date


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later (the month's last day when it has fewer days)."""
    year, month = divmod(day.month - 1 + months, 12)
    year, month = day.year + year, month + 1
    for last in (31, 30, 29, 28):
        try:
            return date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise AssertionError("unreachable")


def idle_months(since: datetime, now: datetime) -> int:
    """Whole calendar months (Asia/Shanghai) from ``since`` to ``now``."""
    start, today = shanghai_date(since), shanghai_date(now)
    months = (today.year - start.year) * 12 + today.month - start.month
    return months if add_months(start, months) <= today else months - 1


def kept_since(now: datetime, kept_months: int) -> datetime:
    """The start of the oldest month whose readings are kept (``readings_kept_months`` before this
    one): earlier months are archived or due to be (``oversight.archive_months``), so a reading
    timed in them is refused — stored, it would be a reading the archive no longer answers for,
    and one replayed from an archived month would find no stored twin to be told apart from."""
    month = add_months(shanghai_date(now).replace(day=1), -kept_months)
    return datetime.combine(month, time(), SHANGHAI)
