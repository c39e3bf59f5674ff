"""Performance evaluation (绩效评价): what other parts read of it.

Rewards (insurance subsidy for 优秀/良好), purchase review (the 30% flag) and the yearly report
read published results through these functions only; the evaluation's workflow is in
``oversight.evaluation_runs``, its arithmetic in ``oversight.evaluation_scoring``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from oversight.evaluation_models import (
    Evaluation,
    EvaluationResult,
    EvaluationStatus,
    Grade,
    UsageFlag,
)

__all__ = [
    "Grade",
    "LowUsageFlag",
    "PublishedResult",
    "low_usage_flags",
    "published_evaluation",
    "published_grades",
    "published_results",
]


@dataclass(frozen=True)
class LowUsageFlag:
    """An open flag: a generic instrument of the unit used below the threshold in ``year``."""

    instrument_id: uuid.UUID
    instrument_name: str
    unit_id: uuid.UUID
    category_code: str
    year: int
    usage_rate: float


@dataclass(frozen=True)
class PublishedResult:
    """One unit's published result: aggregate data only (no personal data)."""

    unit_id: uuid.UUID
    unit_name: str
    score: float
    grade: Grade
    rank: int


async def published_evaluation(session: AsyncSession, *, region_code: str, year: int) -> Evaluation | None:
    return await session.scalar(
        select(Evaluation).where(
            Evaluation.region_code == region_code,
            Evaluation.year == year,
            Evaluation.status == EvaluationStatus.published,
        )
    )


async def published_results(session: AsyncSession, *, region_code: str, year: int) -> list[PublishedResult]:
    """The units of the region's published evaluation of ``year``, best first; [] when unpublished."""
    evaluation = await published_evaluation(session, region_code=region_code, year=year)
    if evaluation is None:
        return []
    rows = await session.scalars(
        select(EvaluationResult)
        .where(EvaluationResult.evaluation_id == evaluation.id)
        .order_by(EvaluationResult.rank)
    )
    return [
        PublishedResult(
            unit_id=r.unit_id, unit_name=r.unit_name, score=r.final_score, grade=r.grade, rank=r.rank
        )
        for r in rows
    ]


async def published_grades(session: AsyncSession, *, region_code: str, year: int) -> dict[uuid.UUID, Grade]:
    """unit id → grade in the region's published evaluation of ``year``; {} when unpublished."""
    return {r.unit_id: r.grade for r in await published_results(session, region_code=region_code, year=year)}


async def low_usage_flags(session: AsyncSession, *, unit_id: uuid.UUID) -> list[LowUsageFlag]:
    """The unit's open 30% flags (from published evaluations not superseded by a later one)."""
    rows = await session.scalars(
        select(UsageFlag)
        .join(Evaluation, Evaluation.id == UsageFlag.evaluation_id)
        .where(
            UsageFlag.unit_id == unit_id,
            UsageFlag.superseded_at.is_(None),
            Evaluation.status == EvaluationStatus.published,
        )
        .order_by(UsageFlag.year.desc(), UsageFlag.category_code, UsageFlag.instrument_name)
    )
    return [
        LowUsageFlag(
            instrument_id=f.instrument_id,
            instrument_name=f.instrument_name,
            unit_id=f.unit_id,
            category_code=f.category_code,
            year=f.year,
            usage_rate=f.usage_rate,
        )
        for f in rows
    ]
