"""Outbox events the booking domain emits. Notifications (bot) and search availability consume them.

Topics: ``booking.<status>`` for every transition (``booking.requested``, ``booking.confirmed``,
``booking.cancelled`` ...), ``booking.reminder`` (kind ``tomorrow`` or ``next_hour``), and the
periodic job topics this domain consumes itself.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from booking.models import Booking, BookingStatus
from yixiang.outbox import emit

EXPIRY_DUE = "booking.expiry_due"  # periodic: expire requests past their approval deadline
REMINDERS_DUE = "booking.reminders_due"  # periodic: schedule reminders
REMINDER = "booking.reminder"


def transition_topic(status: BookingStatus) -> str:
    return f"booking.{status.value}"


def booking_payload(booking: Booking) -> dict[str, Any]:
    return {
        "booking_id": booking.id,
        "enterprise_id": booking.enterprise_id,
        "unit_id": booking.unit_id,
        "instrument_id": booking.instrument_id,
        "user_id": booking.user_id,
        "mode": booking.mode.value,
        "start": booking.start_at.isoformat() if booking.start_at else None,
        "end": booking.end_at.isoformat() if booking.end_at else None,
    }


async def emit_transition(
    session: AsyncSession,
    booking: Booking,
    action: str,
    from_status: BookingStatus | None,
    actor_id: uuid.UUID | None,
    reason: str,
) -> None:
    await emit(
        session,
        transition_topic(booking.status),
        {
            **booking_payload(booking),
            "action": action,
            "from": from_status.value if from_status else None,
            "to": booking.status.value,
            "actor_id": actor_id,
            "reason": reason,
        },
    )


async def emit_reminder(session: AsyncSession, booking: Booking, kind: str) -> None:
    """Once per booking and kind, however often the job runs (the key de-duplicates)."""
    await emit(
        session,
        REMINDER,
        {**booking_payload(booking), "kind": kind},
        key=f"booking-reminder:{booking.id}:{kind}",
    )
