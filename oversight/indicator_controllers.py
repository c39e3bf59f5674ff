"""HTTP for the bureaus' indicators (绩效指标): per instrument and per unit for a region and a period,
as JSON, CSV or XLSX. A bureau reads its region, a unit its own instruments, the operator any."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, Response, get
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal
from oversight.indicator_access import Period, period_of, read_instruments, read_units
from oversight.indicator_export import INSTRUMENT_COLUMNS, UNIT_COLUMNS, export_csv, export_xlsx
from oversight.indicators import InstrumentFigures, UnitFigures
from oversight.settings import OversightSettings
from yixiang.db import transaction
from yixiang.openapi import CSV, XLSX, files

Region = Annotated[str, Parameter(query="region", pattern="^[0-9]{6}$", description="地区代码 (GB/T 2260)")]
Year = Annotated[
    int | None,
    Parameter(query="year", ge=1990, le=2100, description="calendar year (default: the last full one)"),
]
Start = Annotated[date | None, Parameter(query="start", description="first day (with end; instead of year)")]
End = Annotated[date | None, Parameter(query="end", description="last day, included")]
Format = Annotated[Literal["json", "csv", "xlsx"], Parameter(query="format")]


class InstrumentIndicatorsOut(msgspec.Struct):
    region_code: str
    period_start: date
    period_end: date  # included
    annual_norm_hours: int
    instruments: list[InstrumentFigures]


class UnitIndicatorsOut(msgspec.Struct):
    region_code: str
    period_start: date
    period_end: date  # included
    annual_norm_hours: int
    units: list[UnitFigures]


def _file(content: bytes, media: str, name: str) -> Response[bytes]:
    return Response(
        content, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


def _export(
    kind: str, region: str, period: Period, format: str, rows: list[InstrumentFigures] | list[UnitFigures]
) -> Response[bytes]:
    columns = INSTRUMENT_COLUMNS if kind == "instruments" else UNIT_COLUMNS
    name = f"indicators-{kind}-{region}-{period.start}-{period.last}.{format}"
    if format == "xlsx":
        what = "仪器" if kind == "instruments" else "单位"
        title = f"绩效指标（{what}） 地区 {region} {period.start} 至 {period.last}"
        return _file(export_xlsx(title, columns, rows), XLSX, name)
    return _file(export_csv(columns, rows), CSV, name)


class IndicatorController(Controller):
    path = "/api/v1/indicators"
    tags = ["oversight"]

    @get(
        "/instruments",
        summary="Indicators per instrument for a region and period (JSON, CSV or XLSX)",
        opt=files(CSV, XLSX, or_json=True),
    )
    async def instruments(
        self,
        request: Request[Any, Any, Any],
        principal: Principal,
        db_session: AsyncSession,
        region: Region,
        year: Year = None,
        start: Start = None,
        end: End = None,
        category: Annotated[str | None, Parameter(query="category", max_length=8)] = None,
        format: Format = "json",
    ) -> InstrumentIndicatorsOut | Response[bytes]:
        period = period_of(year, start, end)
        settings = request.app.state.settings
        async with transaction(db_session, read_only=True):
            rows = await read_instruments(
                db_session, principal, settings, region_code=region, period=period, category_code=category
            )
        if format != "json":
            return _export("instruments", region, period, format, rows)
        norm = OversightSettings.of(settings).annual_norm_hours
        return InstrumentIndicatorsOut(region, period.start, period.last, norm, rows)

    @get(
        "/units",
        summary="Indicators per unit for a region and period (JSON, CSV or XLSX)",
        opt=files(CSV, XLSX, or_json=True),
    )
    async def units(
        self,
        request: Request[Any, Any, Any],
        principal: Principal,
        db_session: AsyncSession,
        region: Region,
        year: Year = None,
        start: Start = None,
        end: End = None,
        format: Format = "json",
    ) -> UnitIndicatorsOut | Response[bytes]:
        period = period_of(year, start, end)
        settings = request.app.state.settings
        async with transaction(db_session, read_only=True):
            rows = await read_units(db_session, principal, settings, region_code=region, period=period)
        if format != "json":
            return _export("units", region, period, format, rows)
        norm = OversightSettings.of(settings).annual_norm_hours
        return UnitIndicatorsOut(region, period.start, period.last, norm, rows)
