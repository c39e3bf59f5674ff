"""What booking's rules and the voucher seam know of an instrument and its service items: small
frozen values, the only shapes they take.

A new booking reads them in one statement (:func:`load_bookable`: instrument, its calendar and its
service items joined, a prebuilt Core query that SQLAlchemy only binds the id of) instead of three
ORM loads into the identity map. Paths that hold ORM objects already (approval, completion, the
bot's quotes) convert them at the edge with :func:`terms_of` and :func:`item_terms`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal
from booking.calendar_rules import CalendarRules, rules_from_row
from booking.models import InstrumentCalendar
from catalogue.access import can_see_instrument
from catalogue.errors import InstrumentNotFound
from catalogue.models import (
    Instrument,
    InstrumentStatus,
    PriceUnit,
    PublicationStatus,
    ServiceItem,
    ServiceMode,
)
from yixiang.driver_statements import DriverStatement
from yixiang.locking import locked


@dataclass(frozen=True, slots=True)
class ItemTerms:
    """A service item's published fee standard."""

    id: uuid.UUID
    name: str
    mode: ServiceMode
    price_unit: PriceUnit
    internal_price_fen: int
    external_price_fen: int
    turnaround_working_days: int | None
    active: bool


@dataclass(frozen=True, slots=True)
class InstrumentTerms:
    """An instrument's columns that booking and its voucher share read."""

    id: uuid.UUID
    unit_id: uuid.UUID
    name: str
    address: str
    lab: str
    region_code: str
    category_code: str
    status: InstrumentStatus
    publication: PublicationStatus
    self_operation: bool
    operator_run: bool
    sample_testing: bool
    voucher_eligible: bool


@dataclass(frozen=True, slots=True)
class BookableInstrument(InstrumentTerms):
    """An instrument with its calendar's rules and its service items: what a new booking checks."""

    rules: CalendarRules
    items: tuple[ItemTerms, ...]  # in their published order


def terms_of(instrument: Instrument) -> InstrumentTerms:
    return InstrumentTerms(
        id=instrument.id,
        unit_id=instrument.unit_id,
        name=instrument.name,
        address=instrument.address,
        lab=instrument.lab,
        region_code=instrument.region_code,
        category_code=instrument.category_code,
        status=instrument.status,
        publication=instrument.publication,
        self_operation=instrument.self_operation,
        operator_run=instrument.operator_run,
        sample_testing=instrument.sample_testing,
        voucher_eligible=instrument.voucher_eligible,
    )


def item_terms(item: ServiceItem) -> ItemTerms:
    return ItemTerms(
        id=item.id,
        name=item.name,
        mode=item.mode,
        price_unit=item.price_unit,
        internal_price_fen=item.internal_price_fen,
        external_price_fen=item.external_price_fen,
        turnaround_working_days=item.turnaround_working_days,
        active=item.active,
    )


_INSTRUMENT_COLUMNS = (
    Instrument.id,
    Instrument.unit_id,
    Instrument.name,
    Instrument.address,
    Instrument.lab,
    Instrument.region_code,
    Instrument.category_code,
    Instrument.status,
    Instrument.publication,
    Instrument.self_operation,
    Instrument.operator_run,
    Instrument.sample_testing,
    Instrument.voucher_eligible,
)
_CALENDAR_COLUMNS = tuple(
    getattr(InstrumentCalendar, name)
    for name in (
        "weekly_hours",
        "follows_working_days",
        "slot_minutes",
        "min_duration_minutes",
        "max_duration_minutes",
        "min_notice_minutes",
        "max_advance_days",
        "cancellation_deadline_hours",
        "late_cancellation",
        "late_cancellation_fee_percent",
        "buffer_minutes",
        "needs_approval",
        "approval_window_hours",
        "sample_capacity_per_day",
    )
)
_ITEM_COLUMNS = (
    ServiceItem.id.label("item_id"),
    ServiceItem.name.label("item_name"),
    ServiceItem.mode.label("item_mode"),
    ServiceItem.price_unit,
    ServiceItem.internal_price_fen,
    ServiceItem.external_price_fen,
    ServiceItem.turnaround_working_days,
    ServiceItem.active,
)
# One row per service item (one row with NULL items when there are none); the instrument's and
# the calendar's columns repeat on each.
_BOOKABLE_SELECT = (
    select(*_INSTRUMENT_COLUMNS, *_CALENDAR_COLUMNS, *_ITEM_COLUMNS)
    .select_from(Instrument)
    .outerjoin(InstrumentCalendar, InstrumentCalendar.instrument_id == Instrument.id)
    .outerjoin(ServiceItem, ServiceItem.instrument_id == Instrument.id)
    .where(Instrument.id == bindparam("p_instrument"))
    .order_by(ServiceItem.position, ServiceItem.id)
)
_BOOKABLE = DriverStatement(_BOOKABLE_SELECT)
# The same read locking the instrument's row: bookings of its calendar's time queue here, before
# their overlap check (the lock order and the deadlock it prevents: ``yixiang.locking``).
_BOOKABLE_LOCKED = DriverStatement(locked(_BOOKABLE_SELECT, Instrument))


async def load_bookable(
    session: AsyncSession, principal: Principal | None, instrument_id: uuid.UUID, *, lock: bool = False
) -> BookableInstrument:
    """The instrument, if the caller may see it (``catalogue.access``: published, or the caller's
    own unit's; others are a 404), with its calendar rules and service items. ``lock``: lock the
    instrument's row for the rest of the transaction, to book time on its calendar."""
    # On the session's connection: plain rows, without the ORM's result machinery.
    statement = _BOOKABLE_LOCKED if lock else _BOOKABLE
    rows = await statement.all(await session.connection(), {"p_instrument": instrument_id})
    if not rows:
        raise InstrumentNotFound()
    first = rows[0]
    if not can_see_instrument(principal, first.unit_id, first.publication):
        raise InstrumentNotFound()
    return BookableInstrument(
        id=first.id,
        unit_id=first.unit_id,
        name=first.name,
        address=first.address,
        lab=first.lab,
        region_code=first.region_code,
        category_code=first.category_code,
        status=first.status,
        publication=first.publication,
        self_operation=first.self_operation,
        operator_run=first.operator_run,
        sample_testing=first.sample_testing,
        voucher_eligible=first.voucher_eligible,
        rules=rules_from_row(first if first.weekly_hours is not None else None),
        items=tuple(
            ItemTerms(
                id=row.item_id,
                name=row.item_name,
                mode=row.item_mode,
                price_unit=row.price_unit,
                internal_price_fen=row.internal_price_fen,
                external_price_fen=row.external_price_fen,
                turnaround_working_days=row.turnaround_working_days,
                active=row.active,
            )
            for row in rows
            if row.item_id is not None
        ),
    )
