"""WeChat Pay's daily trade bill (交易账单, ``bill_type=ALL``) read into lines.

The file is CSV: a header row, one row per payment or refund with every field prefixed by a
backtick (so spreadsheets keep long numbers as text), then a totals header and a totals row.
Amounts are yuan with two decimals; we read them into fen. Columns are found by their names,
not positions, since the bill of a service provider has more of them than a merchant's.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation


class BillFormatError(ValueError):
    pass


@dataclass(frozen=True)
class BillLine:
    traded_at: str  # as the bill says it: Asia/Shanghai, "YYYY-MM-DD HH:MM:SS"
    transaction_id: str
    out_trade_no: str
    trade_state: str  # SUCCESS (a payment) or REFUND (a refund of it)
    paid_fen: int  # 应结订单金额 on a payment row
    refund_id: str
    out_refund_no: str
    refund_fen: int  # 退款金额 on a refund row
    refund_state: str


@dataclass(frozen=True)
class TradeBill:
    lines: list[BillLine]
    count: int  # 总交易单数
    paid_fen: int  # 应结订单总金额
    refunded_fen: int  # 退款总金额


def yuan_to_fen(text: str) -> int:
    try:
        value = Decimal(text or "0") * 100
    except InvalidOperation:
        raise BillFormatError(f"not an amount: {text!r}") from None
    if value != value.to_integral_value():
        raise BillFormatError(f"amount below one fen: {text!r}")
    return int(value)


def _clean(row: list[str]) -> list[str]:
    return [cell.strip().removeprefix("`") for cell in row]


def parse_trade_bill(text: str) -> TradeBill:
    rows = [_clean(row) for row in csv.reader(io.StringIO(text)) if any(cell.strip() for cell in row)]
    try:
        totals_at = next(i for i, row in enumerate(rows) if row and row[0] == "总交易单数")
    except StopIteration:
        raise BillFormatError("no totals row") from None
    if not rows or totals_at + 1 >= len(rows):
        raise BillFormatError("incomplete bill")
    header, body = rows[0], rows[1:totals_at]
    totals = dict(zip(rows[totals_at], rows[totals_at + 1], strict=False))
    try:
        col = {name: header.index(name) for name in _COLUMNS}
    except ValueError as exc:
        raise BillFormatError(f"missing column: {exc}") from None
    lines = [
        BillLine(
            traded_at=row[col["交易时间"]],
            transaction_id=row[col["微信订单号"]],
            out_trade_no=row[col["商户订单号"]],
            trade_state=row[col["交易状态"]],
            paid_fen=yuan_to_fen(row[col["应结订单金额"]]),
            refund_id=row[col["微信退款单号"]].strip("0") and row[col["微信退款单号"]],
            out_refund_no=row[col["商户退款单号"]].strip("0") and row[col["商户退款单号"]],
            refund_fen=yuan_to_fen(row[col["退款金额"]]),
            refund_state=row[col["退款状态"]],
        )
        for row in body
    ]
    return TradeBill(
        lines=lines,
        count=int(totals.get("总交易单数", "0") or 0),
        paid_fen=yuan_to_fen(totals.get("应结订单总金额", "0")),
        refunded_fen=yuan_to_fen(totals.get("退款总金额", "0")),
    )


_COLUMNS = (
    "交易时间",
    "微信订单号",
    "商户订单号",
    "交易状态",
    "应结订单金额",
    "微信退款单号",
    "商户退款单号",
    "退款金额",
    "退款状态",
)
