"""A price before booking: what a booking with these parameters would cost this firm, what its
vouchers would cover now, and what is left to pay — computed by booking's own rules (the fee
standard, the internal or external rate, the calendar's rules) and vouchers' estimate (the
hold's rules, read without locks). Nothing is held or recorded.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal
from booking import voucher_share
from booking.bookable import ItemTerms, load_bookable
from booking.calendar_rules import CalendarRules
from booking.creation import (
    booking_firm,
    check_mode,
    closures_and_overlap,
    service_item_for,
    working_days_for,
)
from booking.errors import InstrumentUnavailable
from booking.rules import Quote, check_closures, check_machine_time, internal_rate, quote_fee
from booking.schemas import BookingIn
from catalogue.models import InstrumentStatus, PriceUnit
from vouchers.estimate import VoucherEstimate
from vouchers.rules import fen_to_yuan
from yixiang.db import transaction, utcnow

RATE_NAMES = {"internal": "内部价", "external": "对外价"}
UNIT_NAMES = {PriceUnit.per_hour: "小时", PriceUnit.per_sample: "样品", PriceUnit.per_item: "项"}


@dataclass(frozen=True)
class BookingQuote:
    enterprise_id: uuid.UUID | None  # None: quoted for no firm (external price, no vouchers)
    item: ItemTerms
    fee: Quote
    fee_basis: str
    billing_rule: str
    voucher: VoucherEstimate
    needs_approval: bool
    slot_free: bool | None  # machine time: whether the slot is free now (None: sample testing)

    @property
    def remainder_fen(self) -> int:
        return self.fee.fee_fen - self.voucher.share_fen


def fee_basis(item: ItemTerms, fee: Quote, minutes: int | None, samples: int | None) -> str:
    price = item.internal_price_fen if fee.rate == "internal" else item.external_price_fen
    head = f"{RATE_NAMES[fee.rate]} {fen_to_yuan(price)} 元/{UNIT_NAMES[item.price_unit]}"
    if item.price_unit == PriceUnit.per_hour:
        return f"{head} × {minutes or 0} 分钟（按分钟折算，不足 1 分钱进 1 分）"
    if item.price_unit == PriceUnit.per_sample:
        return f"{head} × {samples or 0} 个样品"
    return head


def billing_rule(item: ItemTerms, rules: CalendarRules) -> str:
    """How the final fee follows actual use, said before anyone commits (DESIGN: no surprise at
    completion)."""
    if item.price_unit == PriceUnit.per_hour:
        return (
            f"按实际使用时长计费：以服务单位记录的实际开始和结束时间为准，"
            f"不足 {rules.slot_minutes} 分钟按 {rules.slot_minutes} 分钟计；本报价按预约时长估算"
        )
    if item.price_unit == PriceUnit.per_sample:
        return "按实际检测的样品数计费；本报价按预约的样品数估算"
    return "按项目计费，与用时和样品数无关"


async def quote_booking(
    session: AsyncSession,
    principal: Principal,
    data: BookingIn,
    *,
    now: datetime | None = None,
    for_a_firm: bool = True,
) -> BookingQuote:
    """The price of the booking ``data`` describes, as it would be confirmed now. Without
    ``for_a_firm``, someone who books for no firm (the bot's provider staff, say) still sees the
    published external price, with no voucher share."""
    now = now or utcnow()
    enterprise_id = (
        booking_firm(principal, data.enterprise_id) if for_a_firm or principal.enterprise_ids else None
    )
    async with transaction(session, read_only=True):
        instrument = await load_bookable(session, principal, data.instrument_id)
        if instrument.status != InstrumentStatus.in_service:
            raise InstrumentUnavailable(status=instrument.status.value)
        check_mode(instrument, data)
        item = service_item_for(instrument, data.service_item_id, data.mode)
        rules = instrument.rules
        minutes, slot_free = None, None
        if data.start is not None and data.end is not None:
            days = await working_days_for(session, rules, data.mode)
            check_machine_time(rules, days, [], data.start, data.end, now)
            block_end = data.end + timedelta(minutes=rules.buffer_minutes)
            closures, overlapping = await closures_and_overlap(
                session, instrument.id, data.start, data.end, block_end, now=now
            )
            check_closures(closures, data.start, data.end)
            minutes, slot_free = int((data.end - data.start) / timedelta(minutes=1)), not overlapping
        internal = enterprise_id is not None and internal_rate(
            enterprise_id, principal.parent_of(enterprise_id), instrument.unit_id
        )
        fee = quote_fee(item, internal=internal, minutes=minutes, samples=data.samples)
    voucher = (
        await voucher_share.estimate(session, enterprise_id, instrument, fee.fee_fen)
        if enterprise_id is not None
        else VoucherEstimate(share_fen=0)
    )
    return BookingQuote(
        enterprise_id=enterprise_id,
        item=item,
        fee=fee,
        fee_basis=fee_basis(item, fee, minutes, data.samples),
        billing_rule=billing_rule(item, rules),
        voucher=voucher,
        needs_approval=rules.needs_approval,
        slot_free=slot_free,
    )
