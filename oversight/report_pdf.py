"""The yearly report as a PDF (through the shared builder ``oversight.pdf``), made once at
publication from the frozen figures and stored beside them: the same bytes every time it is asked
for."""

from __future__ import annotations

from oversight.report_schema import YearlyReport
from oversight.report_tables import TABLES, percent
from vouchers.rules import fen_to_yuan

PDF_MADE = True  # published reports carry their PDF


def headline_pairs(report: YearlyReport) -> list[tuple[str, str]]:
    h = report.headline
    return [
        ("入网仪器", f"{h.instruments} 台套（{h.units} 家管理单位）"),
        ("仪器原值", f"{fen_to_yuan(h.total_value_fen)} 元"),
        ("有效机时", f"{h.effective_hours:.2f} 小时"),
        ("对外服务机时", f"{h.external_hours:.2f} 小时"),
        ("平均使用率", percent(h.usage_rate)),
        ("共享率", percent(h.sharing_rate)),
        ("完成订单", f"{h.orders} 笔（对外 {h.external_orders} 笔）"),
        ("对外服务收入", f"{fen_to_yuan(h.external_income_fen)} 元"),
        (
            "科技创新券",
            f"发放 {fen_to_yuan(h.voucher_granted_fen)} 元，使用 {fen_to_yuan(h.voucher_used_fen)} 元，"
            f"已兑付 {fen_to_yuan(h.voucher_settled_fen)} 元",
        ),
        (
            "用户评价",
            f"{h.rating_count} 条" + ("" if h.rating_mean is None else f"，平均 {h.rating_mean:.2f} 分"),
        ),
        ("年末闲置仪器", f"{h.idle_instruments} 台套（闲置一个月以上）"),
    ]


def report_pdf(report: YearlyReport, bureau_name: str) -> bytes:
    from oversight.pdf import PdfDocument  # reportlab (~10 MB) only in a process that makes a PDF

    doc = PdfDocument(
        f"{report.region_name} {report.year} 年度大型科研仪器开放共享统计年报",
        subtitle=bureau_name or None,
        footer="仪享 · 统计年报",
    )
    doc.heading("一、主要数据")
    doc.key_values(headline_pairs(report))
    doc.heading("二、分月服务情况")
    doc.column_chart(
        "有效机时（小时）",
        [f"{m.month}月" for m in report.monthly],
        [m.effective_hours for m in report.monthly],
    )
    doc.heading("三、对外服务前十的管理单位")
    doc.bar_chart(
        "对外服务机时（小时）",
        [u.name for u in report.top_units],
        [u.external_hours for u in report.top_units],
    )
    doc.heading("四、统计表")
    for table in TABLES:
        doc.paragraph(table.title)
        doc.table(list(table.header), table.rows(report))
    doc.heading("口径说明")
    doc.paragraph(
        "本年报由仪享平台的业务记录生成，发布后数据冻结。机时来自已完成预约记录的实际使用时段，"
        "跨月、跨年的预约按时间拆分；对外服务指为本单位以外的单位和企业提供的服务。只含汇总数据，"
        "不含个人信息或用户企业名称。金额单位为元，机时单位为小时。"
    )
    return doc.render()
