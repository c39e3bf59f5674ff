"""Tables of the booking domain. The catalogue lives in ``catalogue.models``.

Calendars (opening hours, rules, closures), qualifications for self-operation, bookings and
their history. A booking's slot is the half-open range ``[start_at, block_end)`` where
``block_end`` is its end plus the instrument's buffer; on PostgreSQL an exclusion constraint
(migration 0003) forbids two slot-holding bookings of one instrument from overlapping.
"""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    literal_column,
)
from sqlalchemy.orm import Mapped, mapped_column

from booking.numbers import NUMBER_LENGTH, UNIQUE_INDEX, number_default
from catalogue.models import ServiceMode
from yixiang.db import Base, Timestamps, UUIDPrimaryKey, utcnow

BigId = BigInteger().with_variant(Integer, "sqlite")


def _enum(cls: type[enum.Enum]) -> Enum:
    return Enum(cls, native_enum=False, length=32, values_callable=lambda e: [m.value for m in e])


class BookingStatus(enum.StrEnum):
    requested = "requested"  # awaiting the provider's approval; holds its slot until the deadline
    confirmed = "confirmed"
    in_service = "in_service"
    completed = "completed"
    delivered = "delivered"  # results delivered
    rated = "rated"
    cancelled = "cancelled"
    rejected = "rejected"
    no_show = "no_show"
    expired = "expired"  # not approved before the approval deadline


# Bookings in these states own their time range; the exclusion constraint covers exactly these.
SLOT_HOLDING = (BookingStatus.requested, BookingStatus.confirmed, BookingStatus.in_service)
# The most a calendar's max_duration_minutes may be (booking.rules refuses longer machine time):
# a booking meeting a range started at most this long before it, which bounds index scans.
LONGEST_BOOKING_MINUTES = 10_080


class Operation(enum.StrEnum):
    self = "self"  # 自主上机: needs a qualification
    operator = "operator"  # run by the provider's operator


class LateCancellation(enum.StrEnum):
    refuse = "refuse"  # after the deadline only provider staff may cancel
    charge = "charge"  # allowed; the instrument's percentage of the quote is recorded as a fee
    allow = "allow"  # allowed without a fee


class InstrumentCalendar(Base):
    """An instrument's booking rules. Instruments without a row use ``calendars.DEFAULT_CALENDAR``."""

    __tablename__ = "instrument_calendars"

    instrument_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("instruments.id", ondelete="CASCADE"), primary_key=True
    )
    # {"intervals": [[weekday 0=Mon..6=Sun, start minute, end minute], ...]} in Asia/Shanghai
    weekly_hours: Mapped[dict[str, Any]]
    # Open only on working days (public holidays closed; make-up working days open with Monday's hours).
    follows_working_days: Mapped[bool] = mapped_column(default=True)
    slot_minutes: Mapped[int] = mapped_column(default=30)
    min_duration_minutes: Mapped[int] = mapped_column(default=60)
    max_duration_minutes: Mapped[int] = mapped_column(default=480)
    min_notice_minutes: Mapped[int] = mapped_column(default=60)
    max_advance_days: Mapped[int] = mapped_column(default=60)
    cancellation_deadline_hours: Mapped[int] = mapped_column(default=24)
    late_cancellation: Mapped[LateCancellation] = mapped_column(
        _enum(LateCancellation), default=LateCancellation.refuse
    )
    late_cancellation_fee_percent: Mapped[int] = mapped_column(default=0)
    buffer_minutes: Mapped[int] = mapped_column(default=0)
    needs_approval: Mapped[bool] = mapped_column(default=False)
    approval_window_hours: Mapped[int] = mapped_column(default=24)
    sample_capacity_per_day: Mapped[int] = mapped_column(default=20)
    updated_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Closure(UUIDPrimaryKey, Base):
    """A time the instrument cannot be booked (maintenance, calibration, the lab's own holiday)."""

    __tablename__ = "instrument_closures"
    __table_args__ = (Index("ix_instrument_closures_instrument_start", "instrument_id", "start_at"),)

    instrument_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("instruments.id", ondelete="CASCADE"))
    start_at: Mapped[datetime]
    end_at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(String(200), default="")
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Qualification(UUIDPrimaryKey, Base):
    """A training record allowing a user to operate an instrument, or any of a unit's instruments
    of one category, until ``expires_on`` (inclusive, Asia/Shanghai)."""

    __tablename__ = "qualifications"
    __table_args__ = (Index("ix_qualifications_user_unit", "user_id", "unit_id"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    unit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), index=True)
    instrument_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("instruments.id", ondelete="CASCADE"))
    category_code: Mapped[str | None] = mapped_column(ForeignKey("instrument_categories.code"))
    expires_on: Mapped[date]
    note: Mapped[str] = mapped_column(String(200), default="")
    granted_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    granted_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    revoked_at: Mapped[datetime | None]


