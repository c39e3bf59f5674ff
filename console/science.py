"""The science bureau's desk: voucher programmes (list, create), a programme's grants (grant a firm
an amount), and the firms' applications (approve with an amount, return or reject with a reason).

Each read and action is the voucher service the API calls (``vouchers.programs``,
``vouchers.grants``, ``vouchers.wallet``, ``vouchers.applications``), which keeps a bureau to its
region. A form carries a key made when the page was drawn, so a form sent twice creates once (the
services' idempotency keys, as the API's ``Idempotency-Key``).
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any, Literal
from urllib.parse import quote

from litestar import Request, Response, get, post
from litestar.response import Redirect, Template
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal, requires_role
from accounts.models import Organization, Role
from console.names import org_names
from console.pages import act, as_input, render
from console.tables import Column, read_table
from vouchers import applications, wallet
from vouchers import grants as grant_service
from vouchers import programs as program_service
from vouchers.models import ApplicationStatus
from vouchers.rules import yuan_to_fen
from vouchers.schemas import DecisionIn, GrantIn, ProgramIn
from yixiang.clock import shanghai_today
from yixiang.db import transaction
from yixiang.errors import InvalidInput

READERS = requires_role(Role.bureau_officer, Role.platform_admin)
OFFICERS = requires_role(Role.bureau_officer)
APPLICATION_COLUMNS = (
    Column("submitted", "提交时间"),
    Column("enterprise", "企业"),
    Column("program", "创新券项目"),
    Column("requested", "申请金额（元）"),
    Column("status", "状态"),
)
STEP_LABELS = {
    "submit": "提交",
    "resubmit": "修改后重新提交",
    "withdraw": "撤回",
    "approve": "批准",
    "return": "退回修改",
    "reject": "不予批准",
}
DECISIONS = {"approve": "已批准，额度已发放", "return": "已退回企业修改", "reject": "已不予批准"}


def _fen(form: Any, field: str, label: str, *, required: bool = True) -> int | None:
    text = str(form.get(field, "")).strip()
    if not text and not required:
        return None
    try:
        return yuan_to_fen(text)
    except ValueError as exc:
        raise InvalidInput(f"{label}应为金额（元，最多两位小数）", field=field) from exc


def _key(principal: Principal, form: Any) -> str:
    nonce = str(form.get("form_key", "")).strip()[:64]
    return f"{principal.user_id}:{nonce}" if nonce else uuid.uuid4().hex


@get("/programs", summary="Console: the region's voucher programmes", guards=[READERS])
async def programs(
    request: Request[Any, Any, Any], principal: Principal, db_session: AsyncSession
) -> Template:
    async with transaction(db_session, read_only=True):
        found = await wallet.list_programs(db_session, principal)
    year = shanghai_today().year
    return render(
        request,
        "programs.html",
        programs=found,
        can_create=principal.has_role(Role.bureau_officer),
        form_key=uuid.uuid4().hex,
        year=year,
        valid_from=date(year, 1, 1).isoformat(),
        valid_until=date(year, 12, 31).isoformat(),
    )


@post("/programs", summary="Console: create a voucher programme", guards=[OFFICERS])
async def create_program(
    request: Request[Any, Any, Any], principal: Principal, db_session: AsyncSession
) -> Redirect:
    form = await request.form()

    async def work() -> tuple[str, str]:
        coverage = str(form.get("coverage_percent", "")).strip()
        try:
            coverage_bp = round(float(coverage) * 100)
        except ValueError as exc:
            raise InvalidInput("补贴比例应为百分数", field="coverage_percent") from exc
        data = as_input(
            {
                "name": str(form.get("name", "")).strip(),
                "year": int(str(form.get("year"))) if str(form.get("year", "")).isdigit() else 0,
                "budget_fen": _fen(form, "budget_yuan", "总额度"),
                "coverage_bp": coverage_bp,
                "per_order_cap_fen": _fen(form, "per_order_cap_yuan", "单笔上限"),
                "per_firm_year_cap_fen": _fen(form, "per_firm_year_cap_yuan", "每家企业年度上限"),
                "valid_from": str(form.get("valid_from", "")),
                "valid_until": str(form.get("valid_until", "")),
                "requires_tech_sme": form.get("requires_tech_sme") == "1",
            },
            ProgramIn,
        )
        async with transaction(db_session):
            program = await program_service.create_program(
                db_session, principal, data, key=_key(principal, form)
            )
        return f"已创建创新券项目「{program.name}」", f"/console/programs/{program.id}"

    return await act("/console/programs", work)


@get(
    "/programs/{program_id:uuid}", summary="Console: a programme, its budget and its grants", guards=[READERS]
)
async def program_page(
    request: Request[Any, Any, Any], program_id: uuid.UUID, principal: Principal, db_session: AsyncSession
) -> Template:
    async with transaction(db_session, read_only=True):
        program = await wallet.show_program(db_session, principal, program_id)
        grants = await wallet.program_grants(db_session, principal, program_id)
        names = await org_names(db_session, (g.enterprise_id for g in grants))
    return render(
        request,
        "program.html",
        program=program,
        grants=grants,
        names=names,
        can_grant=principal.has_role(Role.bureau_officer) and program.status.value == "active",
        form_key=uuid.uuid4().hex,
    )


@post("/programs/{program_id:uuid}/grants", summary="Console: grant a firm an amount", guards=[OFFICERS])
async def grant(
    request: Request[Any, Any, Any], program_id: uuid.UUID, principal: Principal, db_session: AsyncSession
) -> Redirect:
    form = await request.form()

    async def work() -> str:
        uscc = str(form.get("uscc", "")).strip().upper()[:18]
        async with transaction(db_session):
            firm = await db_session.scalar(select(Organization).where(Organization.uscc == uscc))
            if firm is None:
                raise InvalidInput("没有这个统一社会信用代码的企业", field="uscc")
            data = as_input(
                {
                    "enterprise_id": str(firm.id),
                    "amount_fen": _fen(form, "amount_yuan", "额度"),
                    "note": str(form.get("note", ""))[:500],
                },
                GrantIn,
            )
            await grant_service.create_grant(
                db_session, principal, program_id, data, key=_key(principal, form)
            )
        return f"已向「{firm.name}」发放 {form.get('amount_yuan')} 元额度"

    return await act(f"/console/programs/{program_id}", work)


@get("/applications", summary="Console: voucher applications of the region", guards=[READERS])
async def applications_page(
    request: Request[Any, Any, Any], principal: Principal, db_session: AsyncSession
) -> Template:
    query = dict(request.query_params)
    table = read_table(
        query, APPLICATION_COLUMNS, default_sort="submitted", default_descending=True, filters=("status",)
    )
    wanted = table.filters.setdefault("status", "submitted")
    status = ApplicationStatus(wanted) if wanted in ApplicationStatus.__members__ else None
    async with transaction(db_session, read_only=True):
        rows, table.total = await applications.list_applications(
            db_session, principal, status=status, program_id=None, limit=table.per_page, offset=table.offset
        )
        names = await org_names(db_session, (a.enterprise_id for a, _ in rows))
    return render(
        request,
        "applications.html",
        table=table,
        rows=rows,
        names=names,
        status=wanted,
        status_labels=applications.STATUS_TEXT,
    )


@get(
    "/applications/{application_id:uuid}",
    summary="Console: one application, its steps and documents",
    guards=[READERS],
)
async def application_page(
    request: Request[Any, Any, Any], application_id: uuid.UUID, principal: Principal, db_session: AsyncSession
) -> Template:
    async with transaction(db_session, read_only=True):
        application, program = await applications.load_visible(db_session, principal, application_id)
        steps = await applications.history(db_session, application.id)
        documents = await applications.attachments_of(db_session, application.id)
        firm = await db_session.get(Organization, application.enterprise_id)
        budget = await program_service.budget_available_fen(db_session, program.id)
    return render(
        request,
        "application.html",
        application=application,
        program=program,
        firm=firm,
        steps=steps,
        documents=documents,
        budget_available_fen=budget,
        status_text=applications.STATUS_TEXT[application.status],
        step_labels=STEP_LABELS,
        can_decide=principal.has_role(Role.bureau_officer)
        and application.status == ApplicationStatus.submitted,
    )


@get(
    "/applications/{application_id:uuid}/documents/{attachment_id:uuid}",
    summary="Console: download a document of an application",
    guards=[READERS],
)
async def application_document(
    application_id: uuid.UUID, attachment_id: uuid.UUID, principal: Principal, db_session: AsyncSession
) -> Response[bytes]:
    async with transaction(db_session, read_only=True):
        found = await applications.attachment(db_session, principal, application_id, attachment_id)
    return Response(
        found.data,
        media_type=found.content_type,
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(found.name)}"},
    )


@post(
    "/applications/{application_id:uuid}/{decision:str}",
    summary="Console: approve with an amount, return or reject with a reason",
    guards=[OFFICERS],
)
async def decide(
    request: Request[Any, Any, Any],
    application_id: uuid.UUID,
    decision: str,
    principal: Principal,
    db_session: AsyncSession,
) -> Redirect:
    if decision not in DECISIONS:
        raise InvalidInput("未知的操作", action=decision[:40])
    form = await request.form()
    action: Literal["approve", "return", "reject"] = decision  # type: ignore[assignment]

    async def work() -> str:
        body: dict[str, Any] = {"reason": str(form.get("reason", "")).strip()}
        if action == "approve":
            body["approved_fen"] = _fen(form, "approved_yuan", "批准金额", required=False)
        async with transaction(db_session):
            await applications.decide(
                db_session, principal, application_id, action, as_input(body, DecisionIn)
            )
        return DECISIONS[action]

    return await act(f"/console/applications/{application_id}", work)


ROUTES = [
    programs,
    create_program,
    program_page,
    grant,
    applications_page,
    application_page,
    application_document,
    decide,
]
