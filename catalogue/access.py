"""Who may see an instrument and who manages it: the one home of these rules.

Every reader of an instrument asks here — the public instrument page, the provider catalogue,
booking's calendars, availability and booking creation, the bot — so the rule cannot drift
between them. A caller that has already read the instrument's unit and publication (booking's
one-statement read) calls the pure predicate on those values instead of loading it again.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal
from catalogue.errors import InstrumentNotFound
from catalogue.models import Instrument, PublicationStatus
from yixiang.errors import Forbidden
from yixiang.locking import lock_row


def is_staff_of(principal: Principal | None, unit_id: uuid.UUID) -> bool:
    """Provider staff or unit admin of that holding unit."""
    return principal is not None and unit_id in principal.unit_ids


def can_see_instrument(
    principal: Principal | None, unit_id: uuid.UUID, publication: PublicationStatus
) -> bool:
    """A published instrument is public; a draft, pending or withdrawn one only its own unit's
    staff see (to prepare and review it before it is listed)."""
    return publication == PublicationStatus.published or is_staff_of(principal, unit_id)


async def visible_instrument(
    session: AsyncSession, principal: Principal | None, instrument_id: uuid.UUID
) -> Instrument:
    """The instrument if the caller may see it; any other is a 404 (an unpublished instrument's
    existence is not revealed)."""
    instrument = await session.get(Instrument, instrument_id)
    if instrument is None or not can_see_instrument(principal, instrument.unit_id, instrument.publication):
        raise InstrumentNotFound()
    return instrument


async def managed_instrument(
    session: AsyncSession,
    principal: Principal,
    instrument_id: uuid.UUID,
    *,
    for_update: bool = False,
    refuse_with: type[Forbidden] | None = None,
) -> Instrument:
    """An instrument of the caller's own unit, which the caller manages as staff.

    One the caller may not see is a 404. One it may see but not manage (another unit's published
    instrument) is ``refuse_with`` when given — booking's provider routes answer "not your
    instrument" with their 403 — and otherwise a 404 too: the provider catalogue is the list of
    the caller's unit's instruments, in which another unit's does not exist.
    """
    instrument = await (
        lock_row(session, Instrument, instrument_id) if for_update else session.get(Instrument, instrument_id)
    )
    if instrument is None:
        raise InstrumentNotFound()
    if is_staff_of(principal, instrument.unit_id):
        return instrument
    if refuse_with is not None and can_see_instrument(principal, instrument.unit_id, instrument.publication):
        raise refuse_with()
    raise InstrumentNotFound()
