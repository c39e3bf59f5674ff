"""The figures of a bureau's region dashboard, read from the records (stated queries, read only):
instruments listed, bookings of the last 30 days, voucher programmes and what they paid.

Until the bureaus' own domain (``oversight/``: indicators, evaluation) lands, the dashboard reads
here; its region rule is the vouchers' (``vouchers.rules.region_covers``: a city covers its
districts), applied to the region codes the records carry.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from booking.models import Booking, BookingStatus
from catalogue.models import Category, Instrument, PublicationStatus
from vouchers.models import CheckoutState, VoucherCheckout, VoucherProgram
from vouchers.rules import region_covers
from yixiang.clock import SHANGHAI, shanghai_date, shanghai_today

DAYS = 30


@dataclass
class RegionFigures:
    published: int = 0
    listed: int = 0  # any publication state but withdrawn
    by_category: list[tuple[str, int]] = field(default_factory=list)  # top categories, published
    bookings_by_day: list[tuple[date, int]] = field(
        default_factory=list
    )  # last DAYS days, by start or creation
    bookings_by_status: dict[BookingStatus, int] = field(default_factory=dict)
    programs: int = 0
    budget_fen: int = 0
    captured_fen: int = 0  # voucher shares paid at checkout under the region's programmes
    held_fen: int = 0  # held for bookings not yet completed


async def _codes_in(session: AsyncSession, column: object, areas: set[str]) -> list[str]:
    found = (await session.scalars(select(column).distinct())).all()  # type: ignore[call-overload]
    return [code for code in found if any(region_covers(area, code) for area in areas)]


async def region_figures(session: AsyncSession, areas: set[str]) -> RegionFigures:
    figures = RegionFigures()
    codes = await _codes_in(session, Instrument.region_code, areas)
    if codes:
        rows = await session.execute(
            select(Instrument.publication, func.count())
            .where(Instrument.region_code.in_(codes))
            .group_by(Instrument.publication)
        )
        counts = {publication: int(n) for publication, n in rows.all()}
        figures.published = counts.get(PublicationStatus.published, 0)
        figures.listed = sum(n for p, n in counts.items() if p != PublicationStatus.withdrawn)
        rows = await session.execute(
            select(Category.name, func.count())
            .join(Instrument, Instrument.category_code == Category.code)
            .where(Instrument.region_code.in_(codes), Instrument.publication == PublicationStatus.published)
            .group_by(Category.name)
            .order_by(func.count().desc(), Category.name)
            .limit(8)
        )
        figures.by_category = [(name, int(n)) for name, n in rows.all()]
        today = shanghai_today()
        since = datetime.combine(today - timedelta(days=DAYS - 1), time(), tzinfo=SHANGHAI)
        in_region = select(Instrument.id).where(Instrument.region_code.in_(codes))
        made = await session.execute(
            select(Booking.created_at, Booking.status).where(
                Booking.instrument_id.in_(in_region), Booking.created_at >= since
            )
        )
        per_day: Counter[date] = Counter()
        for created_at, status in made.all():
            per_day[shanghai_date(created_at)] += 1
            figures.bookings_by_status[status] = figures.bookings_by_status.get(status, 0) + 1
        figures.bookings_by_day = [
            (day, per_day[day]) for day in (today - timedelta(days=n) for n in range(DAYS - 1, -1, -1))
        ]
    program_codes = await _codes_in(session, VoucherProgram.region_code, areas)
    if program_codes:
        programs = select(VoucherProgram.id).where(VoucherProgram.region_code.in_(program_codes))
        count, budget = (
            await session.execute(
                select(func.count(), func.sum(VoucherProgram.budget_fen)).where(
                    VoucherProgram.region_code.in_(program_codes)
                )
            )
        ).one()
        figures.programs, figures.budget_fen = int(count or 0), int(budget or 0)
        shares = await session.execute(
            select(
                VoucherCheckout.state,
                func.sum(VoucherCheckout.voucher_fen),
                func.sum(VoucherCheckout.held_fen),
            )
            .where(VoucherCheckout.program_id.in_(programs))
            .group_by(VoucherCheckout.state)
        )
        for state, voucher, held in shares.all():
            if state == CheckoutState.captured:
                figures.captured_fen += int(voucher or 0)
            elif state == CheckoutState.held:
                figures.held_fen += int(held or 0)
    return figures
