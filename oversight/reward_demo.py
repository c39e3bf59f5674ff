"""Demo sharing reward: 2025's external sample testing at two 杭州 units, and the reward batch drawn
from it under 杭州市财政局's 2025 programme (the seed's defaults), drawn and submitted by
demo-science-bureau so that demo-finance-bureau approves it in the console (four eyes).

The 2025 services are records as the booking and voucher services leave them once served and
paid (the booking, its voucher checkout, its evidence chain), written directly: the booking
services only book time to come. The figures of the batch follow from them (a busy instrument
of 之江理工 is capped at 20,000 元). Idempotent (stable ids); silent without the catalogue's or
the accounts' demo data.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import load_user, principal_from_user
from accounts.demo import demo_id
from booking.models import Booking, BookingStatus
from booking.numbers import booking_number
from catalogue.models import Instrument, PublicationStatus, ServiceItem, ServiceMode
from oversight.reward_batches import create_programme, draw_batch, transition
from oversight.reward_controllers import published_grades
from oversight.reward_models import RewardProgramme
from oversight.reward_schemas import RewardProgrammeIn
from oversight.rewards import counted_bookings
from vouchers.models import CheckoutEvidence, CheckoutState, PaymentMethod, VoucherCheckout
from yixiang.clock import SHANGHAI

YEAR = 2025
REGION = "330100"
# (unit, its n-th published instrument, samples per month, months served): 之江理工's first
# instrument is busy enough to reach the per-instrument cap
SERVICES = (
    ("unit-zjlg", 0, 8, range(1, 13)),
    ("unit-zjlg", 1, 4, range(2, 12)),
    ("unit-zjlg", 2, 5, range(3, 12, 2)),
    ("unit-hzcl", 0, 8, range(1, 13)),
    ("unit-hzcl", 1, 3, range(4, 10)),
)
FIRMS = (("firm-qinghe", "demo-researcher"), ("firm-lanwan", "demo-researcher-2"))


async def _sample_item(session: AsyncSession, instrument: Instrument) -> ServiceItem | None:
    found = await session.scalar(
        select(ServiceItem)
        .where(
            ServiceItem.instrument_id == instrument.id,
            ServiceItem.active,
            ServiceItem.mode == ServiceMode.sample_testing,
        )
        .order_by(ServiceItem.position)
        .limit(1)
    )
    return found


async def _served(
    session: AsyncSession,
    key: str,
    instrument: Instrument,
    item: ServiceItem,
    samples: int,
    at: datetime,
    firm_key: tuple[str, str],
) -> None:
    booking_id = demo_id(key)
    if await session.get(Booking, booking_id) is not None:
        return
    firm, researcher = firm_key
    fee = item.external_price_fen * samples
    made = at - timedelta(days=4)
    number = booking_number(booking_id, made)
    session.add(
        Booking(
            id=booking_id,
            number=number,
            instrument_id=instrument.id,
            unit_id=instrument.unit_id,
            enterprise_id=demo_id(firm),
            user_id=demo_id(researcher),
            mode=ServiceMode.sample_testing,
            service_item_id=item.id,
            samples=samples,
            actual_samples=samples,
            status=BookingStatus.delivered,
            rate="external",
            quoted_fee_fen=fee,
            fee_breakdown={
                "lines": [
                    {
                        "service_item_id": str(item.id),
                        "name": item.name,
                        "price_unit": item.price_unit.value,
                        "rate": "external",
                        "unit_price_fen": item.external_price_fen,
                        "quantity": samples,
                        "quantity_unit": "sample",
                        "amount_fen": fee,
                    }
                ]
            },
            final_fee_fen=fee,
            voucher_fen=0,
            due_fen=0,
            note="演示：2025 年对外送样检测",
            created_at=made,
            updated_at=at + timedelta(days=1),
        )
    )
    await session.flush()
    reference = f"DEMO-{number}"
    session.add(
        VoucherCheckout(
            booking_id=booking_id,
            booking_number=number,
            enterprise_id=demo_id(firm),
            unit_id=instrument.unit_id,
            instrument_id=instrument.id,
            region_code=instrument.region_code,
            category_code=instrument.category_code,
            program_id=None,
            state=CheckoutState.captured,
            usage_year=YEAR,
            quoted_fee_fen=fee,
            fee_fen=fee,
            due_fen=0,
            paid_fen=fee,
            payment_method=PaymentMethod.corporate_transfer,
            payment_received_at=at + timedelta(days=2),
            payment_reference=reference,
            held_at=made,
            captured_at=at,
            booked_by=demo_id(researcher),
        )
    )
    for kind, moment, detail in (
        ("booking", made, {"samples": samples}),
        ("usage", at, {"samples": samples}),
        ("delivery", at + timedelta(days=1), {"by": "hand"}),
        (
            "payment",
            at + timedelta(days=2),
            {"method": "corporate_transfer", "paid_fen": fee, "reference": reference},
        ),
    ):
        session.add(
            CheckoutEvidence(booking_id=booking_id, kind=kind, at=moment, detail=detail, recorded_at=moment)
        )


async def load_reward_services_demo(session: AsyncSession) -> None:
    """The 2025 services (before the demo's 2025 evaluation, whose indicators count them)."""
    if await load_user(session, demo_id("demo-researcher")) is None:
        return
    for unit_key, index, per_month, months in SERVICES:
        instruments = (
            await session.scalars(
                select(Instrument)
                .where(
                    Instrument.unit_id == demo_id(unit_key),
                    Instrument.publication == PublicationStatus.published,
                    Instrument.sample_testing,
                )
                .order_by(Instrument.id)
            )
        ).all()
        if index >= len(instruments) or (item := await _sample_item(session, instruments[index])) is None:
            continue
        for month in months:
            at = datetime(YEAR, month, 12, 15, 0, tzinfo=SHANGHAI)
            key = f"reward-demo:{unit_key}:{index}:{month}"
            await _served(session, key, instruments[index], item, per_month, at, FIRMS[month % 2])
    await session.flush()


async def load_rewards_demo(session: AsyncSession) -> None:
    """The 2025 programme and its batch (after the demo's 2025 evaluation: its grades count)."""
    finance = await load_user(session, demo_id("demo-finance-bureau"))
    science = await load_user(session, demo_id("demo-science-bureau"))
    if finance is None or science is None:
        return
    existing = await session.scalar(
        select(RewardProgramme.id).where(RewardProgramme.region_code == REGION, RewardProgramme.year == YEAR)
    )
    if existing is not None or not await counted_bookings(session, region_code=REGION, year=YEAR):
        return
    programme = await create_programme(
        session,
        principal_from_user(finance),
        RewardProgrammeIn(year=YEAR, name="2025年度杭州市大型科研仪器共享奖励（演示）"),
    )
    batch = await draw_batch(session, principal_from_user(science), programme.id, published_grades)
    await transition(session, principal_from_user(science), batch.id, "submit")
