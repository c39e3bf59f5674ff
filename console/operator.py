"""The platform operator's desk: the outbox (events by status, failed ones put back with a click)
and the periodic jobs; the users with their organisations and roles, and signing a user out
everywhere (every token and console session of theirs ends)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from litestar import Request, get, post
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal, requires_role
from accounts.directory import list_users
from accounts.models import Role
from accounts.signin import sign_out_everywhere
from catalogue import workdays
from console.pages import act, render
from console.tables import Column, read_table
from yixiang import outbox_admin
from yixiang.clock import shanghai_today
from yixiang.db import transaction
from yixiang.errors import InvalidInput
from yixiang.outbox import EventStatus

OPERATOR = requires_role(Role.platform_admin)
EVENT_STATUS = {EventStatus.pending: "待处理", EventStatus.done: "已完成", EventStatus.dead: "已放弃"}
ROLE_LABELS = {
    Role.researcher: "研究人员",
    Role.enterprise_admin: "企业管理员",
    Role.provider_staff: "仪器管理员",
    Role.unit_admin: "管理单位管理员",
    Role.bureau_officer: "主管部门经办人",
    Role.platform_admin: "平台运维",
}
EVENT_COLUMNS = (
    Column("id", "编号"),
    Column("topic", "事件"),
    Column("status", "状态"),
    Column("attempts", "尝试次数"),
    Column("created", "产生时间"),
    Column("error", "最近错误"),
)
USER_COLUMNS = (Column("username", "用户名"), Column("name", "姓名"), Column("roles", "单位与角色"))


@get("/outbox", summary="Console: outbox events by status, periodic jobs", guards=[OPERATOR])
async def outbox(request: Request[Any, Any, Any], db_session: AsyncSession) -> Template:
    query = dict(request.query_params)
    table = read_table(
        query, EVENT_COLUMNS, default_sort="id", default_descending=True, filters=("status", "topic")
    )
    wanted = table.filters.setdefault("status", "dead")
    status = EventStatus(wanted) if wanted in EventStatus.__members__ else None
    async with transaction(db_session, read_only=True):
        counts = await outbox_admin.status_counts(db_session)
        events, table.total = await outbox_admin.list_events(
            db_session,
            status=status,
            topic=table.filters.get("topic"),
            limit=table.per_page,
            offset=table.offset,
        )
        jobs = await outbox_admin.periodic_jobs(db_session)
    return render(
        request,
        "outbox.html",
        table=table,
        counts=counts,
        events=events,
        jobs=jobs,
        status=wanted,
        status_labels=EVENT_STATUS,
    )


@post(
    "/outbox/{event_id:int}/retry",
    summary="Console: put a dead outbox event back in the queue",
    guards=[OPERATOR],
)
async def retry(event_id: int, db_session: AsyncSession) -> Redirect:
    async def work() -> str:
        await outbox_admin.retry_dead_event(db_session, event_id)
        return f"事件 {event_id} 已重新排队"

    return await act("/console/outbox", work)


@get("/users", summary="Console: users with their organisations and roles", guards=[OPERATOR])
async def users(request: Request[Any, Any, Any], principal: Principal, db_session: AsyncSession) -> Template:
    query = dict(request.query_params)
    table = read_table(
        query, USER_COLUMNS, default_sort="username", default_descending=False, filters=("q", "role")
    )
    role = Role(table.filters["role"]) if table.filters.get("role") in Role.__members__ else None
    async with transaction(db_session, read_only=True):
        found, table.total = await list_users(
            db_session,
            principal,
            text=table.filters.get("q", ""),
            role=role,
            limit=table.per_page,
            offset=table.offset,
        )
    return render(request, "users.html", table=table, users=found, role_labels=ROLE_LABELS, role=role)


@post("/users/{user_id:uuid}/sign-out", summary="Console: sign a user out everywhere", guards=[OPERATOR])
async def sign_user_out(user_id: uuid.UUID, db_session: AsyncSession) -> Redirect:
    async def work() -> str:
        await sign_out_everywhere(db_session, user_id)
        return "该用户的所有登录已失效"

    return await act("/console/users", work)


@get("/working-days", summary="Console: working-day overrides of a year", guards=[OPERATOR])
async def working_days(request: Request[Any, Any, Any], db_session: AsyncSession) -> Template:
    raw = request.query_params.get("year", "")
    year = int(raw) if raw.isdigit() and 2000 <= int(raw) <= 2100 else shanghai_today().year + 1
    async with transaction(db_session, read_only=True):
        overrides = await workdays.year_overrides(db_session, year)
    return render(
        request,
        "working_days.html",
        year=year,
        overrides=overrides,
        built_in=year in workdays.package_years() or year in workdays.maintained_years(),
    )


@post(
    "/working-days",
    summary="Console: declare a day a holiday or a working day, or clear it",
    guards=[OPERATOR],
)
async def set_working_day(
    request: Request[Any, Any, Any], principal: Principal, db_session: AsyncSession
) -> Redirect:
    form = await request.form()
    raw = str(form.get("day", "")).strip()

    async def work() -> tuple[str, str]:
        try:
            day = date.fromisoformat(raw)
        except ValueError as exc:
            raise InvalidInput("日期格式有误（YYYY-MM-DD）", field="day") from exc
        kind = str(form.get("kind", ""))
        async with transaction(db_session):
            if kind == "clear":
                if not await workdays.remove_override(db_session, day, actor_id=principal.user_id):
                    raise InvalidInput("该日期没有设置", day=raw)
                done = f"{day} 恢复为内置日历"
            elif kind in ("holiday", "working"):
                name = str(form.get("name", "")).strip()[:64]
                await workdays.set_override(
                    db_session, day, is_working_day=kind == "working", name=name, actor_id=principal.user_id
                )
                done = f"{day} 已设为{'工作日（调休上班）' if kind == 'working' else '休息日'}"
            else:
                raise InvalidInput("请选择休息日、工作日或恢复", field="kind")
        return done, f"/console/working-days?year={day.year}"

    return await act("/console/working-days", work)


ROUTES = [outbox, retry, users, sign_user_out, working_days, set_working_day]
