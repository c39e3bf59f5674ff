"""Chinese working days: public holidays and make-up working days (调休), in Asia/Shanghai.

Where a day's answer comes from, first match wins:
1. the admin-editable override table (corrects any day, fills in any year);
2. ``chinesecalendar``, which knows the State Council's arrangements up to the year it was
   released;
3. the maintained table ``catalogue/data/holidays.json`` for the years after that: the official
   arrangement once published, until then the statutory holidays alone, marked "provisional";
4. otherwise weekends are the only days off — with a warning, never a crash.

A year answered by 3 (provisional) or 4 is not fully known: availability, calendar and booking
answers say so to the researcher (:func:`holiday_note`), and the operator is warned 90 days
ahead (:func:`holiday_advisories`, in ``yixiang check`` and the start-up log).
"""

from __future__ import annotations

import enum
import functools
import json
import logging
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import chinese_calendar
from sqlalchemy import ForeignKey, String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from yixiang.audit import record_change, snapshot
from yixiang.clock import shanghai_today
from yixiang.db import Base, utcnow

log = logging.getLogger("catalogue.workdays")
_warned_years: set[int] = set()

HOLIDAY_TABLE = Path(__file__).parent / "data" / "holidays.json"
# How long before a year without the official arrangement the operator is told.
ADVISORY_DAYS = 90


class HolidayData(enum.StrEnum):
    """What is known of a year's holidays."""

    official = "official"  # the State Council's arrangement (or the operator's overrides)
    provisional = "provisional"  # the statutory holidays only: no 补休, no 调休 yet
    missing = "missing"  # nothing: weekends only


@dataclass(frozen=True)
class YearTable:
    status: HolidayData
    days: dict[date, bool]  # day -> is a working day
    names: dict[date, str]  # holiday -> its name (元旦, 春节 ...)


@functools.cache
def maintained_years() -> dict[int, YearTable]:
    """The years of ``catalogue/data/holidays.json``."""
    raw = json.loads(HOLIDAY_TABLE.read_text(encoding="utf-8"))
    years: dict[int, YearTable] = {}
    for year, entry in raw["years"].items():
        names = {date.fromisoformat(day): name for day, name in entry["holidays"].items()}
        days = dict.fromkeys(names, False)
        days |= {date.fromisoformat(day): True for day in entry["working_days"]}
        years[int(year)] = YearTable(HolidayData(entry["status"]), days, names)
    return years


# chinesecalendar names its holidays in English.
PACKAGE_HOLIDAY_NAMES = {
    "New Year's Day": "元旦",
    "Spring Festival": "春节",
    "Tomb-sweeping Day": "清明节",
    "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节",
    "National Day": "国庆节",
    "Mid-autumn Festival": "中秋节",
    "Anti-Fascist 70th Day": "抗战胜利纪念日",
}


def holiday_name(day: date) -> str:
    """The public holiday ``day`` belongs to, in Chinese (元旦, 春节 ...), from chinesecalendar or,
    for the years it does not know, the maintained table; "" for any other day."""
    try:
        holiday, name = chinese_calendar.get_holiday_detail(day)
    except NotImplementedError:
        table = maintained_years().get(day.year)
        return table.names.get(day, "") if table else ""
    if not holiday or not name:
        return ""
    return PACKAGE_HOLIDAY_NAMES.get(str(name), str(name))


@functools.cache
def package_years() -> frozenset[int]:
    """The years ``chinesecalendar`` has the arrangements of."""
    return frozenset(day.year for day in chinese_calendar.holidays)


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
            table = maintained_years().get(day.year)
            if table is not None:
                return table.days.get(day, day.weekday() < 5)
            if day.year not in _warned_years:
                _warned_years.add(day.year)
                log.warning(
                    "no holiday data for %s: counting weekends only; add the year's holidays "
                    "to the working-day overrides",
                    day.year,
                )
            return day.weekday() < 5

    def holiday_data(self, year: int) -> HolidayData:
        """What is known of ``year``: a year the operator entered overrides for counts as known."""
        if year in package_years() or any(day.year == year for day in self.overrides):
            return HolidayData.official
        table = maintained_years().get(year)
        return table.status if table is not None else HolidayData.missing

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


