"""The Structs the voucher API speaks (money in integer fen, ratios in basis points)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any

import msgspec

from vouchers.models import (
    ApplicationStatus,
    CheckoutState,
    GrantStatus,
    InvoiceKind,
    InvoiceStatus,
    PaymentChannel,
    PaymentMethod,
    PaymentOrderStatus,
    ProgramStatus,
    SettlementStatus,
)
from yixiang.schemas import Input, Output

MAX_FEN = 10**13  # 1000 亿元: far above any programme, far below BIGINT
FenIn = Annotated[int, msgspec.Meta(ge=1, le=MAX_FEN)]
RegionCode = Annotated[str, msgspec.Meta(pattern=r"^\d{6}$")]
CategoryPrefix = Annotated[str, msgspec.Meta(pattern=r"^\d{2,8}$")]
Reason = Annotated[str, msgspec.Meta(min_length=2, max_length=500)]


class ProgramIn(Input):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    year: Annotated[int, msgspec.Meta(ge=2000, le=2100)]
    budget_fen: FenIn
    coverage_bp: Annotated[int, msgspec.Meta(ge=1, le=10_000)]
    per_order_cap_fen: FenIn
    per_firm_year_cap_fen: FenIn
    valid_from: date
    valid_until: date
    requires_tech_sme: bool = True
    accepted_region_codes: Annotated[list[RegionCode], msgspec.Meta(max_length=100)] = []
    cross_region: bool = False
    accepted_unit_ids: Annotated[list[uuid.UUID], msgspec.Meta(max_length=500)] = []
    accepted_category_codes: Annotated[list[CategoryPrefix], msgspec.Meta(max_length=100)] = []
    bureau_id: uuid.UUID | None = None


class ProgramOut(Output):
    id: uuid.UUID
    bureau_id: uuid.UUID
    region_code: str
    name: str
    year: int
    budget_fen: int
    budget_available_fen: int
    coverage_bp: int
    per_order_cap_fen: int
    per_firm_year_cap_fen: int
    valid_from: date
    valid_until: date
    requires_tech_sme: bool
    accepted_region_codes: list[str]
    cross_region: bool
    accepted_unit_ids: list[str]
    accepted_category_codes: list[str]
    status: ProgramStatus


class GrantIn(Input):
    enterprise_id: uuid.UUID
    amount_fen: FenIn
    note: Annotated[str, msgspec.Meta(max_length=500)] = ""


class GrantOut(Output):
    id: uuid.UUID
    program_id: uuid.UUID
    program_name: str
    enterprise_id: uuid.UUID
    amount_fen: int
    balance_fen: int
    held_fen: int
    expires_on: date
    status: GrantStatus
    note: str
    created_at: datetime


class GrantImportOut(Output):
    imported: int
    total_fen: int
    grants: list[GrantOut]


class AdjustmentIn(Input):
    grant_id: uuid.UUID
    amount_fen: Annotated[int, msgspec.Meta(ge=-MAX_FEN, le=MAX_FEN)]  # + from budget, − back to it
    reason: Reason


class RefundIn(Input):
    amount_fen: FenIn
    reason: Reason


class EntryOut(Output):
    entry_id: uuid.UUID | None


class EvidenceOut(Output):
    at: datetime
    detail: dict[str, Any]


class InvoiceOut(Output):
    """发票 / 财政票据 of a booking: the firm's request and the provider's answer."""

    booking_id: uuid.UUID
    booking_number: str
    status: InvoiceStatus
    status_label: str  # 待开具, 已开具, 已拒绝
    kind: InvoiceKind
    kind_label: str  # 增值税普通发票, 增值税专用发票, 财政票据
    title: str
    tax_number: str
    email: str
    amount_fen: int  # what the firm paid for the booking
    requested_at: datetime
    answered_at: datetime | None
    invoice_number: str
    reject_reason: str
    file_name: str
    file_size: int
    file_url: str | None  # the firm downloads the issued invoice here


class StatementOut(Output):
    booking_id: uuid.UUID
    booking_number: str  # 预约号: what the transfer's memo quotes
    state: CheckoutState
    fee_fen: int
    quoted_fee_fen: int
    voucher_fen: int
    refunded_fen: int
    due_fen: int  # still owed by the firm (0 once its payment is recorded)
    paid_fen: int  # what the firm paid, as the provider recorded it
    held_fen: int
    program_id: uuid.UUID | None
    program_name: str | None
    payment_method: PaymentMethod
    payment_received_at: datetime | None
    payment_reference: str
    payment_instructions: str
    evidence: dict[str, EvidenceOut | None]
    evidence_complete: bool
    cash_refunded_fen: int = 0  # what WeChat Pay paid back to the firm of what it paid
    invoice: InvoiceOut | None = None  # the firm's invoice request and the provider's answer


class PaymentReceivedIn(Input):
    reference: Annotated[str, msgspec.Meta(max_length=100)] = ""


class HoldOut(Output):
    booking_id: uuid.UUID
    booking_number: str
    held_fen: int
    quoted_fee_fen: int
    held_at: datetime


class HistoryOut(Output):
    """One event of a firm's vouchers, as people read it (vouchers/history.py)."""

    at: datetime
    kind: str  # grant | hold | capture | release | expiry | refund | adjustment
    label: str  # 发放 | 冻结 | 抵扣 | 释放 | 到期收回 | 退回 | 调增 | 调减
    amount_fen: int  # what the label speaks of, ≥ 0 (frozen, spent, released, granted ...)
    amount_yuan: str  # the same in yuan, "450.00"
    text: str  # the line a person reads: "冻结 450.00 元（预约 YX20261202-0A7F3C）：..."
    available_change_fen: int  # signed change of the available balance
    held_change_fen: int  # signed change of the held amount
    booking_id: uuid.UUID | None
    booking_number: str | None
    program_id: uuid.UUID | None
    program_name: str | None
    reason: str


