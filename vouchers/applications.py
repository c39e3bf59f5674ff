"""Voucher applications (创新券申领, seed 004): a firm applies for a programme's vouchers with its
details, requested amount and documents; an officer of the programme's region decides — approve
with an amount (which becomes the firm's grant in the same transaction), return for changes, or
reject, with reasons. Every step is recorded and announced to the other side.

States: submitted → approved | returned | rejected | withdrawn; returned → submitted (the firm
edits and submits again) | withdrawn. A firm has at most one open (submitted or returned)
application per programme.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from accounts.auth import Principal
from accounts.models import Organization, Role
from vouchers.access import officer_of_region, require_program_officer
from vouchers.checkout import within_caller_transaction
from vouchers.documents import MAX_DOCUMENT_BYTES, checked_document
from vouchers.errors import (
    ApplicationInvalid,
    ApplicationNotFound,
    ApplicationOpen,
    ApplicationStateInvalid,
    AttachmentInvalid,
    BudgetExceeded,
    BureauRequired,
    FirmAdminRequired,
    FirmNotEligible,
    ProgramClosed,
    ProgramNotFound,
)
from vouchers.grants import add_grant, firm_problem
from vouchers.models import (
    ApplicationAttachment,
    ApplicationEvent,
    ApplicationStatus,
    ProgramStatus,
    VoucherApplication,
    VoucherProgram,
)
from vouchers.programs import budget_available_fen, lock_program
from vouchers.schemas import ApplicationIn, DecisionIn
from yixiang.clock import shanghai_date
from yixiang.db import utcnow
from yixiang.locking import locked
from yixiang.outbox import emit

OPEN = (ApplicationStatus.submitted, ApplicationStatus.returned)
STATUS_TEXT = {
    ApplicationStatus.submitted: "待审核",
    ApplicationStatus.returned: "已退回修改",
    ApplicationStatus.approved: "已批准",
    ApplicationStatus.rejected: "不予批准",
    ApplicationStatus.withdrawn: "已撤回",
}
DECIDED_TOPIC = "voucher.application_decided"  # to the applicant
SUBMITTED_TOPIC = "voucher.application_submitted"  # for the region's officers
WITHDRAWN_TOPIC = "voucher.application_withdrawn"  # for the region's officers
MAX_ATTACHMENTS = 8
MAX_ATTACHMENT_BYTES = MAX_DOCUMENT_BYTES


def firm_admin_of(principal: Principal, enterprise_id: uuid.UUID) -> bool:
    return enterprise_id in principal.orgs_where(Role.enterprise_admin)


def can_see(principal: Principal, application: VoucherApplication, program: VoucherProgram) -> bool:
    return (
        principal.is_platform_admin
        or application.enterprise_id in principal.enterprise_ids
        or officer_of_region(principal, program.region_code)
    )


async def load_visible(
    session: AsyncSession, principal: Principal, application_id: uuid.UUID, *, lock: bool = False
) -> tuple[VoucherApplication, VoucherProgram]:
    query = select(VoucherApplication).where(VoucherApplication.id == application_id)
    # A locked read refreshes the row (another transaction may have changed it while we waited).
    application = await session.scalar(
        locked(query).execution_options(populate_existing=True) if lock else query
    )
    program = await session.get(VoucherProgram, application.program_id) if application else None
    if application is None or program is None or not can_see(principal, application, program):
        raise ApplicationNotFound()
    return application, program


async def _record(
    session: AsyncSession,
    program: VoucherProgram,
    application: VoucherApplication,
    action: str,
    actor_id: uuid.UUID,
    now: datetime,
    *,
    reason: str = "",
    amount_fen: int | None = None,
) -> None:
    session.add(
        ApplicationEvent(
            application_id=application.id,
            action=action,
            actor_id=actor_id,
            reason=reason,
            amount_fen=amount_fen,
            at=now,
        )
    )
    topic = {"submit": SUBMITTED_TOPIC, "resubmit": SUBMITTED_TOPIC, "withdraw": WITHDRAWN_TOPIC}.get(
        action, DECIDED_TOPIC
    )
    step = await session.scalar(
        select(func.count())
        .select_from(ApplicationEvent)
        .where(ApplicationEvent.application_id == application.id)
    )
    await emit(
        session,
        topic,
        {
            "application_id": application.id,
            "program_id": application.program_id,
            "enterprise_id": application.enterprise_id,
            "user_id": application.applicant_id,
            "action": action,
            "status": application.status.value,
            "status_text": STATUS_TEXT[application.status],
            "program_name": program.name,
            "amount_fen": amount_fen,
            "reason": reason,
        },
        key=f"voucher-application:{application.id}:{step}",
    )
    await session.flush()


def _require_open_program(program: VoucherProgram) -> None:
    if program.status != ProgramStatus.active or shanghai_date(utcnow()) > program.valid_until:
        raise ProgramClosed()


async def _eligible_firm(session: AsyncSession, program: VoucherProgram, enterprise_id: uuid.UUID) -> None:
    problem = firm_problem(program, await session.get(Organization, enterprise_id))
    if problem:
        raise FirmNotEligible(problem[1], reason=problem[0], enterprise_id=str(enterprise_id))


def _fill(application: VoucherApplication, program: VoucherProgram, data: ApplicationIn) -> None:
    if program.requires_tech_sme and not data.tech_sme_number.strip():
        raise FirmNotEligible(
            "本批次仅面向科技型中小企业，请填写入库登记编号", reason="tech_sme_number_required"
        )
    application.requested_fen = data.requested_fen
    application.tech_sme_number = data.tech_sme_number.strip()
    application.contact_name = data.contact_name.strip()
    application.contact_phone = data.contact_phone.strip()
    application.purpose = data.purpose


async def apply(session: AsyncSession, principal: Principal, data: ApplicationIn) -> VoucherApplication:
    """A firm admin applies for vouchers of a programme that covers the firm's region."""
    async with within_caller_transaction(session):
        if not firm_admin_of(principal, data.enterprise_id):
            raise FirmAdminRequired()
        # Locked: two submissions racing for the same firm and programme leave one open application.
        program = await lock_program(session, data.program_id)
        if program is None:
            raise ProgramNotFound()
        _require_open_program(program)
        await _eligible_firm(session, program, data.enterprise_id)
        if data.requested_fen > program.per_firm_year_cap_fen:
            raise ApplicationInvalid(
                "申领金额超过本批次每家企业的年度上限",
                reason="over_firm_cap",
                cap_fen=program.per_firm_year_cap_fen,
            )
        existing = await session.scalar(
            select(VoucherApplication.id).where(
                VoucherApplication.program_id == program.id,
                VoucherApplication.enterprise_id == data.enterprise_id,
                VoucherApplication.status.in_(OPEN),
            )
        )
        if existing is not None:
            raise ApplicationOpen(application_id=str(existing))
        now = utcnow()
        application = VoucherApplication(
            id=uuid.uuid4(),
            program_id=program.id,
            enterprise_id=data.enterprise_id,
            applicant_id=principal.user_id,
            status=ApplicationStatus.submitted,
            submitted_at=now,
        )
        _fill(application, program, data)
        session.add(application)
        await session.flush()
        await _record(session, program, application, "submit", principal.user_id, now)
        return application