class Booking(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "bookings"
    __table_args__ = (
        Index("ix_bookings_instrument_start", "instrument_id", "start_at"),
        Index("ix_bookings_enterprise_created", "enterprise_id", "created_at"),
        Index("ix_bookings_unit_created", "unit_id", "created_at"),
        Index("ix_bookings_status_deadline", "status", "approval_deadline"),
        Index(UNIQUE_INDEX, "number", unique=True),
    )

    # 预约号 (booking.numbers): set at creation; numbered by migration 0011 before it existed
    number: Mapped[str | None] = mapped_column(String(NUMBER_LENGTH), default=number_default)
    instrument_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("instruments.id"))
    unit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"))
    enterprise_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    mode: Mapped[ServiceMode] = mapped_column(_enum(ServiceMode))
    operation: Mapped[Operation | None] = mapped_column(_enum(Operation))
    service_item_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("service_items.id"))
    samples: Mapped[int | None]
    # Machine time only; sample testing has no range.
    start_at: Mapped[datetime | None]
    end_at: Mapped[datetime | None]
    block_end: Mapped[datetime | None]  # end_at + the instrument's buffer at booking time
    status: Mapped[BookingStatus] = mapped_column(_enum(BookingStatus), index=True)
    approval_deadline: Mapped[datetime | None]
    # Why a request waits for approval when the instrument itself would not ask (booking.credit).
    approval_reason: Mapped[str | None] = mapped_column(String(200))
    expected_completion_on: Mapped[date | None]  # sample testing: in working days
    note: Mapped[str] = mapped_column(Text, default="")
    rate: Mapped[str] = mapped_column(String(16))  # internal | external
    # Fees are BigInteger: 10,000 samples at a few thousand yuan each overflow a 32-bit int.
    quoted_fee_fen: Mapped[int] = mapped_column(BigInteger)
    fee_breakdown: Mapped[dict[str, Any]]
    final_fee_fen: Mapped[int | None] = mapped_column(BigInteger)
    cancellation_fee_fen: Mapped[int | None] = mapped_column(BigInteger)
    voucher_fen: Mapped[int | None] = mapped_column(BigInteger)  # filled by the voucher capture at completion
    due_fen: Mapped[int | None] = mapped_column(BigInteger)
    actual_start: Mapped[datetime | None]
    actual_end: Mapped[datetime | None]
    actual_samples: Mapped[int | None]
    # machine time: where the actual times came from (booking.sensed.ActualSource)
    actual_source: Mapped[str | None] = mapped_column(String(16))


def holds_slot(bookings: Any = None) -> ColumnElement[bool]:
    """``status IN ('requested', 'confirmed', 'in_service')`` with the statuses written into the
    SQL, not bound: PostgreSQL then proves the exclusion constraint's partial predicate at planning
    time and reads that index (only the bookings that hold a slot), where a bound list, as a
    prepared statement's generic plan sees it, sends it through every past booking of the
    instrument (issue 25 goal 4, docs/growth.md)."""
    column = (bookings or Booking).status  # ``bookings``: an alias of the table, if not the table
    return column.in_([literal_column(f"'{status.value}'") for status in SLOT_HOLDING])


class BookingHistory(Base):
    """Every transition of a booking: who, when, from, to, why. Replaying it gives the status."""

    __tablename__ = "booking_history"
    __table_args__ = (
        Index("ix_booking_history_booking", "booking_id", "id"),
        # No-shows in a period (booking.credit), read as each booking is made: few rows to scan.
        Index("ix_booking_history_action_at", "action", "at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    booking_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("bookings.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[BookingStatus | None] = mapped_column(_enum(BookingStatus))
    to_status: Mapped[BookingStatus] = mapped_column(_enum(BookingStatus))
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))  # None: the system
    reason: Mapped[str] = mapped_column(String(500), default="")
    at: Mapped[datetime] = mapped_column(default=utcnow)


