"""The evaluation as the API and the console show it (built from the stored rows only)."""

from __future__ import annotations

from collections import Counter

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from oversight.evaluation_changes import adjustments_of, objections_of
from oversight.evaluation_models import (
    Evaluation,
    EvaluationResult,
    EvaluationStatus,
    Grade,
    Objection,
    Rectification,
    ScoreAdjustment,
    UsageFlag,
)
from oversight.evaluation_runs import STATUS_LABELS, results_of
from oversight.evaluation_schemas import (
    AdjustmentOut,
    EvaluationOut,
    EvaluationSummaryOut,
    FlagOut,
    ObjectionOut,
    PublicEvaluationOut,
    PublicResultOut,
    RectificationOut,
    ResultOut,
)
from oversight.evaluation_scoring import Rules, excellent_quota


def result_out(r: EvaluationResult) -> ResultOut:
    return ResultOut(
        id=r.id,
        unit_id=r.unit_id,
        unit_name=r.unit_name,
        figures=r.figures,
        points=r.parts,
        computed_score=r.score,
        adjusted_score=r.adjusted_score,
        adjustment_reason=r.adjustment_reason,
        score=r.final_score,
        grade=r.grade.value,
        rank=r.rank,
    )


def objection_out(o: Objection) -> ObjectionOut:
    return ObjectionOut(
        id=o.id,
        result_id=o.result_id,
        reason=o.reason,
        filed_at=o.filed_at,
        answer=o.answer,
        answered_at=o.answered_at,
    )


def adjustment_out(a: ScoreAdjustment, unit_name: str) -> AdjustmentOut:
    return AdjustmentOut(
        id=a.id,
        result_id=a.result_id,
        unit_name=unit_name,
        score=a.score,
        reason=a.reason,
        status=a.status.value,
        proposed_by=a.proposed_by,
        proposed_at=a.proposed_at,
        decided_by=a.decided_by,
        decided_at=a.decided_at,
        decision_note=a.decision_note,
    )


def summary_out(e: Evaluation, units: int) -> EvaluationSummaryOut:
    return EvaluationSummaryOut(
        id=e.id,
        region_code=e.region_code,
        year=e.year,
        status=e.status.value,
        status_label=STATUS_LABELS[e.status],
        units=units,
        opened_at=e.opened_at,
        published_at=e.published_at,
    )


async def evaluation_out(session: AsyncSession, e: Evaluation) -> EvaluationOut:
    results = await results_of(session, e.id)
    names = {r.id: r.unit_name for r in results}
    flags = await session.scalars(
        select(UsageFlag)
        .where(UsageFlag.evaluation_id == e.id)
        .order_by(UsageFlag.usage_rate, UsageFlag.instrument_name)
    )
    rectifications = await session.scalars(
        select(Rectification).where(Rectification.evaluation_id == e.id).order_by(Rectification.unit_name)
    )
    published = e.status == EvaluationStatus.published
    return EvaluationOut(
        **msgspec.structs.asdict(summary_out(e, len(results))),
        rules=e.rules,
        excellent_quota=excellent_quota(len(results), Rules.from_dict(e.rules)),
        results=[result_out(r) for r in results],
        flags=[
            FlagOut(
                instrument_id=f.instrument_id,
                instrument_name=f.instrument_name,
                unit_id=f.unit_id,
                category_code=f.category_code,
                usage_rate=f.usage_rate,
                open=published and f.superseded_at is None,
            )
            for f in flags
        ],
        rectifications=[
            RectificationOut(
                unit_id=r.unit_id, unit_name=r.unit_name, deadline=r.deadline, listed_at=r.listed_at
            )
            for r in rectifications
        ],
        adjustments=[
            adjustment_out(a, names.get(a.result_id, "")) for a in await adjustments_of(session, e.id)
        ],
        objections=[objection_out(o) for o in await objections_of(session, list(names))],
    )


def public_out(e: Evaluation, results: list[EvaluationResult], rectified: list[str]) -> PublicEvaluationOut:
    assert e.published_at is not None
    counts = Counter(r.grade for r in results)
    return PublicEvaluationOut(
        region_code=e.region_code,
        year=e.year,
        published_at=e.published_at,
        units=len(results),
        grades={g.value: counts.get(g, 0) for g in Grade},
        results=[
            PublicResultOut(rank=r.rank, unit_name=r.unit_name, score=r.final_score, grade=r.grade.value)
            for r in results
        ],
        rectification=rectified,
    )


async def public_evaluation(session: AsyncSession, e: Evaluation) -> PublicEvaluationOut:
    results = await results_of(session, e.id)
    rectified = await session.scalars(
        select(Rectification.unit_name)
        .where(Rectification.evaluation_id == e.id)
        .order_by(Rectification.unit_name)
    )
    return public_out(e, results, list(rectified))