async def resubmit(
    session: AsyncSession, principal: Principal, application_id: uuid.UUID, data: ApplicationIn
) -> VoucherApplication:
    """The firm changes a returned application and submits it again."""
    async with within_caller_transaction(session):
        application, program = await load_visible(session, principal, application_id, lock=True)
        if not firm_admin_of(principal, application.enterprise_id):
            raise FirmAdminRequired()
        if (data.program_id, data.enterprise_id) != (application.program_id, application.enterprise_id):
            raise ApplicationInvalid(
                "不能更换申领的批次或企业，请撤回后重新申领", reason="program_or_firm_changed"
            )
        if application.status != ApplicationStatus.returned:
            raise ApplicationStateInvalid(status=application.status.value, allowed=["returned"])
        _require_open_program(program)
        _fill(application, program, data)
        now = utcnow()
        application.status, application.submitted_at = ApplicationStatus.submitted, now
        await _record(session, program, application, "resubmit", principal.user_id, now)
        return application


async def withdraw(
    session: AsyncSession, principal: Principal, application_id: uuid.UUID
) -> VoucherApplication:
    async with within_caller_transaction(session):
        application, program = await load_visible(session, principal, application_id, lock=True)
        if not firm_admin_of(principal, application.enterprise_id):
            raise FirmAdminRequired()
        if application.status not in OPEN:
            raise ApplicationStateInvalid(status=application.status.value, allowed=[s.value for s in OPEN])
        application.status = ApplicationStatus.withdrawn
        await _record(session, program, application, "withdraw", principal.user_id, utcnow())
        return application


async def decide(
    session: AsyncSession,
    principal: Principal,
    application_id: uuid.UUID,
    action: Literal["approve", "return", "reject"],
    data: DecisionIn,
) -> VoucherApplication:
    """An officer of the programme's region approves (an amount, at most the request, within the
    budget: it becomes the grant), returns for changes, or rejects; returning and rejecting need a
    reason the firm reads."""
    async with within_caller_transaction(session):
        _, program = await load_visible(session, principal, application_id)
        if not officer_of_region(principal, program.region_code):
            raise BureauRequired()
        program = require_program_officer(principal, await lock_program(session, program.id))
        application, _ = await load_visible(session, principal, application_id, lock=True)
        if application.status != ApplicationStatus.submitted:
            raise ApplicationStateInvalid(status=application.status.value, allowed=["submitted"])
        reason = data.reason.strip()
        now = utcnow()
        if action == "approve":
            amount = data.approved_fen if data.approved_fen is not None else application.requested_fen
            if amount > application.requested_fen:
                raise ApplicationInvalid("批准金额不能高于申领金额", reason="over_requested")
            _require_open_program(program)
            await _eligible_firm(session, program, application.enterprise_id)
            available = await budget_available_fen(session, program.id)
            if amount > available:
                raise BudgetExceeded(available_fen=available, requested_fen=amount)
            grant = await add_grant(
                session,
                program,
                application.enterprise_id,
                amount,
                reason or "创新券申领批准",
                f"application:{application.id}",
                principal.user_id,
            )
            application.status, application.approved_fen, application.grant_id = (
                ApplicationStatus.approved,
                amount,
                grant.id,
            )
        else:
            if not reason:
                raise ApplicationInvalid("退回或不予批准时请写明理由", reason="reason_required")
            application.status = (
                ApplicationStatus.returned if action == "return" else ApplicationStatus.rejected
            )
        application.decided_by, application.decided_at, application.decision_reason = (
            principal.user_id,
            now,
            reason,
        )
        await _record(
            session,
            program,
            application,
            action,
            principal.user_id,
            now,
            reason=reason,
            amount_fen=application.approved_fen,
        )
        return application


