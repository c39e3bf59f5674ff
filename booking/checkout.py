"""The one place booking talks to vouchers (DESIGN §2.3: hold at confirmation, capture at
completion, release on cancel/reject/expire/no-show; every step inside the booking's transaction).

The vouchers domain provides ``vouchers.checkout.hold_voucher_share(session, order)``,
``capture_voucher_share(session, order) -> (fee_fen, voucher_fen, due_fen)``,
``release_voucher_hold(session, booking_id, reason=, actor_id=)`` and
``record_evidence(session, booking_id, kind, at=, detail=)``. It is built in parallel on another
branch, so on this branch these hooks build the ``CheckoutOrder`` the vouchers side expects and
do nothing else yet: capture leaves the whole fee due. The lead wires each hook to the matching
``vouchers.checkout`` call at merge — one call each, here, and nowhere else in booking.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from booking.catalogue.models import Instrument
from booking.models import Booking


@dataclass(frozen=True)
class CheckoutOrder:
    booking_id: uuid.UUID
    enterprise_id: uuid.UUID
    unit_id: uuid.UUID
    instrument_id: uuid.UUID
    region_code: str
    category_code: str
    voucher_eligible: bool
    fee_fen: int
    actor_id: uuid.UUID | None


def checkout_order(
    booking: Booking, instrument: Instrument, fee_fen: int, actor_id: uuid.UUID | None
) -> CheckoutOrder:
    return CheckoutOrder(
        booking_id=booking.id,
        enterprise_id=booking.enterprise_id,
        unit_id=booking.unit_id,
        instrument_id=booking.instrument_id,
        region_code=instrument.region_code,
        category_code=instrument.category_code,
        voucher_eligible=instrument.voucher_eligible,
        fee_fen=fee_fen,
        actor_id=actor_id,
    )


async def on_confirmed(
    session: AsyncSession, booking: Booking, instrument: Instrument, actor_id: uuid.UUID | None
) -> CheckoutOrder:
    """Booking confirmed: hold the voucher share of the quoted fee (→ hold_voucher_share)."""
    return checkout_order(booking, instrument, booking.quoted_fee_fen, actor_id)


async def on_completed(
    session: AsyncSession, booking: Booking, instrument: Instrument, actor_id: uuid.UUID | None
) -> tuple[int, int, int]:
    """Service completed: capture the voucher share of the final fee (→ capture_voucher_share).

    Returns (fee_fen, voucher_fen, due_fen); until vouchers are wired the firm owes the whole fee.
    """
    fee_fen = booking.final_fee_fen if booking.final_fee_fen is not None else booking.quoted_fee_fen
    checkout_order(booking, instrument, fee_fen, actor_id)
    return fee_fen, 0, fee_fen


async def on_released(
    session: AsyncSession, booking: Booking, reason: str, actor_id: uuid.UUID | None
) -> None:
    """Cancelled, rejected, expired or no-show: release any hold (→ release_voucher_hold)."""
    return None


async def on_evidence(
    session: AsyncSession,
    booking: Booking,
    kind: str,
    at: datetime,
    detail: dict[str, Any] | None = None,
) -> None:
    """A step of the evidence chain (booking, usage, delivery, rating) (→ record_evidence)."""
    return None
