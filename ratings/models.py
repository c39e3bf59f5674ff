"""Service ratings (one per booking), the provider's reply, moderation, and aggregates."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from yixiang.db import Base, UUIDPrimaryKey, utcnow

DIMENSIONS = ("timeliness", "data_quality", "professionalism", "value")


class Rating(UUIDPrimaryKey, Base):
    __tablename__ = "ratings"

    booking_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("bookings.id"), unique=True)
    instrument_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("instruments.id"), index=True)
    unit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), index=True)
    enterprise_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"))
    rated_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    overall: Mapped[int]
    # The dimensions are optional (one tap on a phone gives the overall score alone).
    timeliness: Mapped[int | None]
    data_quality: Mapped[int | None]
    professionalism: Mapped[int | None]
    value: Mapped[int | None]
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    reply: Mapped[str | None] = mapped_column(Text)
    replied_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    replied_at: Mapped[datetime | None]
    hidden_at: Mapped[datetime | None]
    hidden_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    hidden_reason: Mapped[str | None] = mapped_column(String(200))


class RatingAggregate(Base):
    """Per instrument or per holding unit: recomputed from the stored ratings on each change."""

    __tablename__ = "rating_aggregates"

    scope: Mapped[str] = mapped_column(String(16), primary_key=True)  # instrument | unit
    subject_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    count: Mapped[int] = mapped_column(default=0)
    overall_sum: Mapped[int] = mapped_column(default=0)
    distribution: Mapped[dict[str, Any]] = mapped_column(default=dict)
    dimension_sums: Mapped[dict[str, Any]] = mapped_column(default=dict)
    dimension_counts: Mapped[dict[str, Any]] = mapped_column(default=dict)  # ratings that gave it
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
