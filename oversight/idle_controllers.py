"""HTTP for idle escalation: the lists for units and bureaus, explanations and decisions."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, get, post
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal
from oversight import idle
from oversight.models import IdleCase, IdleExplanation
from oversight.months import idle_months
from oversight.schemas import ExplanationDecisionIn, ExplanationIn, ExplanationOut, IdleCaseOut
from yixiang.db import utcnow


def explanation_out(e: IdleExplanation) -> ExplanationOut:
    return ExplanationOut(
        id=e.id,
        case_id=e.case_id,
        reason=e.reason.value,
        text=e.text,
        filed_by=e.filed_by,
        filed_at=e.filed_at,
        decision=e.decision.value,
        decided_at=e.decided_at,
        decision_note=e.decision_note,
    )


def case_out(case: IdleCase, name: str, explanations: list[IdleExplanation]) -> IdleCaseOut:
    return IdleCaseOut(
        id=case.id,
        instrument_id=case.instrument_id,
        instrument_name=name,
        unit_id=case.unit_id,
        region_code=case.region_code,
        idle_since=case.idle_since,
        months=idle_months(case.idle_since, case.cleared_at or utcnow()),
        level=case.level,
        source=case.source.value,
        reminded_at=case.reminded_at,
        transfer_listed_at=case.transfer_listed_at,
        criticism_listed_at=case.criticism_listed_at,
        excused=case.excused,
        cleared_at=case.cleared_at,
        explanations=[explanation_out(e) for e in explanations],
    )


class IdleController(Controller):
    path = "/api/v1/oversight"
    tags = ["oversight"]

    @get("/idle", summary="Idle instruments: the caller's units', or its region's for a bureau")
    async def index(
        self,
        principal: Principal,
        db_session: AsyncSession,
        level: Annotated[
            int | None, Parameter(query="level", ge=1, le=6, description="at least this step: 1, 3 or 6")
        ] = None,
    ) -> list[IdleCaseOut]:
        return [case_out(*row) for row in await idle.visible_cases(db_session, principal, level)]

    @post(
        "/idle/{case_id:uuid}/explanations",
        summary="The unit explains an idle instrument (说明)",
        status_code=201,
    )
    async def explain(
        self, case_id: uuid.UUID, data: ExplanationIn, principal: Principal, db_session: AsyncSession
    ) -> ExplanationOut:
        return explanation_out(await idle.explain(db_session, principal, case_id, data.reason, data.text))

    @post(
        "/idle-explanations/{explanation_id:uuid}/decision",
        summary="The region's bureau accepts (正当理由) or rejects an explanation",
        status_code=200,
    )
    async def decide(
        self,
        explanation_id: uuid.UUID,
        data: ExplanationDecisionIn,
        principal: Principal,
        db_session: AsyncSession,
    ) -> ExplanationOut:
        return explanation_out(
            await idle.decide(db_session, principal, explanation_id, data.accept, data.note)
        )
