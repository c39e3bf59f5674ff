"""The unit's other desks: ratings with the unit's reply, and statements (what each completed
booking cost, the voucher share, what the firm owes) with the firm's payment recorded.

Each calls the service the API calls: ``ratings.services.reply_to_rating``,
``vouchers.statements.mark_payment_received``; the lists are those services' own queries."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request, get, post
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal
from console.names import instrument_names, org_names
from console.pages import act, render
from console.provider import STAFF, desk_unit
from console.tables import Column, read_table
from ratings.services import list_unit_ratings, reply_to_rating
from vouchers.statements import mark_payment_received
from vouchers.unit_statements import list_unit_statements
from yixiang.db import transaction

RATING_COLUMNS = (
    Column("created", "评价时间"),
    Column("instrument", "仪器"),
    Column("overall", "总体"),
    Column("comment", "评价内容"),
    Column("reply", "单位回复"),
)
STATEMENT_COLUMNS = (
    Column("number", "预约号"),
    Column("enterprise", "企业"),
    Column("fee", "服务费（元）"),
    Column("voucher", "创新券（元）"),
    Column("due", "企业应付（元）"),
    Column("paid", "企业已付（元）"),
    Column("captured", "完成时间"),
)


@get("/ratings", summary="Console: the unit's ratings, unanswered first if asked", guards=[STAFF])
async def ratings(
    request: Request[Any, Any, Any], principal: Principal, db_session: AsyncSession
) -> Template:
    query = dict(request.query_params)
    table = read_table(
        query, RATING_COLUMNS, default_sort="created", default_descending=True, filters=("unit", "unanswered")
    )
    unit_id = desk_unit(principal, query)
    rows, table.total = await list_unit_ratings(
        db_session,
        principal,
        unit_id,
        unanswered=table.filters.get("unanswered") == "1",
        limit=table.per_page,
        offset=table.offset,
    )
    async with transaction(db_session, read_only=True):
        names = await instrument_names(db_session, (r.instrument_id for r in rows))
    return render(request, "ratings.html", table=table, rows=rows, names=names)


@post(
    "/ratings/{rating_id:uuid}/reply", summary="Console: the unit replies to a rating (once)", guards=[STAFF]
)
async def reply(
    request: Request[Any, Any, Any], rating_id: uuid.UUID, principal: Principal, db_session: AsyncSession
) -> Redirect:
    form = await request.form()

    async def work() -> str:
        await reply_to_rating(db_session, principal, rating_id, str(form.get("reply", ""))[:5000])
        return "回复已发布"

    return await act("/console/ratings", work)


@get(
    "/unit-statements",
    summary="Console: the unit's statements (fee, voucher share, amount due)",
    guards=[STAFF],
)
async def unit_statements(
    request: Request[Any, Any, Any], principal: Principal, db_session: AsyncSession
) -> Template:
    query = dict(request.query_params)
    table = read_table(
        query, STATEMENT_COLUMNS, default_sort="captured", default_descending=True, filters=("unit", "unpaid")
    )
    unit_id = desk_unit(principal, query)
    async with transaction(db_session, read_only=True):
        rows, table.total = await list_unit_statements(
            db_session,
            principal,
            unit_id,
            unpaid=table.filters.get("unpaid") == "1",
            limit=table.per_page,
            offset=table.offset,
        )
        names = await org_names(db_session, (r.enterprise_id for r in rows))
    return render(request, "unit_statements.html", table=table, rows=rows, names=names)


@post(
    "/unit-statements/{booking_id:uuid}/payment-received",
    summary="Console: the firm's payment of the remainder arrived",
    guards=[STAFF],
)
async def payment_received(
    request: Request[Any, Any, Any], booking_id: uuid.UUID, principal: Principal, db_session: AsyncSession
) -> Redirect:
    form = await request.form()

    async def work() -> str:
        reference = str(form.get("reference", "")).strip()[:100]
        async with transaction(db_session):
            await mark_payment_received(db_session, principal, booking_id, reference)
        return "已登记企业付款"

    return await act("/console/unit-statements", work)


ROUTES = [ratings, reply, unit_statements, payment_received]
