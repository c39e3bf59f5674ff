"""The bureaus' indicators (issue 22) per instrument and per unit, for any period, from the records:
the daily usage roll-up (``oversight.rollup``) or, until an instrument has sensor sessions in the
period, its completed bookings' recorded hours; bookings and checkouts for external service,
fees and voucher shares; ratings; the listing deadlines; the idle cases.

Every figure is computed by grouped SQL aggregates (one pass over the bookings of the period),
never by loading rows into Python: a region of 100,000 instruments and ten million bookings is
the scale (bench/indicators_bench.py). Formulas, rounding and edge cases: ``INDICATORS.md``.
Periods are Asia/Shanghai dates, ``start`` inclusive, ``end`` exclusive.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, distinct, false, func, literal, or_, select, text, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import Organization
from booking.models import Booking, BookingStatus
from catalogue.listing import LISTING_WORKING_DAYS
from catalogue.models import Category, Instrument, ServiceItem, ServiceMode
from catalogue.settings import CatalogueSettings
from catalogue.workdays import WorkingDayCalendar, load_working_day_calendar
from oversight.complaints import upheld_counts
from oversight.models import BindingAction, IdleCase, SensorBinding, SessionSource, UsageDay
from oversight.months import add_months, idle_months
from oversight.settings import OversightSettings
from ratings.models import Rating
from vouchers.models import CheckoutState, VoucherCheckout
from vouchers.rules import region_prefix
from yixiang.clock import SHANGHAI, shanghai_date, shanghai_today
from yixiang.db import is_postgres, utcnow
from yixiang.settings import Settings, load_settings

SENSOR_WORKING_DAYS = 30  # 大仪入网30个工作日内，完成物联网传感器安装调试 (seed 004 §一)
SERVICE_INFO_MONTHS = 3  # 3个月内完善服务方式、内容、流程和收费标准等信息 (seed 004 §一)
DONE = (BookingStatus.completed, BookingStatus.delivered, BookingStatus.rated)
EXTERNAL = "external"
WORK_MEM = "128MB"  # per sort/hash node of the aggregates, for their transaction only


@dataclass(frozen=True)
class InstrumentFigures:
    """One instrument over a period (dates in Asia/Shanghai)."""

    instrument_id: uuid.UUID
    unit_id: uuid.UUID
    name: str
    category_code: str
    generic: bool  # 通用性强: the instrument's category is marked generic
    hours_source: str  # "sensor" | "bookings"
    effective_hours: float  # rounded to 0.01 h
    external_hours: float
    internal_hours: float
    usage_rate: float
    sharing_rate: float | None  # None when effective is 0
    external_users: int
    external_orders: int
    external_fee_income_fen: int
    voucher_share_fen: int
    rating_mean: float | None
    rating_count: int
    listed_on_time: bool
    sensor_on_time: bool | None  # None: no sensor deadline applies yet
    service_info_complete: bool
    idle_months: int
    complaints_upheld: int = 0  # complaints about the instrument upheld in the period


@dataclass(frozen=True)
class UnitFigures:
    """The same, summed or averaged over a unit's instruments in the region."""

    unit_id: uuid.UUID
    unit_name: str
    instruments: int
    hours_source: str  # "sensor" | "bookings" | "mixed"
    effective_hours: float
    external_hours: float
    internal_hours: float
    usage_rate: float
    sharing_rate: float | None
    external_users: int
    external_orders: int
    external_fee_income_fen: int
    voucher_share_fen: int
    rating_mean: float | None
    rating_count: int
    listed_on_time_share: float
    sensor_on_time_share: float | None
    service_info_complete_share: float
    idle_instruments: int
    complaints_upheld: int = 0  # complaints about the unit (or its instruments) upheld in the period


@dataclass(frozen=True)
class _Computed:
    """An instrument's figures with the unrounded sums a unit's figures are made of."""

    figures: InstrumentFigures
    effective_seconds: int
    external_seconds: int
    norm_hours: float
    rating_sum: int


@dataclass(frozen=True)
class _Region:
    """The period's figures of the chosen instruments, and for their units what cannot be summed
    from them: the distinct external firms (when asked for) and the complaints upheld."""

    computed: list[_Computed]
    unit_users: dict[uuid.UUID, int]
    unit_upheld: dict[uuid.UUID, int]


