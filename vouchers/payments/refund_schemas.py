"""What the API speaks about fee corrections, WeChat Pay refunds and the daily reconciliation."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any

import msgspec

from vouchers.models import FeeCorrection, PaymentReconciliation, PaymentRefund, RefundStatus
from vouchers.schemas import MAX_FEN, Reason
from yixiang.schemas import Input, Output


class FeeCorrectionIn(Input):
    # the corrected final fee; 0 waives the whole charge (the service cancelled after payment)
    fee_fen: Annotated[int, msgspec.Meta(ge=0, le=MAX_FEN)]
    reason: Reason


class RefundOut(Output):
    id: uuid.UUID
    booking_id: uuid.UUID
    out_refund_no: str
    amount_fen: int
    cause: str
    reason: str
    status: RefundStatus
    requested_at: datetime
    finished_at: datetime | None
    last_error: str

    @classmethod
    def of(cls, refund: PaymentRefund) -> RefundOut:
        return cls(
            id=refund.id,
            booking_id=refund.booking_id,
            out_refund_no=refund.out_refund_no,
            amount_fen=refund.amount_fen,
            cause=refund.cause,
            reason=refund.reason,
            status=refund.status,
            requested_at=refund.requested_at,
            finished_at=refund.finished_at,
            last_error=refund.last_error,
        )


class FeeCorrectionOut(Output):
    id: uuid.UUID
    booking_id: uuid.UUID
    waiver: bool
    old_fee_fen: int
    new_fee_fen: int
    old_voucher_fen: int
    new_voucher_fen: int
    cash_refund_fen: int  # back through WeChat Pay
    offline_refund_fen: int  # paid by transfer: the unit returns it outside the platform
    due_fen: int  # what the firm still owes after the correction
    reason: str
    corrected_at: datetime
    refunds: list[RefundOut]

    @classmethod
    def of(cls, correction: FeeCorrection, due_fen: int, refunds: list[PaymentRefund]) -> FeeCorrectionOut:
        return cls(
            id=correction.id,
            booking_id=correction.booking_id,
            waiver=correction.waiver,
            old_fee_fen=correction.old_fee_fen,
            new_fee_fen=correction.new_fee_fen,
            old_voucher_fen=correction.old_voucher_fen,
            new_voucher_fen=correction.new_voucher_fen,
            cash_refund_fen=correction.cash_refund_fen,
            offline_refund_fen=correction.offline_refund_fen,
            due_fen=due_fen,
            reason=correction.reason,
            corrected_at=correction.corrected_at,
            refunds=[RefundOut.of(r) for r in refunds],
        )


class ReconcileIn(Input):
    day: date  # the bill's day, Asia/Shanghai
    sub_mchid: Annotated[str, msgspec.Meta(max_length=32, pattern=r"^[0-9]*$")] = ""  # "": direct merchant


class PaymentReconciliationOut(Output):
    id: uuid.UUID
    day: date
    mchid: str
    sub_mchid: str
    bill_lines: int
    bill_total_fen: int
    ledger_total_fen: int
    differences: list[dict[str, Any]]
    checked_at: datetime

    @classmethod
    def of(cls, result: PaymentReconciliation) -> PaymentReconciliationOut:
        return cls(
            id=result.id,
            day=result.day,
            mchid=result.mchid,
            sub_mchid=result.sub_mchid,
            bill_lines=result.bill_lines,
            bill_total_fen=result.bill_total_fen,
            ledger_total_fen=result.ledger_total_fen,
            differences=list(result.differences.get("lines", [])),
            checked_at=result.checked_at,
        )
