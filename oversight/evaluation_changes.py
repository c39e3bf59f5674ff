"""Changes to a draft evaluation: score adjustments with a written reason (four eyes: the officer
who proposes one cannot decide it; 杭州's finance bureau co-signs as 会同财政 does in the seed), and
the units' objections (异议) with the science bureau's answers. Units see only their own results.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal
from accounts.models import Role
from oversight.access import bureau_regions
from oversight.evaluation_errors import (
    AdjustmentDecided,
    AdjustmentNotFound,
    AdjustmentPending,
    EvaluationFrozen,
    EvaluationNotFound,
    ObjectionAnswered,
    ObjectionNotFound,
    ResultNotFound,
    SameOfficerAdjustment,
)
from oversight.evaluation_models import (
    AdjustmentStatus,
    Evaluation,
    EvaluationResult,
    EvaluationStatus,
    Objection,
    ScoreAdjustment,
)
from oversight.evaluation_runs import regrade, require_changeable, require_science_bureau, visible_evaluation
from yixiang.db import transaction, utcnow
from yixiang.errors import Forbidden
from yixiang.locking import lock_row


async def _of_result(
    session: AsyncSession,
    principal: Principal,
    result_id: uuid.UUID | None,
    missing: type[ResultNotFound] | type[AdjustmentNotFound] | type[ObjectionNotFound],
) -> tuple[Evaluation, EvaluationResult]:
    """The result and its evaluation (locked) for a reader of the evaluation; ``missing`` else."""
    result = await session.get(EvaluationResult, result_id) if result_id else None
    if result is None:
        raise missing()
    try:
        evaluation = await visible_evaluation(session, principal, result.evaluation_id, lock=True)
    except EvaluationNotFound as exc:
        raise missing() from exc
    return evaluation, result


async def propose_adjustment(
    session: AsyncSession, principal: Principal, result_id: uuid.UUID, score: float, reason: str
) -> ScoreAdjustment:
    async with transaction(session):
        evaluation, result = await _of_result(session, principal, result_id, ResultNotFound)
        await require_science_bureau(session, principal, evaluation.region_code)
        require_changeable(evaluation, EvaluationStatus.draft)
        pending = await session.scalar(
            select(ScoreAdjustment.id).where(
                ScoreAdjustment.result_id == result.id, ScoreAdjustment.status == AdjustmentStatus.proposed
            )
        )
        if pending is not None:
            raise AdjustmentPending("该单位已有一项待审核的分数调整")
        adjustment = ScoreAdjustment(
            result_id=result.id,
            score=round(score, 2),
            reason=reason,
            proposed_by=principal.user_id,
            proposed_at=utcnow(),
        )
        session.add(adjustment)
        await session.flush()
    return adjustment


async def decide_adjustment(
    session: AsyncSession, principal: Principal, adjustment_id: uuid.UUID, approve: bool, note: str
) -> ScoreAdjustment:
    """Another officer of the region's bureaus approves (the score changes, grades are assigned
    again under the 15% cap) or rejects it."""
    async with transaction(session):
        adjustment = await lock_row(session, ScoreAdjustment, adjustment_id)
        evaluation, result = await _of_result(
            session, principal, adjustment.result_id if adjustment else None, AdjustmentNotFound
        )
        assert adjustment is not None
        if evaluation.region_code not in bureau_regions(principal):
            raise Forbidden(required_roles=[Role.bureau_officer.value])
        target = AdjustmentStatus.approved if approve else AdjustmentStatus.rejected
        if adjustment.status == target:
            return adjustment
        if adjustment.status != AdjustmentStatus.proposed:
            raise AdjustmentDecided()
        require_changeable(evaluation, EvaluationStatus.draft)
        if adjustment.proposed_by == principal.user_id:
            raise SameOfficerAdjustment()
        adjustment.status = target
        adjustment.decided_by, adjustment.decided_at, adjustment.decision_note = (
            principal.user_id,
            utcnow(),
            note,
        )
        if approve:
            result.adjusted_score = adjustment.score
            result.adjustment_reason = adjustment.reason
            result.adjusted_by, result.adjustment_approved_by = adjustment.proposed_by, principal.user_id
            await session.flush()
            await regrade(session, evaluation)
    return adjustment


async def adjustments_of(session: AsyncSession, evaluation_id: uuid.UUID) -> list[ScoreAdjustment]:
    rows = await session.scalars(
        select(ScoreAdjustment)
        .join(EvaluationResult, EvaluationResult.id == ScoreAdjustment.result_id)
        .where(EvaluationResult.evaluation_id == evaluation_id)
        .order_by(ScoreAdjustment.proposed_at)
    )
    return list(rows)


async def objections_of(session: AsyncSession, result_ids: list[uuid.UUID]) -> list[Objection]:
    if not result_ids:
        return []
    rows = await session.scalars(
        select(Objection).where(Objection.result_id.in_(result_ids)).order_by(Objection.filed_at)
    )
    return list(rows)


# --- the units' side -------------------------------------------------------------------------------
async def own_results(
    session: AsyncSession, principal: Principal
) -> list[tuple[Evaluation, EvaluationResult]]:
    """The caller's units' results in every evaluation, drafts included (their own only)."""
    units = principal.unit_ids
    if not units:
        return []
    rows = await session.execute(
        select(Evaluation, EvaluationResult)
        .join(EvaluationResult, EvaluationResult.evaluation_id == Evaluation.id)
        .where(EvaluationResult.unit_id.in_(units))
        .order_by(Evaluation.year.desc(), EvaluationResult.unit_name)
    )
    return [(e, r) for e, r in rows.all()]


async def file_objection(
    session: AsyncSession, principal: Principal, result_id: uuid.UUID, reason: str
) -> Objection:
    """The unit's admin objects to its result before publication."""
    async with transaction(session):
        result = await session.get(EvaluationResult, result_id)
        if result is None or result.unit_id not in principal.unit_ids:
            raise ResultNotFound()
        principal.require_member(result.unit_id, Role.unit_admin)
        evaluation = await session.get(Evaluation, result.evaluation_id)
        assert evaluation is not None
        await lock_row(session, Evaluation, evaluation.id)
        if evaluation.status == EvaluationStatus.published:
            raise EvaluationFrozen()
        objection = Objection(
            result_id=result.id, reason=reason, filed_by=principal.user_id, filed_at=utcnow()
        )
        session.add(objection)
        await session.flush()
    return objection


async def answer_objection(
    session: AsyncSession, principal: Principal, objection_id: uuid.UUID, answer: str
) -> Objection:
    async with transaction(session):
        objection = await lock_row(session, Objection, objection_id)
        evaluation, _ = await _of_result(
            session, principal, objection.result_id if objection else None, ObjectionNotFound
        )
        assert objection is not None
        await require_science_bureau(session, principal, evaluation.region_code)
        if objection.answered_at is not None:
            if objection.answer == answer:
                return objection
            raise ObjectionAnswered()
        require_changeable(evaluation, EvaluationStatus.draft, EvaluationStatus.under_review)
        objection.answer, objection.answered_by, objection.answered_at = answer, principal.user_id, utcnow()
    return objection