class FirmProgramOut(Output):
    """A programme the firm holds grants of: its coverage and caps, and what is left this year."""

    program_id: uuid.UUID
    program_name: str
    enterprise_id: uuid.UUID
    coverage_bp: int  # basis points of a fee the voucher pays (5000 = 50%)
    coverage_percent: str  # "50%"
    per_order_cap_fen: int  # most one booking's share may be
    per_firm_year_cap_fen: int  # most the firm may use under the programme in a calendar year
    year: int  # the calendar year (Asia/Shanghai) the next two count
    used_this_year_fen: int  # held or captured this year
    left_this_year_fen: int  # the per-firm-year cap minus what was used (≥ 0)
    available_fen: int  # the firm's active grants' balance under the programme
    usable_fen: int  # what bookings can still draw: the smaller of the two above
    valid_until: date
    summary: str  # the same in a sentence


class MyVouchersOut(Output):
    enterprise_ids: list[uuid.UUID]
    available_fen: int
    held_fen: int
    grants: list[GrantOut]
    programs: list[FirmProgramOut]
    holds: list[HoldOut]  # the newest vouchers.wallet.HOLDS_LIMIT
    holds_count: int  # every open hold, listed or not
    history: list[HistoryOut]


class SettlementIn(Input):
    period_start: date
    period_end: date
    bureau_id: uuid.UUID | None = None


class SettlementLineOut(Output):
    booking_id: uuid.UUID
    booking_number: str
    program_id: uuid.UUID
    unit_id: uuid.UUID
    unit_name: str
    enterprise_id: uuid.UUID
    enterprise_name: str
    fee_fen: int
    voucher_fen: int
    captured_at: datetime
    included: bool
    missing_evidence: list[str]
    # The rating link (seed 004 §(十一)): rated, window_passed (no rating in the window) or waiting
    rating_status: str = "waiting"
    rating_label: str = ""  # 已评价, 评价期已过（未评价）, 待评价
    rating_window_closes_at: datetime | None = None


class ProviderTotalOut(Output):
    unit_id: uuid.UUID
    unit_name: str
    lines: int
    voucher_fen: int


