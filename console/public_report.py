"""The public yearly report page (统计年报): anyone opens it, no sign-in, in Chinese, one column on a
phone. Served from the published snapshot (``oversight.yearly``): one row read by its key, the
charts drawn here as inline SVG, every table beside its CSV (open data) and the whole as PDF.

Apart from the desk console's router: no session, no form, nothing but published aggregates.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, Router, get
from litestar.datastructures import ResponseHeader
from litestar.exceptions import HTTPException
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from console import charts
from oversight import yearly
from oversight.report_pdf import PDF_MADE
from oversight.report_schema import YearlyReport
from oversight.report_tables import TABLES, percent
from vouchers.rules import fen_to_yuan
from yixiang.errors import DomainError

GRADES = ("优秀", "良好", "合格", "较差")
PUBLIC_CSP = (
    "default-src 'self'; script-src 'none'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "form-action 'none'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)


def wan(fen: int) -> str:
    """Money a reader takes in at a glance: 万元 with two decimals."""
    return f"{fen / 1_000_000:,.2f}"


def report_charts(report: YearlyReport) -> dict[str, Any]:
    months = [f"{m.month}" for m in report.monthly]
    return {
        "monthly": charts.columns(
            "分月机时（小时）",
            months,
            [
                ("有效机时", [m.effective_hours for m in report.monthly]),
                ("对外服务机时", [m.external_hours for m in report.monthly]),
            ],
            unit="h",
        ),
        "categories": charts.bars(
            "各类别入网仪器（台套）",
            [c.name for c in report.by_category[:8]],
            [c.instruments for c in report.by_category[:8]],
            digits=0,
        ),
        "top_units": charts.bars(
            "对外服务机时前十的管理单位（小时）",
            [u.name for u in report.top_units],
            [u.external_hours for u in report.top_units],
            unit="h",
        ),
        "origins": charts.shares("国产与进口（台套）", [(o.label, o.instruments) for o in report.by_origin]),
        "grades": charts.shares(
            "绩效评价等次（家）",
            [(grade, sum(1 for e in report.evaluation if e.grade == grade)) for grade in GRADES],
        )
        if report.evaluation
        else None,
        "value_bands": charts.shares(
            "原值区间（台套）", [(b.label, b.instruments) for b in report.by_value_band if b.instruments]
        ),
    }


def headline_cards(report: YearlyReport) -> list[tuple[str, str, str, str]]:
    """(key, label, figure, unit) of the numbers at the top; ``key`` names it for the API's field."""
    h = report.headline
    return [
        ("instruments", "入网仪器", f"{h.instruments:,}", "台套"),
        ("total_value_fen", "仪器原值", wan(h.total_value_fen), "万元"),
        ("effective_hours", "有效机时", f"{h.effective_hours:,.2f}", "小时"),
        ("external_hours", "对外服务机时", f"{h.external_hours:,.2f}", "小时"),
        ("usage_rate", "平均使用率", percent(h.usage_rate), ""),
        ("sharing_rate", "共享率", percent(h.sharing_rate), ""),
        ("orders", "完成订单", f"{h.orders:,}", "笔"),
        ("external_income_fen", "对外服务收入", wan(h.external_income_fen), "万元"),
        ("voucher_used_fen", "创新券使用", wan(h.voucher_used_fen), "万元"),
        ("rating_mean", "用户平均评分", "—" if h.rating_mean is None else f"{h.rating_mean:.2f}", "分"),
    ]


def _not_found(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    message = exc.message if isinstance(exc, DomainError) else "未找到"
    return Template(template_name="public_missing.html", context={"message": message}, status_code=404)


# The page of a published report never changes: each process renders it once (by database, region
# and year; the report itself comes from ``yearly.published_report``).
_pages: dict[tuple[str, str, int], bytes] = {}


@get("/yearly/{region:str}/{year:int}", summary="The published yearly report page (no sign-in)")
async def yearly_report_page(
    request: Request[Any, Any, Any], region: str, year: int, db_session: AsyncSession
) -> Response[bytes]:
    key = (yearly.database_of(db_session), region, year)
    page = _pages.get(key)
    if page is None:
        report = await yearly.published_report(db_session, region, year)
        template = request.app.template_engine.get_template("public_report.html")  # type: ignore[union-attr]
        page = template.render(**page_context(report, region, year)).encode()
        if len(_pages) >= yearly.KEPT:
            _pages.pop(next(iter(_pages)))
        _pages[key] = page
    return Response(page, media_type="text/html; charset=utf-8")


def page_context(report: YearlyReport, region: str, year: int) -> dict[str, Any]:
    return {
        "r": report,
        "cards": headline_cards(report),
        "charts": report_charts(report),
        "tables": [(t, t.rows(report)) for t in TABLES],
        "has_pdf": PDF_MADE,
        "yuan": fen_to_yuan,
        "wan": wan,
        "percent": percent,
        "api": f"/api/v1/public/yearly-reports/{region}/{year}",
    }


@get("/yearly", summary="Published yearly reports (no sign-in)")
async def yearly_reports_index(db_session: AsyncSession) -> Template:
    return Template(
        template_name="public_reports.html", context={"reports": await yearly.published_list(db_session)}
    )


public_pages = Router(
    path="/reports",
    route_handlers=[yearly_report_page, yearly_reports_index],
    exception_handlers={DomainError: _not_found, HTTPException: _not_found},
    response_headers=[ResponseHeader(name="Content-Security-Policy", value=PUBLIC_CSP)],
    include_in_schema=False,
    tags=["public"],
)
