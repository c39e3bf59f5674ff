"""A settlement batch as the finance office files it: CSV (UTF-8 with BOM, opens in Excel) or XLSX.

Amounts are yuan with two decimals: text in CSV, numbers in XLSX (formatted ``#,##0.00``, so a
column sums in Excel); bookings are named by their number (预约号) and statuses and evidence in
Chinese. The ids stay in the last columns for matching against the platform.
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal

from vouchers.models import SettlementStatus
from vouchers.rules import fen_to_yuan
from vouchers.schemas import SettlementLineOut, SettlementOut
from yixiang.clock import public_moment_text

STATUS_LABELS: dict[SettlementStatus, str] = {
    SettlementStatus.draft: "草稿",
    SettlementStatus.submitted: "已提交",
    SettlementStatus.approved: "已审核",
    SettlementStatus.paid: "已付款",
    SettlementStatus.reconciled: "已对账",
    SettlementStatus.discarded: "已作废",
}
EVIDENCE_LABELS = {
    "booking": "预约记录",
    "usage": "使用记录",
    "payment": "企业付款",
    "delivery": "结果交付",
    "rating": "服务评价",
}
EXPORT_HEADER: list[object] = [
    "序号",
    "服务单位",
    "预约号",
    "企业",
    "服务费（元）",
    "创新券兑付金额（元）",
    "完成时间",
    "列入本批次",
    "缺失凭证",
    "服务评价",
    "服务单位ID",
    "预约ID",
]
AMOUNT_COLUMNS = (4, 5)  # 0-based: 服务费, 兑付金额
YUAN_FORMAT = "#,##0.00"


def _row(n: int, line: SettlementLineOut) -> list[object]:
    return [
        n,
        line.unit_name,
        line.booking_number,
        line.enterprise_name,
        line.fee_fen,
        line.voucher_fen,
        public_moment_text(line.captured_at),
        "是" if line.included else "否（暂缓：凭证不全）",
        "、".join(EVIDENCE_LABELS.get(kind, kind) for kind in line.missing_evidence),
        line.rating_label,
        str(line.unit_id),
        str(line.booking_id),
    ]


def _total(out: SettlementOut) -> list[object]:
    return ["合计", "", "", "", None, out.total_fen, "", f"{len(out.lines)} 笔", "", "", "", ""]


def export_rows(out: SettlementOut) -> list[list[object]]:
    """Header, one row per line (included first), the total; amounts in fen (int) until written."""
    lines = [*out.lines, *out.held_back]
    return [EXPORT_HEADER.copy(), *(_row(n, line) for n, line in enumerate(lines, start=1)), _total(out)]


def csv_bytes(rows: list[list[object]], amount_columns: tuple[int, ...]) -> bytes:
    """Rows (a header first) as the finance office's CSV: amounts in fen become yuan text."""
    for row in rows[1:]:
        for i in amount_columns:
            fen = row[i]
            row[i] = fen_to_yuan(fen) if isinstance(fen, int) else ""
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue().encode("utf-8-sig")  # with BOM: Excel opens it as UTF-8


def export_csv(out: SettlementOut) -> bytes:
    return csv_bytes(export_rows(out), AMOUNT_COLUMNS)


def export_xlsx(out: SettlementOut) -> bytes:
    heading: list[object] = [
        f"创新券兑付批次 {out.id}",
        f"{out.period_start} 至 {out.period_end}",
        f"状态：{STATUS_LABELS[out.status]}",
    ]
    return xlsx_bytes("兑付明细", heading, export_rows(out), AMOUNT_COLUMNS)


def xlsx_bytes(
    title: str, heading: list[object], rows: list[list[object]], amount_columns: tuple[int, ...]
) -> bytes:
    """A one-sheet workbook: a heading row, then the rows (a header first); amounts in fen become
    yuan numbers formatted ``#,##0.00``."""
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = title
    sheet.append(heading)
    for row in rows:
        sheet.append(
            [Decimal(v) / 100 if i in amount_columns and isinstance(v, int) else v for i, v in enumerate(row)]
        )
    for column in amount_columns:
        for (cell,) in sheet.iter_rows(min_row=3, min_col=column + 1, max_col=column + 1):
            cell.number_format = YUAN_FORMAT
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
