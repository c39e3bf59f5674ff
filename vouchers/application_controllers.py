"""HTTP routes of voucher applications (申领): a firm applies, an officer of the programme's
region decides; both see the application's steps and documents."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from litestar import Controller, Response, get, post, put
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body, Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal, requires_user
from vouchers import applications
from vouchers.documents import download
from vouchers.models import ApplicationStatus, VoucherApplication, VoucherProgram
from vouchers.schemas import (
    ApplicationEventOut,
    ApplicationIn,
    ApplicationOut,
    ApplicationPage,
    AttachmentOut,
    DecisionIn,
    OpenProgramOut,
)
from yixiang.db import transaction
from yixiang.openapi import files

BASE = "/api/v1/voucher-applications"
ATTACHMENT_TYPES = ("application/pdf", "image/png", "image/jpeg")


@dataclass
class AttachmentForm:
    """The upload form: one ``file`` (what ``wx.uploadFile`` sends)."""

    file: UploadFile


def _out(application: VoucherApplication, program: VoucherProgram) -> ApplicationOut:
    return ApplicationOut(
        id=application.id,
        program_id=program.id,
        program_name=program.name,
        enterprise_id=application.enterprise_id,
        applicant_id=application.applicant_id,
        status=application.status,
        status_text=applications.STATUS_TEXT[application.status],
        requested_fen=application.requested_fen,
        approved_fen=application.approved_fen,
        grant_id=application.grant_id,
        tech_sme_number=application.tech_sme_number,
        contact_name=application.contact_name,
        contact_phone=application.contact_phone,
        purpose=application.purpose,
        submitted_at=application.submitted_at,
        decided_at=application.decided_at,
        decision_reason=application.decision_reason,
    )


async def _full(session: AsyncSession, principal: Principal, application_id: uuid.UUID) -> ApplicationOut:
    application, program = await applications.load_visible(session, principal, application_id)
    out = _out(application, program)
    out.history = [
        ApplicationEventOut(
            action=e.action, actor_id=e.actor_id, reason=e.reason, amount_fen=e.amount_fen, at=e.at
        )
        for e in await applications.history(session, application.id)
    ]
    out.attachments = [
        AttachmentOut(
            id=a.id,
            name=a.name,
            content_type=a.content_type,
            size=a.size,
            sha256=a.sha256,
            uploaded_at=a.uploaded_at,
            url=f"{BASE}/{application.id}/attachments/{a.id}",
        )
        for a in await applications.attachments_of(session, application.id)
    ]
    return out


async def _decide(
    session: AsyncSession,
    principal: Principal,
    application_id: uuid.UUID,
    action: Literal["approve", "return", "reject"],
    data: DecisionIn,
) -> ApplicationOut:
    async with transaction(session):
        await applications.decide(session, principal, application_id, action, data)
        return await _full(session, principal, application_id)


class VoucherApplicationController(Controller):
    path = BASE
    tags = ["vouchers"]
    guards = [requires_user]

    @get("/open-programs", summary="Programmes the caller's firm may apply for now")
    async def open_programs(self, principal: Principal, db_session: AsyncSession) -> list[OpenProgramOut]:
        async with transaction(db_session, read_only=True):
            programs = await applications.open_programs(db_session, principal)
        return [
            OpenProgramOut(
                id=p.id,
                name=p.name,
                region_code=p.region_code,
                coverage_bp=p.coverage_bp,
                per_order_cap_fen=p.per_order_cap_fen,
                per_firm_year_cap_fen=p.per_firm_year_cap_fen,
                valid_from=p.valid_from,
                valid_until=p.valid_until,
                requires_tech_sme=p.requires_tech_sme,
            )
            for p in programs
        ]

    @post("/", summary="Apply for a programme's vouchers (firm admin)")
    async def create(
        self, data: ApplicationIn, principal: Principal, db_session: AsyncSession
    ) -> ApplicationOut:
        async with transaction(db_session):
            application = await applications.apply(db_session, principal, data)
            return await _full(db_session, principal, application.id)

    @get("/", summary="Applications: a firm's own, an officer's region's, all for a platform admin")
    async def index(
        self,
        principal: Principal,
        db_session: AsyncSession,
        status: ApplicationStatus | None = None,
        program_id: uuid.UUID | None = None,
        limit: int = Parameter(query="limit", ge=1, le=100, default=20),
        offset: int = Parameter(query="offset", ge=0, le=1_000_000, default=0),
    ) -> ApplicationPage:
        async with transaction(db_session, read_only=True):
            rows, total = await applications.list_applications(
                db_session, principal, status=status, program_id=program_id, limit=limit, offset=offset
            )
        return ApplicationPage(items=[_out(a, p) for a, p in rows], total=total, limit=limit, offset=offset)

    @get("/{application_id:uuid}", summary="One application with its steps and attachments")
    async def show(
        self, application_id: uuid.UUID, principal: Principal, db_session: AsyncSession
    ) -> ApplicationOut:
        async with transaction(db_session, read_only=True):
            return await _full(db_session, principal, application_id)

    @put("/{application_id:uuid}", summary="Change a returned application and submit it again (firm admin)")
    async def resubmit(
        self, application_id: uuid.UUID, data: ApplicationIn, principal: Principal, db_session: AsyncSession
    ) -> ApplicationOut:
        async with transaction(db_session):
            await applications.resubmit(db_session, principal, application_id, data)
            return await _full(db_session, principal, application_id)

    @post(
        "/{application_id:uuid}/withdraw",
        status_code=200,
        summary="Take back an open application (firm admin)",
    )
    async def withdraw(
        self, application_id: uuid.UUID, principal: Principal, db_session: AsyncSession
    ) -> ApplicationOut:
        async with transaction(db_session):
            await applications.withdraw(db_session, principal, application_id)
            return await _full(db_session, principal, application_id)

    @post(
        "/{application_id:uuid}/approve", status_code=200, summary="Approve an amount: it becomes the grant"
    )
    async def approve(
        self, application_id: uuid.UUID, data: DecisionIn, principal: Principal, db_session: AsyncSession
    ) -> ApplicationOut:
        return await _decide(db_session, principal, application_id, "approve", data)

    @post("/{application_id:uuid}/return", status_code=200, summary="Return for changes, with a reason")
    async def send_back(
        self, application_id: uuid.UUID, data: DecisionIn, principal: Principal, db_session: AsyncSession
    ) -> ApplicationOut:
        return await _decide(db_session, principal, application_id, "return", data)

    @post("/{application_id:uuid}/reject", status_code=200, summary="Reject, with a reason (final)")
    async def reject(
        self, application_id: uuid.UUID, data: DecisionIn, principal: Principal, db_session: AsyncSession
    ) -> ApplicationOut:
        return await _decide(db_session, principal, application_id, "reject", data)

    @post(
        "/{application_id:uuid}/attachments",
        summary="Attach a document (multipart `file`: PDF, PNG or JPEG, at most 5 MB; firm admin)",
        request_max_body_size=applications.MAX_ATTACHMENT_BYTES + 64 * 1024,
    )
    async def attach(
        self,
        application_id: uuid.UUID,
        data: Annotated[AttachmentForm, Body(media_type=RequestEncodingType.MULTI_PART)],
        principal: Principal,
        db_session: AsyncSession,
    ) -> ApplicationOut:
        content = await data.file.read()
        async with transaction(db_session):
            await applications.attach(
                db_session, principal, application_id, data.file.filename or "", content
            )
            return await _full(db_session, principal, application_id)

    @get(
        "/{application_id:uuid}/attachments/{attachment_id:uuid}",
        summary="Download an attachment",
        opt=files(*ATTACHMENT_TYPES),
    )
    async def download(
        self,
        application_id: uuid.UUID,
        attachment_id: uuid.UUID,
        principal: Principal,
        db_session: AsyncSession,
    ) -> Response[bytes]:
        async with transaction(db_session, read_only=True):
            found = await applications.attachment(db_session, principal, application_id, attachment_id)
        return download(found.name, found.content_type, found.data)


ROUTES: list[Any] = [VoucherApplicationController]
