"""WeChat Pay's documents as we read them: an order (transaction) and a refund, whether they
come from a query or from a decrypted notification; unknown fields are ignored, as the protocol
adds fields over time."""

from __future__ import annotations

import msgspec


class Amount(msgspec.Struct, kw_only=True):
    total: int  # fen
    payer_total: int | None = None
    currency: str = "CNY"


class Transaction(msgspec.Struct, kw_only=True):
    out_trade_no: str
    trade_state: str  # SUCCESS, REFUND, NOTPAY, CLOSED, REVOKED, USERPAYING, PAYERROR
    transaction_id: str = ""
    trade_type: str = ""
    success_time: str = ""
    amount: Amount | None = None
    mchid: str = ""
    sp_mchid: str = ""
    sub_mchid: str = ""
    attach: str = ""

    @property
    def paid(self) -> bool:
        # REFUND: it was paid, then (some of it) refunded; the payment itself stands
        return self.trade_state in ("SUCCESS", "REFUND")


class RefundAmount(msgspec.Struct, kw_only=True):
    refund: int
    total: int
    currency: str = "CNY"


class Refund(msgspec.Struct, kw_only=True):
    out_refund_no: str
    out_trade_no: str = ""
    refund_id: str = ""
    transaction_id: str = ""
    # the query names it ``status``, the notification ``refund_status``
    status: str = ""
    refund_status: str = ""
    success_time: str = ""
    amount: RefundAmount | None = None

    @property
    def state(self) -> str:  # SUCCESS, PROCESSING, CLOSED, ABNORMAL
        return self.status or self.refund_status


class ErrorAnswer(msgspec.Struct, kw_only=True):
    code: str = ""
    message: str = ""
