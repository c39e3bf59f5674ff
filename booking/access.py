"""Who may see and act on a booking. Who may see and manage an instrument is the catalogue's rule
(``catalogue.access``); booking only says how its provider routes refuse another unit's."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal
from accounts.models import BOOKER_ROLES
from booking.errors import BookingNotFound, NotProviderStaff
from booking.models import Booking
from catalogue import access as catalogue_access
from catalogue.access import is_staff_of
from catalogue.models import Instrument
from yixiang.locking import lock_row


def is_booker_of(principal: Principal, booking: Booking) -> bool:
    return booking.enterprise_id in principal.orgs_where(*BOOKER_ROLES)


def can_see_booking(principal: Principal, booking: Booking) -> bool:
    return (
        is_booker_of(principal, booking)
        or is_staff_of(principal, booking.unit_id)
        or principal.is_platform_admin
    )


async def managed_instrument(
    session: AsyncSession, principal: Principal, instrument_id: uuid.UUID
) -> Instrument:
    """The catalogue's managed instrument, where one the caller may see but not manage (another
    unit's published instrument) is booking's 403 ``not_provider_staff``, not a 404."""
    return await catalogue_access.managed_instrument(
        session, principal, instrument_id, refuse_with=NotProviderStaff
    )


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
