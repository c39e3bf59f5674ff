"""Creating a booking: machine time on an instrument's calendar, or samples in its queue.

No double booking: the overlap check and the insert share one transaction, which first locks
the instrument (``yixiang.locking``; on SQLite the transaction's write lock does it), so checks of
one calendar run one after another and the loser's check sees the winner's booking: 409
``slot_taken`` with the nearest free alternatives. The exclusion constraint
``ex_bookings_no_overlap`` (migration 0003) stays the database's own refusal, answered alike.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import bindparam, func, insert, inspect, literal, select, union_all
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal
from accounts.models import BOOKER_ROLES, Organization
from booking import voucher_share
from booking.bookable import BookableInstrument, ItemTerms, load_bookable
from booking.calendar_rules import CalendarRules, alternatives, free_intervals
from booking.credit import NoShowRule, held_for_approval
from booking.errors import (
    FieldsForMode,
    InstrumentUnavailable,
    ModeNotOffered,
    NoEnterprise,
    QualificationRequired,
    ServiceItemInvalid,
    SlotTaken,
    TimezoneRequired,
    TooManyOpenRequests,
)
from booking.events import emit_transition, payload_of, write_history
from booking.free_time import load_calendar, load_closures, load_taken
from booking.models import (
    Booking,
    BookingStatus,
    Closure,
    Operation,
    WaitlistEntry,
    WaitlistStatus,
    holds_slot,
)
from booking.numbers import booking_number, is_number_conflict
from booking.qualifications import has_valid_qualification
from booking.queries import samples_ahead
from booking.rules import (
    approval_deadline,
    check_closures,
    check_machine_time,
    expected_completion,
    internal_rate,
    quote_fee,
)
from booking.schemas import BookingIn
from catalogue.models import InstrumentStatus, ServiceMode
from catalogue.workdays import WorkingDayCalendar, load_working_day_calendar
from yixiang.clock import SHANGHAI, shanghai_today
from yixiang.db import transaction, utcnow
from yixiang.driver_statements import DriverStatement
from yixiang.errors import InvalidInput
from yixiang.locking import lock_row

EXCLUSION_CONSTRAINT = "ex_bookings_no_overlap"
NO_OFFER = uuid.UUID(int=0)
ALTERNATIVES_HORIZON = timedelta(days=7)
NUMBER_ATTEMPTS = 3


class EnterpriseAmbiguous(InvalidInput):
    code = "enterprise_ambiguous"
    message = "您属于多个单位，请用 enterprise_id 指定以哪个单位预约"


# --- creation --------------------------------------------------------------------------------------
def booking_firm(principal: Principal, requested: uuid.UUID | None) -> uuid.UUID:
    """The organisation a booking is made for (and billed to)."""
    firms = principal.orgs_where(*BOOKER_ROLES)
    if requested is not None:
        if requested not in firms:
            raise NoEnterprise(enterprise_id=str(requested))
        return requested
    if not firms:
        raise NoEnterprise()
    if len(firms) > 1:
        raise EnterpriseAmbiguous(enterprise_ids=sorted(str(f) for f in firms))
    return next(iter(firms))


def service_item_for(
    instrument: BookableInstrument, item_id: uuid.UUID | None, mode: ServiceMode
) -> ItemTerms:
    items = [i for i in instrument.items if i.active and i.mode == mode]
    if item_id is not None:
        items = [i for i in items if i.id == item_id]
    if not items:
        raise ServiceItemInvalid(mode=mode.value)
    return items[0]


def check_mode(instrument: BookableInstrument, data: BookingIn) -> None:
    if data.mode == ServiceMode.machine_time:
        if data.start is None or data.end is None or data.operation is None or data.samples is not None:
            raise FieldsForMode(
                mode=data.mode.value, required=["operation", "start", "end"], forbidden=["samples"]
            )
        if data.start.tzinfo is None or data.end.tzinfo is None:
            raise TimezoneRequired()
        offered = instrument.self_operation if data.operation == Operation.self else instrument.operator_run
    else:
        if data.samples is None or data.service_item_id is None or data.start or data.end or data.operation:
            raise FieldsForMode(
                mode=data.mode.value,
                required=["service_item_id", "samples"],
                forbidden=["operation", "start", "end"],
            )
        offered = instrument.sample_testing
    if not offered:
        raise ModeNotOffered(mode=data.mode.value, operation=data.operation.value if data.operation else None)


# Built once: every machine-time booking asks both, so they share one round trip: the closures
# the slot meets, and (a row with ``booked`` true) one slot-holding booking overlapping its block.
_OVERLAPPING = (
    select(Booking.start_at, Booking.block_end)
    .where(
        Booking.instrument_id == bindparam("p_instrument"),
        holds_slot(),
        Booking.start_at < bindparam("p_block_end"),
        Booking.block_end > bindparam("p_start"),
    )
    .limit(1)
    .subquery()  # SQLite takes a LIMIT inside UNION ALL only in a subquery
)
# A waiting-list offer (booking.waitlist) holds its range like a booking until it runs out, for
# every booking but the one accepting it (``p_offer``): checked here, under the same instrument
# lock, so an offer and a booking never share time either.
_OFFERED = (
    select(WaitlistEntry.start_at, WaitlistEntry.block_end)
    .where(
        WaitlistEntry.instrument_id == bindparam("p_instrument"),
        WaitlistEntry.status == WaitlistStatus.offered,
        WaitlistEntry.offer_expires_at > bindparam("p_now"),
        WaitlistEntry.id != bindparam("p_offer"),
        WaitlistEntry.start_at < bindparam("p_block_end"),
        WaitlistEntry.block_end > bindparam("p_start"),
    )
    .limit(1)
    .subquery()
)
_CLOSURES_AND_OVERLAP = DriverStatement(
    union_all(
        select(Closure.start_at, Closure.end_at, literal(False).label("booked")).where(
            Closure.instrument_id == bindparam("p_instrument"),
            Closure.start_at < bindparam("p_end"),
            Closure.end_at > bindparam("p_start"),
        ),
        select(_OVERLAPPING.c.start_at, _OVERLAPPING.c.block_end, literal(True)),
        select(_OFFERED.c.start_at, _OFFERED.c.block_end, literal(True)),
    )
)


async def closures_and_overlap(
    session: AsyncSession,
    instrument_id: uuid.UUID,
    start: datetime,
    end: datetime,
    block_end: datetime,
    *,
    now: datetime,
    offer: uuid.UUID | None = None,
) -> tuple[list[tuple[datetime, datetime]], bool]:
    """The closures [start, end) meets, and whether a booking, or a waiting-list offer open at
    ``now`` (other than ``offer``, the one being accepted), holds part of [start, block_end)."""
    rows = await _CLOSURES_AND_OVERLAP.all(
        await session.connection(),
        {
            "p_instrument": instrument_id,
            "p_start": start,
            "p_end": end,
            "p_block_end": block_end,
            "p_offer": offer or NO_OFFER,
            "p_now": now,
        },
    )
    closures, overlapping = [], False
    for row_start, row_end, booked in rows:
        if booked:
            overlapping = True
        else:
            closures.append((row_start, row_end))
    return closures, overlapping


async def _check_open_requests(
    session: AsyncSession, enterprise_id: uuid.UUID, instrument_id: uuid.UUID, cap: int
) -> None:
    """At most ``cap`` requests of one firm await approval on one instrument. The firm's row is
    locked first so that a firm's simultaneous requests are counted one after another."""
    await lock_row(session, Organization, enterprise_id)
    open_requests = await session.scalar(
        select(func.count()).where(
            Booking.enterprise_id == enterprise_id,
            Booking.instrument_id == instrument_id,
            Booking.status == BookingStatus.requested,
        )
    )
    if int(open_requests or 0) >= cap:
        raise TooManyOpenRequests(max_open_requests=cap, instrument_id=str(instrument_id))


