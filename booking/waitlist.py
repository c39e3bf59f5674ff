"""The waiting list (候补) for machine time others hold.

A researcher joins for a range that overlaps slot-holding bookings (or an offer to someone else).
When time is freed (a cancellation or a rejection in the same transaction; an expired request,
an offer declined or run out, by the periodic job) the first in line whose wanted range is now
wholly free is *offered* it: the range is held for that researcher alone for the entry's
``hold_minutes`` (``YIXIANG_WAITLIST_OFFER_MINUTES`` when it joined), and the outbox carries a
``waitlist.offered`` notification. Accepting books through ``booking.creation`` (the same rules,
approval and voucher hold); declining, leaving or letting the offer run out moves on to the next.

No two people get one range: offers are made holding the instrument's row (``yixiang.locking``,
level 1, the lock every machine-time booking of the instrument takes first), and booking creation's
overlap check counts open offers to anyone else as taken (``booking.creation._OFFERED``). Entries
are locked only after their instrument.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal
from booking.bookable import load_bookable
from booking.creation import (
    booking_firm,
    check_mode,
    closures_and_overlap,
    create_booking,
    service_item_for,
    working_days_for,
)
from booking.credit import NoShowRule
from booking.errors import InstrumentUnavailable, QualificationRequired
from booking.free_time import load_calendar
from booking.models import WAITLIST_OPEN, Booking, Operation, WaitlistEntry, WaitlistStatus, holds_slot
from booking.qualifications import has_valid_qualification
from booking.rules import check_closures, check_machine_time
from booking.schemas import BookingIn
from catalogue.models import Instrument, InstrumentStatus, ServiceMode
from yixiang.clock import SHANGHAI
from yixiang.db import transaction, utcnow
from yixiang.errors import Conflict, InvalidInput, NotFound
from yixiang.locking import claim, lock_row
from yixiang.outbox import emit

OFFERED = "waitlist.offered"  # notification: a freed range is held for the researcher
WAITLIST_DUE = "booking.waitlist_due"  # periodic: expire offers, offer freed time
SWEEP_INSTRUMENTS = 1000  # instruments with people waiting, tended per run of the job


class WaitlistMachineTimeOnly(InvalidInput):
    code = "waitlist_machine_time_only"
    message = "候补只适用于机时预约；送样检测不设名额，可直接提交送样预约排队"


class SlotFree(Conflict):
    code = "slot_free"
    message = "该时段目前空闲，可直接预约，无需候补"


class AlreadyWaiting(Conflict):
    code = "already_waiting"
    message = "您已在该仪器这一时段的候补名单中"


class WaitingForOwnBooking(Conflict):
    code = "waitlist_own_booking"
    message = "该时段已有您本人的预约，无需候补"


class WaitlistEntryNotFound(NotFound):
    code = "waitlist_entry_not_found"
    message = "未找到该候补记录"


class NoWaitlistOffer(Conflict):
    code = "no_waitlist_offer"
    message = "该候补当前没有为您保留的时段"


class WaitlistOfferExpired(Conflict):
    code = "waitlist_offer_expired"
    message = "候补保留时间已过，时段已转给下一位"


def _overlapping(entry: WaitlistEntry) -> Any:
    return (WaitlistEntry.start_at < entry.block_end) & (WaitlistEntry.block_end > entry.start_at)


# --- joining -------------------------------------------------------------------------------------
async def join_waitlist(
    session: AsyncSession,
    principal: Principal,
    data: BookingIn,
    *,
    hold_minutes: int,
    now: datetime | None = None,
) -> tuple[WaitlistEntry, int]:
    """Queue for a taken range; the entry and its place in line (1 = next to be offered)."""
    now = now or utcnow()
    if data.mode != ServiceMode.machine_time:
        raise WaitlistMachineTimeOnly()
    enterprise_id = booking_firm(principal, data.enterprise_id)
    async with transaction(session):
        instrument = await load_bookable(session, principal, data.instrument_id, lock=True)
        if instrument.status != InstrumentStatus.in_service:
            raise InstrumentUnavailable(status=instrument.status.value)
        check_mode(instrument, data)
        assert data.start is not None and data.end is not None and data.operation is not None
        item = service_item_for(instrument, data.service_item_id, data.mode)
        rules = instrument.rules
        days = await working_days_for(session, rules, data.mode)
        check_machine_time(rules, days, [], data.start, data.end, now)
        block_end = data.end + timedelta(minutes=rules.buffer_minutes)
        closures, taken = await closures_and_overlap(
            session, instrument.id, data.start, data.end, block_end, now=now
        )
        check_closures(closures, data.start, data.end)
        if not taken:
            raise SlotFree()
        own = await session.scalar(
            select(Booking.id).where(
                Booking.instrument_id == instrument.id,
                Booking.user_id == principal.user_id,
                holds_slot(),
                Booking.start_at < block_end,
                Booking.end_at > data.start,
            )
        )
        if own is not None:  # a second place in line for a range one already holds frees nothing
            raise WaitingForOwnBooking(booking_id=str(own))
        if data.operation == Operation.self and not await has_valid_qualification(
            session, principal.user_id, instrument, data.start.astimezone(SHANGHAI).date()
        ):
            raise QualificationRequired(instrument_id=str(instrument.id))
        entry = WaitlistEntry(
            id=uuid.uuid4(),
            instrument_id=instrument.id,
            user_id=principal.user_id,
            enterprise_id=enterprise_id,
            operation=data.operation,
            service_item_id=item.id,
            start_at=data.start,
            end_at=data.end,
            block_end=block_end,
            note=data.note[:500],
            status=WaitlistStatus.waiting,
            hold_minutes=hold_minutes,
            created_at=now,
            updated_at=now,
        )
        mine = await session.scalar(
            select(WaitlistEntry.id).where(
                WaitlistEntry.instrument_id == instrument.id,
                WaitlistEntry.user_id == principal.user_id,
                WaitlistEntry.status.in_(WAITLIST_OPEN),
                _overlapping(entry),
            )
        )
        if mine is not None:
            raise AlreadyWaiting(entry_id=str(mine))
        session.add(entry)
        await session.flush()
        return entry, await place_in_line(session, entry)


async def place_in_line(session: AsyncSession, entry: WaitlistEntry) -> int:
    """1 + the open entries before this one wanting time that overlaps its range."""
    ahead = await session.scalar(
        select(func.count()).where(
            WaitlistEntry.instrument_id == entry.instrument_id,
            WaitlistEntry.status.in_(WAITLIST_OPEN),
            _overlapping(entry),
            (WaitlistEntry.created_at < entry.created_at)
            | ((WaitlistEntry.created_at == entry.created_at) & (WaitlistEntry.id < entry.id)),
        )
    )
    return int(ahead or 0) + 1


# --- offering freed time ---------------------------------------------------------------------------
async def offer_freed_time(
    session: AsyncSession, instrument_id: uuid.UUID, now: datetime | None = None
) -> list[WaitlistEntry]:
    """Offer the instrument's free time to those waiting for it, in line order. The caller holds
    the transaction and has locked the instrument (:func:`lock_calendar`)."""
    now = now or utcnow()
    waiting = (
        await session.scalars(
            select(WaitlistEntry)
            .where(
                WaitlistEntry.instrument_id == instrument_id, WaitlistEntry.status == WaitlistStatus.waiting
            )
            .order_by(WaitlistEntry.created_at, WaitlistEntry.id)
            .with_for_update(key_share=True)
        )
    ).all()
    if not waiting:
        return []
    rules = await load_calendar(session, instrument_id)
    offered = []
    for entry in waiting:
        if entry.start_at <= now:
            entry.status, entry.updated_at = WaitlistStatus.lapsed, now
            continue
        block_end = entry.end_at + timedelta(minutes=rules.buffer_minutes)
        closures, taken = await closures_and_overlap(
            session, instrument_id, entry.start_at, entry.end_at, block_end, now=now
        )
        if taken or closures:
            continue
        entry.block_end = block_end
        entry.status = WaitlistStatus.offered
        entry.offered_at, entry.updated_at = now, now
        # Held for the entry's minutes, never beyond the start of the range itself.
        entry.offer_expires_at = min(now + timedelta(minutes=entry.hold_minutes), entry.start_at)
        # The overlap check reads on the connection: the offer must be written before the next one.
        await session.flush()
        await _emit_offer(session, entry)
        offered.append(entry)
    return offered


async def _emit_offer(session: AsyncSession, entry: WaitlistEntry) -> None:
    instrument = await session.get(Instrument, entry.instrument_id)
    assert entry.offer_expires_at is not None and instrument is not None
    deadline = entry.offer_expires_at.astimezone(SHANGHAI)
    await emit(
        session,
        OFFERED,
        {
            "entry_id": entry.id,
            "user_id": entry.user_id,
            "enterprise_id": entry.enterprise_id,
            "instrument_id": entry.instrument_id,
            "instrument_name": instrument.name,
            "address": instrument.address or instrument.lab,
            "start": entry.start_at.isoformat(),
            "end": entry.end_at.isoformat(),
            "offer_expires_at": entry.offer_expires_at.isoformat(),
            "summary": f"候补时段已为您保留，请于{deadline.month}月{deadline.day}日 {deadline:%H:%M}前确认",
        },
        key=f"waitlist-offer:{entry.id}:{entry.offered_at.isoformat() if entry.offered_at else ''}",
    )


async def lock_calendar(session: AsyncSession, instrument_id: uuid.UUID) -> None:
    """Lock the instrument's row (level 1 of ``yixiang.locking``): its slots and its offers."""
    await lock_row(session, Instrument, instrument_id)


