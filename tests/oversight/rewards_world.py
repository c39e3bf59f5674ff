"""A hand-built year of service records for the sharing reward: units and instruments of their own,
and bookings written as the booking and voucher services leave them once served (the booking
row and its voucher checkout), in a year no other test uses."""

from __future__ import annotations

import itertools
import uuid
from datetime import datetime, timedelta
from typing import Any

from accounts.demo import demo_id
from accounts.models import OrgKind
from booking.models import Booking, BookingStatus
from catalogue.models import ServiceDuty, ServiceItem, ServiceMode
from tests.booking.world import InstrumentIds, make_instrument
from tests.vouchers.desk import new_org
from vouchers.models import CheckoutState, VoucherCheckout
from yixiang.clock import SHANGHAI

RESEARCHER = demo_id("demo-researcher")
_N = itertools.count(1)


def in_year(year: int, month: int = 6, day: int = 15) -> datetime:
    return datetime(year, month, day, 10, 0, tzinfo=SHANGHAI)


async def unit_with_instruments(backend: Any, count: int) -> tuple[uuid.UUID, list[InstrumentIds]]:
    unit = await new_org(backend, kind=OrgKind.unit)
    return unit, [await make_instrument(backend, unit_id=unit) for _ in range(count)]


async def mark_duty(backend: Any, item_id: uuid.UUID, duty: ServiceDuty) -> None:
    async with backend.runtime.session_maker() as session, session.begin():
        item = await session.get(ServiceItem, item_id)
        assert item is not None
        item.duty = duty


async def served(
    backend: Any,
    instrument: InstrumentIds,
    unit: uuid.UUID,
    firm: uuid.UUID,
    fee_fen: int,
    completed_at: datetime,
    *,
    rate: str = "external",
    item: str = "sample",
    status: BookingStatus = BookingStatus.delivered,
    due_fen: int = 0,
    state: CheckoutState = CheckoutState.captured,
) -> uuid.UUID:
    """A sample-testing (or machine-time) booking served and completed at ``completed_at``, its
    checkout captured with ``due_fen`` still owed by the firm (0: paid)."""
    booking_id = uuid.uuid4()
    item_id = instrument.sample_item_id if item == "sample" else instrument.hourly_item_id
    number = f"YX{completed_at:%Y%m%d}-{next(_N):06X}"
    async with backend.runtime.session_maker() as session, session.begin():
        session.add(
            Booking(
                id=booking_id,
                number=number,
                instrument_id=instrument.instrument_id,
                unit_id=unit,
                enterprise_id=firm,
                user_id=RESEARCHER,
                mode=ServiceMode.sample_testing if item == "sample" else ServiceMode.machine_time,
                service_item_id=item_id,
                samples=1,
                status=status,
                rate=rate,
                quoted_fee_fen=fee_fen,
                fee_breakdown={"lines": []},
                final_fee_fen=fee_fen,
                voucher_fen=0,
                due_fen=due_fen,
                created_at=completed_at - timedelta(days=3),
            )
        )
        await session.flush()
        session.add(
            VoucherCheckout(
                booking_id=booking_id,
                booking_number=number,
                enterprise_id=firm,
                unit_id=unit,
                instrument_id=instrument.instrument_id,
                region_code="330100",
                category_code="99",
                program_id=None,
                state=state,
                usage_year=completed_at.year,
                quoted_fee_fen=fee_fen,
                fee_fen=fee_fen,
                due_fen=due_fen,
                paid_fen=fee_fen - due_fen,
                held_at=completed_at - timedelta(days=3),
                captured_at=completed_at if state == CheckoutState.captured else None,
            )
        )
    return booking_id