# --- periods and SQL helpers ----------------------------------------------------------------------
def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), SHANGHAI)


def _seconds(session: AsyncSession, low: Any, high: Any) -> ColumnElement[Any]:
    """``high - low`` in seconds, on either database."""
    if is_postgres(session):
        return func.extract("epoch", high - low)
    return (func.julianday(high) - func.julianday(low)) * 86400.0


def _greatest(session: AsyncSession, a: Any, b: Any) -> ColumnElement[Any]:
    return func.greatest(a, b) if is_postgres(session) else func.max(a, b)


def _least(session: AsyncSession, a: Any, b: Any) -> ColumnElement[Any]:
    return func.least(a, b) if is_postgres(session) else func.min(a, b)


def _int(value: Any) -> int:
    return round(float(value)) if value is not None else 0


def _hours(seconds: int) -> float:
    return round(seconds / 3600, 2)


def norm_hours(annual_norm: float, listed_on: date, start: date, end: date) -> float:
    """The period's norm: the annual norm pro rata the days of each calendar year of the period
    the instrument was listed (a full calendar year listed throughout: the annual norm)."""
    first = max(start, listed_on)
    total = 0.0
    year = first.year
    while first < end:
        year_end = date(year + 1, 1, 1)
        stop = min(end, year_end)
        days_in_year = (year_end - date(year, 1, 1)).days
        total += annual_norm * (stop - first).days / days_in_year
        first, year = stop, year + 1
    return total


# --- the records, aggregated ----------------------------------------------------------------------
def _instruments(
    region_code: str,
    end_at: datetime,
    unit_id: uuid.UUID | None,
    category_code: str | None,
    instrument_ids: Sequence[uuid.UUID] | None,
) -> Any:
    """Instruments of the region (a city's or province's: its districts' too) listed before the
    period's end (whatever became of them since)."""
    prefix = region_prefix(region_code)
    query = select(Instrument.id).where(
        Instrument.region_code == region_code
        if len(prefix) == 6
        else Instrument.region_code.startswith(prefix),
        Instrument.published_at.is_not(None),
        Instrument.published_at < end_at,
    )
    if unit_id is not None:
        query = query.where(Instrument.unit_id == unit_id)
    if category_code is not None:
        query = query.where(Instrument.category_code == category_code)
    if instrument_ids is not None:
        query = query.where(Instrument.id.in_(list(instrument_ids)) if instrument_ids else false())
    return query.cte("chosen")


async def _grouped(session: AsyncSession, query: Any) -> dict[uuid.UUID, Any]:
    return {row[0]: row for row in await session.execute(query)}


async def _rollup(session: AsyncSession, chosen: Any, start: date, end: date) -> dict[uuid.UUID, Any]:
    is_sensor = UsageDay.source == SessionSource.sensor
    return await _grouped(
        session,
        select(
            UsageDay.instrument_id,
            func.sum(UsageDay.effective_seconds).label("effective"),
            func.sum(UsageDay.external_seconds).label("external"),
            func.sum(case((is_sensor, UsageDay.effective_seconds), else_=0)).label("sensor"),
        )
        .join(chosen, chosen.c.id == UsageDay.instrument_id)
        .where(UsageDay.day >= start, UsageDay.day < end)
        .group_by(UsageDay.instrument_id),
    )


def _booking_conditions(session: AsyncSession, start_at: datetime, end_at: datetime) -> dict[str, Any]:
    low, high = literal(start_at, type_=Booking.start_at.type), literal(end_at, type_=Booking.start_at.type)
    external = Booking.rate == EXTERNAL
    # the recorded hours of machine time, cut at the period's bounds
    in_hours = and_(
        Booking.mode == ServiceMode.machine_time,
        Booking.actual_start < high,
        Booking.actual_end > low,
    )
    clipped = _seconds(
        session, _greatest(session, Booking.actual_start, low), _least(session, Booking.actual_end, high)
    )
    # an order counts in the period of its completion (the voucher capture; else its recorded end)
    done_at = func.coalesce(VoucherCheckout.captured_at, Booking.actual_end, Booking.updated_at)
    done = and_(done_at >= low, done_at < high)
    captured = and_(
        VoucherCheckout.state == CheckoutState.captured,
        VoucherCheckout.captured_at >= low,
        VoucherCheckout.captured_at < high,
    )
    return {
        "external": external,
        "in_hours": in_hours,
        "clipped": clipped,
        "done": done,
        "captured": captured,
    }


