"""Who reads which indicators: the bureaus of the region (all of it), the platform operator (any
region), a unit's staff (their own instruments only); the period asked for, checked."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal
from accounts.models import Role
from oversight.errors import InvalidPeriod, NotIndicatorReader
from oversight.indicators import InstrumentFigures, UnitFigures, instrument_figures, unit_figures
from vouchers.rules import region_covers
from yixiang.clock import shanghai_today
from yixiang.settings import Settings

MAX_YEARS = 5


@dataclass(frozen=True)
class Period:
    start: date  # inclusive
    end: date  # exclusive

    @property
    def last(self) -> date:
        return date.fromordinal(self.end.toordinal() - 1)


def period_of(year: int | None, start: date | None, end: date | None) -> Period:
    """A calendar year (the last full one by default), or ``start`` to ``end`` both included."""
    if year is not None and (start is not None or end is not None):
        raise InvalidPeriod("请只给出年份，或只给出起止日期", rule="year_or_dates")
    if start is not None or end is not None:
        if start is None or end is None:
            raise InvalidPeriod("起止日期须同时给出", rule="dates_incomplete")
        if end < start:
            raise InvalidPeriod("结束日期须不早于开始日期", rule="end_before_start")
        if (end - start).days > 366 * MAX_YEARS:
            raise InvalidPeriod(f"统计期间最长 {MAX_YEARS} 年", rule="too_long")
        return Period(start, date.fromordinal(end.toordinal() + 1))
    year = year if year is not None else shanghai_today().year - 1
    if not 2000 <= year <= 2100:
        raise InvalidPeriod("年份有误", rule="year")
    return Period(date(year, 1, 1), date(year + 1, 1, 1))


def readable_units(principal: Principal, region_code: str) -> list[uuid.UUID] | None:
    """None: the whole region (the caller's bureau region covers it); else the units whose
    instruments the caller may read."""
    bureau_regions = principal.regions_where(Role.bureau_officer)
    if principal.is_platform_admin or any(region_covers(r, region_code) for r in bureau_regions):
        return None
    if principal.unit_ids:
        return sorted(principal.unit_ids)
    raise NotIndicatorReader()


def _unit_filters(principal: Principal, region_code: str) -> list[uuid.UUID | None]:
    """One query per readable unit, or one for the whole region (None)."""
    units = readable_units(principal, region_code)
    return [None] if units is None else list(units)


async def read_instruments(
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
    *,
    region_code: str,
    period: Period,
    category_code: str | None = None,
) -> list[InstrumentFigures]:
    found: list[InstrumentFigures] = []
    for unit_id in _unit_filters(principal, region_code):
        found += await instrument_figures(
            session,
            region_code=region_code,
            start=period.start,
            end=period.end,
            unit_id=unit_id,
            category_code=category_code,
            settings=settings,
        )
    return found


async def read_units(
    session: AsyncSession, principal: Principal, settings: Settings, *, region_code: str, period: Period
) -> list[UnitFigures]:
    found: list[UnitFigures] = []
    for unit_id in _unit_filters(principal, region_code):
        found += await unit_figures(
            session,
            region_code=region_code,
            start=period.start,
            end=period.end,
            unit_id=unit_id,
            settings=settings,
        )
    return found
