"""The lists a unit and its region's bureau work from, as rows for a page or a download: idle
instruments by step, overdue sensor installations, overdue service information."""

from __future__ import annotations

from datetime import datetime

from oversight.deadlines import Overdue
from oversight.models import IdleCase, IdleExplanation
from oversight.months import idle_months
from yixiang.clock import shanghai_date

LEVEL_LABELS = {1: "提醒（满1个月）", 3: "内部资产划转（满3个月）", 6: "通报批评（满6个月）"}
IDLE_HEADER = [
    "仪器",
    "行政区划",
    "闲置起算",
    "闲置月数",
    "所处步骤",
    "依据",
    "已说明",
    "说明已认可",
    "仪器ID",
]
OVERDUE_HEADER = ["仪器", "管理单位", "行政区划", "入网日期", "截止日期", "逾期天数", "缺少", "仪器ID"]


def overdue_rows(found: list[Overdue]) -> list[list[object]]:
    return [
        [o.name, o.unit_name, o.region_code, o.listed_on.isoformat(), o.due.isoformat(), o.days_overdue,
         "、".join(o.missing), str(o.instrument_id)]
        for o in found
    ]  # fmt: skip


def idle_rows(cases: list[tuple[IdleCase, str, list[IdleExplanation]]], now: datetime) -> list[list[object]]:
    return [
        [name, case.region_code, shanghai_date(case.idle_since).isoformat(),
         idle_months(case.idle_since, now), LEVEL_LABELS.get(case.level, "—"),
         "传感器与手工记录" if case.source.value == "sessions" else "预约记录",
         "是" if explanations else "否", "是" if case.excused else "否", str(case.instrument_id)]
        for case, name, explanations in cases
    ]  # fmt: skip
