"""The sharing reward (共享奖励 / 后补助) and the insurance subsidy (共享保), computed from the records.

Seed 004 §10: "对通过省大仪平台提供对外开放服务的大仪，根据平台在线留存的服务记录，
经审核后按照不超过当年对外服务收费10%的比例，给予大仪共享服务奖励……给予每台大仪奖励上限2万元，
每家单位奖励上限50万元"; left out: "属单位履职开展的检验检测活动……不纳入补助范畴。
强制性标准要求必须开展的强制检测和法定检测等非科技创新活动不予补助". §12: "每台保费最高1000元……
年度绩效为优秀、良好的高校、科研机构……分别给予优秀和良好的单位80%和50%补助购买'共享保'".

The rules, in the order they apply (the terms are the programme's, not constants):

- A booking counts when it was completed in the year (its voucher checkout captured, Asia/Shanghai
  calendar year), at the external rate (another unit or a firm not affiliated to the unit), is
  paid in full (nothing due), is not cancelled, and its service item is not marked 法定检测 /
  强制检测 / 本单位职责. It counts its final fee (after any fee correction).
- Per instrument: ``fees × rate_bp / 10000``, rounded down to the fen; then the instrument cap.
- Per unit: when its instruments' capped rewards exceed the unit cap, the cap is shared out in
  proportion to them: each gets ``floor(capped × cap / total)`` fen and the fen left over go one
  each to the instruments with the largest remainders (ties: the lower instrument id first), so
  the parts sum to the cap exactly.
- 共享保: a unit graded 优秀 or 良好 in the year's published evaluation gets, per instrument that
  had a sensor in the year, the grade's rate of the premium, rounded down. The platform does not
  record the premium a unit paid, so the premium counted is the programme's cap (1,000 元): the
  most the seed allows.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from booking.models import Booking, BookingStatus
from catalogue.models import Instrument, ServiceDuty, ServiceItem
from oversight.models import Sensor
from oversight.reward_models import RewardBatch, RewardItem, RewardKind, RewardLine, RewardProgramme
from vouchers.models import CheckoutState, SettlementStatus, VoucherCheckout
from vouchers.rules import region_prefix
from yixiang.clock import SHANGHAI

BP = 10_000
DONE = (BookingStatus.completed, BookingStatus.delivered, BookingStatus.rated)
# the evaluation's grades that earn the insurance subsidy, and the programme's rate for each
INSURED_GRADES = {"优秀": "excellent_rate_bp", "良好": "good_rate_bp"}
# batches whose money is committed: what the yearly report counts
COMMITTED = (SettlementStatus.approved, SettlementStatus.paid, SettlementStatus.reconciled)


def year_bounds(year: int) -> tuple[datetime, datetime]:
    """[1 January 00:00, next 1 January 00:00) in Asia/Shanghai."""
    return (
        datetime.combine(date(year, 1, 1), time(), tzinfo=SHANGHAI),
        datetime.combine(date(year + 1, 1, 1), time(), tzinfo=SHANGHAI),
    )


@dataclass(frozen=True)
class Counted:
    """A booking the sharing reward counts."""

    booking_id: uuid.UUID
    instrument_id: uuid.UUID
    unit_id: uuid.UUID
    fee_fen: int
    completed_at: datetime


@dataclass
class ItemFigure:
    instrument_id: uuid.UUID
    kind: RewardKind
    basis_fen: int
    computed_fen: int
    capped_fen: int
    amount_fen: int = 0
    bookings: list[Counted] = field(default_factory=list)


@dataclass
class UnitFigure:
    unit_id: uuid.UUID
    grade: str | None
    sharing: list[ItemFigure] = field(default_factory=list)
    insurance: list[ItemFigure] = field(default_factory=list)
    unit_capped: bool = False

    @property
    def sharing_fen(self) -> int:
        return sum(i.amount_fen for i in self.sharing)

    @property
    def insurance_fen(self) -> int:
        return sum(i.amount_fen for i in self.insurance)

    @property
    def amount_fen(self) -> int:
        return self.sharing_fen + self.insurance_fen


def apportion(amounts: Mapping[uuid.UUID, int], cap: int) -> dict[uuid.UUID, int]:
    """Share ``cap`` over ``amounts`` in proportion (largest remainder, ties by id) when they
    exceed it; else the amounts as they are."""
    total = sum(amounts.values())
    if total <= cap:
        return dict(amounts)
    shares = {k: a * cap // total for k, a in amounts.items()}
    left = cap - sum(shares.values())
    for k in sorted(amounts, key=lambda k: (-(amounts[k] * cap % total), str(k)))[:left]:
        shares[k] += 1
    return shares


async def counted_bookings(session: AsyncSession, *, region_code: str, year: int) -> list[Counted]:
    """The bookings the sharing reward counts for the region and year (see the module's rules)."""
    start, end = year_bounds(year)
    rows = await session.execute(
        select(
            Booking.id,
            Booking.instrument_id,
            Booking.unit_id,
            VoucherCheckout.fee_fen,
            VoucherCheckout.captured_at,
        )
        .join(VoucherCheckout, VoucherCheckout.booking_id == Booking.id)
        .join(Instrument, Instrument.id == Booking.instrument_id)
        .outerjoin(ServiceItem, ServiceItem.id == Booking.service_item_id)
        .where(
            Instrument.region_code.like(f"{region_prefix(region_code)}%"),
            Booking.rate == "external",
            Booking.enterprise_id != Booking.unit_id,
            Booking.status.in_(DONE),
            VoucherCheckout.state == CheckoutState.captured,
            VoucherCheckout.due_fen == 0,
            VoucherCheckout.fee_fen > 0,
            VoucherCheckout.captured_at >= start,
            VoucherCheckout.captured_at < end,
            or_(ServiceItem.id.is_(None), ServiceItem.duty == ServiceDuty.none),
        )
        .order_by(Booking.unit_id, Booking.instrument_id, VoucherCheckout.captured_at, Booking.id)
    )
    return [Counted(b, i, u, int(fee), at) for b, i, u, fee, at in rows.all() if at is not None]


async def sensor_instruments(
    session: AsyncSession, *, region_code: str, year: int, unit_ids: set[uuid.UUID]
) -> dict[uuid.UUID, list[uuid.UUID]]:
    """Unit → its instruments in the region that had a sensor at some time in the year."""
    if not unit_ids:
        return {}
    start, end = year_bounds(year)
    rows = await session.execute(
        select(Instrument.unit_id, Instrument.id)
        .join(Sensor, Sensor.instrument_id == Instrument.id)
        .where(
            Instrument.unit_id.in_(unit_ids),
            Instrument.region_code.like(f"{region_prefix(region_code)}%"),
            Sensor.installed_at < end,
            or_(Sensor.retired_at.is_(None), Sensor.retired_at >= start),
        )
        .distinct()
        .order_by(Instrument.unit_id, Instrument.id)
    )
    found: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    for unit_id, instrument_id in rows.all():
        found[unit_id].append(instrument_id)
    return dict(found)


def sharing_figures(programme: RewardProgramme, counted: list[Counted]) -> dict[uuid.UUID, UnitFigure]:
    """Per unit, each instrument's sharing reward: rate, instrument cap, then the unit cap."""
    per_instrument: dict[tuple[uuid.UUID, uuid.UUID], list[Counted]] = defaultdict(list)
    for c in counted:
        per_instrument[(c.unit_id, c.instrument_id)].append(c)
    units: dict[uuid.UUID, UnitFigure] = {}
    for (unit_id, instrument_id), bookings in per_instrument.items():
        fees = sum(b.fee_fen for b in bookings)
        computed = fees * programme.rate_bp // BP
        unit = units.setdefault(unit_id, UnitFigure(unit_id, None))
        unit.sharing.append(
            ItemFigure(
                instrument_id,
                RewardKind.sharing,
                fees,
                computed,
                min(computed, programme.instrument_cap_fen),
                bookings=bookings,
            )
        )
    for unit in units.values():
        shares = apportion({i.instrument_id: i.capped_fen for i in unit.sharing}, programme.unit_cap_fen)
        for item in unit.sharing:
            item.amount_fen = shares[item.instrument_id]
        unit.unit_capped = sum(i.capped_fen for i in unit.sharing) > programme.unit_cap_fen
    return units


def insurance_figures(
    programme: RewardProgramme,
    grades: Mapping[uuid.UUID, str],
    sensors: Mapping[uuid.UUID, list[uuid.UUID]],
    units: dict[uuid.UUID, UnitFigure],
) -> None:
    """Add each 优秀 / 良好 unit's subsidy per sensor-equipped instrument to ``units``."""
    for unit_id, grade in grades.items():
        rate_field = INSURED_GRADES.get(str(grade))
        if rate_field is None or not sensors.get(unit_id):
            continue
        rate = getattr(programme, rate_field)
        unit = units.setdefault(unit_id, UnitFigure(unit_id, None))
        for instrument_id in sensors[unit_id]:
            amount = programme.premium_cap_fen * rate // BP
            unit.insurance.append(
                ItemFigure(
                    instrument_id, RewardKind.insurance, programme.premium_cap_fen, amount, amount, amount
                )
            )
    for unit_id, unit in units.items():
        unit.grade = str(grades[unit_id]) if unit_id in grades else None


async def compute(
    session: AsyncSession, programme: RewardProgramme, grades: Mapping[uuid.UUID, str]
) -> list[UnitFigure]:
    """Every unit's reward under ``programme`` from the year's records (units with nothing left out)."""
    counted = await counted_bookings(session, region_code=programme.region_code, year=programme.year)
    units = sharing_figures(programme, counted)
    insured = {u for u, g in grades.items() if str(g) in INSURED_GRADES}
    sensors = await sensor_instruments(
        session, region_code=programme.region_code, year=programme.year, unit_ids=insured
    )
    insurance_figures(programme, grades, sensors, units)
    return [u for _, u in sorted(units.items(), key=lambda kv: str(kv[0])) if u.amount_fen > 0]


# --- reads for the yearly report --------------------------------------------------------------
@dataclass(frozen=True)
class RewardTotals:
    """The rewards of approved, paid or reconciled batches of a region and year."""

    region_code: str
    year: int
    batches: int
    units: int  # units with a reward
    instruments: int  # instruments with a reward of either kind
    sharing_fen: int
    insurance_fen: int
    total_fen: int


async def reward_totals(session: AsyncSession, *, region_code: str, year: int) -> RewardTotals:
    committed = select(RewardBatch.id).where(
        RewardBatch.region_code == region_code,
        RewardBatch.year == year,
        RewardBatch.status.in_(COMMITTED),
    )
    batches, sharing, insurance = (
        await session.execute(
            select(
                func.count(RewardBatch.id),
                func.coalesce(func.sum(RewardBatch.sharing_fen), 0),
                func.coalesce(func.sum(RewardBatch.insurance_fen), 0),
            ).where(RewardBatch.id.in_(committed))
        )
    ).one()
    units = await session.scalar(
        select(func.count(func.distinct(RewardLine.unit_id))).where(
            RewardLine.batch_id.in_(committed), RewardLine.amount_fen > 0
        )
    )
    instruments = await session.scalar(
        select(func.count(func.distinct(RewardItem.instrument_id))).where(
            RewardItem.batch_id.in_(committed), RewardItem.amount_fen > 0
        )
    )
    return RewardTotals(
        region_code=region_code,
        year=year,
        batches=int(batches),
        units=int(units or 0),
        instruments=int(instruments or 0),
        sharing_fen=int(sharing),
        insurance_fen=int(insurance),
        total_fen=int(sharing) + int(insurance),
    )
