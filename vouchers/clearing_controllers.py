"""Clearing statement routes (通用通兑): parse → call vouchers.clearing → return a Struct or a file."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from litestar import Controller, Response, get
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal
from vouchers import clearing
from vouchers.clearing import ClearingQuery
from vouchers.schemas import ClearingOut
from yixiang.db import transaction
from yixiang.openapi import CSV, files

Region = Annotated[str | None, Parameter(pattern=r"^\d{6}$", description="the bureau's region code")]


class ClearingController(Controller):
    path = "/api/v1/clearing-statements"
    tags = ["vouchers"]

    @get(
        "/",
        summary="Cross-region voucher use (通用通兑) of the caller's region against each other region, "
        "for a period: bookings, voucher amounts, in and out",
    )
    async def show(
        self,
        principal: Principal,
        db_session: AsyncSession,
        period_start: date,
        period_end: date,
        region: Region = None,
    ) -> ClearingOut:
        async with transaction(db_session, read_only=True):
            return await clearing.clearing_statement(
                db_session, principal, ClearingQuery(region, period_start, period_end)
            )

    @get("/export", summary="The clearing statement as CSV", opt=files(CSV))
    async def export(
        self,
        principal: Principal,
        db_session: AsyncSession,
        period_start: date,
        period_end: date,
        region: Region = None,
        format: Literal["csv"] = "csv",
    ) -> Response[bytes]:
        async with transaction(db_session, read_only=True):
            out = await clearing.clearing_statement(
                db_session, principal, ClearingQuery(region, period_start, period_end)
            )
        name = f"clearing-{out.region_code}-{period_start}-{period_end}.{format}"
        return Response(
            clearing.export_csv(out),
            media_type=CSV,
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )


ROUTES: list[Any] = [ClearingController]