async def lock_calendar_of_booking(session: AsyncSession, booking_id: uuid.UUID) -> uuid.UUID | None:
    """Before a transition that may free a machine-time booking's slot: lock its instrument first
    (the lock order puts instruments before bookings), so the freed time is offered in the same
    transaction. The instrument's id, or None for a booking without a slot (or none at all)."""
    row = (
        await session.execute(select(Booking.instrument_id, Booking.start_at).where(Booking.id == booking_id))
    ).first()
    if row is None or row.start_at is None:
        return None
    instrument_id: uuid.UUID = row.instrument_id
    await lock_calendar(session, instrument_id)
    return instrument_id


# --- the researcher's answers ----------------------------------------------------------------------
async def _my_entry(session: AsyncSession, principal: Principal, entry_id: uuid.UUID) -> WaitlistEntry:
    """The caller's entry, its instrument locked first and then the entry itself."""
    found = await session.scalar(select(WaitlistEntry.instrument_id).where(WaitlistEntry.id == entry_id))
    if found is None:
        raise WaitlistEntryNotFound()
    await lock_calendar(session, found)
    entry = await lock_row(session, WaitlistEntry, entry_id)
    if entry is None or entry.user_id != principal.user_id:
        raise WaitlistEntryNotFound()
    return entry


async def accept_offer(
    session: AsyncSession,
    principal: Principal,
    entry_id: uuid.UUID,
    *,
    max_open_requests: int | None = None,
    no_show_rule: NoShowRule | None = None,
    now: datetime | None = None,
) -> Booking:
    """Book the held range through the normal creation path. Accepting twice answers the same
    booking; an offer that ran out is 409 ``waitlist_offer_expired``."""
    now = now or utcnow()
    async with transaction(session):
        entry = await _my_entry(session, principal, entry_id)
        if entry.status == WaitlistStatus.booked and entry.booking_id is not None:
            booking = await session.get(Booking, entry.booking_id)
            assert booking is not None
            return booking
        if entry.status == WaitlistStatus.offered and entry.offer_expires_at is not None:
            if entry.offer_expires_at <= now:
                raise WaitlistOfferExpired(offer_expires_at=entry.offer_expires_at)
        else:
            raise NoWaitlistOffer(status=entry.status.value)
        data = BookingIn(
            instrument_id=entry.instrument_id,
            mode=ServiceMode.machine_time,
            operation=entry.operation,
            start=entry.start_at,
            end=entry.end_at,
            service_item_id=entry.service_item_id,
            note=entry.note,
            enterprise_id=entry.enterprise_id,
        )
        booking = await create_booking(
            session,
            principal,
            data,
            now=now,
            max_open_requests=max_open_requests,
            offer=entry.id,
            no_show_rule=no_show_rule,
        )
        entry.status, entry.booking_id, entry.updated_at = WaitlistStatus.booked, booking.id, now
        return booking