# --- what peer booking systems give their users (issue 24) -----------------------------------------
class WaitlistStatus(enum.StrEnum):
    waiting = "waiting"  # in line for the range
    offered = "offered"  # the range was freed and is held for this entry until ``offer_expires_at``
    booked = "booked"  # the offer was accepted: ``booking_id``
    declined = "declined"
    expired = "expired"  # the offer ran out unanswered
    lapsed = "lapsed"  # the wanted range began before it was freed
    left = "left"  # the researcher left the line


# Entries in these states still want their range; an offered one holds it against other bookings.
WAITLIST_OPEN = (WaitlistStatus.waiting, WaitlistStatus.offered)


class WaitlistEntry(UUIDPrimaryKey, Base):
    """A researcher in line for machine time that others hold (候补). Offers go in the order of
    ``created_at`` (then id), to the first entry whose wanted range is free (``booking.waitlist``)."""

    __tablename__ = "waitlist_entries"
    __table_args__ = (
        Index("ix_waitlist_entries_instrument_status", "instrument_id", "status", "created_at"),
        Index("ix_waitlist_entries_status_offer", "status", "offer_expires_at"),
    )

    instrument_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("instruments.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    enterprise_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"))
    operation: Mapped[Operation] = mapped_column(_enum(Operation))
    service_item_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("service_items.id"))
    start_at: Mapped[datetime]
    end_at: Mapped[datetime]
    block_end: Mapped[datetime]  # end_at + the instrument's buffer: what an offer holds
    note: Mapped[str] = mapped_column(String(500), default="")
    status: Mapped[WaitlistStatus] = mapped_column(_enum(WaitlistStatus))
    hold_minutes: Mapped[int]  # how long an offer is held (the setting when the entry joined)
    offered_at: Mapped[datetime | None]
    offer_expires_at: Mapped[datetime | None]
    booking_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("bookings.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class CalendarFeed(UUIDPrimaryKey, Base):
    """A private iCalendar feed: a researcher's own bookings, or (``instrument_id``) an
    instrument's schedule for its staff. Only the token's SHA-256 is kept; revoked feeds answer 404."""

    __tablename__ = "calendar_feeds"

    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    instrument_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("instruments.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]


class BookingSeries(UUIDPrimaryKey, Base):
    """A weekly series booked in one request; each week is booked (or refused) on its own."""

    __tablename__ = "booking_series"

    instrument_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("instruments.id"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    enterprise_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"))
    weeks: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    cancelled_at: Mapped[datetime | None]


class BookingSeriesSlot(Base):
    """One week of a series: its booking, or why it was refused (the error's code and words)."""

    __tablename__ = "booking_series_slots"

    series_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("booking_series.id", ondelete="CASCADE"), primary_key=True
    )
    week: Mapped[int] = mapped_column(primary_key=True)  # 0 for the first
    start_at: Mapped[datetime]
    end_at: Mapped[datetime]
    booking_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("bookings.id"), index=True)
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(String(300))


class TrainingStatus(enum.StrEnum):
    requested = "requested"  # the researcher asked; the provider has not scheduled a session yet
    scheduled = "scheduled"
    passed = "passed"  # the qualification was granted (``qualification_id``)
    failed = "failed"
    cancelled = "cancelled"


TRAINING_OPEN = (TrainingStatus.requested, TrainingStatus.scheduled)


class TrainingRequest(UUIDPrimaryKey, Base):
    """A researcher's request for the training self-operation of an instrument requires (培训申请):
    the provider schedules a session, records the result, and a pass grants the qualification."""

    __tablename__ = "training_requests"
    __table_args__ = (Index("ix_training_requests_unit_status", "unit_id", "status"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    instrument_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("instruments.id", ondelete="CASCADE"))
    unit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"))
    status: Mapped[TrainingStatus] = mapped_column(_enum(TrainingStatus))
    note: Mapped[str] = mapped_column(String(500), default="")
    session_start: Mapped[datetime | None]
    session_end: Mapped[datetime | None]
    place: Mapped[str] = mapped_column(String(200), default="")
    result_note: Mapped[str] = mapped_column(String(500), default="")
    qualification_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("qualifications.id"))
    decided_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