async def working_days_for(
    session: AsyncSession, rules: CalendarRules, mode: ServiceMode
) -> WorkingDayCalendar | None:
    """The holiday calendar, read only when this booking consults it: opening hours that follow
    working days, or a sample queue's turnaround in working days."""
    if rules.follows_working_days or mode == ServiceMode.sample_testing:
        return await load_working_day_calendar(session)
    return None


# Built once: every booking runs it. A plain insert on the session's connection: no ORM object
# for the unit of work to flush, nor the ORM's bulk insert path that ``session.execute`` would take.
_BOOKING_INSERT = DriverStatement(insert(Booking))


async def _insert_booking(
    session: AsyncSession,
    principal: Principal,
    enterprise_id: uuid.UUID,
    data: BookingIn,
    now: datetime,
    max_open_requests: int | None = None,
    offer: uuid.UUID | None = None,
    no_show_rule: NoShowRule | None = None,
) -> Booking:
    # Machine time locks the instrument first: racing requests for its calendar then check for
    # overlaps one after another (see yixiang.locking); a sample queue has no slots to race for.
    instrument = await load_bookable(
        session, principal, data.instrument_id, lock=data.mode == ServiceMode.machine_time
    )
    if instrument.status != InstrumentStatus.in_service:
        raise InstrumentUnavailable(status=instrument.status.value)
    check_mode(instrument, data)
    item = service_item_for(instrument, data.service_item_id, data.mode)
    rules = instrument.rules
    days = await working_days_for(session, rules, data.mode)
    start, end, block_end, minutes, overlapping = data.start, data.end, None, None, False
    if start is not None and end is not None:
        # The rules first: they also keep absurd moments (year 1, year 9999) away from the database.
        check_machine_time(rules, days, [], start, end, now)
        block_end = end + timedelta(minutes=rules.buffer_minutes)
        closures, overlapping = await closures_and_overlap(
            session, instrument.id, start, end, block_end, now=now, offer=offer
        )
        check_closures(closures, start, end)
        if data.operation == Operation.self and not await has_valid_qualification(
            session, principal.user_id, instrument, start.astimezone(SHANGHAI).date()
        ):
            raise QualificationRequired(instrument_id=str(instrument.id))
        minutes = int((end - start) / timedelta(minutes=1))
    needs_approval, held_back = rules.needs_approval, None
    if not needs_approval and no_show_rule is not None:
        held_back = await held_for_approval(session, principal.user_id, no_show_rule, now)
        needs_approval = held_back is not None
    if needs_approval and max_open_requests is not None:
        await _check_open_requests(session, enterprise_id, instrument.id, max_open_requests)
    # booking_firm made sure the firm is one of the caller's, loaded with the caller this request
    internal = internal_rate(enterprise_id, principal.parent_of(enterprise_id), instrument.unit_id)
    quote = quote_fee(item, internal=internal, minutes=minutes, samples=data.samples)
    if overlapping:
        raise SlotTaken()
    booking_id = uuid.uuid4()
    booking = Booking(
        id=booking_id,
        number=booking_number(booking_id, now),
        instrument_id=instrument.id,
        unit_id=instrument.unit_id,
        enterprise_id=enterprise_id,
        user_id=principal.user_id,
        mode=data.mode,
        operation=data.operation,
        service_item_id=item.id,
        samples=data.samples,
        start_at=start,
        end_at=end,
        block_end=block_end,
        status=BookingStatus.requested if needs_approval else BookingStatus.confirmed,
        approval_deadline=approval_deadline(rules, now, start) if needs_approval else None,
        approval_reason=held_back,
        note=data.note,
        rate=quote.rate,
        quoted_fee_fen=quote.fee_fen,
        fee_breakdown=quote.breakdown,
        created_at=now,
        updated_at=now,
    )
    if data.mode == ServiceMode.sample_testing:
        assert days is not None
        _, queued_samples = await samples_ahead(session, booking)
        booking.expected_completion_on = expected_completion(
            days,
            shanghai_today(now),
            item.turnaround_working_days or 0,
            queued_samples,
            rules.sample_capacity_per_day,
        )
    # The booking goes first so the constraint speaks before anything else is written. The
    # object returned is not added to the session: its row is written here, once.
    await _BOOKING_INSERT.run(await session.connection(), _columns(booking))
    action = "request" if needs_approval else "book"
    await write_history(session, booking, action, None, principal.user_id, data.note[:500], now)
    about = payload_of(booking, instrument.name, instrument.address or instrument.lab, item.name)
    await emit_transition(session, booking, action, None, principal.user_id, "", payload=about)
    await voucher_share.on_created(session, booking, instrument, principal.user_id)
    return booking