async def decline_offer(
    session: AsyncSession, principal: Principal, entry_id: uuid.UUID, *, now: datetime | None = None
) -> WaitlistEntry:
    """Decline an offer, or leave the line while waiting; an offer declined goes to the next."""
    now = now or utcnow()
    async with transaction(session):
        entry = await _my_entry(session, principal, entry_id)
        if entry.status not in WAITLIST_OPEN:
            raise NoWaitlistOffer(status=entry.status.value)
        was_offered = entry.status == WaitlistStatus.offered
        entry.status = WaitlistStatus.declined if was_offered else WaitlistStatus.left
        entry.updated_at = now
        await session.flush()
        if was_offered:
            await offer_freed_time(session, entry.instrument_id, now)
        return entry


async def my_entries(session: AsyncSession, principal: Principal) -> list[tuple[WaitlistEntry, int | None]]:
    """The caller's entries, newest first, each open one with its place in line."""
    async with transaction(session, read_only=True):
        rows = (
            await session.scalars(
                select(WaitlistEntry)
                .where(WaitlistEntry.user_id == principal.user_id)
                .order_by(WaitlistEntry.created_at.desc())
                .limit(200)
            )
        ).all()
        return [
            (entry, await place_in_line(session, entry) if entry.status == WaitlistStatus.waiting else None)
            for entry in rows
        ]


# --- the periodic job ------------------------------------------------------------------------------
async def tend_waiting_lists(session: AsyncSession, now: datetime | None = None) -> int:
    """Offers that ran out expire; then every instrument with people waiting offers its free time
    (time freed by expired requests, closures lifted, offers declined or run out). Instruments in
    id order, each locked before its entries. The number of offers made."""
    now = now or utcnow()
    instruments = (
        await session.scalars(
            select(WaitlistEntry.instrument_id)
            .where(WaitlistEntry.status.in_(WAITLIST_OPEN))
            .group_by(WaitlistEntry.instrument_id)
            .order_by(WaitlistEntry.instrument_id)
            .limit(SWEEP_INSTRUMENTS)
        )
    ).all()
    made = 0
    async with transaction(session):
        for instrument_id in instruments:
            await lock_calendar(session, instrument_id)
            ran_out = (
                await session.scalars(
                    claim(
                        select(WaitlistEntry).where(
                            WaitlistEntry.instrument_id == instrument_id,
                            WaitlistEntry.status == WaitlistStatus.offered,
                            WaitlistEntry.offer_expires_at <= now,
                        )
                    )
                )
            ).all()
            for entry in ran_out:
                entry.status, entry.updated_at = WaitlistStatus.expired, now
            await session.flush()
            made += len(await offer_freed_time(session, instrument_id, now))
    return made
