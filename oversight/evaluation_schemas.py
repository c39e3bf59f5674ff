"""Structs the evaluation API speaks."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any

import msgspec

from yixiang.schemas import Input, Moment, Output

Reason = Annotated[str, msgspec.Meta(min_length=5, max_length=1000, description="5–1000 characters")]


class EvaluationIn(Input):
    year: Annotated[int, msgspec.Meta(ge=2000, le=2100)]
    region_code: str | None = None  # needed only by an officer of several regions' bureaus


class ScoreAdjustmentIn(Input):
    score: Annotated[float, msgspec.Meta(ge=0, le=100)]
    reason: Reason


class AdjustmentDecisionIn(Input):
    approve: bool
    note: Annotated[str, msgspec.Meta(max_length=500)] = ""


class ObjectionIn(Input):
    reason: Annotated[str, msgspec.Meta(min_length=5, max_length=2000)]


class AnswerIn(Input):
    answer: Annotated[str, msgspec.Meta(min_length=2, max_length=2000)]


class AdjustmentOut(Output):
    id: uuid.UUID
    result_id: uuid.UUID
    unit_name: str
    score: float
    reason: str
    status: str
    proposed_by: uuid.UUID
    proposed_at: Moment
    decided_by: uuid.UUID | None
    decided_at: Moment | None
    decision_note: str


class ObjectionOut(Output):
    id: uuid.UUID
    result_id: uuid.UUID
    reason: str
    filed_at: Moment
    answer: str | None
    answered_at: Moment | None


class ResultOut(Output):
    id: uuid.UUID
    unit_id: uuid.UUID
    unit_name: str
    figures: dict[str, Any]
    points: dict[str, float]
    computed_score: float
    adjusted_score: float | None
    adjustment_reason: str
    score: float
    grade: str
    rank: int


class FlagOut(Output):
    instrument_id: uuid.UUID
    instrument_name: str
    unit_id: uuid.UUID
    category_code: str
    usage_rate: float
    open: bool


class RectificationOut(Output):
    unit_id: uuid.UUID
    unit_name: str
    deadline: date
    listed_at: Moment


class EvaluationSummaryOut(Output):
    id: uuid.UUID
    region_code: str
    year: int
    status: str
    status_label: str
    units: int
    opened_at: Moment
    published_at: Moment | None


class EvaluationOut(EvaluationSummaryOut):
    rules: dict[str, Any]
    excellent_quota: int
    results: list[ResultOut]
    flags: list[FlagOut]
    rectifications: list[RectificationOut]
    adjustments: list[AdjustmentOut]
    objections: list[ObjectionOut]


class OwnResultOut(Output):
    """A unit's own result (draft figures before publication) and its objections."""

    evaluation_id: uuid.UUID
    region_code: str
    year: int
    status: str
    status_label: str
    result: ResultOut
    participants: int
    objections: list[ObjectionOut]


class PublicResultOut(Output):
    rank: int
    unit_name: str
    score: float
    grade: str


class PublicEvaluationOut(Output):
    """A published evaluation: unit names, scores and grades only (no personal data)."""

    region_code: str
    year: int
    published_at: Moment
    units: int
    grades: dict[str, int]
    results: list[PublicResultOut]
    rectification: list[str]  # units listed for rectification (限期整改)