async def attach(
    session: AsyncSession,
    principal: Principal,
    application_id: uuid.UUID,
    name: str,
    data: bytes,
) -> ApplicationAttachment:
    async with within_caller_transaction(session):
        application, _ = await load_visible(session, principal, application_id, lock=True)
        if not firm_admin_of(principal, application.enterprise_id):
            raise FirmAdminRequired()
        if application.status not in OPEN:
            raise ApplicationStateInvalid(status=application.status.value, allowed=[s.value for s in OPEN])
        document = checked_document(name, data)
        count = await session.scalar(
            select(func.count())
            .select_from(ApplicationAttachment)
            .where(ApplicationAttachment.application_id == application.id)
        )
        if (count or 0) >= MAX_ATTACHMENTS:
            raise AttachmentInvalid(f"每份申领最多 {MAX_ATTACHMENTS} 个附件", reason="count")
        attachment = ApplicationAttachment(
            id=uuid.uuid4(),
            application_id=application.id,
            name=document.name,
            content_type=document.content_type,
            size=document.size,
            sha256=document.sha256,
            data=document.data,
            uploaded_by=principal.user_id,
        )
        session.add(attachment)
        await session.flush()
        return attachment


async def attachment(
    session: AsyncSession, principal: Principal, application_id: uuid.UUID, attachment_id: uuid.UUID
) -> ApplicationAttachment:
    await load_visible(session, principal, application_id)
    found = await session.get(ApplicationAttachment, attachment_id)
    if found is None or found.application_id != application_id:
        raise ApplicationNotFound("未找到该附件")
    return found


async def list_applications(
    session: AsyncSession,
    principal: Principal,
    *,
    status: ApplicationStatus | None,
    program_id: uuid.UUID | None,
    limit: int,
    offset: int,
) -> tuple[list[tuple[VoucherApplication, VoucherProgram]], int]:
    """A firm's own applications; an officer's region's; everything for a platform admin."""
    query = select(VoucherApplication, VoucherProgram).join(
        VoucherProgram, VoucherProgram.id == VoucherApplication.program_id
    )
    if not principal.is_platform_admin:
        regions = principal.regions_where(Role.bureau_officer)
        query = query.where(
            VoucherApplication.enterprise_id.in_(principal.enterprise_ids)
            | VoucherProgram.region_code.in_(regions)
        )
    if status is not None:
        query = query.where(VoucherApplication.status == status)
    if program_id is not None:
        query = query.where(VoucherApplication.program_id == program_id)
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    rows = await session.execute(
        query.order_by(VoucherApplication.submitted_at.desc(), VoucherApplication.id)
        .limit(limit)
        .offset(offset)
    )
    return [(a, p) for a, p in rows], total or 0


async def history(session: AsyncSession, application_id: uuid.UUID) -> list[ApplicationEvent]:
    rows = await session.scalars(
        select(ApplicationEvent)
        .where(ApplicationEvent.application_id == application_id)
        .order_by(ApplicationEvent.id)
    )
    return list(rows)


async def attachments_of(session: AsyncSession, application_id: uuid.UUID) -> list[ApplicationAttachment]:
    """The attachments' descriptions (their bytes are not read)."""
    rows = await session.scalars(
        select(ApplicationAttachment)
        .options(defer(ApplicationAttachment.data))
        .where(ApplicationAttachment.application_id == application_id)
        .order_by(ApplicationAttachment.uploaded_at)
    )
    return list(rows)


async def open_programs(session: AsyncSession, principal: Principal) -> list[VoucherProgram]:
    """The active programmes the caller's firms may apply for (their region, not past)."""
    firms = [
        firm
        for firm_id in sorted(principal.orgs_where(Role.enterprise_admin, Role.researcher))
        if (firm := await session.get(Organization, firm_id)) is not None
    ]
    today = shanghai_date(utcnow())
    programs = await session.scalars(
        select(VoucherProgram)
        .where(VoucherProgram.status == ProgramStatus.active, VoucherProgram.valid_until >= today)
        .order_by(VoucherProgram.valid_until, VoucherProgram.id)
    )
    return [p for p in programs if any(firm_problem(p, firm) is None for firm in firms)]
