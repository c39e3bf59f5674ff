"""Structs the complaints API speaks."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

import msgspec

from yixiang.schemas import Input, Moment, Output

Text = Annotated[str, msgspec.Meta(min_length=5, max_length=2000, description="5–2000 characters")]


class ComplaintIn(Input):
    """About a booking of yours (``booking_id``) or a provider unit (``unit_id``): one of the two."""

    text: Text
    booking_id: uuid.UUID | None = None
    unit_id: uuid.UUID | None = None
    enterprise_id: uuid.UUID | None = None  # on whose behalf, for a unit complaint (default: your firm)


class ComplaintDecisionIn(Input):
    upheld: bool
    answer: Annotated[str, msgspec.Meta(min_length=2, max_length=2000, description="the reasons")]


class ComplaintOut(Output):
    id: uuid.UUID
    status: str
    status_label: str
    text: str
    unit_id: uuid.UUID
    unit_name: str
    instrument_id: uuid.UUID | None
    instrument_name: str | None
    booking_id: uuid.UUID | None
    booking_number: str | None
    region_code: str
    filed_at: Moment
    deadline: date
    overdue: bool
    accepted_at: Moment | None
    decided_at: Moment | None
    answer: str
    # the complainant's side and the bureau only; null for the unit complained about
    complainant: str | None
    firm: str | None
