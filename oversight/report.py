"""The yearly report's figures (统计年报, seed 004 and issue 22), computed from the records of one
region and calendar year (Asia/Shanghai): stated queries over the catalogue, bookings, ratings,
vouchers and oversight's idle cases; nothing typed twice.

How each figure is reckoned (the page and the PDF repeat the short form):

- *Listed instruments*: published instruments of the region whose listing (``published_at``) is
  before the year's end, counted by category (the instrument's own, second-level class), value
  band (``VALUE_BANDS``), origin and unit type.
- *Hours and usage rates*: the indicators' (``oversight.indicators``, formulas in
  ``INDICATORS.md``): from the daily usage roll-up where an instrument has sensor sessions, else
  from completed bookings' recorded use, the part inside the year (and inside each month for the
  trend). External hours are those of bookings at the external rate (for other units and firms).
  The region's and a unit's usage rate is the mean of their instruments' usage rates.
- *Orders and income*: bookings completed in the year (the moment they were completed); external
  income is the final fee of those at the external rate.
- *Vouchers*: the region's programmes of that year: granted (grants), used (voucher shares
  captured at checkout, net of refunds) and settled (included in paid or reconciled batches).
- *Ratings*: visible ratings of the region's instruments made in the year.
- *Idle*: instruments whose idle case (``oversight.idle``) was open at the year's end (or now, for
  the current year), by the step reached then (1, 3, 6 months).
- *Evaluation*: the region's published performance evaluation of the year (``oversight.evaluation``):
  each unit's rank, score and grade; none before it is published.
- *Rewards*: the region's sharing rewards and insurance subsidies of the year in approved, paid
  or reconciled batches (``oversight.rewards.reward_totals``); none before a batch is approved.
- *Unit type*: read from the holding unit's name (大学/学院 → 高等院校; 研究院/研究所/科学院 →
  科研院所; 医院 → 医疗卫生机构; 检测/测试 → 检测机构; 公司 → 企业; else 其他).
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import Organization, Region
from booking.models import Booking, BookingHistory, BookingStatus
from catalogue.models import Category, Instrument, PublicationStatus
from oversight.evaluation import published_results
from oversight.idle import idle_months
from oversight.indicators import instrument_figures
from oversight.models import IdleCase
from oversight.report_schema import (
    ORIGIN_LABELS,
    VALUE_BANDS,
    AreaRow,
    CategoryRow,
    EvaluationRow,
    Headline,
    IdleRow,
    ListingRow,
    MonthRow,
    ProgramRow,
    RewardFigures,
    StarRow,
    UnitRow,
    YearlyReport,
)
from oversight.rewards import reward_totals
from ratings.models import Rating
from vouchers.models import (
    CheckoutState,
    SettlementBatch,
    SettlementLine,
    SettlementStatus,
    VoucherCheckout,
    VoucherGrant,
    VoucherProgram,
)
from vouchers.rules import region_prefix
from yixiang.clock import SHANGHAI
from yixiang.db import utcnow
from yixiang.settings import load_settings

USED = (BookingStatus.completed, BookingStatus.delivered, BookingStatus.rated)
SETTLED = (SettlementStatus.paid, SettlementStatus.reconciled)
TOP_UNITS = 10
UNIT_TYPES = (
    (("大学", "学院"), "高等院校"),
    (("研究院", "研究所", "科学院"), "科研院所"),
    (("医院",), "医疗卫生机构"),
    (("检测", "测试"), "检测机构"),
    (("公司",), "企业"),
)
IDLE_STEPS = ((6, "闲置6个月以上"), (3, "闲置3–6个月"), (1, "闲置1–3个月"))


def unit_type_of(name: str) -> str:
    return next((label for words, label in UNIT_TYPES if any(w in name for w in words)), "其他")


def value_band_of(value_fen: int) -> str:
    return next(
        label for low, high, label in VALUE_BANDS if value_fen >= low and (high is None or value_fen < high)
    )


def year_bounds(year: int) -> tuple[datetime, datetime]:
    return (
        datetime.combine(date(year, 1, 1), time(), tzinfo=SHANGHAI),
        datetime.combine(date(year + 1, 1, 1), time(), tzinfo=SHANGHAI),
    )


def hours(seconds: float) -> float:
    return round(seconds / 3600, 2)


def rate(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole > 0 else None


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


def child_area(area: str, code: str) -> str:
    """The row of the region table ``code`` falls in: a province's cities, a city's districts."""
    if area.endswith("0000"):
        return code[:4] + "00"
    return code


@dataclass
class Use:
    """Seconds and money of one instrument (or unit, area, category, month) in the year."""

    effective_s: float = 0.0
    external_s: float = 0.0
    orders: int = 0
    external_orders: int = 0
    external_income_fen: int = 0

    def add(self, other: Use) -> None:
        self.effective_s += other.effective_s
        self.external_s += other.external_s
        self.orders += other.orders
        self.external_orders += other.external_orders
        self.external_income_fen += other.external_income_fen


@dataclass
class Listed:
    id: uuid.UUID
    unit_id: uuid.UUID
    region_code: str
    category_code: str
    value_fen: int
    origin: str


@dataclass
class Usage:
    per_instrument: dict[uuid.UUID, Use] = field(default_factory=lambda: defaultdict(Use))
    per_month_instrument: dict[int, dict[uuid.UUID, Use]] = field(default_factory=lambda: defaultdict(dict))
    usage_rates: dict[uuid.UUID, float] = field(default_factory=dict)
    sources: set[str] = field(default_factory=set)


async def _listed(session: AsyncSession, prefix: str, end: datetime) -> list[Listed]:
    rows = await session.execute(
        select(
            Instrument.id,
            Instrument.unit_id,
            Instrument.region_code,
            Instrument.category_code,
            Instrument.original_value_fen,
            Instrument.origin,
        ).where(
            Instrument.region_code.startswith(prefix),
            Instrument.publication == PublicationStatus.published,
            Instrument.published_at < end,
        )
    )
    return [Listed(r[0], r[1], r[2], r[3], int(r[4]), str(r[5])) for r in rows.all()]


async def year_usage(session: AsyncSession, prefix: str, areas: set[str], year: int) -> Usage:
    """Hours and rates from the indicators (``oversight.indicators``: the daily usage roll-up of
    sensor sessions, else completed bookings' recorded use), for the year and for each month;
    orders and income from the bookings completed in the year."""
    start, end = year_bounds(year)
    usage = Usage()
    months = [(date(year, m, 1), date(year + (m == 12), m % 12 + 1, 1)) for m in range(1, 13)]
    settings = load_settings()  # the annual norm; read once (each call would read it again)
    for area in sorted(areas):
        used: list[uuid.UUID] = []
        for figures in await instrument_figures(
            session, region_code=area, start=date(year, 1, 1), end=date(year + 1, 1, 1), settings=settings
        ):
            usage.per_instrument[figures.instrument_id].add(
                Use(effective_s=figures.effective_hours * 3600, external_s=figures.external_hours * 3600)
            )
            usage.usage_rates[figures.instrument_id] = figures.usage_rate
            if figures.effective_hours > 0:
                usage.sources.add(figures.hours_source)
                used.append(figures.instrument_id)
        # the trend: month by month, for the instruments used at all in the year (the rest add 0)
        for month, (first, after) in enumerate(months, start=1):
            if not used:
                break
            for figures in await instrument_figures(
                session, region_code=area, start=first, end=after, instrument_ids=used, settings=settings
            ):
                usage.per_month_instrument[month][figures.instrument_id] = Use(
                    effective_s=figures.effective_hours * 3600, external_s=figures.external_hours * 3600
                )
    in_region = select(Instrument.id).where(Instrument.region_code.startswith(prefix))
    completed_at = func.min(BookingHistory.at)
    completed = await session.execute(
        select(Booking.instrument_id, Booking.rate, Booking.final_fee_fen, completed_at)
        .join(BookingHistory, BookingHistory.booking_id == Booking.id)
        .where(
            Booking.instrument_id.in_(in_region),
            Booking.status.in_(USED),
            BookingHistory.to_status == BookingStatus.completed,
            BookingHistory.at < end,
        )
        .group_by(Booking.id, Booking.instrument_id, Booking.rate, Booking.final_fee_fen)
        .having(completed_at >= start)
    )
    for instrument_id, booking_rate, fee_fen, done_at in completed.all():
        external = booking_rate == "external"
        piece = Use(
            orders=1,
            external_orders=int(external),
            external_income_fen=int(fee_fen or 0) if external else 0,
        )
        usage.per_instrument[instrument_id].add(piece)
        usage.per_month_instrument[done_at.astimezone(SHANGHAI).month].setdefault(instrument_id, Use()).add(
            piece
        )
    return usage


async def _ratings(
    session: AsyncSession, prefix: str, year: int
) -> tuple[list[StarRow], dict[uuid.UUID, tuple[int, int]]]:
    start, end = year_bounds(year)
    rows = await session.execute(
        select(Rating.unit_id, Rating.overall)
        .join(Instrument, Instrument.id == Rating.instrument_id)
        .where(
            Instrument.region_code.startswith(prefix),
            Rating.created_at >= start,
            Rating.created_at < end,
            Rating.hidden_at.is_(None),
        )
    )
    stars: Counter[int] = Counter()
    per_unit: dict[uuid.UUID, tuple[int, int]] = {}
    for unit_id, overall in rows.all():
        stars[int(overall)] += 1
        count, total = per_unit.get(unit_id, (0, 0))
        per_unit[unit_id] = (count + 1, total + int(overall))
    return [StarRow(stars=s, ratings=stars[s]) for s in range(5, 0, -1)], per_unit


async def _programs(session: AsyncSession, prefix: str, year: int) -> list[ProgramRow]:
    programs = (
        await session.execute(
            select(VoucherProgram.id, VoucherProgram.name, VoucherProgram.budget_fen)
            .where(VoucherProgram.region_code.startswith(prefix), VoucherProgram.year == year)
            .order_by(VoucherProgram.name, VoucherProgram.id)
        )
    ).all()
    ids = [p.id for p in programs]
    if not ids:
        return []
    granted = {
        pid: (int(total or 0), int(firms))
        for pid, total, firms in (
            await session.execute(
                select(
                    VoucherGrant.program_id,
                    func.sum(VoucherGrant.amount_fen),
                    func.count(func.distinct(VoucherGrant.enterprise_id)),
                )
                .where(VoucherGrant.program_id.in_(ids))
                .group_by(VoucherGrant.program_id)
            )
        ).all()
    }
    used = dict(
        (
            await session.execute(
                select(VoucherCheckout.program_id, func.sum(VoucherCheckout.voucher_fen))
                .where(VoucherCheckout.program_id.in_(ids), VoucherCheckout.state == CheckoutState.captured)
                .group_by(VoucherCheckout.program_id)
            )
        ).all()
    )
    settled = dict(
        (
            await session.execute(
                select(SettlementLine.program_id, func.sum(SettlementLine.voucher_fen))
                .join(SettlementBatch, SettlementBatch.id == SettlementLine.batch_id)
                .where(
                    SettlementLine.program_id.in_(ids),
                    SettlementLine.included.is_(True),
                    SettlementBatch.status.in_(SETTLED),
                )
                .group_by(SettlementLine.program_id)
            )
        ).all()
    )
    return [
        ProgramRow(
            name=p.name,
            budget_fen=int(p.budget_fen),
            granted_fen=granted.get(p.id, (0, 0))[0],
            firms=granted.get(p.id, (0, 0))[1],
            used_fen=int(used.get(p.id) or 0),
            settled_fen=int(settled.get(p.id) or 0),
        )
        for p in programs
    ]


async def _idle(session: AsyncSession, listed: set[uuid.UUID], year: int) -> list[IdleRow]:
    _, end = year_bounds(year)
    at = min(end, utcnow())
    cases = await session.execute(
        select(IdleCase.instrument_id, IdleCase.idle_since, IdleCase.cleared_at).where(
            IdleCase.idle_since < at
        )
    )
    months: dict[uuid.UUID, int] = {}
    for instrument_id, since, cleared in cases.all():
        if instrument_id not in listed or (cleared is not None and cleared <= at):
            continue
        months[instrument_id] = max(months.get(instrument_id, 0), idle_months(since, at))
    rows = []
    for step, label in IDLE_STEPS:
        upper = {6: None, 3: 6, 1: 3}[step]
        count = sum(1 for m in months.values() if m >= step and (upper is None or m < upper))
        rows.append(IdleRow(months=step, label=label, instruments=count))
    return rows


async def _names(session: AsyncSession, model: type, ids: set[object]) -> dict[object, str]:
    if not ids:
        return {}
    key = model.id if hasattr(model, "id") else model.code  # type: ignore[attr-defined]
    return dict((await session.execute(select(key, model.name).where(key.in_(ids)))).all())  # type: ignore[attr-defined]


async def compute_report(session: AsyncSession, region_code: str, year: int) -> YearlyReport:
    """The report of ``region_code`` (a province, city or district) for the calendar ``year``."""
    prefix = region_prefix(region_code)
    _, end = year_bounds(year)
    listed = await _listed(session, prefix, end)
    usage = await year_usage(session, prefix, {i.region_code for i in listed}, year)
    listed_ids = {i.id for i in listed}
    per_month: dict[int, Use] = defaultdict(Use)
    for month, uses in usage.per_month_instrument.items():
        for instrument_id, use in uses.items():
            if instrument_id in listed_ids:
                per_month[month].add(use)
    rates = [usage.usage_rates.get(i.id, 0.0) for i in listed]
    stars, unit_ratings = await _ratings(session, prefix, year)
    programs = await _programs(session, prefix, year)
    idle = await _idle(session, {i.id for i in listed}, year)

    unit_names = await _names(session, Organization, {i.unit_id for i in listed})
    region = await session.get(Region, region_code)
    area_codes = {child_area(region_code, i.region_code) for i in listed}
    area_names = await _names(session, Region, set(area_codes))
    categories = dict((await session.execute(select(Category.code, Category.name))).all())

    per_unit: dict[uuid.UUID, Use] = defaultdict(Use)
    per_area: dict[str, Use] = defaultdict(Use)
    per_category: dict[str, Use] = defaultdict(Use)
    total = Use()
    for instrument in listed:
        use = usage.per_instrument.get(instrument.id, Use())
        per_unit[instrument.unit_id].add(use)
        per_area[child_area(region_code, instrument.region_code)].add(use)
        per_category[instrument.category_code].add(use)
        total.add(use)

    def listing(key_of: object) -> dict[str, tuple[int, int]]:
        counted: dict[str, tuple[int, int]] = {}
        for instrument in listed:
            key = key_of(instrument)  # type: ignore[operator]
            n, value = counted.get(key, (0, 0))
            counted[key] = (n + 1, value + instrument.value_fen)
        return counted

    bands = listing(lambda i: value_band_of(i.value_fen))
    origins = listing(lambda i: i.origin)
    types = listing(lambda i: unit_type_of(unit_names.get(i.unit_id, "")))
    by_category = listing(lambda i: i.category_code)
    instruments_of_unit = Counter(i.unit_id for i in listed)
    units_of_area = {
        area: len({i.unit_id for i in listed if child_area(region_code, i.region_code) == area})
        for area in area_codes
    }

    unit_rows = sorted(
        per_unit.items(),
        key=lambda kv: (-kv[1].external_s, -kv[1].effective_s, str(unit_names.get(kv[0], ""))),
    )[:TOP_UNITS]
    rated = sum(c for c, _ in unit_ratings.values())
    rated_total = sum(t for _, t in unit_ratings.values())
    rewards = await reward_totals(session, region_code=region_code, year=year)
    return YearlyReport(
        region_code=region_code,
        region_name=region.name if region else region_code,
        year=year,
        computed_at=utcnow(),
        hours_source=usage.sources.pop()
        if len(usage.sources) == 1
        else ("mixed" if usage.sources else "bookings"),
        headline=Headline(
            instruments=len(listed),
            units=len(instruments_of_unit),
            total_value_fen=sum(i.value_fen for i in listed),
            effective_hours=hours(total.effective_s),
            external_hours=hours(total.external_s),
            internal_hours=hours(total.effective_s - total.external_s),
            sharing_rate=rate(total.external_s, total.effective_s),
            usage_rate=_mean(rates),
            orders=total.orders,
            external_orders=total.external_orders,
            external_income_fen=total.external_income_fen,
            voucher_granted_fen=sum(p.granted_fen for p in programs),
            voucher_used_fen=sum(p.used_fen for p in programs),
            voucher_settled_fen=sum(p.settled_fen for p in programs),
            rating_count=rated,
            rating_mean=round(rated_total / rated, 2) if rated else None,
            idle_instruments=sum(r.instruments for r in idle),
        ),
        by_category=sorted(
            (
                CategoryRow(
                    code=code,
                    name=str(categories.get(code, code)),
                    instruments=n,
                    value_fen=value,
                    effective_hours=hours(per_category[code].effective_s),
                    external_hours=hours(per_category[code].external_s),
                    external_income_fen=per_category[code].external_income_fen,
                )
                for code, (n, value) in by_category.items()
            ),
            key=lambda r: (-r.instruments, r.code),
        ),
        by_value_band=[
            ListingRow(
                key=label,
                label=label,
                instruments=bands.get(label, (0, 0))[0],
                value_fen=bands.get(label, (0, 0))[1],
            )
            for _, _, label in VALUE_BANDS
        ],
        by_origin=[
            ListingRow(
                key=key,
                label=label,
                instruments=origins.get(key, (0, 0))[0],
                value_fen=origins.get(key, (0, 0))[1],
            )
            for key, label in ORIGIN_LABELS.items()
        ],
        by_unit_type=[
            ListingRow(key=label, label=label, instruments=n, value_fen=value)
            for label, (n, value) in sorted(types.items(), key=lambda kv: (-kv[1][0], kv[0]))
        ],
        monthly=[
            MonthRow(
                month=m,
                effective_hours=hours(per_month[m].effective_s),
                external_hours=hours(per_month[m].external_s),
                orders=per_month[m].orders,
                external_income_fen=per_month[m].external_income_fen,
            )
            for m in range(1, 13)
        ],
        top_units=[
            UnitRow(
                rank=rank,
                name=str(unit_names.get(unit_id, "")),
                unit_type=unit_type_of(str(unit_names.get(unit_id, ""))),
                instruments=instruments_of_unit[unit_id],
                effective_hours=hours(use.effective_s),
                external_hours=hours(use.external_s),
                sharing_rate=rate(use.external_s, use.effective_s),
                usage_rate=_mean([usage.usage_rates.get(i.id, 0.0) for i in listed if i.unit_id == unit_id]),
                external_orders=use.external_orders,
                external_income_fen=use.external_income_fen,
                rating_mean=(
                    round(unit_ratings[unit_id][1] / unit_ratings[unit_id][0], 2)
                    if unit_id in unit_ratings
                    else None
                ),
            )
            for rank, (unit_id, use) in enumerate(unit_rows, start=1)
        ],
        areas=sorted(
            (
                AreaRow(
                    code=code,
                    name=str(area_names.get(code, code)),
                    units=units_of_area[code],
                    instruments=sum(1 for i in listed if child_area(region_code, i.region_code) == code),
                    value_fen=sum(
                        i.value_fen for i in listed if child_area(region_code, i.region_code) == code
                    ),
                    effective_hours=hours(per_area[code].effective_s),
                    external_hours=hours(per_area[code].external_s),
                    external_income_fen=per_area[code].external_income_fen,
                )
                for code in area_codes
            ),
            key=lambda r: r.code,
        ),
        programs=programs,
        ratings=stars,
        idle=idle,
        evaluation=[
            EvaluationRow(rank=e.rank, name=e.unit_name, score=round(e.score, 2), grade=str(e.grade.value))
            for e in await published_results(session, region_code=region_code, year=year)
        ],
        rewards=RewardFigures(
            units=rewards.units,
            instruments=rewards.instruments,
            sharing_fen=rewards.sharing_fen,
            insurance_fen=rewards.insurance_fen,
            total_fen=rewards.total_fen,
        )
        if rewards.batches
        else None,
    )
