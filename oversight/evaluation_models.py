"""Tables of the yearly performance evaluation (绩效评价, seed 004 §十四): a run per region and
year, each unit's result, score adjustments (four eyes), low-usage flags, rectification listings
and the units' objections. Written only by ``oversight.evaluation*``.
"""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import Enum, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from oversight.grades import Grade
from yixiang.db import Base, UUIDPrimaryKey, utcnow

__all__ = ["Grade"]  # re-exported: the grades are the evaluation's


class EvaluationStatus(enum.StrEnum):
    draft = "draft"  # computed; the bureau adjusts, units see their own figures and object
    under_review = "under_review"  # submitted for publication (审定)
    published = "published"  # frozen and public


class AdjustmentStatus(enum.StrEnum):
    proposed = "proposed"
    approved = "approved"
    rejected = "rejected"


def _enum(cls: type[enum.Enum]) -> Enum:
    # stored by member name: the Chinese grade words stay out of the column
    return Enum(cls, native_enum=False, length=32)


class Evaluation(UUIDPrimaryKey, Base):
    __tablename__ = "oversight_evaluations"
    __table_args__ = (UniqueConstraint("region_code", "year"),)

    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code"), index=True)
    year: Mapped[int]
    status: Mapped[EvaluationStatus] = mapped_column(_enum(EvaluationStatus), default=EvaluationStatus.draft)
    # the weights, thresholds and limits the scores and grades were computed with
    rules: Mapped[dict[str, Any]] = mapped_column(default=dict)
    opened_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    submitted_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    submitted_at: Mapped[datetime | None]
    published_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    published_at: Mapped[datetime | None]


class EvaluationResult(UUIDPrimaryKey, Base):
    """One participating unit: the indicators as computed (snapshot), its score and grade."""

    __tablename__ = "oversight_evaluation_results"
    __table_args__ = (UniqueConstraint("evaluation_id", "unit_id"),)

    evaluation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("oversight_evaluations.id"), index=True)
    unit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), index=True)
    unit_name: Mapped[str] = mapped_column(String(200))
    figures: Mapped[dict[str, Any]] = mapped_column(default=dict)  # the unit's indicators
    parts: Mapped[dict[str, Any]] = mapped_column(default=dict)  # points per indicator
    score: Mapped[float]  # as computed from the figures
    adjusted_score: Mapped[float | None]  # after an approved adjustment
    adjustment_reason: Mapped[str] = mapped_column(String(1000), default="")
    adjusted_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))  # who proposed
    adjustment_approved_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    grade: Mapped[Grade] = mapped_column(_enum(Grade))
    rank: Mapped[int]  # 1 = best, in the order grades are assigned (the tie rule included)

    @property
    def final_score(self) -> float:
        return self.score if self.adjusted_score is None else self.adjusted_score


class ScoreAdjustment(UUIDPrimaryKey, Base):
    """A proposed change of a unit's score with its written reason; another officer decides."""

    __tablename__ = "oversight_score_adjustments"

    result_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("oversight_evaluation_results.id"), index=True)
    score: Mapped[float]
    reason: Mapped[str] = mapped_column(String(1000))
    status: Mapped[AdjustmentStatus] = mapped_column(
        _enum(AdjustmentStatus), default=AdjustmentStatus.proposed
    )
    proposed_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    proposed_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None]
    decision_note: Mapped[str] = mapped_column(String(500), default="")


class UsageFlag(UUIDPrimaryKey, Base):
    """A generic (通用性强) instrument used below the threshold (30%) in the evaluated year. Open
    while its evaluation is published and no later published evaluation superseded it."""

    __tablename__ = "oversight_usage_flags"
    __table_args__ = (UniqueConstraint("evaluation_id", "instrument_id"),)

    evaluation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("oversight_evaluations.id"), index=True)
    instrument_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("instruments.id"))
    instrument_name: Mapped[str] = mapped_column(String(200))
    unit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), index=True)
    category_code: Mapped[str] = mapped_column(String(16))
    year: Mapped[int]
    usage_rate: Mapped[float]
    superseded_at: Mapped[datetime | None]


class Rectification(UUIDPrimaryKey, Base):
    """A unit graded 较差, listed at publication for rectification by a deadline (限期整改)."""

    __tablename__ = "oversight_rectifications"
    __table_args__ = (UniqueConstraint("evaluation_id", "unit_id"),)

    evaluation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("oversight_evaluations.id"), index=True)
    unit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), index=True)
    unit_name: Mapped[str] = mapped_column(String(200))
    deadline: Mapped[date]
    listed_at: Mapped[datetime] = mapped_column(default=utcnow)


class Objection(UUIDPrimaryKey, Base):
    """A unit's objection (异议) to its draft result, and the bureau's answer."""

    __tablename__ = "oversight_evaluation_objections"

    result_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("oversight_evaluation_results.id"), index=True)
    reason: Mapped[str] = mapped_column(String(2000))
    filed_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    filed_at: Mapped[datetime] = mapped_column(default=utcnow)
    answer: Mapped[str | None] = mapped_column(String(2000))
    answered_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    answered_at: Mapped[datetime | None]
