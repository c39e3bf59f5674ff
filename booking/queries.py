"""Reading bookings: one with its history, and lists for a firm, a user or a unit."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal
from accounts.models import BOOKER_ROLES
from booking.access import visible_booking
from booking.creation import queue_position
from booking.errors import (
    NotProviderStaff,
)
from booking.models import (
    Booking,
    BookingHistory,
    BookingStatus,
)
from catalogue.access import is_staff_of
from yixiang.db import transaction


# --- reading ----------------------------------------------------------------------------------------
async def get_booking(
    session: AsyncSession, principal: Principal, booking_id: uuid.UUID
) -> tuple[Booking, list[BookingHistory], int | None]:
    async with transaction(session):
        booking = await visible_booking(session, principal, booking_id)
        history = (
            await session.scalars(
                select(BookingHistory)
                .where(BookingHistory.booking_id == booking.id)
                .order_by(BookingHistory.id)
            )
        ).all()
        return booking, list(history), await queue_position(session, booking)


async def list_bookings(
    session: AsyncSession,
    principal: Principal,
    *,
    mine: bool = False,
    unit_id: uuid.UUID | None = None,
    status: BookingStatus | None = None,
    instrument_id: uuid.UUID | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[tuple[Booking, int | None]], int]:
    """``unit``: the unit's bookings (its staff only); ``mine``: bookings the caller made;
    neither: every booking of the caller's firms."""
    query = select(Booking)
    if unit_id is not None:
        if not is_staff_of(principal, unit_id):
            raise NotProviderStaff()
        query = query.where(Booking.unit_id == unit_id)
    elif mine:
        query = query.where(Booking.user_id == principal.user_id)
    else:
        query = query.where(Booking.enterprise_id.in_(principal.orgs_where(*BOOKER_ROLES)))
    if status is not None:
        query = query.where(Booking.status == status)
    if instrument_id is not None:
        query = query.where(Booking.instrument_id == instrument_id)
    async with transaction(session):
        total = int(await session.scalar(select(func.count()).select_from(query.subquery())) or 0)
        rows = (
            await session.scalars(
                query.order_by(Booking.created_at.desc(), Booking.id).limit(limit).offset(offset)
            )
        ).all()
        return [(b, await queue_position(session, b)) for b in rows], total