@dataclass(frozen=True)
class _Served:
    """The bookings' figures: per instrument (hours, orders, money, users) and, when asked, the
    distinct external firms per unit."""

    instruments: dict[uuid.UUID, Any]
    unit_users: dict[uuid.UUID, int]


async def _bookings(
    session: AsyncSession, chosen: Any, start_at: datetime, end_at: datetime, *, units: bool = False
) -> _Served:
    """One pass over the period's bookings and their checkouts, grouped by instrument and firm;
    the instrument's and unit's figures are then summed from those (far fewer) groups, so the
    distinct firms cost no second pass and no sort of every booking."""
    c = _booking_conditions(session, start_at, end_at)
    external_done = and_(c["external"], c["done"])
    paid = and_(VoucherCheckout.state == CheckoutState.captured, VoucherCheckout.due_fen == 0)
    pairs = (
        select(
            Booking.instrument_id,
            Booking.unit_id,
            Booking.enterprise_id,
            func.sum(case((c["in_hours"], c["clipped"]), else_=0)).label("booked"),
            func.sum(case((and_(c["in_hours"], c["external"]), c["clipped"]), else_=0)).label(
                "booked_external"
            ),
            func.count(case((external_done, 1))).label("orders"),
            func.sum(case((and_(external_done, paid), VoucherCheckout.fee_fen), else_=0)).label("fee"),
            func.sum(case((c["captured"], VoucherCheckout.voucher_fen), else_=0)).label("voucher"),
        )
        .join(chosen, chosen.c.id == Booking.instrument_id)
        .outerjoin(VoucherCheckout, VoucherCheckout.booking_id == Booking.id)
        .where(Booking.status.in_(DONE), or_(c["in_hours"], c["done"], c["captured"]))
        .group_by(Booking.instrument_id, Booking.unit_id, Booking.enterprise_id)
        .cte("pairs")
    )
    if units and is_postgres(session):  # read twice below: computed once
        pairs = pairs.prefix_with("MATERIALIZED")
    per_instrument = select(
        literal("i").label("kind"),
        pairs.c.instrument_id.label("key"),
        func.sum(pairs.c.booked).label("booked"),
        func.sum(pairs.c.booked_external).label("booked_external"),
        func.sum(pairs.c.orders).label("orders"),
        func.sum(pairs.c.fee).label("fee"),
        func.sum(pairs.c.voucher).label("voucher"),
        func.count(case((pairs.c.orders > 0, 1))).label("users"),
    ).group_by(pairs.c.instrument_id)
    query: Any = per_instrument
    if units:
        per_unit = select(
            literal("u"),
            pairs.c.unit_id,
            *(literal(0) for _ in range(5)),
            func.count(distinct(case((pairs.c.orders > 0, pairs.c.enterprise_id)))),
        ).group_by(pairs.c.unit_id)
        query = union_all(per_instrument, per_unit)
    found = _Served({}, {})
    for row in await session.execute(query):
        if row.kind == "i":
            found.instruments[row.key] = row
        else:
            found.unit_users[row.key] = int(row.users)
    return found


async def _ratings(
    session: AsyncSession, chosen: Any, start_at: datetime, end_at: datetime
) -> dict[uuid.UUID, Any]:
    return await _grouped(
        session,
        select(Rating.instrument_id, func.count().label("count"), func.sum(Rating.overall).label("total"))
        .join(chosen, chosen.c.id == Rating.instrument_id)
        .where(Rating.hidden_at.is_(None), Rating.created_at >= start_at, Rating.created_at < end_at)
        .group_by(Rating.instrument_id),
    )


async def _first_sensor(session: AsyncSession, chosen: Any) -> dict[uuid.UUID, datetime]:
    rows = await session.execute(
        select(SensorBinding.instrument_id, func.min(SensorBinding.at))
        .join(chosen, chosen.c.id == SensorBinding.instrument_id)
        .where(SensorBinding.action.in_([BindingAction.bound, BindingAction.rebound]))
        .group_by(SensorBinding.instrument_id)
    )
    return {i: at for i, at in rows if i is not None}


