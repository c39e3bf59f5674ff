"""HTTP for the lists units and bureaus work from: overdue sensor installations, overdue service
information, and the idle list, each also as CSV or XLSX (a unit's own, a bureau its region's)."""

from __future__ import annotations

from typing import Annotated, Literal

from litestar import Controller, Response, get
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal
from oversight import idle
from oversight.deadlines import Overdue, overdue
from oversight.lists import IDLE_HEADER, OVERDUE_HEADER, idle_rows, overdue_rows
from oversight.schemas import OverdueOut
from yixiang.db import transaction, utcnow
from yixiang.openapi import CSV, XLSX, files
from yixiang.spreadsheet import download

Format = Literal["csv", "xlsx"]
Level = Annotated[
    int | None, Parameter(query="level", ge=1, le=6, description="at least this step: 1, 3 or 6")
]


def overdue_out(o: Overdue) -> OverdueOut:
    return OverdueOut(
        instrument_id=o.instrument_id,
        instrument_name=o.name,
        unit_id=o.unit_id,
        unit_name=o.unit_name,
        region_code=o.region_code,
        listed_on=o.listed_on,
        due=o.due,
        days_overdue=o.days_overdue,
        missing=o.missing,
    )


async def _overdue(db_session: AsyncSession, principal: Principal, kind: str) -> list[Overdue]:
    async with transaction(db_session, read_only=True):
        return await overdue(db_session, principal, kind)


class OverdueController(Controller):
    path = "/api/v1/oversight"
    tags = ["oversight"]

    @get("/overdue-sensors", summary="Listed instruments still without a sensor 30 working days on")
    async def sensors(self, principal: Principal, db_session: AsyncSession) -> list[OverdueOut]:
        return [overdue_out(o) for o in await _overdue(db_session, principal, "sensor")]

    @get("/overdue-sensors/export", summary="The same list as CSV or XLSX", opt=files(CSV, XLSX))
    async def sensors_export(
        self, principal: Principal, db_session: AsyncSession, format: Format = "csv"
    ) -> Response[bytes]:
        found = await _overdue(db_session, principal, "sensor")
        return download(OVERDUE_HEADER, overdue_rows(found), format, "overdue-sensors")

    @get(
        "/overdue-service-info",
        summary="Listed instruments whose service information is incomplete 3 months on",
    )
    async def service_info(self, principal: Principal, db_session: AsyncSession) -> list[OverdueOut]:
        return [overdue_out(o) for o in await _overdue(db_session, principal, "service_info")]

    @get("/overdue-service-info/export", summary="The same list as CSV or XLSX", opt=files(CSV, XLSX))
    async def service_info_export(
        self, principal: Principal, db_session: AsyncSession, format: Format = "csv"
    ) -> Response[bytes]:
        found = await _overdue(db_session, principal, "service_info")
        return download(OVERDUE_HEADER, overdue_rows(found), format, "overdue-service-info")

    @get("/idle/export", summary="Idle instruments (by level) as CSV or XLSX", opt=files(CSV, XLSX))
    async def idle_export(
        self, principal: Principal, db_session: AsyncSession, level: Level = None, format: Format = "csv"
    ) -> Response[bytes]:
        async with transaction(db_session, read_only=True):
            cases = await idle.visible_cases(db_session, principal, level)
        rows = idle_rows(cases, utcnow())
        return download(IDLE_HEADER, rows, format, "idle-instruments")
