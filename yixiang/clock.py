"""The platform's one civil time zone: calendars, opening hours, working days and every date shown
to people are in Asia/Shanghai (DESIGN §4); what is stored stays aware UTC (``db.utcnow``)."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from yixiang.db import utcnow

SHANGHAI = ZoneInfo("Asia/Shanghai")


def shanghai_date(moment: datetime) -> date:
    """The date a moment falls on in Asia/Shanghai."""
    return moment.astimezone(SHANGHAI).date()


def shanghai_today(now: datetime | None = None) -> date:
    """Today's date in Asia/Shanghai (or the date of ``now`` there)."""
    return shanghai_date(now or utcnow())
