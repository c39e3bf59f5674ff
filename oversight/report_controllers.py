"""HTTP for the yearly report (统计年报): the public reads published reports without signing in
(JSON, PDF, one CSV per table); the region's bureaus preview the draft; its science bureau publishes.
"""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Response, get, post
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal
from oversight import yearly
from oversight.report_errors import ReportNotPublished, UnknownReportTable
from oversight.report_schema import PublishedReportOut, YearlyReport
from oversight.report_tables import BY_NAME, table_csv

RegionCode = Annotated[str, Parameter(pattern="^[0-9]{6}$", description="行政区划代码 (GB/T 2260)")]
Year = Annotated[int, Parameter(ge=2000, le=2100)]


class PublicYearlyReportController(Controller):
    path = "/api/v1/public/yearly-reports"
    tags = ["public"]

    @get("/", summary="Published yearly reports (no sign-in)")
    async def index(self, db_session: AsyncSession) -> list[PublishedReportOut]:
        return await yearly.published_list(db_session)

    @get(
        "/{region:str}/{year:int}",
        summary="A published yearly report: headline figures and tables (no sign-in)",
    )
    async def show(self, region: RegionCode, year: Year, db_session: AsyncSession) -> YearlyReport:
        return await yearly.published_report(db_session, region, year)

    @get(
        "/{region:str}/{year:int}/pdf",
        summary="A published yearly report as PDF (no sign-in)",
        media_type="application/pdf",
    )
    async def pdf(self, region: RegionCode, year: Year, db_session: AsyncSession) -> Response[bytes]:
        content = await yearly.published_pdf(db_session, region, year)
        if content is None:
            raise ReportNotPublished("该年报暂无 PDF 版本", region_code=region, year=year)
        return Response(
            content,
            media_type="application/pdf",
            headers={"Content-Disposition": f'inline; filename="yearly-report-{region}-{year}.pdf"'},
        )

    @get(
        "/{region:str}/{year:int}/tables/{name:str}",
        summary="One table of a published yearly report as CSV (open data, no sign-in)",
        media_type="text/csv",
    )
    async def table(
        self, region: RegionCode, year: Year, name: str, db_session: AsyncSession
    ) -> Response[bytes]:
        table = BY_NAME.get(name.removesuffix(".csv"))
        if table is None:
            raise UnknownReportTable(name=name)
        report = await yearly.published_report(db_session, region, year)
        return Response(
            table_csv(table, report),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="yearly-{region}-{year}-{table.name}.csv"'
            },
        )


class YearlyReportController(Controller):
    path = "/api/v1/oversight/yearly-reports"
    tags = ["oversight"]

    @get(
        "/{region:str}/{year:int}/draft",
        summary="The year's report as the records stand (the region's bureaus)",
    )
    async def draft(
        self, region: RegionCode, year: Year, principal: Principal, db_session: AsyncSession
    ) -> YearlyReport:
        return await yearly.draft_report(db_session, principal, region, year)

    @post(
        "/{region:str}/{year:int}/publish",
        summary="Publish the year's report, frozen from then on (the region's science bureau)",
        status_code=201,
    )
    async def publish(
        self, region: RegionCode, year: Year, principal: Principal, db_session: AsyncSession
    ) -> YearlyReport:
        return yearly.decoded(await yearly.publish_report(db_session, principal, region, year))
