"""HTTP for complaints: file, list, read; the science bureau accepts and decides."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal
from oversight import complaints
from oversight.complaint_models import Complaint, ComplaintStatus
from oversight.complaint_schemas import ComplaintDecisionIn, ComplaintIn, ComplaintOut
from oversight.evaluation_settings import ComplaintSettings


def complaint_out(view: complaints.ComplaintView) -> ComplaintOut:
    c = view.complaint
    return ComplaintOut(
        id=c.id,
        status=c.status.value,
        status_label=complaints.STATUS_LABELS[c.status],
        text=c.text,
        unit_id=c.unit_id,
        unit_name=view.unit_name,
        instrument_id=c.instrument_id,
        instrument_name=view.instrument_name,
        booking_id=c.booking_id,
        booking_number=view.booking_number,
        region_code=c.region_code,
        filed_at=c.filed_at,
        deadline=c.deadline,
        overdue=view.overdue,
        accepted_at=c.accepted_at,
        decided_at=c.decided_at,
        answer=c.answer,
        complainant=view.complainant,
        firm=view.firm,
    )


async def _one(session: AsyncSession, principal: Principal, complaint: Complaint) -> ComplaintOut:
    [view] = await complaints.views(session, principal, [complaint])
    return complaint_out(view)


class ComplaintController(Controller):
    path = "/api/v1/complaints"
    tags = ["complaints"]

    @post("/", summary="File a complaint about a booking of yours or a provider unit (投诉)", status_code=201)
    async def file(
        self,
        data: ComplaintIn,
        principal: Principal,
        db_session: AsyncSession,
        request: Request[Any, Any, Any],
    ) -> ComplaintOut:
        complaint = await complaints.file_complaint(
            db_session,
            principal,
            text=data.text,
            booking_id=data.booking_id,
            unit_id=data.unit_id,
            enterprise_id=data.enterprise_id,
            handling_working_days=ComplaintSettings.of(request.app.state.settings).handling_working_days,
        )
        return await _one(db_session, principal, complaint)

    @get("/", summary="Complaints: yours, your firm's, about your unit, or your region's (bureau)")
    async def index(
        self,
        principal: Principal,
        db_session: AsyncSession,
        status: Annotated[ComplaintStatus | None, Parameter(query="status")] = None,
        overdue: Annotated[bool, Parameter(query="overdue", description="open past their deadline")] = False,
    ) -> list[ComplaintOut]:
        found = await complaints.visible_complaints(db_session, principal, status=status, overdue=overdue)
        return [complaint_out(v) for v in await complaints.views(db_session, principal, found)]

    @get("/{complaint_id:uuid}", summary="One complaint: its status and the bureau's answer")
    async def show(
        self, complaint_id: uuid.UUID, principal: Principal, db_session: AsyncSession
    ) -> ComplaintOut:
        return await _one(
            db_session, principal, await complaints.visible_complaint(db_session, principal, complaint_id)
        )

    @post(
        "/{complaint_id:uuid}/accept",
        summary="The region's science bureau takes it up (受理)",
        status_code=200,
    )
    async def accept(
        self, complaint_id: uuid.UUID, principal: Principal, db_session: AsyncSession
    ) -> ComplaintOut:
        return await _one(db_session, principal, await complaints.accept(db_session, principal, complaint_id))

    @post(
        "/{complaint_id:uuid}/decision",
        summary="The science bureau upholds or rejects it, with its reasons",
        status_code=200,
    )
    async def decide(
        self,
        complaint_id: uuid.UUID,
        data: ComplaintDecisionIn,
        principal: Principal,
        db_session: AsyncSession,
    ) -> ComplaintOut:
        complaint = await complaints.decide(
            db_session, principal, complaint_id, upheld=data.upheld, answer=data.answer
        )
        return await _one(db_session, principal, complaint)
