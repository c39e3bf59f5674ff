"""Outbox events the booking domain emits, and the history row each transition writes.

Notifications (bot) and search availability consume the events. Creation and every transition
write both through the functions here: :func:`write_history` and :func:`emit_transition`.

Topics: ``booking.<status>`` for every transition (``booking.requested``, ``booking.confirmed``,
``booking.cancelled`` ...), ``booking.reminder`` (kind ``tomorrow`` or ``next_hour``), and the
periodic job topics this domain consumes itself.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from booking.models import Booking, BookingHistory, BookingStatus
from booking.numbers import booking_number
from catalogue.models import Instrument, ServiceItem
from yixiang.driver_statements import DriverStatement
from yixiang.outbox import emit

EXPIRY_DUE = "booking.expiry_due"  # periodic: expire requests past their approval deadline
REMINDERS_DUE = "booking.reminders_due"  # periodic: schedule reminders
REMINDER = "booking.reminder"
RATING_REQUESTED = "booking.rating_requested"


def transition_topic(status: BookingStatus) -> str:
    return f"booking.{status.value}"


def booking_code(booking: Booking) -> str:
    """The booking number (预约号) a researcher reads and quotes on the phone (booking.numbers)."""
    return booking.number or booking_number(booking.id, booking.created_at)


def payload_of(booking: Booking, instrument_name: str, address: str, item_name: str | None) -> dict[str, Any]:
    """What consumers (notifications: see bot/EVENTS.md) need without reading our tables."""
    return {
        "booking_id": booking.id,
        "booking_code": booking_code(booking),
        "instrument_name": instrument_name,
        "item_name": item_name
        if item_name is not None
        else ("机时" if booking.mode.value == "machine_time" else ""),
        "address": address,
        "samples": booking.samples,
        "fee_fen": booking.final_fee_fen if booking.final_fee_fen is not None else booking.quoted_fee_fen,
        "enterprise_id": booking.enterprise_id,
        "unit_id": booking.unit_id,
        "instrument_id": booking.instrument_id,
        "user_id": booking.user_id,
        "mode": booking.mode.value,
        "start": booking.start_at.isoformat() if booking.start_at else None,
        "end": booking.end_at.isoformat() if booking.end_at else None,
    }


async def booking_payload(session: AsyncSession, booking: Booking) -> dict[str, Any]:
    """``payload_of`` with the instrument's and the item's names read from the database."""
    instrument = await session.get(Instrument, booking.instrument_id)
    item = await session.get(ServiceItem, booking.service_item_id) if booking.service_item_id else None
    return payload_of(
        booking,
        instrument.name if instrument else "",
        (instrument.address or instrument.lab) if instrument else "",
        item.name if item else None,
    )


# A plain insert on the session's connection: every booking and transition writes one.
_HISTORY_INSERT = DriverStatement(insert(BookingHistory))


async def write_history(
    session: AsyncSession,
    booking: Booking,
    action: str,
    from_status: BookingStatus | None,
    actor_id: uuid.UUID | None,
    reason: str,
    at: datetime,
) -> None:
    """The booking's history row for ``action``, which moved it to its current status."""
    await _HISTORY_INSERT.run(
        await session.connection(),
        {
            "booking_id": booking.id,
            "action": action,
            "from_status": from_status,
            "to_status": booking.status,
            "actor_id": actor_id,
            "reason": reason,
            "at": at,
        },
    )


async def emit_transition(
    session: AsyncSession,
    booking: Booking,
    action: str,
    from_status: BookingStatus | None,
    actor_id: uuid.UUID | None,
    reason: str,
    *,
    payload: dict[str, Any] | None = None,
) -> None:
    """``payload``: the booking's ``payload_of`` when the caller has the names at hand."""
    about = payload if payload is not None else await booking_payload(session, booking)
    await emit(
        session,
        transition_topic(booking.status),
        {
            **about,
            "action": action,
            "from": from_status.value if from_status else None,
            "to": booking.status.value,
            "actor_id": actor_id,
            "reason": reason,
        },
    )
    if booking.status == BookingStatus.delivered:
        # The results are in: ask the researcher for a rating (the bot turns it into a prompt).
        await emit(session, RATING_REQUESTED, about)


def reminder_key(booking: Booking, kind: str) -> str:
    return f"booking-reminder:{booking.id}:{kind}"


async def emit_reminder(session: AsyncSession, booking: Booking, kind: str) -> None:
    """Once per booking and kind, however often the job runs (the key de-duplicates)."""
    await emit(
        session,
        REMINDER,
        {**await booking_payload(session, booking), "kind": kind},
        key=reminder_key(booking, kind),
    )
