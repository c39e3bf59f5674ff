"""Chinese working days: public holidays and make-up working days (调休), in Asia/Shanghai.

``chinesecalendar`` knows the State Council's holiday arrangements only up to the year it was
released; an admin-editable override table fills in later years (and corrects any day). For a
year neither knows, weekends are the only days off — with a warning, never a crash.
"""

from __future__ import annotations

import logging
import uuid
from datetime import date, datetime, timedelta

import chinese_calendar
from sqlalchemy import ForeignKey, String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from yixiang.db import Base, utcnow

log = logging.getLogger("catalogue.workdays")
_warned_years: set[int] = set()


class WorkingDayOverride(Base):
    """A day an administrator declared a holiday (False) or a working day (True)."""

    __tablename__ = "working_day_overrides"

    day: Mapped[date] = mapped_column(primary_key=True)
    is_working_day: Mapped[bool]
    name: Mapped[str] = mapped_column(String(64), default="")
    updated_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class WorkingDayCalendar:
    def __init__(self, overrides: dict[date, bool] | None = None) -> None:
        self.overrides = overrides or {}

    def is_working_day(self, day: date) -> bool:
        if day in self.overrides:
            return self.overrides[day]
        try:
            return bool(chinese_calendar.is_workday(day))
        except NotImplementedError:
            if day.year not in _warned_years:
                _warned_years.add(day.year)
                log.warning(
                    "no holiday data for %s: counting weekends only; add the year's holidays "
                    "to the working-day overrides",
                    day.year,
                )
            return day.weekday() < 5

    def add_working_days(self, start: date, days: int) -> date:
        """The ``days``-th working day after ``start`` (``start`` itself does not count)."""
        if days < 0:
            raise ValueError("days must not be negative")
        current = start
        remaining = days
        while remaining:
            current += timedelta(days=1)
            if self.is_working_day(current):
                remaining -= 1
        return current

    def working_days_between(self, start: date, end: date) -> int:
        """Working days in (start, end]."""
        count, current = 0, start
        while current < end:
            current += timedelta(days=1)
            count += self.is_working_day(current)
        return count


_OVERRIDES = select(WorkingDayOverride.day, WorkingDayOverride.is_working_day)


async def load_working_day_calendar(session: AsyncSession) -> WorkingDayCalendar:
    rows = (await session.execute(_OVERRIDES)).all()
    return WorkingDayCalendar({day: working for day, working in rows})
