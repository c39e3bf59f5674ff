"""Tables of the purchase review (购置查重评议): a unit's proposed purchases, the report generated
when one is filed, the reviewers' decision, and the experts a science bureau appoints to review.

The report is stored as it was generated (a snapshot), and once decided the report and the
decision are kept together as one frozen document: later records do not change either.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Enum, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from catalogue.models import Origin
from yixiang.db import Base, UUIDPrimaryKey, utcnow


def _enum(cls: type[enum.Enum]) -> Enum:
    return Enum(cls, native_enum=False, length=32, values_callable=lambda e: [m.value for m in e])


class ReviewStatus(enum.StrEnum):
    not_required = "not_required"  # below the review threshold: recorded, no report
    pending = "pending"  # report generated, awaiting the reviewers' decision
    decided = "decided"  # report and decision frozen together


class Verdict(enum.StrEnum):
    # seed 002 §二: 作出"通过、调整和不予通过"的决定
    approved = "通过"
    adjust = "调整"
    rejected = "不予通过"


class PurchaseReview(UUIDPrimaryKey, Base):
    """One proposed purchase filed by a holding unit (and, at or above the threshold, its review)."""

    __tablename__ = "oversight_purchase_reviews"
    __table_args__ = (Index("ix_oversight_purchase_reviews_region_status", "region_code", "status"),)

    unit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), index=True)
    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code"))  # where it will stand
    category_code: Mapped[str] = mapped_column(ForeignKey("instrument_categories.code"))
    instrument_name: Mapped[str] = mapped_column(String(200))
    model: Mapped[str] = mapped_column(String(100))
    price_fen: Mapped[int] = mapped_column(BigInteger)
    justification: Mapped[str] = mapped_column(Text)
    expected_hours_per_year: Mapped[int]
    origin: Mapped[Origin] = mapped_column(_enum(Origin))
    latitude: Mapped[float | None]
    longitude: Mapped[float | None]
    status: Mapped[ReviewStatus] = mapped_column(_enum(ReviewStatus))
    filed_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    filed_at: Mapped[datetime] = mapped_column(default=utcnow)
    report: Mapped[dict[str, Any] | None]  # the snapshot, as generated
    verdict: Mapped[Verdict | None] = mapped_column(_enum(Verdict))
    reasons: Mapped[str] = mapped_column(Text, default="")
    decided_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None]
    document: Mapped[dict[str, Any] | None]  # report + decision, frozen


class ReviewExpert(UUIDPrimaryKey, Base):
    """An expert a region's science bureau appoints to decide purchase reviews in that region
    (seed 002 §二: 会同行业和领域专家; seed 004 §(二): 专家组)."""

    __tablename__ = "oversight_review_experts"
    __table_args__ = (Index("ix_oversight_review_experts_user_region", "user_id", "region_code"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code"))
    appointed_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    appointed_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]