def holiday_note(calendar: WorkingDayCalendar, first: date, last: date) -> str | None:
    """What a researcher is told about days in [first, last] whose holidays are not yet known."""
    notes = []
    for year in range(first.year, last.year + 1):
        known = calendar.holiday_data(year)
        if known == HolidayData.missing:
            notes.append(f"{year}年节假日安排尚未公布，按周末休息计算")
        elif known == HolidayData.provisional:
            notes.append(f"{year}年放假调休安排尚未公布，暂按法定节假日和周末计算")
    return "；".join(notes) or None


def holiday_advisories(calendar: WorkingDayCalendar, today: date) -> list[str]:
    """What the operator must add, for the years from today to ``ADVISORY_DAYS`` ahead."""
    found = []
    for year in range(today.year, (today + timedelta(days=ADVISORY_DAYS)).year + 1):
        known = calendar.holiday_data(year)
        days = (date(year, 1, 1) - today).days
        when = f"starts in {days} days" if days > 0 else "has begun"
        how = (
            f"add the State Council's {year} arrangement to catalogue/data/holidays.json, or enter it as "
            "working-day overrides (PUT /api/v1/admin/working-days/{day})"
        )
        if known == HolidayData.missing:
            found.append(
                f"no holiday data for {year} ({when}): its days off are counted as weekends only; {how}"
            )
        elif known == HolidayData.provisional:
            found.append(
                f"holiday data for {year} ({when}) is provisional: statutory holidays only, without the "
                f"substitute rest days and make-up working days; {how}"
            )
    return found


async def holiday_advisories_today(session: AsyncSession) -> list[str]:
    """``Domain.advisories`` of the catalogue: :func:`holiday_advisories` for today in Shanghai."""
    return holiday_advisories(await load_working_day_calendar(session), shanghai_today())


# --- the operator's overrides (the admin API and the console) ------------------------------------
OVERRIDE_AUDITED = ("is_working_day", "name")


async def year_overrides(session: AsyncSession, year: int) -> list[WorkingDayOverride]:
    rows = await session.scalars(
        select(WorkingDayOverride)
        .where(WorkingDayOverride.day >= date(year, 1, 1), WorkingDayOverride.day <= date(year, 12, 31))
        .order_by(WorkingDayOverride.day)
    )
    return list(rows.all())


async def set_override(
    session: AsyncSession, day: date, *, is_working_day: bool, name: str, actor_id: uuid.UUID
) -> WorkingDayOverride:
    """Declare ``day`` a holiday or a (make-up) working day; the caller holds the transaction."""
    row = await session.get(WorkingDayOverride, day)
    before = None if row is None else snapshot(row, OVERRIDE_AUDITED)
    if row is None:
        row = WorkingDayOverride(day=day)
        session.add(row)
    row.is_working_day = is_working_day
    row.name = name
    row.updated_by = actor_id
    row.updated_at = utcnow()
    await session.flush()
    await record_change(
        session,
        actor_id=actor_id,
        entity_type="working_day",
        entity_id=day.isoformat(),
        action="created" if before is None else "updated",
        before=before,
        after=snapshot(row, OVERRIDE_AUDITED),
    )
    return row


async def remove_override(session: AsyncSession, day: date, *, actor_id: uuid.UUID) -> bool:
    """Remove ``day``'s override (the built-in calendar applies again); False when there was none."""
    row = await session.get(WorkingDayOverride, day)
    if row is None:
        return False
    await record_change(
        session,
        actor_id=actor_id,
        entity_type="working_day",
        entity_id=day.isoformat(),
        action="removed",
        before=snapshot(row, OVERRIDE_AUDITED),
    )
    await session.delete(row)
    return True