class SettlementOut(Output):
    id: uuid.UUID
    bureau_id: uuid.UUID
    region_code: str
    period_start: date
    period_end: date
    status: SettlementStatus
    status_label: str  # 草稿, 已提交, 已审核, 已付款, 已对账, 已作废
    total_fen: int
    held_back_fen: int
    bank_reference: str
    providers: list[ProviderTotalOut]
    lines: list[SettlementLineOut]
    held_back: list[SettlementLineOut]
    created_at: datetime
    submitted_at: datetime | None
    approved_at: datetime | None
    paid_at: datetime | None
    reconciled_at: datetime | None


class SettlementSummaryOut(Output):
    """A batch in a list: its amounts and counts, without its lines."""

    id: uuid.UUID
    bureau_id: uuid.UUID
    region_code: str
    period_start: date
    period_end: date
    status: SettlementStatus
    status_label: str
    total_fen: int
    held_back_fen: int
    lines: int  # included lines (paid by the batch)
    held_back_lines: int
    bank_reference: str
    created_at: datetime
    submitted_at: datetime | None
    approved_at: datetime | None
    paid_at: datetime | None
    reconciled_at: datetime | None


class SettlementPage(Output):
    items: list[SettlementSummaryOut]
    total: int
    limit: int
    offset: int


class MarkPaidIn(Input):
    bank_reference: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]


class ReconciliationOut(Output):
    settlement_id: uuid.UUID
    batch_total_fen: int
    ledger_captured_fen: int  # captures net of refunds of the batch's bookings, from the journal
    ledger_settled_fen: int  # what the settlement entry moved to the providers' settled accounts
    period_captured_fen: int  # all captures of the issuer's programmes in the period
    period_held_back_fen: int  # of which listed apart (incomplete evidence)
    period_settled_elsewhere_fen: int  # of which in other batches
    period_unlisted_fen: int  # of which in no batch yet (captured after this batch was drawn)
    difference_fen: int
    balanced: bool
    mismatched_lines: list[dict[str, Any]]


class LedgerCheckOut(Output):
    ok: bool
    accounts_checked: int
    entries_checked: int
    differences: list[dict[str, Any]]
    overdrafts: list[dict[str, Any]]
    unbalanced_entries: list[dict[str, Any]]
    entries_without_lines: int
    hold_mismatches: list[dict[str, Any]]
    # per unit: cash clearing balance against paid orders minus succeeded refunds
    cash_mismatches: list[dict[str, Any]]


# --- applications (申领) --------------------------------------------------------------------------
class ApplicationIn(Input):
    program_id: uuid.UUID
    enterprise_id: uuid.UUID
    requested_fen: FenIn
    contact_name: Annotated[str, msgspec.Meta(min_length=1, max_length=50)]
    contact_phone: Annotated[str, msgspec.Meta(pattern=r"^[0-9+\- ]{5,20}$")]
    tech_sme_number: Annotated[str, msgspec.Meta(max_length=40)] = ""
    purpose: Annotated[str, msgspec.Meta(max_length=2000)] = ""


class DecisionIn(Input):
    reason: Annotated[str, msgspec.Meta(max_length=1000)] = ""
    approved_fen: FenIn | None = None  # approve only; default: the requested amount


class ApplicationEventOut(Output):
    action: str
    actor_id: uuid.UUID
    reason: str
    amount_fen: int | None
    at: datetime


class AttachmentOut(Output):
    id: uuid.UUID
    name: str
    content_type: str
    size: int
    sha256: str
    uploaded_at: datetime
    url: str


class ApplicationOut(Output):
    id: uuid.UUID
    program_id: uuid.UUID
    program_name: str
    enterprise_id: uuid.UUID
    applicant_id: uuid.UUID
    status: ApplicationStatus
    status_text: str
    requested_fen: int
    approved_fen: int | None
    grant_id: uuid.UUID | None
    tech_sme_number: str
    contact_name: str
    contact_phone: str
    purpose: str
    submitted_at: datetime
    decided_at: datetime | None
    decision_reason: str
    history: list[ApplicationEventOut] | None = None
    attachments: list[AttachmentOut] | None = None


