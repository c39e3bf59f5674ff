"""The stated queries the yearly report (``oversight.report``) reads, one per source: listed
instruments, hours and orders, ratings, voucher programmes, idle cases; and the small helpers that
turn them into figures (value bands, unit types, rounding)."""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from booking.models import Booking, BookingHistory, BookingStatus
from catalogue.models import Instrument, PublicationStatus
from oversight.indicators import instrument_figures
from oversight.models import IdleCase
from oversight.months import idle_months
from oversight.report_schema import (
    VALUE_BANDS,
    IdleRow,
    ProgramRow,
    StarRow,
)
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


def mean_of(values: list[float]) -> float | None:
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


async def listed_instruments(session: AsyncSession, prefix: str, end: datetime) -> list[Listed]:
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
    # When a booking was completed: its history says so; records written without one (imports)
    # fall back on the voucher capture and the recorded end, as the indicators do.
    history = (
        select(BookingHistory.booking_id, func.min(BookingHistory.at).label("at"))
        .where(BookingHistory.to_status == BookingStatus.completed)
        .group_by(BookingHistory.booking_id)
        .subquery()
    )
    done = func.coalesce(history.c.at, VoucherCheckout.captured_at, Booking.actual_end)
    completed = await session.execute(
        select(Booking.instrument_id, Booking.rate, Booking.final_fee_fen, done)
        .outerjoin(history, history.c.booking_id == Booking.id)
        .outerjoin(VoucherCheckout, VoucherCheckout.booking_id == Booking.id)
        .where(
            Booking.instrument_id.in_(in_region),
            Booking.status.in_(USED),
            done >= start,
            done < end,
        )
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


async def ratings_of_year(
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


async def programmes_of_year(session: AsyncSession, prefix: str, year: int) -> list[ProgramRow]:
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


async def idle_at_year_end(session: AsyncSession, listed: set[uuid.UUID], year: int) -> list[IdleRow]:
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


async def names_of(session: AsyncSession, model: type, ids: set[object]) -> dict[object, str]:
    if not ids:
        return {}
    key = model.id if hasattr(model, "id") else model.code  # type: ignore[attr-defined]
    return dict((await session.execute(select(key, model.name).where(key.in_(ids)))).all())  # type: ignore[attr-defined]