async def _active_items(session: AsyncSession, chosen: Any) -> dict[uuid.UUID, int]:
    rows = await session.execute(
        select(ServiceItem.instrument_id, func.count())
        .join(chosen, chosen.c.id == ServiceItem.instrument_id)
        .where(ServiceItem.active.is_(True))
        .group_by(ServiceItem.instrument_id)
    )
    return {i: int(n) for i, n in rows}


async def _idle_months(
    session: AsyncSession, chosen: Any, start_at: datetime, end_at: datetime, now: datetime
) -> dict[uuid.UUID, int]:
    """Whole months of each idle case's stretch inside the period (cases are few: one per stretch)."""
    rows = await session.execute(
        select(IdleCase.instrument_id, IdleCase.idle_since, IdleCase.cleared_at)
        .join(chosen, chosen.c.id == IdleCase.instrument_id)
        .where(
            IdleCase.idle_since < end_at,
            or_(IdleCase.cleared_at.is_(None), IdleCase.cleared_at > start_at),
        )
    )
    months: dict[uuid.UUID, int] = defaultdict(int)
    for instrument_id, since, cleared in rows:
        low, high = max(since, start_at), min(cleared or now, end_at, now)
        if high > low:
            months[instrument_id] += idle_months(low, high)
    return months


# --- compliance -----------------------------------------------------------------------------------
class _Deadlines:
    """Working-day deadlines, memoised per start day (many instruments share a day)."""

    def __init__(self, calendar: WorkingDayCalendar) -> None:
        self.calendar = calendar
        self.memo: dict[tuple[date, int], date] = {}
        self.working: dict[date, bool] = {}

    def is_working_day(self, day: date) -> bool:
        if day not in self.working:
            self.working[day] = self.calendar.is_working_day(day)
        return self.working[day]

    def add(self, day: date, working_days: int) -> date:
        """As ``WorkingDayCalendar.add_working_days``, each day looked up once."""
        key = (day, working_days)
        if key not in self.memo:
            current, remaining = day, working_days
            while remaining:
                current += timedelta(days=1)
                remaining -= self.is_working_day(current)
            self.memo[key] = current
        return self.memo[key]


def _listed_on_time(row: Any, threshold_fen: int, deadlines: _Deadlines) -> bool:
    """Listed within 30 working days of acceptance; True where no listing deadline applies."""
    if row.acceptance_date is None or row.original_value_fen < threshold_fen:
        return True
    listed_on = shanghai_date(row.published_at)
    return listed_on <= deadlines.add(row.acceptance_date, LISTING_WORKING_DAYS)


def _sensor_on_time(
    listed_on: date, first_sensor: datetime | None, as_of: date, deadlines: _Deadlines
) -> bool | None:
    deadline = deadlines.add(listed_on, SENSOR_WORKING_DAYS)
    if first_sensor is not None and shanghai_date(first_sensor) <= deadline:
        return True
    if as_of > deadline:
        return False
    return None


def _service_info_complete(row: Any, active_items: int, listed_on: date, as_of: date) -> bool:
    """服务方式 (a mode offered), 内容 (an active service item), 流程 (a contact to arrange it) and
    收费标准 (the fee basis) recorded — or the three months to record them not yet over."""
    complete = (
        (row.self_operation or row.operator_run or row.sample_testing)
        and active_items > 0
        and bool(row.contact_phone.strip())
        and bool(row.fee_basis.strip())
    )
    return bool(complete) or as_of <= add_months(listed_on, SERVICE_INFO_MONTHS)


