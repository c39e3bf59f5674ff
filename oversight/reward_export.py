"""A reward batch as the finance office files it (CSV or XLSX, as the settlement export does):
one row per unit with its total, then a row per instrument and kind with how its amount came
about (basis, the rule's result, after the instrument cap, after the unit cap)."""

from __future__ import annotations

from oversight.reward_schemas import RewardBatchOut
from vouchers.rules import fen_to_yuan
from vouchers.settlement_export import STATUS_LABELS, csv_bytes, xlsx_bytes

HEADER: list[object] = [
    "序号",
    "单位",
    "年度绩效等次",
    "仪器",
    "奖励类别",
    "对外服务收费/保费（元）",
    "服务笔数",
    "按比例计算（元）",
    "单台封顶后（元）",
    "奖励金额（元）",
    "单位封顶",
    "单位ID",
    "仪器ID",
]
AMOUNT_COLUMNS = (5, 7, 8, 9)


def export_rows(out: RewardBatchOut) -> list[list[object]]:
    rows: list[list[object]] = [HEADER.copy()]
    for n, line in enumerate(out.lines, start=1):
        rows.append(
            [
                n,
                line.unit_name,
                line.grade or "",
                "（单位合计）",
                "",
                None,
                sum(i.bookings for i in line.items),
                None,
                None,
                line.amount_fen,
                "是" if line.unit_capped else "否",
                str(line.unit_id),
                "",
            ]
        )
        rows += [
            [
                "",
                line.unit_name,
                "",
                item.instrument_name,
                item.kind_label,
                item.basis_fen,
                item.bookings,
                item.computed_fen,
                item.capped_fen,
                item.amount_fen,
                "",
                str(line.unit_id),
                str(item.instrument_id),
            ]
            for item in line.items
        ]
    rows.append(
        ["合计", f"{len(out.lines)} 家单位", "", "", "", None, None, None, None, out.total_fen, "", "", ""]
    )
    return rows


def export_csv(out: RewardBatchOut) -> bytes:
    return csv_bytes(export_rows(out), AMOUNT_COLUMNS)


def export_xlsx(out: RewardBatchOut) -> bytes:
    heading: list[object] = [
        f"{out.year}年度大型科研仪器共享奖励批次 {out.id}",
        f"共享奖励 {fen_to_yuan(out.sharing_fen)} 元；共享保补助 {fen_to_yuan(out.insurance_fen)} 元",
        f"状态：{STATUS_LABELS[out.status]}",
    ]
    return xlsx_bytes("奖励明细", heading, export_rows(out), AMOUNT_COLUMNS)
