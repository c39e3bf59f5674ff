"""The one place booking talks to vouchers (DESIGN §2.3: hold at confirmation, capture at
completion, release on cancel/reject/expire/no-show; every step inside the booking's transaction,
so a booking in a slot-holding state always has its hold and a hold never outlives its booking).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from booking.bookable import InstrumentTerms
from booking.events import booking_code
from booking.models import Booking, BookingStatus
from vouchers.checkout import (
    CheckoutOrder,
    capture_voucher_share,
    hold_voucher_share,
    open_checkout,
    record_evidence,
    release_voucher_hold,
)
from vouchers.estimate import VoucherEstimate, explain_order


def checkout_order(
    booking: Booking, instrument: InstrumentTerms, fee_fen: int, actor_id: uuid.UUID | None
) -> CheckoutOrder:
    return _order(
        booking.id,
        booking.enterprise_id,
        instrument,
        fee_fen,
        actor_id,
        booking_code(booking),
        booked_by=booking.user_id,
    )


def _order(
    booking_id: uuid.UUID,
    enterprise_id: uuid.UUID,
    instrument: InstrumentTerms,
    fee_fen: int,
    actor_id: uuid.UUID | None,
    booking_number: str = "",
    *,
    booked_by: uuid.UUID | None = None,
) -> CheckoutOrder:
    return CheckoutOrder(
        booking_id=booking_id,
        enterprise_id=enterprise_id,
        unit_id=instrument.unit_id,
        instrument_id=instrument.id,
        region_code=instrument.region_code,
        category_code=instrument.category_code,
        voucher_eligible=instrument.voucher_eligible,
        fee_fen=fee_fen,
        actor_id=actor_id,
        booking_number=booking_number,
        booked_by=booked_by,
    )


async def on_created(
    session: AsyncSession, booking: Booking, instrument: InstrumentTerms, actor_id: uuid.UUID | None
) -> int:
    """Booking made (in this transaction): the evidence chain starts, and a booking confirmed as
    it was made holds the voucher share of its quoted fee; returns the fen held."""
    return await open_checkout(
        session,
        checkout_order(booking, instrument, booking.quoted_fee_fen, actor_id),
        at=booking.created_at,
        hold=booking.status == BookingStatus.confirmed,
    )


async def on_confirmed(
    session: AsyncSession, booking: Booking, instrument: InstrumentTerms, actor_id: uuid.UUID | None
) -> int:
    """Booking confirmed: hold the voucher share of the quoted fee; returns the fen held."""
    return await hold_voucher_share(
        session, checkout_order(booking, instrument, booking.quoted_fee_fen, actor_id)
    )


async def on_completed(
    session: AsyncSession, booking: Booking, instrument: InstrumentTerms, actor_id: uuid.UUID | None
) -> tuple[int, int, int]:
    """Service completed: capture the voucher share of the final fee (无感直兑: nobody files
    anything); returns (fee_fen, voucher_fen, due_fen) — the firm owes what vouchers don't cover."""
    fee_fen = booking.final_fee_fen if booking.final_fee_fen is not None else booking.quoted_fee_fen
    result = await capture_voucher_share(session, checkout_order(booking, instrument, fee_fen, actor_id))
    return result.fee_fen, result.voucher_fen, result.due_fen


async def on_released(
    session: AsyncSession, booking: Booking, reason: str, actor_id: uuid.UUID | None
) -> None:
    """Cancelled, rejected, expired or no-show: release any hold; a late cancellation's fee
    stays due from the firm on the statement."""
    await release_voucher_hold(
        session, booking.id, reason=reason, actor_id=actor_id, fee_fen=booking.cancellation_fee_fen or 0
    )


async def on_evidence(
    session: AsyncSession,
    booking: Booking,
    kind: str,
    at: datetime,
    detail: dict[str, Any] | None = None,
) -> None:
    """A step of the evidence chain (booking, usage, delivery, rating) the bureau settles on."""
    await record_evidence(session, booking.id, kind, at=at, detail=detail or {})


async def estimate(
    session: AsyncSession, enterprise_id: uuid.UUID, instrument: InstrumentTerms, fee_fen: int
) -> VoucherEstimate:
    """What the firm's vouchers would hold for a booking confirmed now (a quote: nothing is held)."""
    order = _order(uuid.uuid4(), enterprise_id, instrument, fee_fen, None)
    return await explain_order(session, order)


async def on_payment_received(session: AsyncSession, booking_id: uuid.UUID) -> None:
    """The provider recorded the firm's payment (vouchers' event): the booking owes nothing."""
    await session.execute(
        update(Booking).where(Booking.id == booking_id, Booking.due_fen > 0).values(due_fen=0)
    )


async def on_fee_corrected(session: AsyncSession, booking_id: uuid.UUID, payload: dict[str, Any]) -> None:
    """The provider corrected the final fee after completion (vouchers' event): the booking shows
    the corrected fee, voucher share and amount due, as the statement does."""
    await session.execute(
        update(Booking)
        .where(Booking.id == booking_id)
        .values(
            final_fee_fen=int(payload["new_fee_fen"]),
            voucher_fen=int(payload["voucher_fen"]),
            due_fen=int(payload.get("due_fen", 0)),
        )
    )
