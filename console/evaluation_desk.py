"""The evaluation and complaints at the desks: the science bureau's evaluation runs (units, scores,
grades, flags; adjust, decide, submit, publish; answer objections) and its complaints list
(accept, uphold, reject); a unit's own draft result with its objection form.

Each read and action is the service the API calls (``oversight.evaluation_runs``,
``oversight.evaluation_changes``, ``oversight.complaints``), which keeps each to its region/unit.
"""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request, get, post
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal, requires_role
from accounts.models import STAFF_ROLES, Role
from console.pages import DESK_ROLES, act, as_input, render
from oversight import complaints
from oversight import evaluation_changes as changes
from oversight import evaluation_runs as runs
from oversight.access import covers, science_regions
from oversight.complaint_models import ComplaintStatus
from oversight.complaint_schemas import ComplaintDecisionIn
from oversight.evaluation_errors import ScienceBureauRequired
from oversight.evaluation_figures import indicator_figures
from oversight.evaluation_models import EvaluationResult
from oversight.evaluation_schemas import AnswerIn, EvaluationIn, ObjectionIn, ScoreAdjustmentIn
from oversight.evaluation_settings import EvaluationSettings
from oversight.evaluation_views import evaluation_out
from yixiang.clock import shanghai_today
from yixiang.db import transaction

READERS = requires_role(Role.bureau_officer, Role.platform_admin)
OFFICERS = requires_role(Role.bureau_officer)
STAFF = requires_role(*STAFF_ROLES)
INDICATOR_LABELS = {
    "usage": "使用率",
    "sharing": "共享率",
    "external_fee_income": "对外服务收入",
    "external_users": "对外用户",
    "rating": "服务评价",
    "listed_on_time": "按时入网",
    "sensor_on_time": "按时装传感器",
    "service_info_complete": "服务信息完整",
    "activity": "非闲置",
    "complaints": "投诉扣分",
}
ACTIONS = {"submit": "已提交审定", "reopen": "已退回草稿", "publish": "已公布，结果已冻结并向社会公开"}


@get("/evaluations", summary="Console: the region's yearly evaluations", guards=[READERS])
async def evaluations(
    request: Request[Any, Any, Any], principal: Principal, db_session: AsyncSession
) -> Template:
    async with transaction(db_session, read_only=True):
        found = await runs.list_evaluations(db_session, principal)
    return render(
        request,
        "evaluations.html",
        evaluations=found,
        labels=runs.STATUS_LABELS,
        can_open=principal.has_role(Role.bureau_officer),
        last_year=shanghai_today().year - 1,
    )


@post("/evaluations", summary="Console: open the region's evaluation of a year", guards=[OFFICERS])
async def open_evaluation(
    request: Request[Any, Any, Any], principal: Principal, db_session: AsyncSession
) -> Redirect:
    form = await request.form()
    settings = request.app.state.settings

    async def work() -> tuple[str, str]:
        year = str(form.get("year", "")).strip()
        data = as_input({"year": int(year) if year.isdigit() else 0}, EvaluationIn)
        evaluation = await runs.open_evaluation(
            db_session,
            principal,
            year=data.year,
            region_code=None,
            rules=EvaluationSettings.of(settings).rules(),
            figures=indicator_figures(settings),
        )
        return f"已开启 {evaluation.year} 年度绩效评价", f"/console/evaluations/{evaluation.id}"

    return await act("/console/evaluations", work)


@get(
    "/evaluations/{evaluation_id:uuid}",
    summary="Console: an evaluation run: units, scores, grades, flags",
    guards=[READERS],
)
async def evaluation_page(
    request: Request[Any, Any, Any], evaluation_id: uuid.UUID, principal: Principal, db_session: AsyncSession
) -> Template:
    async with transaction(db_session, read_only=True):
        evaluation = await runs.visible_evaluation(db_session, principal, evaluation_id)
        shown = await evaluation_out(db_session, evaluation)
        try:
            await runs.require_science_bureau(db_session, principal, evaluation.region_code)
            science = True
        except ScienceBureauRequired:
            science = False
    return render(
        request,
        "evaluation.html",
        evaluation=shown,
        science=science,
        officer=evaluation.region_code in principal.regions_where(Role.bureau_officer),
        me=principal.user_id,
        indicator_labels=INDICATOR_LABELS,
        names={r.id: r.unit_name for r in shown.results},
    )


@post(
    "/evaluations/{evaluation_id:uuid}/{action:str}",
    summary="Console: submit, reopen or publish an evaluation",
    guards=[OFFICERS],
)
async def evaluation_action(
    request: Request[Any, Any, Any],
    evaluation_id: uuid.UUID,
    action: str,
    principal: Principal,
    db_session: AsyncSession,
) -> Redirect:
    back = f"/console/evaluations/{evaluation_id}"

    async def work() -> str:
        if action not in runs.TRANSITIONS:
            await runs.visible_evaluation(db_session, principal, evaluation_id)
            return "未知操作"
        await runs.transition(db_session, principal, evaluation_id, action)
        return ACTIONS[action]

    return await act(back, work)


@post(
    "/evaluation-results/{result_id:uuid}/adjust",
    summary="Console: propose a unit's adjusted score with a reason",
    guards=[OFFICERS],
)
async def adjust(
    request: Request[Any, Any, Any], result_id: uuid.UUID, principal: Principal, db_session: AsyncSession
) -> Redirect:
    form = await request.form()

    async def work() -> tuple[str, str]:
        try:
            score = float(str(form.get("score", "")).strip())
        except ValueError:
            score = -1.0
        data = as_input({"score": score, "reason": str(form.get("reason", "")).strip()}, ScoreAdjustmentIn)
        adjustment = await changes.propose_adjustment(
            db_session, principal, result_id, data.score, data.reason
        )
        evaluation_id = await _evaluation_of_result(db_session, adjustment.result_id)
        return "已提出分数调整，须由另一位工作人员审核", f"/console/evaluations/{evaluation_id}"

    return await act("/console/evaluations", work)


