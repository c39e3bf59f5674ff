"""闲置与整改: the lists a unit and its region's bureau work from — idle instruments by step,
listed instruments still without a sensor past 30 working days, and service information still
incomplete past 3 months — each downloadable (CSV, XLSX). The same services as the API."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from litestar import Request, Response, get
from litestar.params import Parameter
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal, requires_role
from console.pages import DESK_ROLES, render
from oversight import idle
from oversight.deadlines import overdue
from oversight.lists import IDLE_HEADER, LEVEL_LABELS, OVERDUE_HEADER, idle_rows, overdue_rows
from yixiang.db import transaction, utcnow
from yixiang.spreadsheet import download

LISTS = {"idle": "idle-instruments", "sensor": "overdue-sensors", "service_info": "overdue-service-info"}


@get(
    "/oversight",
    summary="Console: idle instruments and overdue deadlines",
    guards=[requires_role(*DESK_ROLES)],
)
async def oversight_page(
    request: Request[Any, Any, Any], principal: Principal, db_session: AsyncSession
) -> Template:
    async with transaction(db_session, read_only=True):
        cases = await idle.visible_cases(db_session, principal)
        sensors = await overdue(db_session, principal, "sensor")
        service = await overdue(db_session, principal, "service_info")
    return render(
        request,
        "oversight.html",
        idle=idle_rows(cases, utcnow()),
        sensors=overdue_rows(sensors),
        service=overdue_rows(service),
        idle_header=IDLE_HEADER,
        overdue_header=OVERDUE_HEADER,
        levels=LEVEL_LABELS,
    )


@get(
    "/oversight/export",
    summary="Console: one of the lists as CSV or XLSX",
    guards=[requires_role(*DESK_ROLES)],
)
async def oversight_export(
    principal: Principal,
    db_session: AsyncSession,
    list_: Annotated[Literal["idle", "sensor", "service_info"], Parameter(query="list")] = "idle",
    format: Literal["csv", "xlsx"] = "csv",
) -> Response[bytes]:
    async with transaction(db_session, read_only=True):
        if list_ == "idle":
            rows = idle_rows(await idle.visible_cases(db_session, principal), utcnow())
            header = IDLE_HEADER
        else:
            rows = overdue_rows(await overdue(db_session, principal, list_))
            header = OVERDUE_HEADER
    return download(header, rows, format, LISTS[list_])


ROUTES = [oversight_page, oversight_export]
