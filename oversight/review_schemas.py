"""Structs the purchase review API speaks."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import msgspec

from catalogue.models import Origin
from oversight.review_models import Verdict
from yixiang.schemas import Input, Output

PRICE_MAX_FEN = 10**13  # 1,000 亿元: far above any instrument, far below the column's bound


class PurchaseFilingIn(Input):
    category_code: Annotated[
        str, msgspec.Meta(min_length=2, max_length=8, description="the catalogue's category code")
    ]
    instrument_name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    model: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    price_fen: Annotated[int, msgspec.Meta(ge=1, le=PRICE_MAX_FEN, description="price in fen")]
    justification: Annotated[str, msgspec.Meta(min_length=2, max_length=4000)]
    expected_hours_per_year: Annotated[int, msgspec.Meta(ge=0, le=8784)]
    origin: Origin
    unit_id: uuid.UUID | None = None  # needed only by staff of several units
    region_code: Annotated[str, msgspec.Meta(pattern=r"^\d{6}$")] | None = None  # the unit's by default
    latitude: Annotated[float, msgspec.Meta(ge=-90, le=90)] | None = None
    longitude: Annotated[float, msgspec.Meta(ge=-180, le=180)] | None = None


class ReviewDecisionIn(Input):
    verdict: Verdict
    reasons: Annotated[str, msgspec.Meta(min_length=2, max_length=4000)]


class PurchaseReviewOut(Output):
    id: uuid.UUID
    unit_id: uuid.UUID
    region_code: str
    category_code: str
    instrument_name: str
    model: str
    price_fen: int
    justification: str
    expected_hours_per_year: int
    origin: str
    status: str  # not_required | pending | decided
    filed_at: datetime
    verdict: str | None
    reasons: str
    decided_at: datetime | None
    # the report as generated (null below the threshold); once decided, ``document`` holds it
    # with the decision, frozen
    report: dict[str, Any] | None = None
    document: dict[str, Any] | None = None


class ExpertIn(Input):
    username: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class ExpertOut(Output):
    id: uuid.UUID
    user_id: uuid.UUID
    username: str
    display_name: str
    region_code: str
    appointed_at: datetime
    revoked_at: datetime | None