_BOOKING_COLUMNS = tuple(column.key for column in Booking.__table__.columns)


def _columns(booking: Booking) -> dict[str, object]:
    """The columns the booking was given; the insert fills in the others' defaults (or NULL)."""
    given = inspect(booking).dict
    return {key: given[key] for key in _BOOKING_COLUMNS if key in given}


def is_slot_conflict(exc: IntegrityError) -> bool:
    return getattr(exc.orig, "sqlstate", None) == "23P01" or EXCLUSION_CONSTRAINT in str(exc)


async def create_booking(
    session: AsyncSession,
    principal: Principal,
    data: BookingIn,
    *,
    now: datetime | None = None,
    max_open_requests: int | None = None,
    offer: uuid.UUID | None = None,
    no_show_rule: NoShowRule | None = None,
) -> Booking:
    """Book machine time or queue samples. A taken slot answers 409 with free alternatives;
    a firm with ``max_open_requests`` requests already awaiting approval there answers 409.
    ``offer``: the waiting-list offer being accepted, whose hold does not count against it.
    ``no_show_rule``: a researcher it holds back books on approval (``booking.credit``)."""
    now = now or utcnow()
    enterprise_id = booking_firm(principal, data.enterprise_id)
    for attempt in range(NUMBER_ATTEMPTS):
        try:
            async with transaction(session):
                return await _insert_booking(
                    session, principal, enterprise_id, data, now, max_open_requests, offer, no_show_rule
                )
        except SlotTaken:
            break
        except IntegrityError as exc:
            if is_number_conflict(exc) and attempt + 1 < NUMBER_ATTEMPTS:
                continue  # another booking of the day has this number: the next try draws a new id
            if not is_slot_conflict(exc):
                raise
            break
    assert data.start is not None and data.end is not None
    async with transaction(session):
        options = await nearest_free(session, data.instrument_id, data.start, data.end, now)
    raise SlotTaken(alternatives=[{"start": s.isoformat(), "end": e.isoformat()} for s, e in options])


async def nearest_free(
    session: AsyncSession, instrument_id: uuid.UUID, start: datetime, end: datetime, now: datetime
) -> list[tuple[datetime, datetime]]:
    rules = await load_calendar(session, instrument_id)
    days = await load_working_day_calendar(session)
    lo = max(start - ALTERNATIVES_HORIZON, now + timedelta(minutes=rules.min_notice_minutes))
    hi = min(end + ALTERNATIVES_HORIZON, now + timedelta(days=rules.max_advance_days))
    if hi <= lo:
        return []
    closures = await load_closures(session, instrument_id, lo, hi)
    taken = await load_taken(session, instrument_id, lo, hi, rules.buffer_minutes)
    free = free_intervals(rules, days, closures, taken, lo, hi)
    return alternatives(free, rules, start, end - start)
