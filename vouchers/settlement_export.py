"""A settlement batch as the finance office files it: CSV (UTF-8 with BOM, opens in Excel) or XLSX."""

from __future__ import annotations

import csv
import io

from vouchers.rules import fen_to_yuan
from vouchers.schemas import SettlementOut
from yixiang.clock import public_moment_text

EXPORT_HEADER = [
    "序号",
    "服务单位",
    "服务单位ID",
    "预约号",
    "企业",
    "服务费（元）",
    "创新券兑付金额（元）",
    "完成时间",
    "列入本批次",
    "缺失凭证",
]


def export_rows(out: SettlementOut) -> list[list[str]]:
    rows = [EXPORT_HEADER]
    for n, line in enumerate([*out.lines, *out.held_back], start=1):
        rows.append(
            [
                str(n),
                line.unit_name,
                str(line.unit_id),
                str(line.booking_id),
                line.enterprise_name,
                fen_to_yuan(line.fee_fen),
                fen_to_yuan(line.voucher_fen),
                public_moment_text(line.captured_at),
                "是" if line.included else "否（暂缓）",
                "、".join(line.missing_evidence),
            ]
        )
    rows.append(["合计", "", "", "", "", "", fen_to_yuan(out.total_fen), "", f"{len(out.lines)} 笔", ""])
    return rows


def export_csv(out: SettlementOut) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(export_rows(out))
    return buffer.getvalue().encode("utf-8-sig")  # with BOM: Excel opens it as UTF-8


def export_xlsx(out: SettlementOut) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "兑付明细"
    sheet.append(
        [f"创新券兑付批次 {out.id}", f"{out.period_start} 至 {out.period_end}", f"状态：{out.status.value}"]
    )
    for row in export_rows(out):
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