# --- the figures ----------------------------------------------------------------------------------
async def _compute(
    session: AsyncSession,
    *,
    region_code: str,
    start: date,
    end: date,
    unit_id: uuid.UUID | None,
    category_code: str | None,
    instrument_ids: Sequence[uuid.UUID] | None,
    settings: Settings | None,
    now: datetime | None,
    for_units: bool = False,
) -> _Region:
    """The instruments' figures and, ``for_units``, the distinct external firms per unit."""
    if end <= start:
        return _Region([], {}, {})
    settings = settings or load_settings()
    annual_norm = OversightSettings.of(settings).annual_norm_hours
    threshold_fen = CatalogueSettings.of(settings).listing_value_threshold_fen
    now = now or utcnow()
    start_at, end_at = _midnight(start), _midnight(end)
    as_of = min(end - timedelta(days=1), shanghai_today(now))
    if is_postgres(session):  # hash the period's bookings in memory rather than in batches on disk
        await session.execute(text(f"SET LOCAL work_mem = '{WORK_MEM}'"))
    chosen = _instruments(region_code, end_at, unit_id, category_code, instrument_ids)
    instruments = (
        await session.execute(
            select(
                Instrument.id,
                Instrument.unit_id,
                Instrument.name,
                Instrument.category_code,
                Category.generic,
                Instrument.published_at,
                Instrument.acceptance_date,
                Instrument.original_value_fen,
                Instrument.self_operation,
                Instrument.operator_run,
                Instrument.sample_testing,
                Instrument.contact_phone,
                Instrument.fee_basis,
            )
            .join(chosen, chosen.c.id == Instrument.id)
            .join(Category, Category.code == Instrument.category_code)
            .order_by(Instrument.unit_id, Instrument.id)
        )
    ).all()
    if not instruments:
        return _Region([], {}, {})
    rollup = await _rollup(session, chosen, start, end)
    served = await _bookings(session, chosen, start_at, end_at, units=for_units)
    bookings = served.instruments
    ratings = await _ratings(session, chosen, start_at, end_at)
    sensors = await _first_sensor(session, chosen)
    items = await _active_items(session, chosen)
    idle = await _idle_months(session, chosen, start_at, end_at, now)
    unit_upheld, upheld = await upheld_counts(session, region_code=region_code, start=start_at, end=end_at)
    deadlines = _Deadlines(await load_working_day_calendar(session))
    found = []
    for row in instruments:
        listed_on = shanghai_date(row.published_at)
        used, booked = rollup.get(row.id), bookings.get(row.id)
        if used is not None and _int(used.sensor) > 0:
            source, effective, external = "sensor", _int(used.effective), _int(used.external)
        else:
            source = "bookings"
            effective = _int(booked.booked) if booked else 0
            external = _int(booked.booked_external) if booked else 0
        norm = norm_hours(annual_norm, listed_on, start, end)
        rated = ratings.get(row.id)
        rating_count, rating_sum = (int(rated.count), int(rated.total)) if rated else (0, 0)
        figures = InstrumentFigures(
            instrument_id=row.id,
            unit_id=row.unit_id,
            name=row.name,
            category_code=row.category_code,
            generic=bool(row.generic),
            hours_source=source,
            effective_hours=_hours(effective),
            external_hours=_hours(external),
            internal_hours=_hours(effective - external),
            usage_rate=round(effective / 3600 / norm, 4) if norm > 0 else 0.0,
            sharing_rate=round(external / effective, 4) if effective > 0 else None,
            external_users=int(booked.users) if booked else 0,
            external_orders=int(booked.orders) if booked else 0,
            external_fee_income_fen=_int(booked.fee) if booked else 0,
            voucher_share_fen=_int(booked.voucher) if booked else 0,
            rating_mean=round(rating_sum / rating_count, 2) if rating_count else None,
            rating_count=rating_count,
            listed_on_time=_listed_on_time(row, threshold_fen, deadlines),
            sensor_on_time=_sensor_on_time(listed_on, sensors.get(row.id), as_of, deadlines),
            service_info_complete=_service_info_complete(row, items.get(row.id, 0), listed_on, as_of),
            idle_months=idle.get(row.id, 0),
            complaints_upheld=upheld.get(row.id, 0),
        )
        found.append(_Computed(figures, effective, external, norm, rating_sum))
    return _Region(found, served.unit_users, unit_upheld)


