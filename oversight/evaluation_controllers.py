"""HTTP for the yearly evaluation: the science bureau opens, adjusts (four eyes), submits and
publishes; units read their own draft and object; anyone reads a published one."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal
from oversight import evaluation_changes as changes
from oversight import evaluation_runs as runs
from oversight.evaluation import published_evaluation
from oversight.evaluation_errors import EvaluationNotFound
from oversight.evaluation_figures import indicator_figures
from oversight.evaluation_models import EvaluationResult
from oversight.evaluation_schemas import (
    AdjustmentDecisionIn,
    AdjustmentOut,
    AnswerIn,
    EvaluationIn,
    EvaluationOut,
    EvaluationSummaryOut,
    ObjectionIn,
    ObjectionOut,
    OwnResultOut,
    PublicEvaluationOut,
    ScoreAdjustmentIn,
)
from oversight.evaluation_settings import EvaluationSettings
from oversight.evaluation_views import (
    adjustment_out,
    evaluation_out,
    objection_out,
    public_evaluation,
    result_out,
    summary_out,
)

EV = "/evaluations/{evaluation_id:uuid}"


class EvaluationController(Controller):
    path = "/api/v1/oversight"
    tags = ["evaluation"]

    @post(
        "/evaluations",
        summary="The science bureau opens its region's evaluation of a year (绩效评价)",
        status_code=201,
    )
    async def open(
        self,
        data: EvaluationIn,
        principal: Principal,
        db_session: AsyncSession,
        request: Request[Any, Any, Any],
    ) -> EvaluationOut:
        settings = request.app.state.settings
        evaluation = await runs.open_evaluation(
            db_session,
            principal,
            year=data.year,
            region_code=data.region_code,
            rules=EvaluationSettings.of(settings).rules(),
            figures=indicator_figures(settings),
        )
        return await evaluation_out(db_session, evaluation)

    @get("/evaluations", summary="Evaluations of the caller's regions (bureaus; all for the operator)")
    async def index(self, principal: Principal, db_session: AsyncSession) -> list[EvaluationSummaryOut]:
        found = await runs.list_evaluations(db_session, principal)
        counts = await runs.result_counts(db_session, [e.id for e in found])
        return [summary_out(e, counts.get(e.id, 0)) for e in found]

    @get(EV, summary="An evaluation: units, figures, scores, grades, flags, adjustments, objections")
    async def show(
        self, evaluation_id: uuid.UUID, principal: Principal, db_session: AsyncSession
    ) -> EvaluationOut:
        return await evaluation_out(
            db_session, await runs.visible_evaluation(db_session, principal, evaluation_id)
        )

    @post(EV + "/submit", summary="Submit the draft for publication (审定)", status_code=200)
    async def submit(
        self, evaluation_id: uuid.UUID, principal: Principal, db_session: AsyncSession
    ) -> EvaluationOut:
        return await evaluation_out(
            db_session, await runs.transition(db_session, principal, evaluation_id, "submit")
        )

    @post(EV + "/reopen", summary="Back to draft for further adjustments", status_code=200)
    async def reopen(
        self, evaluation_id: uuid.UUID, principal: Principal, db_session: AsyncSession
    ) -> EvaluationOut:
        return await evaluation_out(
            db_session, await runs.transition(db_session, principal, evaluation_id, "reopen")
        )

    @post(EV + "/publish", summary="Publish: the results are frozen and public", status_code=200)
    async def publish(
        self, evaluation_id: uuid.UUID, principal: Principal, db_session: AsyncSession
    ) -> EvaluationOut:
        return await evaluation_out(
            db_session, await runs.transition(db_session, principal, evaluation_id, "publish")
        )

    @post(
        "/evaluation-results/{result_id:uuid}/adjustments",
        summary="Propose a unit's adjusted score with a written reason (another officer decides)",
        status_code=201,
    )
    async def adjust(
        self, result_id: uuid.UUID, data: ScoreAdjustmentIn, principal: Principal, db_session: AsyncSession
    ) -> AdjustmentOut:
        adjustment = await changes.propose_adjustment(
            db_session, principal, result_id, data.score, data.reason
        )
        result = await db_session.get(EvaluationResult, result_id)
        return adjustment_out(adjustment, result.unit_name if result else "")

    @post(
        "/score-adjustments/{adjustment_id:uuid}/decision",
        summary="Another officer of the region approves or rejects an adjustment (four eyes)",
        status_code=200,
    )
    async def decide(
        self,
        adjustment_id: uuid.UUID,
        data: AdjustmentDecisionIn,
        principal: Principal,
        db_session: AsyncSession,
    ) -> AdjustmentOut:
        adjustment = await changes.decide_adjustment(
            db_session, principal, adjustment_id, data.approve, data.note
        )
        result = await db_session.get(EvaluationResult, adjustment.result_id)
        return adjustment_out(adjustment, result.unit_name if result else "")

    @get("/my-evaluation-results", summary="The caller's units' own results, drafts included")
    async def mine(self, principal: Principal, db_session: AsyncSession) -> list[OwnResultOut]:
        rows = await changes.own_results(db_session, principal)
        objections = await changes.objections_of(db_session, [r.id for _, r in rows])
        counts = await runs.result_counts(db_session, [e.id for e, _ in rows])
        return [
            OwnResultOut(
                evaluation_id=e.id,
                region_code=e.region_code,
                year=e.year,
                status=e.status.value,
                status_label=runs.STATUS_LABELS[e.status],
                result=result_out(r),
                participants=counts.get(e.id, 0),
                objections=[objection_out(o) for o in objections if o.result_id == r.id],
            )
            for e, r in rows
        ]

    @post(
        "/evaluation-results/{result_id:uuid}/objections",
        summary="The unit objects to its draft result, with a reason (异议)",
        status_code=201,
    )
    async def object(
        self, result_id: uuid.UUID, data: ObjectionIn, principal: Principal, db_session: AsyncSession
    ) -> ObjectionOut:
        return objection_out(await changes.file_objection(db_session, principal, result_id, data.reason))

    @post(
        "/evaluation-objections/{objection_id:uuid}/answer",
        summary="The science bureau answers an objection",
        status_code=200,
    )
    async def answer(
        self, objection_id: uuid.UUID, data: AnswerIn, principal: Principal, db_session: AsyncSession
    ) -> ObjectionOut:
        return objection_out(await changes.answer_objection(db_session, principal, objection_id, data.answer))


class PublicEvaluationController(Controller):
    path = "/api/v1/public/evaluations"
    tags = ["evaluation"]

    @get(
        "/{region_code:str}/{year:int}",
        summary="A published evaluation, without sign-in: unit names, scores and grades only",
    )
    async def show(
        self, region_code: str, year: Annotated[int, Parameter(ge=1990, le=9999)], db_session: AsyncSession
    ) -> PublicEvaluationOut:
        evaluation = await published_evaluation(db_session, region_code=region_code[:6], year=year)
        if evaluation is None:
            raise EvaluationNotFound("该地区该年度的绩效评价尚未公布")
        return await public_evaluation(db_session, evaluation)