async def _evaluation_of_result(session: AsyncSession, result_id: uuid.UUID) -> uuid.UUID:
    result = await session.get(EvaluationResult, result_id)
    assert result is not None
    return result.evaluation_id


@post(
    "/score-adjustments/{adjustment_id:uuid}/{decision:str}",
    summary="Console: approve or reject a proposed adjustment (another officer)",
    guards=[OFFICERS],
)
async def decide_adjustment(
    request: Request[Any, Any, Any],
    adjustment_id: uuid.UUID,
    decision: str,
    principal: Principal,
    db_session: AsyncSession,
) -> Redirect:
    form = await request.form()

    async def work() -> tuple[str, str]:
        adjustment = await changes.decide_adjustment(
            db_session, principal, adjustment_id, decision == "approve", str(form.get("note", ""))[:500]
        )
        back = f"/console/evaluations/{await _evaluation_of_result(db_session, adjustment.result_id)}"
        return ("已批准调整，等次已重新评定" if decision == "approve" else "已驳回调整"), back

    return await act("/console/evaluations", work)


@post(
    "/evaluation-objections/{objection_id:uuid}/answer",
    summary="Console: answer a unit's objection",
    guards=[OFFICERS],
)
async def answer_objection(
    request: Request[Any, Any, Any], objection_id: uuid.UUID, principal: Principal, db_session: AsyncSession
) -> Redirect:
    form = await request.form()

    async def work() -> tuple[str, str]:
        data = as_input({"answer": str(form.get("answer", "")).strip()}, AnswerIn)
        objection = await changes.answer_objection(db_session, principal, objection_id, data.answer)
        return (
            "已答复异议",
            f"/console/evaluations/{await _evaluation_of_result(db_session, objection.result_id)}",
        )

    return await act("/console/evaluations", work)


# --- the unit's side -------------------------------------------------------------------------------
@get("/my-evaluation", summary="Console: the unit's own evaluation results, drafts included", guards=[STAFF])
async def my_evaluation(
    request: Request[Any, Any, Any], principal: Principal, db_session: AsyncSession
) -> Template:
    async with transaction(db_session, read_only=True):
        rows = await changes.own_results(db_session, principal)
        objections = await changes.objections_of(db_session, [r.id for _, r in rows])
    return render(
        request,
        "my_evaluation.html",
        rows=rows,
        objections=objections,
        labels=runs.STATUS_LABELS,
        indicator_labels=INDICATOR_LABELS,
        can_object=principal.has_role(Role.unit_admin),
    )


@post(
    "/evaluation-results/{result_id:uuid}/objection",
    summary="Console: the unit objects to its draft result",
    guards=[STAFF],
)
async def file_objection(
    request: Request[Any, Any, Any], result_id: uuid.UUID, principal: Principal, db_session: AsyncSession
) -> Redirect:
    form = await request.form()

    async def work() -> str:
        data = as_input({"reason": str(form.get("reason", "")).strip()}, ObjectionIn)
        await changes.file_objection(db_session, principal, result_id, data.reason)
        return "已提交异议，请等待科技局答复"

    return await act("/console/my-evaluation", work)


# --- complaints ------------------------------------------------------------------------------------
@get(
    "/complaints",
    summary="Console: complaints of the region (bureau) or about the unit",
    guards=[requires_role(*DESK_ROLES)],
)
async def complaints_page(
    request: Request[Any, Any, Any], principal: Principal, db_session: AsyncSession
) -> Template:
    wanted = request.query_params.get("status", "")
    overdue = request.query_params.get("overdue") == "1"
    status = ComplaintStatus(wanted) if wanted in ComplaintStatus.__members__ else None
    async with transaction(db_session, read_only=True):
        found = await complaints.visible_complaints(db_session, principal, status=status, overdue=overdue)
        views = await complaints.views(db_session, principal, found)
        science = await science_regions(db_session, principal)
    return render(
        request,
        "complaints.html",
        views=views,
        handleable={v.complaint.id for v in views if covers(science, v.complaint.region_code)},
        status=wanted,
        overdue=overdue,
        labels=complaints.STATUS_LABELS,
    )


@post(
    "/complaints/{complaint_id:uuid}/{action:str}",
    summary="Console: accept, uphold or reject a complaint",
    guards=[OFFICERS],
)
async def complaint_action(
    request: Request[Any, Any, Any],
    complaint_id: uuid.UUID,
    action: str,
    principal: Principal,
    db_session: AsyncSession,
) -> Redirect:
    form = await request.form()

    async def work() -> str:
        if action == "accept":
            await complaints.accept(db_session, principal, complaint_id)
            return "已受理"
        data = as_input(
            {"upheld": action == "uphold", "answer": str(form.get("answer", "")).strip()}, ComplaintDecisionIn
        )
        await complaints.decide(db_session, principal, complaint_id, upheld=data.upheld, answer=data.answer)
        return "已认定投诉成立" if data.upheld else "已认定投诉不成立"

    return await act("/console/complaints", work)


ROUTES = [
    evaluations,
    open_evaluation,
    evaluation_page,
    evaluation_action,
    adjust,
    decide_adjustment,
    answer_objection,
    my_evaluation,
    file_objection,
    complaints_page,
    complaint_action,
]
