"""The yearly report's tables, one definition each: the page shows them, the PDF prints them and the
open data serves each as its own CSV (UTF-8 with BOM, which Excel opens in Chinese), at
``/api/v1/public/yearly-reports/{region}/{year}/tables/{name}.csv``.

Money is in yuan with two decimals (fen in the records), hours to 0.01 h, rates in per cent.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass

from oversight.report_schema import YearlyReport
from vouchers.rules import fen_to_yuan


def percent(value: float | None) -> str:
    """Per cent to one decimal; a small rate (under 1%) to two, so it does not read as none."""
    if value is None:
        return "—"
    return f"{value * 100:.2f}%" if 0 < value < 0.01 else f"{value * 100:.1f}%"


def number(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


@dataclass(frozen=True)
class ReportTable:
    name: str  # in the address: ``tables/{name}.csv``
    title: str
    header: tuple[str, ...]
    rows: Callable[[YearlyReport], list[list[str]]]


TABLES: tuple[ReportTable, ...] = (
    ReportTable(
        "monthly",
        "分月服务情况",
        ("月份", "有效机时（小时）", "对外服务机时（小时）", "完成订单", "对外服务收入（元）"),
        lambda r: [
            [
                f"{m.month}月",
                number(m.effective_hours),
                number(m.external_hours),
                str(m.orders),
                fen_to_yuan(m.external_income_fen),
            ]
            for m in r.monthly
        ],
    ),
    ReportTable(
        "categories",
        "分类别入网仪器与服务",
        (
            "仪器类别",
            "入网仪器（台套）",
            "原值（元）",
            "有效机时（小时）",
            "对外服务机时（小时）",
            "对外服务收入（元）",
        ),
        lambda r: [
            [
                c.name,
                str(c.instruments),
                fen_to_yuan(c.value_fen),
                number(c.effective_hours),
                number(c.external_hours),
                fen_to_yuan(c.external_income_fen),
            ]
            for c in r.by_category
        ],
    ),
    ReportTable(
        "value-bands",
        "按原值区间",
        ("原值区间", "入网仪器（台套）", "原值（元）"),
        lambda r: [[b.label, str(b.instruments), fen_to_yuan(b.value_fen)] for b in r.by_value_band],
    ),
    ReportTable(
        "origins",
        "按产地",
        ("产地", "入网仪器（台套）", "原值（元）"),
        lambda r: [[o.label, str(o.instruments), fen_to_yuan(o.value_fen)] for o in r.by_origin],
    ),
    ReportTable(
        "unit-types",
        "按单位类型",
        ("单位类型", "入网仪器（台套）", "原值（元）"),
        lambda r: [[t.label, str(t.instruments), fen_to_yuan(t.value_fen)] for t in r.by_unit_type],
    ),
    ReportTable(
        "top-units",
        "对外服务前十的管理单位",
        (
            "排名",
            "管理单位",
            "单位类型",
            "入网仪器（台套）",
            "有效机时（小时）",
            "对外服务机时（小时）",
            "共享率",
            "对外订单",
            "对外服务收入（元）",
            "平均评分",
        ),
        lambda r: [
            [
                str(u.rank),
                u.name,
                u.unit_type,
                str(u.instruments),
                number(u.effective_hours),
                number(u.external_hours),
                percent(u.usage_rate),
                percent(u.sharing_rate),
                str(u.external_orders),
                fen_to_yuan(u.external_income_fen),
                number(u.rating_mean),
            ]
            for u in r.top_units
        ],
    ),
    ReportTable(
        "areas",
        "分地区情况",
        (
            "地区",
            "管理单位",
            "入网仪器（台套）",
            "原值（元）",
            "有效机时（小时）",
            "对外服务机时（小时）",
            "对外服务收入（元）",
        ),
        lambda r: [
            [
                a.name,
                str(a.units),
                str(a.instruments),
                fen_to_yuan(a.value_fen),
                number(a.effective_hours),
                number(a.external_hours),
                fen_to_yuan(a.external_income_fen),
            ]
            for a in r.areas
        ],
    ),
    ReportTable(
        "vouchers",
        "科技创新券",
        ("创新券项目", "预算（元）", "发放（元）", "获券企业（家）", "使用（元）", "已兑付（元）"),
        lambda r: [
            [
                p.name,
                fen_to_yuan(p.budget_fen),
                fen_to_yuan(p.granted_fen),
                str(p.firms),
                fen_to_yuan(p.used_fen),
                fen_to_yuan(p.settled_fen),
            ]
            for p in r.programs
        ],
    ),
    ReportTable(
        "ratings",
        "用户评价",
        ("评分", "评价数"),
        lambda r: [[f"{s.stars}星", str(s.ratings)] for s in r.ratings],
    ),
    ReportTable(
        "evaluation",
        "绩效评价结果",
        ("名次", "管理单位", "得分", "等次"),
        lambda r: [[str(e.rank), e.name, f"{e.score:.2f}", e.grade] for e in r.evaluation],
    ),
    ReportTable(
        "rewards",
        "共享奖励",
        ("获奖励单位（家）", "获奖励仪器（台套）", "共享奖励（元）", "共享保补贴（元）", "合计（元）"),
        lambda r: [
            [
                str(w.units),
                str(w.instruments),
                fen_to_yuan(w.sharing_fen),
                fen_to_yuan(w.insurance_fen),
                fen_to_yuan(w.total_fen),
            ]
            for w in ([r.rewards] if r.rewards else [])
        ],
    ),
    ReportTable(
        "idle",
        "闲置仪器（年末）",
        ("闲置时长", "仪器（台套）"),
        lambda r: [[i.label, str(i.instruments)] for i in r.idle],
    ),
)
BY_NAME = {t.name: t for t in TABLES}


def table_csv(table: ReportTable, report: YearlyReport) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(table.header)
    writer.writerows(table.rows(report))
    return buffer.getvalue().encode("utf-8-sig")
