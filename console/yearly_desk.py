"""The bureau's yearly report desk (统计年报): the draft of a year for the officer's region, as the
records stand (the same figures and charts the public page will show), and — for the region's
science bureau, once the year is over — publishing it, which freezes it (``oversight.yearly``)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, get, post
from litestar.params import Parameter
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal, requires_role
from accounts.models import Region, Role
from console.pages import act, render
from console.public_report import headline_cards, report_charts
from oversight import yearly
from oversight.report_errors import ReportNotPublished
from oversight.report_tables import TABLES
from yixiang.clock import shanghai_today
from yixiang.db import transaction
from yixiang.errors import NotFound

BUREAU = requires_role(Role.bureau_officer)


def _region_of(principal: Principal, region: str | None) -> str:
    """The officer's region asked for (the first of theirs by default); another region's: 404."""
    regions = sorted(principal.regions_where(Role.bureau_officer))
    chosen = region or (regions[0] if regions else "")
    if chosen not in regions:
        raise NotFound("未找到该地区的统计年报")
    return chosen


@get("/yearly-reports", summary="Console: the yearly report's draft and its publication", guards=[BUREAU])
async def yearly_reports(
    request: Request[Any, Any, Any],
    principal: Principal,
    db_session: AsyncSession,
    region: Annotated[str | None, Parameter(query="region", pattern="^[0-9]{6}$")] = None,
    year: Annotated[int | None, Parameter(query="year", ge=2000, le=2100)] = None,
) -> Template:
    code = _region_of(principal, region)
    year = year or shanghai_today().year - 1
    report = await yearly.draft_report(db_session, principal, code, year)
    try:
        await yearly.published_record(db_session, code, year)
        published = True
    except ReportNotPublished:
        published = False
    async with transaction(db_session, read_only=True):
        science = await yearly.science_bureau_of(db_session, principal, code) is not None
        names = {
            c: (r.name if (r := await db_session.get(Region, c)) else c)
            for c in sorted(principal.regions_where(Role.bureau_officer))
        }
    return render(
        request,
        "yearly_reports.html",
        r=report,
        region=code,
        year=year,
        regions=names,
        published=published,
        may_publish=science and not published and year < shanghai_today().year,
        cards=headline_cards(report),
        charts=report_charts(report),
        tables=[(t, t.rows(report)) for t in TABLES],
    )


@post(
    "/yearly-reports/{region:str}/{year:int}/publish",
    summary="Console: publish the year's report",
    guards=[BUREAU],
)
async def publish(region: str, year: int, principal: Principal, db_session: AsyncSession) -> Redirect:
    code = _region_of(principal, region)
    back = f"/console/yearly-reports?region={code}&year={year}"

    async def work() -> str:
        await yearly.publish_report(db_session, principal, code, year)
        return f"{year} 年度统计年报已发布，公众可在 /reports/yearly/{code}/{year} 查看；发布后数据不再变化"

    return await act(back, work)


ROUTES = [yearly_reports, publish]
