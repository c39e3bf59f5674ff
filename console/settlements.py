"""The bureau's settlement desk: batches (list, draw a draft), one batch reviewed line by line with
each booking's evidence chain one click away, its transitions (submit, four-eyes approval by
another officer, mark paid, reconcile, discard) and its export.

Every read and action is the voucher service the API calls (``vouchers.settlement``), which
decides who may see a batch and who may act; the buttons shown are its state machine's.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any, Literal

from anyio.to_thread import run_sync
from litestar import Request, Response, get, post
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal, requires_role
from accounts.models import STAFF_ROLES, Role
from console.exports import ExportFile, as_job, start_export
from console.long_work import SETTLEMENT_EXPORT
from console.long_work import STATUS_LABELS as JOB_LABELS
from console.mobile import open_native_order, qr_svg
from console.pages import act, render
from console.tables import Column, read_table
from vouchers import settlement as settlement_service
from vouchers import settlement_export
from vouchers import statements as statement_service
from vouchers.evidence import rating_window
from vouchers.models import CheckoutState, SettlementBatch, SettlementStatus
from vouchers.payments.orders import booking_orders
from vouchers.payments.refunds import list_refunds
from vouchers.schemas import MarkPaidIn, SettlementIn, SettlementOut
from vouchers.settlement_export import EVIDENCE_LABELS, STATUS_LABELS
from vouchers.settlement_list import SettlementFilter, list_settlements
from vouchers.settlement_review import line_total, review_page
from vouchers.statements import REQUIRED_EVIDENCE
from yixiang.clock import shanghai_today
from yixiang.db import transaction
from yixiang.errors import InvalidInput
from yixiang.long_jobs import ProgressReport, recent_jobs
from yixiang.openapi import CSV, XLSX

BUREAU = requires_role(Role.bureau_officer, Role.platform_admin)
# Who may open a booking's statement: the service decides which ones (unit, region, firm).
STATEMENT_READERS = requires_role(
    Role.provider_staff, Role.unit_admin, Role.bureau_officer, Role.platform_admin
)
BATCH_COLUMNS = (
    Column("period", "结算期间"),
    Column("status", "状态"),
    Column("total", "兑付金额（元）"),
    Column("lines", "笔数"),
    Column("held_back", "暂缓（元）"),
    Column("created", "生成时间"),
)
LINE_COLUMNS = (
    Column("number", "预约号", sortable=True),
    Column("unit", "服务单位", sortable=True),
    Column("enterprise", "企业", sortable=True),
    Column("fee", "服务费（元）", sortable=True),
    Column("voucher", "兑付金额（元）", sortable=True),
    Column("captured", "完成时间", sortable=True),
)
# URL name → (the service's action, what the message says)
ACTIONS = {
    "submit": ("submit", "已提交，等待另一位经办人审核"),
    "approve": ("approve", "已审核通过"),
    "mark-paid": ("mark_paid", "已登记付款"),
    "reconcile": ("reconcile", "已对账，批次关闭"),
    "discard": ("discard", "草稿已作废，其中的预约可重新列入批次"),
}


def _date(raw: Any, field: str) -> date:
    try:
        return date.fromisoformat(str(raw or "").strip())
    except ValueError as exc:
        raise InvalidInput("日期格式有误（YYYY-MM-DD）", field=field) from exc


@get(
    "/settlements",
    summary="Console: settlement batches of the officer's region, filtered and paged",
    guards=[BUREAU],
)
async def settlements(
    request: Request[Any, Any, Any], principal: Principal, db_session: AsyncSession
) -> Template:
    query = dict(request.query_params)
    table = read_table(
        query, BATCH_COLUMNS, default_sort="created", default_descending=True, filters=("status",)
    )
    status = table.filters.get("status", "")
    wanted = SettlementFilter(
        status=SettlementStatus(status) if status in SettlementStatus.__members__ else None
    )
    async with transaction(db_session, read_only=True):
        page = await list_settlements(
            db_session, principal, wanted, limit=table.per_page, offset=table.offset
        )
    table.total = page.total
    today = shanghai_today()
    first = today.replace(day=1)
    previous_end = first - timedelta(days=1)
    return render(
        request,
        "settlements.html",
        table=table,
        batches=page.items,
        status_labels=STATUS_LABELS,
        status=status,
        can_draw=principal.has_role(Role.bureau_officer),
        period_start=previous_end.replace(day=1).isoformat(),
        period_end=previous_end.isoformat(),
    )


@post(
    "/settlements",
    summary="Console: draw a draft batch for a period",
    guards=[requires_role(Role.bureau_officer)],
)
async def draw(request: Request[Any, Any, Any], principal: Principal, db_session: AsyncSession) -> Redirect:
    form = await request.form()

    async def work() -> tuple[str, str]:
        data = SettlementIn(
            period_start=_date(form.get("period_start"), "period_start"),
            period_end=_date(form.get("period_end"), "period_end"),
        )
        async with transaction(db_session):
            batch = await settlement_service.create_settlement(
                db_session, principal, data, rating_window=rating_window(request.app.state)
            )
        return "已生成兑付批次草稿，请逐笔核对", f"/console/settlements/{batch.id}"

    return await act("/console/settlements", work)


@get("/settlements/{batch_id:uuid}", summary="Console: review a batch line by line", guards=[BUREAU])
async def batch_page(
    request: Request[Any, Any, Any], batch_id: uuid.UUID, principal: Principal, db_session: AsyncSession
) -> Template:
    query = dict(request.query_params)
    table = read_table(query, LINE_COLUMNS, default_sort="unit", default_descending=False)
    async with transaction(db_session, read_only=True):
        batch = await settlement_service.get_batch(db_session, principal, batch_id)
        page = await review_page(
            db_session,
            batch,
            sort=table.sort,
            descending=table.descending,
            limit=table.per_page,
            offset=table.offset,
        )
        report = (
            await settlement_service.reconciliation(db_session, principal, batch_id)
            if batch.status in (SettlementStatus.paid, SettlementStatus.reconciled)
            else None
        )
        exports = await recent_jobs(
            db_session, kind=SETTLEMENT_EXPORT, organization_ids=None, started_by=principal.user_id, limit=5
        )
    table.total = page.line_count
    officer = principal.has_role(Role.bureau_officer)
    source = {action: transition[0] for action, transition in settlement_service.TRANSITIONS.items()}
    actions = [name for name, (action, _) in ACTIONS.items() if officer and source[action] == batch.status]
    # Four eyes: the officer who submitted is not offered the approval the service would refuse.
    own_submission = batch.submitted_by == principal.user_id
    if own_submission:
        actions = [a for a in actions if a != "approve"]
    return render(
        request,
        "settlement.html",
        batch=batch,
        status_label=STATUS_LABELS[batch.status],
        table=table,
        lines=page.lines,
        line_count=page.line_count,
        held_back=page.held_back,
        evidence_labels=EVIDENCE_LABELS,
        actions=actions,
        own_submission=own_submission and batch.status == SettlementStatus.submitted,
        report=report,
        exports=exports,
        job_labels=JOB_LABELS,
    )


@post(
    "/settlements/{batch_id:uuid}/{action:str}",
    summary="Console: submit, approve, mark paid, reconcile, discard",
    guards=[requires_role(Role.bureau_officer)],
)
async def batch_action(
    request: Request[Any, Any, Any],
    batch_id: uuid.UUID,
    action: str,
    principal: Principal,
    db_session: AsyncSession,
) -> Redirect:
    if action not in ACTIONS:
        raise InvalidInput("未知的操作", action=action[:40])
    form = await request.form()
    name, done = ACTIONS[action]

    async def work() -> str:
        paid = None
        if name == "mark_paid":
            reference = str(form.get("bank_reference", "")).strip()
            if not 1 <= len(reference) <= 100:
                raise InvalidInput("请填写银行付款流水号（1–100 个字符）", field="bank_reference")
            paid = MarkPaidIn(bank_reference=reference)
        async with transaction(db_session):
            await settlement_service.transition(db_session, principal, batch_id, name, paid=paid)
        return done

    return await act(f"/console/settlements/{batch_id}", work)


@get(
    "/settlements/{batch_id:uuid}/export",
    summary="Console: download the batch (CSV or XLSX)",
    guards=[BUREAU],
)
async def export(
    request: Request[Any, Any, Any],
    batch_id: uuid.UUID,
    principal: Principal,
    db_session: AsyncSession,
    format: Literal["csv", "xlsx"] = "xlsx",
) -> Response[bytes] | Redirect:
    """The batch as the finance office files it; a batch of many lines as a job (its page)."""
    async with transaction(db_session, read_only=True):
        batch = await settlement_service.get_batch(db_session, principal, batch_id)
        rows = await line_total(db_session, batch.id)
        out = None if as_job(request, rows) else await settlement_service.batch_out(db_session, batch)
    if out is None:
        return await _export_job(request, principal, batch, rows, format)
    content, media = _export_file(out, format)
    return Response(
        content,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="settlement-{out.period_start}.{format}"'},
    )


def _export_file(out: SettlementOut, format: str) -> tuple[bytes, str]:
    if format == "xlsx":
        return settlement_export.export_xlsx(out), XLSX
    return settlement_export.export_csv(out), CSV


async def _export_job(
    request: Request[Any, Any, Any], principal: Principal, batch: SettlementBatch, rows: int, format: str
) -> Redirect:
    session_maker, batch_id = request.app.state.runtime.session_maker, batch.id

    async def produce(report: ProgressReport) -> ExportFile:
        report(0, rows)
        async with session_maker() as session, transaction(session, read_only=True):
            # read again as the officer: the batch is still theirs to see when the job runs
            out = await settlement_service.batch_out(
                session, await settlement_service.get_batch(session, principal, batch_id)
            )
        content, media = await run_sync(_export_file, out, format)
        report(rows, rows)
        return ExportFile(content, f"settlement-{out.period_start}.{format}", media, rows)

    return await start_export(
        request,
        principal,
        kind=SETTLEMENT_EXPORT,
        title=f"导出兑付批次 {batch.period_start} 至 {batch.period_end}（{rows} 笔，{format.upper()}）",
        organization_id=None,  # the officer's own (job_visible: who started it)
        produce=produce,
    )


@get(
    "/statements/{booking_id:uuid}",
    summary="Console: a booking's statement and evidence chain",
    guards=[STATEMENT_READERS],
)
async def statement_page(
    request: Request[Any, Any, Any], booking_id: uuid.UUID, principal: Principal, db_session: AsyncSession
) -> Template:
    async with transaction(db_session, read_only=True):
        out = await statement_service.statement(
            db_session, principal, booking_id, rating_window=rating_window(request.app.state)
        )
        orders = await booking_orders(db_session, principal, booking_id)
        refunds = await list_refunds(
            db_session,
            everything=True,  # the statement's visibility was checked above: its refunds go with it
            unit_ids=set(),
            enterprise_ids=set(),
            booking_id=booking_id,
            status=None,
            limit=100,
            offset=0,
        )
    # a desk's QR code: the open Native order of what is owed now, for the firm's person to scan
    desk_order = open_native_order(orders, out.due_fen)
    return render(
        request,
        "statement.html",
        statement=out,
        evidence_labels=EVIDENCE_LABELS,
        required=REQUIRED_EVIDENCE,
        orders=orders,
        refunds=refunds,
        desk_order=desk_order,
        qr=qr_svg(desk_order.code_url) if desk_order else None,
        # the unit's staff correct a completed booking's fee (the service checks it is their unit's)
        can_correct=principal.has_role(*STAFF_ROLES) and out.state == CheckoutState.captured,
        correction_key=uuid.uuid4().hex,
    )


ROUTES = [settlements, draw, batch_page, batch_action, export, statement_page]