async def instrument_figures(
    session: AsyncSession,
    *,
    region_code: str,
    start: date,
    end: date,
    unit_id: uuid.UUID | None = None,
    category_code: str | None = None,
    instrument_ids: Sequence[uuid.UUID] | None = None,
    settings: Settings | None = None,
    now: datetime | None = None,
) -> list[InstrumentFigures]:
    """Each instrument of the region listed before ``end``, over ``[start, end)`` (Asia/Shanghai
    dates), by unit then id. ``settings``: the annual norm and listing threshold (read from the
    environment when not given)."""
    region = await _compute(
        session,
        region_code=region_code,
        start=start,
        end=end,
        unit_id=unit_id,
        category_code=category_code,
        instrument_ids=instrument_ids,
        settings=settings,
        now=now,
    )
    return [c.figures for c in region.computed]


def _share(values: list[bool]) -> float:
    return round(sum(values) / len(values), 4) if values else 0.0


async def unit_figures(
    session: AsyncSession,
    *,
    region_code: str,
    start: date,
    end: date,
    unit_id: uuid.UUID | None = None,
    settings: Settings | None = None,
    now: datetime | None = None,
) -> list[UnitFigures]:
    """Each unit with instruments listed in the region before ``end``, by name."""
    _, units = await instrument_and_unit_figures(
        session, region_code=region_code, start=start, end=end, unit_id=unit_id, settings=settings, now=now
    )
    return units


async def instrument_and_unit_figures(
    session: AsyncSession,
    *,
    region_code: str,
    start: date,
    end: date,
    unit_id: uuid.UUID | None = None,
    settings: Settings | None = None,
    now: datetime | None = None,
) -> tuple[list[InstrumentFigures], list[UnitFigures]]:
    """``instrument_figures`` and ``unit_figures`` of the same region and period together, from
    one pass over the period's bookings (each alone makes that pass: its cost is most of either)."""
    region = await _compute(
        session,
        region_code=region_code,
        start=start,
        end=end,
        unit_id=unit_id,
        category_code=None,
        instrument_ids=None,
        settings=settings,
        now=now,
        for_units=True,
    )
    return [c.figures for c in region.computed], await _units(session, region)


async def _units(session: AsyncSession, region: _Region) -> list[UnitFigures]:
    if not region.computed:
        return []
    by_unit: dict[uuid.UUID, list[_Computed]] = defaultdict(list)
    for c in region.computed:
        by_unit[c.figures.unit_id].append(c)
    names = dict(
        (
            await session.execute(
                select(Organization.id, Organization.name).where(Organization.id.in_(list(by_unit)))
            )
        ).all()
    )
    found = []
    for unit, members in by_unit.items():
        figures = [c.figures for c in members]
        effective = sum(c.effective_seconds for c in members)
        external = sum(c.external_seconds for c in members)
        norm = sum(c.norm_hours for c in members)
        rating_count = sum(f.rating_count for f in figures)
        rating_sum = sum(c.rating_sum for c in members)
        sources = {f.hours_source for f in figures}
        sensor_known = [f.sensor_on_time for f in figures if f.sensor_on_time is not None]
        found.append(
            UnitFigures(
                unit_id=unit,
                unit_name=names.get(unit, ""),
                instruments=len(figures),
                hours_source=sources.pop() if len(sources) == 1 else "mixed",
                effective_hours=_hours(effective),
                external_hours=_hours(external),
                internal_hours=_hours(effective - external),
                usage_rate=round(effective / 3600 / norm, 4) if norm > 0 else 0.0,
                sharing_rate=round(external / effective, 4) if effective > 0 else None,
                external_users=region.unit_users.get(unit, 0),
                external_orders=sum(f.external_orders for f in figures),
                external_fee_income_fen=sum(f.external_fee_income_fen for f in figures),
                voucher_share_fen=sum(f.voucher_share_fen for f in figures),
                rating_mean=round(rating_sum / rating_count, 2) if rating_count else None,
                rating_count=rating_count,
                listed_on_time_share=_share([f.listed_on_time for f in figures]),
                sensor_on_time_share=_share([bool(v) for v in sensor_known]) if sensor_known else None,
                service_info_complete_share=_share([f.service_info_complete for f in figures]),
                idle_instruments=sum(1 for f in figures if f.idle_months > 0),
                complaints_upheld=region.unit_upheld.get(unit, 0),
            )
        )
    found.sort(key=lambda u: (u.unit_name, str(u.unit_id)))
    return found
