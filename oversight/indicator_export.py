"""The indicators as a bureau files them: CSV (UTF-8 with BOM, opens in Excel) or XLSX, one row per
instrument or unit, Chinese headings, money in yuan (text in CSV, numbers in XLSX), rates as
fractions (0.3125 = 31.25%). The ids stay in the last column for matching against the platform."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from oversight.indicators import InstrumentFigures, UnitFigures
from vouchers.rules import fen_to_yuan

SOURCE_LABELS = {"sensor": "传感器", "bookings": "预约记录", "mixed": "混合"}


def _yes(value: bool | None) -> str:
    return "—" if value is None else ("是" if value else "否")


def _blank(value: Any) -> Any:
    return "" if value is None else value


Column = tuple[str, Callable[[Any], Any], bool]  # heading, value, is money in fen

INSTRUMENT_COLUMNS: list[Column] = [
    ("仪器名称", lambda f: f.name, False),
    ("分类代码", lambda f: f.category_code, False),
    ("通用性强", lambda f: _yes(f.generic), False),
    ("机时来源", lambda f: SOURCE_LABELS[f.hours_source], False),
    ("有效机时（小时）", lambda f: f.effective_hours, False),
    ("对外服务机时（小时）", lambda f: f.external_hours, False),
    ("内部机时（小时）", lambda f: f.internal_hours, False),
    ("使用率", lambda f: f.usage_rate, False),
    ("共享率", lambda f: _blank(f.sharing_rate), False),
    ("对外服务用户数", lambda f: f.external_users, False),
    ("对外服务订单数", lambda f: f.external_orders, False),
    ("对外服务收入（元）", lambda f: f.external_fee_income_fen, True),
    ("创新券兑付额（元）", lambda f: f.voucher_share_fen, True),
    ("平均评分", lambda f: _blank(f.rating_mean), False),
    ("评价数", lambda f: f.rating_count, False),
    ("按时入网", lambda f: _yes(f.listed_on_time), False),
    ("传感器按时安装", lambda f: _yes(f.sensor_on_time), False),
    ("服务信息完善", lambda f: _yes(f.service_info_complete), False),
    ("闲置月数", lambda f: f.idle_months, False),
    ("单位ID", lambda f: str(f.unit_id), False),
    ("仪器ID", lambda f: str(f.instrument_id), False),
]
UNIT_COLUMNS: list[Column] = [
    ("单位名称", lambda u: u.unit_name, False),
    ("仪器台数", lambda u: u.instruments, False),
    ("机时来源", lambda u: SOURCE_LABELS[u.hours_source], False),
    ("有效机时（小时）", lambda u: u.effective_hours, False),
    ("对外服务机时（小时）", lambda u: u.external_hours, False),
    ("内部机时（小时）", lambda u: u.internal_hours, False),
    ("使用率", lambda u: u.usage_rate, False),
    ("共享率", lambda u: _blank(u.sharing_rate), False),
    ("对外服务用户数", lambda u: u.external_users, False),
    ("对外服务订单数", lambda u: u.external_orders, False),
    ("对外服务收入（元）", lambda u: u.external_fee_income_fen, True),
    ("创新券兑付额（元）", lambda u: u.voucher_share_fen, True),
    ("平均评分", lambda u: _blank(u.rating_mean), False),
    ("评价数", lambda u: u.rating_count, False),
    ("按时入网比例", lambda u: u.listed_on_time_share, False),
    ("传感器按时安装比例", lambda u: _blank(u.sensor_on_time_share), False),
    ("服务信息完善比例", lambda u: u.service_info_complete_share, False),
    ("闲置仪器台数", lambda u: u.idle_instruments, False),
    ("单位ID", lambda u: str(u.unit_id), False),
]


def export_csv(columns: list[Column], rows: Sequence[InstrumentFigures | UnitFigures]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([heading for heading, _, _ in columns])
    for row in rows:
        writer.writerow([fen_to_yuan(value(row)) if money else value(row) for _, value, money in columns])
    return buffer.getvalue().encode("utf-8-sig")  # with BOM: Excel opens it as UTF-8


def export_xlsx(title: str, columns: list[Column], rows: Sequence[InstrumentFigures | UnitFigures]) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "绩效指标"
    sheet.append([title])
    sheet.append([heading for heading, _, _ in columns])
    for row in rows:
        sheet.append([Decimal(value(row)) / 100 if money else value(row) for _, value, money in columns])
    for index, (_, _, money) in enumerate(columns, start=1):
        if money:
            for (cell,) in sheet.iter_rows(min_row=3, min_col=index, max_col=index):
                cell.number_format = "#,##0.00"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
