"""Reading bookings: one with its history, lists for a firm, a user or a unit, and sample queues."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from accounts.auth import Principal
from accounts.models import BOOKER_ROLES
from booking.access import visible_booking
from booking.errors import BookingNotFound, InvalidBookingNumber, NotProviderStaff
from booking.models import (
    SLOT_HOLDING,
    Booking,
    BookingHistory,
    BookingStatus,
    holds_slot,
)
from booking.numbers import normalize_number
from catalogue.access import is_staff_of
from catalogue.models import ServiceMode
from yixiang.db import transaction

# The orders a list of bookings can be read in (the console's sortable columns).
SORTS = {
    "created": Booking.created_at,
    "start": Booking.start_at,
    "number": Booking.number,
    "status": Booking.status,
}


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


async def checked_in_at(session: AsyncSession, booking_id: uuid.UUID) -> datetime | None:
    """When the provider checked the booking in (its history's ``check_in``), if it was."""
    return await session.scalar(
        select(func.max(BookingHistory.at)).where(
            BookingHistory.booking_id == booking_id, BookingHistory.action == "check_in"
        )
    )


async def get_booking_by_number(
    session: AsyncSession, principal: Principal, typed: str
) -> tuple[Booking, list[BookingHistory], int | None]:
    """The booking a person names by its number (from a memo, a message, the phone): found by
    whoever may see it by id; anybody else learns nothing (404)."""
    number = normalize_number(typed)
    if number is None:
        raise InvalidBookingNumber(number=typed[:40])
    async with transaction(session):
        booking_id = await session.scalar(select(Booking.id).where(Booking.number == number))
    if booking_id is None:
        raise BookingNotFound(number=number)
    return await get_booking(session, principal, booking_id)


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
    mode: ServiceMode | None = None,
    statuses: Collection[BookingStatus] = (),
    starts_from: datetime | None = None,
    starts_before: datetime | None = None,
    sort: str = "created",
    descending: bool = True,
) -> tuple[list[tuple[Booking, int | None]], int]:
    """``unit``: the unit's bookings (its staff only); ``mine``: bookings the caller made;
    neither: every booking the caller's memberships show — of the firms they book for and of the
    units they manage (a provider's own list without naming the unit). ``starts_from`` /
    ``starts_before``: machine time beginning in that range; ``sort``: a key of ``SORTS``."""
    query = select(Booking)
    if unit_id is not None:
        if not is_staff_of(principal, unit_id):
            raise NotProviderStaff()
        query = query.where(Booking.unit_id == unit_id)
    elif mine:
        query = query.where(Booking.user_id == principal.user_id)
    else:
        query = query.where(
            or_(
                Booking.enterprise_id.in_(principal.orgs_where(*BOOKER_ROLES)),
                Booking.unit_id.in_(principal.unit_ids),
            )
        )
    if status is not None:
        query = query.where(Booking.status == status)
    if instrument_id is not None:
        query = query.where(Booking.instrument_id == instrument_id)
    if statuses:
        query = query.where(Booking.status.in_(list(statuses)))
    if mode is not None:
        query = query.where(Booking.mode == mode)
    if starts_from is not None:
        query = query.where(Booking.start_at >= starts_from)
    if starts_before is not None:
        query = query.where(Booking.start_at < starts_before)
    column = SORTS[sort]
    async with transaction(session):
        total = int(await session.scalar(select(func.count()).select_from(query.subquery())) or 0)
        rows = (
            await session.scalars(
                query.order_by((column.desc() if descending else column.asc()).nulls_last(), Booking.id)
                .limit(limit)
                .offset(offset)
            )
        ).all()
        positions = await queue_positions(session, rows)
        return [(b, positions.get(b.id)) for b in rows], total


# --- sample queues ----------------------------------------------------------------------------------
async def samples_ahead(session: AsyncSession, booking: Booking) -> tuple[int, int]:
    """(bookings, samples) queued before this one on its instrument."""
    row = (
        await session.execute(
            select(func.count(), func.coalesce(func.sum(Booking.samples), 0)).where(
                Booking.instrument_id == booking.instrument_id,
                Booking.mode == ServiceMode.sample_testing,
                holds_slot(),
                Booking.id != booking.id,
                or_(
                    Booking.created_at < booking.created_at,
                    and_(Booking.created_at == booking.created_at, Booking.id < booking.id),
                ),
            )
        )
    ).one()
    return int(row[0] or 0), int(row[1] or 0)


def _queued(booking: Booking) -> bool:
    return booking.mode == ServiceMode.sample_testing and booking.status in SLOT_HOLDING


async def queue_position(session: AsyncSession, booking: Booking) -> int | None:
    if not _queued(booking):
        return None
    ahead, _ = await samples_ahead(session, booking)
    return ahead + 1


async def queue_positions(session: AsyncSession, bookings: Sequence[Booking]) -> dict[uuid.UUID, int]:
    """The place in its instrument's sample queue of each queued booking of a page, in one query
    (a list of 50 bookings asked once per booking before)."""
    queued = [b.id for b in bookings if _queued(b)]
    if not queued:
        return {}
    mine, ahead = aliased(Booking), aliased(Booking)
    rows = await session.execute(
        select(mine.id, func.count(ahead.id))
        .select_from(mine)
        .outerjoin(
            ahead,
            and_(
                ahead.instrument_id == mine.instrument_id,
                ahead.mode == ServiceMode.sample_testing,
                holds_slot(ahead),
                ahead.id != mine.id,
                or_(
                    ahead.created_at < mine.created_at,
                    and_(ahead.created_at == mine.created_at, ahead.id < mine.id),
                ),
            ),
        )
        .where(mine.id.in_(queued))
        .group_by(mine.id)
    )
    return {booking_id: int(n) + 1 for booking_id, n in rows}
