"""Who may see and manage what: the booking domain's ownership rules in one place."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal
from accounts.models import Role
from booking.errors import BookingNotFound, InstrumentNotFound, NotProviderStaff
from booking.models import Booking
from catalogue.models import Instrument, PublicationStatus
from yixiang.locking import lock_row

BOOKER_ROLES = (Role.researcher, Role.enterprise_admin)
STAFF_ROLES = (Role.provider_staff, Role.unit_admin)


def is_staff_of(principal: Principal | None, unit_id: uuid.UUID) -> bool:
    return principal is not None and unit_id in principal.orgs_where(*STAFF_ROLES)


def is_booker_of(principal: Principal, booking: Booking) -> bool:
    return booking.enterprise_id in principal.orgs_where(*BOOKER_ROLES)


def can_see_booking(principal: Principal, booking: Booking) -> bool:
    return (
        is_booker_of(principal, booking)
        or is_staff_of(principal, booking.unit_id)
        or principal.is_platform_admin
    )


async def visible_instrument(
    session: AsyncSession, principal: Principal | None, instrument_id: uuid.UUID
) -> Instrument:
    """A published instrument, or any instrument of the caller's own unit; others are a 404."""
    instrument = await session.get(Instrument, instrument_id)
    if instrument is None:
        raise InstrumentNotFound()
    if instrument.publication != PublicationStatus.published and not is_staff_of(
        principal, instrument.unit_id
    ):
        raise InstrumentNotFound()
    return instrument


async def managed_instrument(
    session: AsyncSession, principal: Principal, instrument_id: uuid.UUID
) -> Instrument:
    """An instrument the caller manages as provider staff or unit admin."""
    instrument = await visible_instrument(session, principal, instrument_id)
    if not is_staff_of(principal, instrument.unit_id):
        raise NotProviderStaff()
    return instrument


async def visible_booking(
    session: AsyncSession, principal: Principal, booking_id: uuid.UUID, *, for_update: bool = False
) -> Booking:
    """The booking if the caller's firm made it or the caller's unit provides it; else a 404."""
    booking = await (
        lock_row(session, Booking, booking_id) if for_update else session.get(Booking, booking_id)
    )
    if booking is None or not can_see_booking(principal, booking):
        raise BookingNotFound()
    return booking
