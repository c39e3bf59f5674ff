"""The purchase review as a document people read: the words and figures of the stored report and
decision, formatted once here for both the page (console template) and the PDF, so the two say
the same. Everything comes from the stored record (``PurchaseReview.document`` once decided,
``.report`` before): nothing is read again from the live tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from oversight.review_models import PurchaseReview, ReviewStatus
from oversight.review_report import ORIGIN_TEXT, yuan_text

PENDING = "待评议"
HOURS_SOURCE = {"sensor": "传感器", "bookings": "预约记录", "mixed": "传感器与预约记录"}
HEADER = ["仪器", "型号", "管理单位", "使用率", "共享率", "有效机时", "空闲机时", "距离"]
WIDTHS = [0.2, 0.13, 0.2, 0.09, 0.09, 0.1, 0.1, 0.09]


def percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.1f}%"


def hours(value: float) -> str:
    return f"{value:,.1f}"


def distance(km: float | None) -> str:
    return "未知" if km is None else f"{km:.1f} km"


@dataclass
class ScopeView:
    title: str
    area: str
    count: int
    free_hours: str
    mean_usage: str
    rows: list[list[str]] = field(default_factory=list)
    chart: list[tuple[str, float]] = field(default_factory=list)  # (name, usage %)


@dataclass
class DocumentView:
    title: str
    status: str
    year: int
    generated_at: str
    proposal: list[tuple[str, str]]
    scopes: list[ScopeView]
    method: str  # how the figures were computed, in words
    flag: str
    verdict: str
    reasons: str
    decided: str  # who and when, empty until decided


def document_of(review: PurchaseReview) -> dict[str, Any] | None:
    """The stored document: the frozen one once decided, else the report awaiting its decision."""
    if review.status == ReviewStatus.decided and review.document is not None:
        return review.document
    if review.report is not None:
        return {"report": review.report, "decision": None}
    return None


def view_of(document: dict[str, Any]) -> DocumentView:
    report, decision = document["report"], document.get("decision")
    p = report["proposal"]
    scopes = []
    for scope in report["scopes"]:
        rows = [
            [
                i["name"],
                i["model"],
                i["unit_name"],
                percent(i["usage_rate"]),
                percent(i["sharing_rate"]),
                hours(i["effective_hours"]),
                hours(i["free_hours"]),
                distance(i["distance_km"]),
            ]
            for i in scope["instruments"]
        ]
        scopes.append(
            ScopeView(
                title=scope["title"],
                area=scope["area"],
                count=scope["count"],
                free_hours=hours(scope["free_hours"]),
                mean_usage=percent(scope["mean_usage_rate"]),
                rows=rows,
                chart=[(i["name"], round(i["usage_rate"] * 100, 1)) for i in scope["instruments"]],
            )
        )
    origin = next((text for origin, text in ORIGIN_TEXT.items() if origin.value == p["origin"]), p["origin"])
    return DocumentView(
        title=f"购置查重评议报告：{p['instrument_name']}",
        status=decision["verdict"] if decision else PENDING,
        year=report["year"],
        generated_at=report["generated_at"],
        proposal=[
            ("申报单位", p["unit_name"]),
            ("安装地点", p["region_name"]),
            ("仪器分类", f"{p['category_code']} {p['category_name']}"),
            ("拟购仪器", p["instrument_name"]),
            ("型号", p["model"]),
            ("拟购价格", yuan_text(p["price_fen"])),
            ("国产/进口", origin),
            ("预计年使用机时", f"{p['expected_hours_per_year']:,} 小时"),
            ("购置理由", p["justification"]),
        ],
        scopes=scopes,
        method=(
            f"同类仪器为同一分类下统计年度结束前已入网的仪器。使用率＝有效机时÷额定机时（每年 "
            f"{hours(report['norm_hours'])} 小时，年内入网的按天数折算）；共享率＝对外服务机时÷有效机时；"
            f"空闲机时＝额定机时－有效机时（不低于0）。距离的起点：{report['place']['basis']}。"
        ),
        flag="是（已暂停受理）" if report["low_usage_flag"] else "否",
        verdict=decision["verdict"] if decision else PENDING,
        reasons=decision["reasons"] if decision else "",
        decided=f"{decision['as']} {decision['reviewer']}，{decision['decided_at']}" if decision else "",
    )


def document_pdf(document: dict[str, Any]) -> bytes:
    """The review as a PDF (A4, Chinese), from the stored document only."""
    from oversight.pdf import PdfDocument  # reportlab (~10 MB) only in a process that makes a PDF

    v = view_of(document)
    pdf = PdfDocument(
        v.title,
        subtitle=f"统计期间：{v.year} 年度　报告生成：{v.generated_at}",
        footer="仪享 购置查重评议",
    )
    pdf.heading("一、拟购仪器")
    pdf.key_values(v.proposal)
    pdf.heading("二、同类仪器查重")
    pdf.paragraph(v.method)
    pdf.key_values(
        [
            (
                f"{s.title}（{s.area}）",
                f"{s.count} 台，平均使用率 {s.mean_usage}，空闲机时合计 {s.free_hours} 小时",
            )
            for s in v.scopes
        ]
    )
    for scope in v.scopes:
        pdf.heading(f"{scope.title}：{scope.area}")
        pdf.table(HEADER, scope.rows, widths=WIDTHS, empty="无同类仪器")
        if scope.chart:
            pdf.bar_chart(
                f"{scope.title}同类仪器使用率（%）",
                [n for n, _ in scope.chart],
                [u for _, u in scope.chart],
                unit="%",
            )
    pdf.heading("三、低使用率标记")
    pdf.paragraph(f"本单位同类仪器是否有使用率低于30%的标记：{v.flag}")
    pdf.heading("四、评议决定")
    pdf.key_values([("决定", v.verdict), ("理由", v.reasons or "—"), ("评议人", v.decided or "—")])
    return pdf.render()