class ApplicationPage(Output):
    items: list[ApplicationOut]
    total: int
    limit: int
    offset: int


class OpenProgramOut(Output):
    id: uuid.UUID
    name: str
    region_code: str
    coverage_bp: int
    per_order_cap_fen: int
    per_firm_year_cap_fen: int
    valid_from: date
    valid_until: date
    requires_tech_sme: bool


class ClearingLineOut(Output):
    """One booking paid by a voucher of one region at a provider of another (通用通兑)."""

    direction: str  # out: our voucher, their provider; in: their voucher, our provider
    direction_label: str  # 本地券异地使用, 异地券本地使用
    booking_id: uuid.UUID
    booking_number: str
    program_id: uuid.UUID
    program_name: str
    issuer_region_code: str  # the programme's region: its bureau's settlement batch pays
    provider_region_code: str  # the instrument's region
    unit_id: uuid.UUID
    unit_name: str
    enterprise_id: uuid.UUID
    enterprise_name: str
    fee_fen: int
    voucher_fen: int  # captured share, net of refunds
    captured_at: datetime
    settlement_id: uuid.UUID | None  # the issuer's batch that settles it (none yet: null)
    settlement_status: SettlementStatus | None
    settlement_label: str  # the batch's status in words, or 未列入兑付批次


class ClearingCounterpartOut(Output):
    region_code: str
    region_name: str
    out_bookings: int
    out_voucher_fen: int  # our vouchers spent at their providers (our batches pay them)
    out_settled_fen: int  # of which paid by a batch of ours (paid or reconciled)
    in_bookings: int
    in_voucher_fen: int  # their vouchers spent at our providers (their batches pay them)
    in_settled_fen: int
    net_fen: int  # in - out: what our providers received from them beyond what we spent there
    lines: list[ClearingLineOut]


class ClearingOut(Output):
    """清算对账单: a bureau's cross-region voucher use against every other region, for a period."""

    region_code: str
    region_name: str
    period_start: date
    period_end: date
    out_voucher_fen: int
    in_voucher_fen: int
    net_fen: int
    counterparts: list[ClearingCounterpartOut]


# ASCII only: the same in every regex engine a client validates with (JSON Schema's is ECMA's)
EMAIL_PATTERN = r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$"
Email = Annotated[str, msgspec.Meta(max_length=200, pattern=EMAIL_PATTERN)]


class InvoiceIn(Input):
    kind: InvoiceKind
    title: Annotated[str, msgspec.Meta(min_length=2, max_length=200)]  # 发票抬头
    # 纳税人识别号: the USCC (18) or an older number (15, 17, 20); not needed for 财政票据
    email: Email
    tax_number: Annotated[str, msgspec.Meta(pattern=r"^([0-9A-Z]{15}|[0-9A-Z]{17,18}|[0-9A-Z]{20})?$")] = ""


class InvoiceRejectIn(Input):
    reason: Reason


class InvoicePage(Output):
    items: list[InvoiceOut]
    total: int
    limit: int
    offset: int


class PaymentOrderIn(Input):
    channel: PaymentChannel = PaymentChannel.jsapi  # jsapi: in WeChat; native: a QR code at a desk


class PaymentOrderOut(Output):
    out_trade_no: str  # 商户订单号: what WeChat Pay's bill and the firm's receipt show
    booking_id: uuid.UUID
    amount_fen: int
    channel: PaymentChannel
    status: PaymentOrderStatus
    expires_at: datetime
    paid_at: datetime | None
    refunded_fen: int
    summary: str  # what the payer reads: 请在微信中确认支付 120.00 元 ...
    code_url: str | None  # native: the QR code's content
    # jsapi: what the mini-program passes to wx.requestPayment (appId, timeStamp, nonceStr,
    # package, signType, paySign)
    jsapi: dict[str, str] | None
