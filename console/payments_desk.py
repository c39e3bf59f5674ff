"""WeChat Pay at the desks: the daily reconciliations with their differences (list, one day, the
finance bureau reconciling a day again), the refunds, and the unit's fee correction (lower a
completed booking's fee, or waive it) with the refund it causes.

Each calls what the API's routes call (``vouchers.payment_refund_controllers``): the
reconciliation service's lists and ``reconcile_day``, ``list_refunds``, ``corrections.correct_fee``
then ``submit_refund`` for the refunds it reserved; who sees what is those services' rule.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from litestar import Request, get, post
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal, requires_role
from console.mobile import wechat_pay
from console.pages import DESK_ROLES, act, render
from console.provider import STAFF
from console.tables import Column, Table, read_table
from vouchers.errors import BillUnavailable
from vouchers.models import RefundStatus
from vouchers.payments import corrections, reconcile
from vouchers.payments.refunds import list_refunds, submit_refund
from vouchers.rules import fen_to_yuan, yuan_to_fen
from yixiang.db import transaction
from yixiang.errors import InvalidInput

DESK = requires_role(*DESK_ROLES)
RECONCILIATION_COLUMNS = (
    Column("day", "账单日"),
    Column("merchant", "商户号"),
    Column("lines", "账单笔数"),
    Column("bill", "账单净额（元）"),
    Column("ledger", "台账净额（元）"),
    Column("differences", "差异"),
    Column("checked", "核对时间"),
)
REFUND_COLUMNS = (
    Column("number", "退款单号"),
    Column("amount", "金额（元）"),
    Column("cause", "原因"),
    Column("status", "状态"),
    Column("requested", "申请时间"),
    Column("finished", "完成时间"),
)
DIFFERENCE_KINDS = {
    "missing_in_ledger": "账单有、台账无",
    "missing_in_bill": "台账有、账单无",
    "amount_differs": "金额不一致",
    "bill_totals_differ": "账单汇总与明细不符",
}
REFUND_STATUSES = {"processing": "处理中", "succeeded": "已退款", "closed": "已关闭", "abnormal": "异常"}
CAUSES = {"fee_correction": "费用更正", "cancellation": "取消预约"}


def _count(table: Table, shown: int) -> None:
    """The services answer a page, not a count: enough for the pager to offer the next page."""
    table.total = table.offset + shown + (1 if shown == table.per_page else 0)


def _day(raw: Any, field: str) -> date | None:
    text = str(raw or "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput("日期格式应为 YYYY-MM-DD", field=field) from None


@get(
    "/payment-reconciliations",
    summary="Console: daily WeChat Pay reconciliations (finance all, a unit its own)",
    guards=[DESK],
)
async def reconciliations(
    request: Request[Any, Any, Any], principal: Principal, db_session: AsyncSession
) -> Template:
    query = dict(request.query_params)
    table = read_table(
        query, RECONCILIATION_COLUMNS, default_sort="day", default_descending=True, filters=("differences",)
    )
    async with transaction(db_session, read_only=True):
        rows = await reconcile.list_reconciliations(
            db_session,
            principal,
            wechat_pay(request),
            day_from=None,
            day_to=None,
            with_differences=table.filters.get("differences") == "1",
            limit=table.per_page,
            offset=table.offset,
        )
        finance = principal.is_platform_admin or await reconcile.is_finance_officer(db_session, principal)
    _count(table, len(rows))
    return render(request, "reconciliations.html", table=table, rows=rows, finance=finance)


@get(
    "/payment-reconciliations/{reconciliation_id:uuid}",
    summary="Console: one day's reconciliation, line by line where bill and ledger differ",
    guards=[DESK],
)
async def reconciliation_page(
    request: Request[Any, Any, Any],
    reconciliation_id: uuid.UUID,
    principal: Principal,
    db_session: AsyncSession,
) -> Template:
    async with transaction(db_session, read_only=True):
        found = await reconcile.get_reconciliation(
            db_session, principal, wechat_pay(request), reconciliation_id
        )
        finance = principal.is_platform_admin or await reconcile.is_finance_officer(db_session, principal)
    return render(request, "reconciliation.html", result=found, finance=finance, kinds=DIFFERENCE_KINDS)


@post(
    "/payment-reconciliations",
    summary="Console: the finance bureau reconciles a day again (replaces that day's result)",
    guards=[DESK],
)
async def rerun(request: Request[Any, Any, Any], principal: Principal, db_session: AsyncSession) -> Redirect:
    form = await request.form()
    async with transaction(db_session, read_only=True):
        await reconcile.require_finance(db_session, principal)  # refused as a page, not a message

    async def work() -> tuple[str, str]:
        day = _day(form.get("day"), "day")
        if day is None:
            raise InvalidInput("请填写对账日期", field="day")
        sub_mchid = str(form.get("sub_mchid", "")).strip()[:32]
        if not sub_mchid.isdigit() and sub_mchid:
            raise InvalidInput("商户号只能是数字", field="sub_mchid")
        pay = wechat_pay(request)
        if pay is None:
            raise BillUnavailable("微信支付未开通，没有可对账的账单")
        result = await reconcile.reconcile_day(db_session, pay, day, sub_mchid)
        lines = len(result.differences.get("lines", []))
        said = f"{day} 已重新对账：" + (f"{lines} 处差异" if lines else "账单与台账一致")
        return said, f"/console/payment-reconciliations/{result.id}"

    return await act("/console/payment-reconciliations", work)


@get("/payment-refunds", summary="Console: WeChat Pay refunds (finance all, a unit its own)", guards=[DESK])
async def refunds(
    request: Request[Any, Any, Any], principal: Principal, db_session: AsyncSession
) -> Template:
    query = dict(request.query_params)
    table = read_table(
        query, REFUND_COLUMNS, default_sort="requested", default_descending=True, filters=("status",)
    )
    wanted = table.filters.get("status")
    status = RefundStatus(wanted) if wanted in REFUND_STATUSES else None
    async with transaction(db_session, read_only=True):
        everything = principal.is_platform_admin or await reconcile.is_finance_officer(db_session, principal)
        rows = await list_refunds(
            db_session,
            everything=everything,
            unit_ids=principal.unit_ids,
            enterprise_ids=principal.enterprise_ids,
            booking_id=None,
            status=status,
            limit=table.per_page,
            offset=table.offset,
        )
    _count(table, len(rows))
    return render(request, "refunds.html", table=table, rows=rows, statuses=REFUND_STATUSES, causes=CAUSES)


@post(
    "/statements/{booking_id:uuid}/fee-correction",
    summary="Console: the unit lowers (or waives) a completed booking's fee; overpaid money goes back",
    guards=[STAFF],
)
async def fee_correction(
    request: Request[Any, Any, Any], booking_id: uuid.UUID, principal: Principal, db_session: AsyncSession
) -> Redirect:
    form = await request.form()
    page = f"/console/statements/{booking_id}"

    async def work() -> str:
        waive = form.get("waive") == "1"
        try:
            fee_fen = 0 if waive else yuan_to_fen(str(form.get("fee_yuan", "")))
        except ValueError:
            raise InvalidInput("更正后的服务费应为金额（元，最多两位小数）", field="fee_yuan") from None
        reason = str(form.get("reason", "")).strip()[:500]
        if not reason:
            raise InvalidInput("请写明更正原因", field="reason")
        # the form's own key: a double submit makes one correction (the service is idempotent per key)
        key = f"{principal.user_id}:console:{str(form.get('key', ''))[:64] or uuid.uuid4().hex}"
        async with transaction(db_session):
            result = await corrections.correct_fee(
                db_session, principal, booking_id, fee_fen, reason, key=key
            )
            correction = result.correction
            said = f"服务费已更正为 {fen_to_yuan(correction.new_fee_fen)} 元"
            if correction.cash_refund_fen:
                said += f"，将通过微信支付退回 {fen_to_yuan(correction.cash_refund_fen)} 元"
            if correction.offline_refund_fen:
                said += f"，对公转账已付的 {fen_to_yuan(correction.offline_refund_fen)} 元需由单位线下退回"
        pay = wechat_pay(request)
        if pay is not None:  # off: the refunds stay processing until the job sends them
            for refund in result.refunds:
                await submit_refund(db_session, pay, refund)
        return said

    return await act(page, work)


ROUTES = [reconciliations, reconciliation_page, rerun, refunds, fee_correction]
