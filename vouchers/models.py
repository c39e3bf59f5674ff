"""What the voucher data is: programmes, grants, the double-entry ledger, checkouts, settlements.

Money is integer fen in BIGINT columns. The ledger is the source of truth: every balance is the
sum of its journal lines; ``LedgerAccount.balance_fen`` is a cache that ``ledger/check`` proves.
Booking ids are plain indexed UUIDs (vouchers does not know the booking table: booking → vouchers).
"""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from yixiang.db import Base, Timestamps, UUIDPrimaryKey, utcnow

Fen = BigInteger
BigId = BigInteger().with_variant(Integer, "sqlite")


def _enum(cls: type[enum.Enum]) -> Enum:
    return Enum(cls, native_enum=False, length=32, values_callable=lambda e: [m.value for m in e])


class ProgramStatus(enum.StrEnum):
    active = "active"
    closed = "closed"  # past its validity: grants expired, unused amounts back in budget


class GrantStatus(enum.StrEnum):
    active = "active"
    expired = "expired"


class AccountKind(enum.StrEnum):
    funding = "funding"  # the bureau's appropriation: goes negative by the programme budget
    budget = "budget"  # the programme's unallocated budget
    grant = "grant"  # a firm's available voucher balance under one grant
    hold = "hold"  # amounts held for confirmed bookings, per grant
    receivable = "receivable"  # owed by the issuer to a provider unit (captured, not yet paid)
    settled = "settled"  # paid to a provider unit through a settlement batch
    # sharing rewards (oversight.rewards): the bureau's reward appropriation, a unit's approved
    # reward not yet paid, and paid
    reward_budget = "reward_budget"
    reward_payable = "reward_payable"
    reward_paid = "reward_paid"
    # Real money, per provider unit (no programme): what WeChat Pay collected from firms for the
    # unit and holds until it pays the unit out, against the fees firms paid through it.
    cash_clearing = "cash_clearing"
    firm_payments = "firm_payments"


class EntryKind(enum.StrEnum):
    funding = "funding"
    grant = "grant"
    hold = "hold"
    capture = "capture"
    release = "release"
    expiry = "expiry"
    refund = "refund"
    adjustment = "adjustment"
    settlement = "settlement"
    reward = "reward"  # a reward batch approved (budget → payable) or paid (payable → paid)
    payment = "payment"  # a firm paid the amount due through WeChat Pay
    cash_refund = "cash_refund"  # WeChat Pay returned (part of) such a payment


class CheckoutState(enum.StrEnum):
    held = "held"  # confirmed: the voucher share of the quoted fee is held (may be 0)
    captured = "captured"  # completed: the share of the final fee is captured
    released = "released"  # cancelled / rejected / expired / no-show: the hold went back


class PaymentMethod(enum.StrEnum):
    corporate_transfer = "corporate_transfer"  # 对公转账: the provider marks it received
    wechat_pay = "wechat_pay"  # a payment order the firm pays in WeChat (vouchers/payments/)


class SettlementStatus(enum.StrEnum):
    draft = "draft"
    submitted = "submitted"
    approved = "approved"
    paid = "paid"
    reconciled = "reconciled"
    discarded = "discarded"  # a draft drawn wrongly: its bookings are free for another batch


class VoucherProgram(UUIDPrimaryKey, Timestamps, Base):
    """创新券批次: issued by a bureau for its region, with the rules of its use."""

    __tablename__ = "voucher_programs"
    __table_args__ = (
        CheckConstraint("coverage_bp > 0 AND coverage_bp <= 10000", name="coverage_range"),
        CheckConstraint("budget_fen >= 0", name="budget_nonnegative"),
    )

    bureau_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), index=True)
    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code"), index=True)  # the issuer's
    name: Mapped[str] = mapped_column(String(200))
    year: Mapped[int]
    budget_fen: Mapped[int] = mapped_column(Fen)
    coverage_bp: Mapped[int]  # basis points of each fee the voucher pays (5000 = 50%)
    per_order_cap_fen: Mapped[int] = mapped_column(Fen)
    per_firm_year_cap_fen: Mapped[int] = mapped_column(Fen)
    valid_from: Mapped[date]  # inclusive, Asia/Shanghai calendar days
    valid_until: Mapped[date]  # inclusive; grants expire after this day
    requires_tech_sme: Mapped[bool] = mapped_column(default=True)
    # Where providers may be (GB/T 2260 codes, a province or city code covers its children);
    # empty means the issuer's own region. Outside it only if cross_region (通用通兑) is allowed.
    accepted_region_codes: Mapped[list[str]] = mapped_column(default=list)
    cross_region: Mapped[bool] = mapped_column(default=False)
    accepted_unit_ids: Mapped[list[str]] = mapped_column(default=list)  # empty: any provider
    accepted_category_codes: Mapped[list[str]] = mapped_column(default=list)  # prefixes; empty: any
    status: Mapped[ProgramStatus] = mapped_column(_enum(ProgramStatus), default=ProgramStatus.active)
    created_by: Mapped[uuid.UUID | None]
    closed_at: Mapped[datetime | None]


class VoucherGrant(UUIDPrimaryKey, Base):
    """An amount given to one firm under a programme; expires with the programme."""

    __tablename__ = "voucher_grants"
    __table_args__ = (Index("ix_voucher_grants_firm_status", "enterprise_id", "status"),)

    program_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("voucher_programs.id"), index=True)
    enterprise_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"))
    amount_fen: Mapped[int] = mapped_column(Fen)
    expires_on: Mapped[date]  # last valid day (Asia/Shanghai) = the programme's valid_until
    status: Mapped[GrantStatus] = mapped_column(_enum(GrantStatus), default=GrantStatus.active)
    note: Mapped[str] = mapped_column(String(500), default="")
    key: Mapped[str] = mapped_column(String(200), unique=True)
    created_by: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expired_at: Mapped[datetime | None]


class LedgerAccount(Base):
    """One account; its code says what it is (``grant:<id>``, ``receivable:<program>:<unit>`` ...)."""

    __tablename__ = "ledger_accounts"
    __table_args__ = (
        # The database's own guard against overspending, behind the locks and conditional updates.
        CheckConstraint("may_go_negative OR balance_fen >= 0", name="no_overdraft"),
    )

    code: Mapped[str] = mapped_column(String(120), primary_key=True)
    kind: Mapped[AccountKind] = mapped_column(_enum(AccountKind))
    # None for the real-money accounts of a unit (cash_clearing, firm_payments)
    program_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("voucher_programs.id"), index=True)
    # indexed: a firm's statement finds its grants' accounts by grant (issue 25, docs/growth.md)
    grant_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("voucher_grants.id"), index=True)
    enterprise_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    unit_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    may_go_negative: Mapped[bool] = mapped_column(default=False)
    # Cache of SUM(lines) for budget, grant and hold accounts (checked); unused (0) for the others.
    balance_fen: Mapped[int] = mapped_column(Fen, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class JournalEntry(UUIDPrimaryKey, Base):
    """An append-only ledger entry: its lines sum to zero; it names its cause and its actor."""

    __tablename__ = "journal_entries"

    key: Mapped[str] = mapped_column(String(200), unique=True)  # idempotency: one entry per key
    kind: Mapped[EntryKind] = mapped_column(_enum(EntryKind), index=True)
    program_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    grant_id: Mapped[uuid.UUID | None]
    booking_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    settlement_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    actor_id: Mapped[uuid.UUID | None]
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class JournalLine(Base):
    __tablename__ = "journal_lines"
    __table_args__ = (
        CheckConstraint("amount_fen <> 0", name="nonzero"),
        # An account's lines newest first: a firm's history reads its newest entries per account
        # without reading its years (issue 25, docs/growth.md); also the account's own lookups.
        Index("ix_journal_lines_account_time", "account_code", "created_at", "entry_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    entry_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("journal_entries.id"), index=True)
    account_code: Mapped[str] = mapped_column(ForeignKey("ledger_accounts.code"))
    amount_fen: Mapped[int] = mapped_column(Fen)
    # The entry's time, copied at insert (lines are append-only, so it never drifts).
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class VoucherCheckout(Base):
    """Vouchers' record of one booking's checkout: what was held, captured and is due."""

    __tablename__ = "voucher_checkouts"
    __table_args__ = (
        Index("ix_voucher_checkouts_usage", "enterprise_id", "program_id", "usage_year"),
        Index("ix_voucher_checkouts_captured", "state", "captured_at"),
    )

    booking_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    # The booking's number (预约号) as booking gave it: what memos, statements and exports show.
    booking_number: Mapped[str] = mapped_column(String(17), default="", server_default="")
    enterprise_id: Mapped[uuid.UUID] = mapped_column(index=True)
    unit_id: Mapped[uuid.UUID] = mapped_column(index=True)
    instrument_id: Mapped[uuid.UUID]
    region_code: Mapped[str] = mapped_column(String(6))
    category_code: Mapped[str] = mapped_column(String(8))
    program_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("voucher_programs.id"))
    state: Mapped[CheckoutState] = mapped_column(_enum(CheckoutState))
    usage_year: Mapped[int]  # Asia/Shanghai year whose per-firm cap this checkout counts against
    quoted_fee_fen: Mapped[int] = mapped_column(Fen)
    held_fen: Mapped[int] = mapped_column(Fen, default=0)
    fee_fen: Mapped[int] = mapped_column(Fen)  # final fee after capture (quoted before)
    voucher_fen: Mapped[int] = mapped_column(Fen, default=0)  # captured share, net of refunds
    refunded_fen: Mapped[int] = mapped_column(Fen, default=0)
    due_fen: Mapped[int] = mapped_column(Fen, default=0)  # still owed by the firm: 0 once paid
    paid_fen: Mapped[int] = mapped_column(Fen, default=0, server_default="0")  # the firm's payment
    # what was paid back of it (a fee correction or a cancellation after payment)
    cash_refunded_fen: Mapped[int] = mapped_column(Fen, default=0, server_default="0")
    payment_method: Mapped[PaymentMethod] = mapped_column(
        _enum(PaymentMethod), default=PaymentMethod.corporate_transfer
    )
    payment_received_at: Mapped[datetime | None]
    payment_received_by: Mapped[uuid.UUID | None]
    payment_reference: Mapped[str] = mapped_column(String(100), default="")
    held_at: Mapped[datetime] = mapped_column(default=utcnow)
    captured_at: Mapped[datetime | None]
    released_at: Mapped[datetime | None]
    release_reason: Mapped[str] = mapped_column(String(200), default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # The researcher who booked (booking's user): with the firm's admins, who may ask for the
    # invoice. None for checkouts recorded before it was kept.
    booked_by: Mapped[uuid.UUID | None]


class CheckoutEvidence(Base):
    """One link of a booking's evidence chain, as booking reported it (first report wins)."""

    __tablename__ = "voucher_evidence"

    booking_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    at: Mapped[datetime]
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)


class FourEyesStamps:
    """Who moved a four-eyes batch (a settlement, a reward batch) through its states, and when
    (see ``vouchers.settlement.check_step`` / ``stamp_step``)."""

    created_by: Mapped[uuid.UUID]
    submitted_by: Mapped[uuid.UUID | None]
    submitted_at: Mapped[datetime | None]
    approved_by: Mapped[uuid.UUID | None]
    approved_at: Mapped[datetime | None]
    paid_by: Mapped[uuid.UUID | None]
    paid_at: Mapped[datetime | None]
    reconciled_by: Mapped[uuid.UUID | None]
    reconciled_at: Mapped[datetime | None]


class SettlementBatch(UUIDPrimaryKey, Timestamps, FourEyesStamps, Base):
    """兑付批次: the issuing bureau pays providers the captured voucher shares of a period."""

    __tablename__ = "settlement_batches"

    bureau_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), index=True)
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    period_start: Mapped[date]  # inclusive, Asia/Shanghai
    period_end: Mapped[date]  # inclusive
    status: Mapped[SettlementStatus] = mapped_column(_enum(SettlementStatus), default=SettlementStatus.draft)
    total_fen: Mapped[int] = mapped_column(Fen, default=0)  # included lines only
    held_back_fen: Mapped[int] = mapped_column(Fen, default=0)  # lines listed apart
    bank_reference: Mapped[str] = mapped_column(String(100), default="")


class SettlementLine(Base):
    __tablename__ = "settlement_lines"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    batch_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("settlement_batches.id"), index=True)
    booking_id: Mapped[uuid.UUID] = mapped_column(index=True)
    # Set only on included lines: a booking's voucher share is settled at most once, ever.
    settles_booking_id: Mapped[uuid.UUID | None] = mapped_column(unique=True)
    program_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("voucher_programs.id"))
    unit_id: Mapped[uuid.UUID] = mapped_column(index=True)
    enterprise_id: Mapped[uuid.UUID]
    voucher_fen: Mapped[int] = mapped_column(Fen)
    fee_fen: Mapped[int] = mapped_column(Fen)
    captured_at: Mapped[datetime]
    included: Mapped[bool]
    missing_evidence: Mapped[list[str]] = mapped_column(default=list)
    evidence: Mapped[dict[str, Any]] = mapped_column(default=dict)


class ApplicationStatus(enum.StrEnum):
    submitted = "submitted"  # waiting for the bureau
    returned = "returned"  # sent back for changes; the firm edits and submits again
    approved = "approved"  # the approved amount became a grant
    rejected = "rejected"  # final
    withdrawn = "withdrawn"  # the firm took it back before a decision


class VoucherApplication(UUIDPrimaryKey, Timestamps, Base):
    """创新券申领: a firm asks a programme's bureau for vouchers; the bureau's decision, if it
    approves, becomes a grant of the approved amount."""

    __tablename__ = "voucher_applications"
    __table_args__ = (
        CheckConstraint("requested_fen > 0", name="requested_positive"),
        Index("ix_voucher_applications_program_status", "program_id", "status"),
    )

    program_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("voucher_programs.id"))
    enterprise_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), index=True)
    applicant_id: Mapped[uuid.UUID]  # the user who applied (notified at each step)
    status: Mapped[ApplicationStatus] = mapped_column(
        _enum(ApplicationStatus), default=ApplicationStatus.submitted
    )
    requested_fen: Mapped[int] = mapped_column(Fen)
    tech_sme_number: Mapped[str] = mapped_column(String(40), default="")  # 科技型中小企业入库登记编号
    contact_name: Mapped[str] = mapped_column(String(50))
    contact_phone: Mapped[str] = mapped_column(String(20))
    purpose: Mapped[str] = mapped_column(Text, default="")  # what the firm will test, and why
    submitted_at: Mapped[datetime]
    decided_by: Mapped[uuid.UUID | None]
    decided_at: Mapped[datetime | None]
    decision_reason: Mapped[str] = mapped_column(Text, default="")
    approved_fen: Mapped[int | None] = mapped_column(Fen)
    grant_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("voucher_grants.id"))


class ApplicationEvent(Base):
    """Each step of an application, with who took it and why (the record both sides see)."""

    __tablename__ = "voucher_application_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    application_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("voucher_applications.id"), index=True)
    action: Mapped[str] = mapped_column(String(16))  # submit, resubmit, return, approve, reject, withdraw
    actor_id: Mapped[uuid.UUID]
    reason: Mapped[str] = mapped_column(Text, default="")
    amount_fen: Mapped[int | None] = mapped_column(Fen)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class ApplicationAttachment(UUIDPrimaryKey, Base):
    """A document attached to an application (licence, certificate): small, kept in the database
    so it is written in the same transaction as the application it belongs to."""

    __tablename__ = "voucher_application_attachments"

    application_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("voucher_applications.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    uploaded_by: Mapped[uuid.UUID]
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)


class InvoiceKind(enum.StrEnum):
    ordinary = "ordinary"  # 增值税普通发票
    special = "special"  # 增值税专用发票 (the firm deducts input VAT)
    fiscal = "fiscal"  # 财政票据: what a public institution issues for its service fees


class InvoiceStatus(enum.StrEnum):
    requested = "requested"  # the firm asked; the provider's unit issues it in its own system
    issued = "issued"  # the provider recorded the number and uploaded the file
    rejected = "rejected"  # the provider refused, with a reason; the firm may ask again


class InvoiceRequest(UUIDPrimaryKey, Timestamps, Base):
    """发票 / 财政票据 for a paid booking: the firm's request and the provider's answer (the
    invoice's file is small and kept in the row, written in the answer's transaction)."""

    __tablename__ = "voucher_invoices"

    booking_id: Mapped[uuid.UUID] = mapped_column(unique=True)  # one invoice per booking
    booking_number: Mapped[str] = mapped_column(String(17), default="")  # 预约号, as the checkout has it
    enterprise_id: Mapped[uuid.UUID] = mapped_column(index=True)
    unit_id: Mapped[uuid.UUID] = mapped_column(index=True)
    status: Mapped[InvoiceStatus] = mapped_column(_enum(InvoiceStatus), default=InvoiceStatus.requested)
    kind: Mapped[InvoiceKind] = mapped_column(_enum(InvoiceKind))
    title: Mapped[str] = mapped_column(String(200))  # 抬头: the firm's name as on the invoice
    tax_number: Mapped[str] = mapped_column(String(20))  # 纳税人识别号 (the USCC for a firm)
    email: Mapped[str] = mapped_column(String(200))  # where the unit's system sends it
    amount_fen: Mapped[int] = mapped_column(Fen)  # what the firm paid for the booking
    requested_by: Mapped[uuid.UUID]
    requested_at: Mapped[datetime]
    answered_by: Mapped[uuid.UUID | None]
    answered_at: Mapped[datetime | None]
    invoice_number: Mapped[str] = mapped_column(String(40), default="")
    reject_reason: Mapped[str] = mapped_column(Text, default="")
    file_name: Mapped[str] = mapped_column(String(200), default="")
    file_content_type: Mapped[str] = mapped_column(String(100), default="")
    file_size: Mapped[int] = mapped_column(default=0)
    file_sha256: Mapped[str] = mapped_column(String(64), default="")
    file_data: Mapped[bytes | None] = mapped_column(LargeBinary)


class InvoiceEvent(Base):
    """Each step of an invoice (request, issue, reject, request again), with who and what."""

    __tablename__ = "voucher_invoice_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    invoice_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("voucher_invoices.id"), index=True)
    action: Mapped[str] = mapped_column(String(16))  # request, issue, reject
    actor_id: Mapped[uuid.UUID]
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class PaymentChannel(enum.StrEnum):
    jsapi = "jsapi"  # in WeChat: the mini-program or the official account's pages
    native = "native"  # a QR code shown at a desk


class PaymentOrderStatus(enum.StrEnum):
    open = "open"  # placed with WeChat Pay, waiting for the firm
    paid = "paid"
    closed = "closed"  # expired or replaced, nothing paid


class PaymentOrder(UUIDPrimaryKey, Base):
    """A WeChat Pay order for what a booking's firm owes: one is open per booking at a time."""

    __tablename__ = "payment_orders"
    __table_args__ = (
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        CheckConstraint("refunded_fen >= 0 AND refunded_fen <= amount_fen", name="refund_within_payment"),
        Index("ix_payment_orders_status_expires", "status", "expires_at"),
    )

    out_trade_no: Mapped[str] = mapped_column(String(32), unique=True)
    booking_id: Mapped[uuid.UUID] = mapped_column(index=True)
    enterprise_id: Mapped[uuid.UUID]
    unit_id: Mapped[uuid.UUID] = mapped_column(index=True)
    amount_fen: Mapped[int] = mapped_column(Fen)
    channel: Mapped[PaymentChannel] = mapped_column(_enum(PaymentChannel))
    status: Mapped[PaymentOrderStatus] = mapped_column(
        _enum(PaymentOrderStatus), default=PaymentOrderStatus.open
    )
    mchid: Mapped[str] = mapped_column(String(32))
    sub_mchid: Mapped[str] = mapped_column(String(32), default="")
    prepay_id: Mapped[str] = mapped_column(String(64), default="")
    code_url: Mapped[str] = mapped_column(String(256), default="")
    payer_openid: Mapped[str] = mapped_column(String(128), default="")
    transaction_id: Mapped[str | None] = mapped_column(String(32), unique=True)
    refunded_fen: Mapped[int] = mapped_column(Fen, default=0)  # refunds that succeeded
    created_by: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    paid_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    last_queried_at: Mapped[datetime | None]


class RefundStatus(enum.StrEnum):
    processing = "processing"  # accepted by WeChat Pay, money on its way back
    succeeded = "succeeded"
    closed = "closed"  # WeChat Pay gave up (the payer's account closed...): nothing returned
    abnormal = "abnormal"  # stuck at WeChat Pay: finance must act outside the platform


class PaymentRefund(UUIDPrimaryKey, Base):
    """Money returned to the firm through WeChat Pay for (part of) a paid order."""

    __tablename__ = "payment_refunds"
    __table_args__ = (CheckConstraint("amount_fen > 0", name="amount_positive"),)

    out_refund_no: Mapped[str] = mapped_column(String(64), unique=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)  # idempotency: one refund per key
    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("payment_orders.id"), index=True)
    booking_id: Mapped[uuid.UUID] = mapped_column(index=True)
    amount_fen: Mapped[int] = mapped_column(Fen)
    cause: Mapped[str] = mapped_column(String(20))  # fee_correction, cancellation
    reason: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[RefundStatus] = mapped_column(_enum(RefundStatus), default=RefundStatus.processing)
    refund_id: Mapped[str] = mapped_column(String(32), default="")
    requested_by: Mapped[uuid.UUID | None]
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    # WeChat Pay's last refusal or failure (the refund job retries; finance reads it)
    last_error: Mapped[str] = mapped_column(String(200), default="", server_default="")


class PaymentNotification(Base):
    """Each WeChat Pay notification we accepted (its id is WeChat Pay's): the record that a
    repeated delivery was recognised, and what it changed."""

    __tablename__ = "payment_notifications"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    event_type: Mapped[str] = mapped_column(String(40))
    reference: Mapped[str] = mapped_column(String(64), index=True)  # out_trade_no / out_refund_no
    applied: Mapped[bool]  # False: it changed nothing (already known from a query or before)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class PaymentReconciliation(UUIDPrimaryKey, Base):
    """One day's WeChat Pay trade bill compared line by line with the ledger (对账): the
    differences are listed for finance and the provider, never fixed silently."""

    __tablename__ = "payment_reconciliations"
    __table_args__ = (Index("ux_payment_reconciliations_day", "day", "mchid", "sub_mchid", unique=True),)

    day: Mapped[date]  # the bill's day, Asia/Shanghai
    mchid: Mapped[str] = mapped_column(String(32))
    sub_mchid: Mapped[str] = mapped_column(String(32), default="")
    bill_lines: Mapped[int]
    bill_total_fen: Mapped[int] = mapped_column(Fen)  # payments minus refunds, by the bill
    ledger_total_fen: Mapped[int] = mapped_column(Fen)  # the same, by our ledger
    differences: Mapped[dict[str, Any]] = mapped_column(default=dict)  # {"lines": [...]}
    checked_at: Mapped[datetime] = mapped_column(default=utcnow)


class FeeCorrection(UUIDPrimaryKey, Base):
    """费用更正: the provider lowered (or waived) a completed booking's fee, with a reason. The
    voucher share is recomputed (never more), the firm's due shrinks, and what it paid beyond the
    new amount goes back through WeChat Pay (``cash_refund_fen``) or, paid by transfer, outside
    the platform (``offline_refund_fen``)."""

    __tablename__ = "fee_corrections"

    key: Mapped[str] = mapped_column(String(200), unique=True)  # idempotency: one per key
    booking_id: Mapped[uuid.UUID] = mapped_column(index=True)
    unit_id: Mapped[uuid.UUID]
    waiver: Mapped[bool]  # the whole charge waived (the service cancelled after payment)
    old_fee_fen: Mapped[int] = mapped_column(Fen)
    new_fee_fen: Mapped[int] = mapped_column(Fen)
    old_voucher_fen: Mapped[int] = mapped_column(Fen)
    new_voucher_fen: Mapped[int] = mapped_column(Fen)
    cash_refund_fen: Mapped[int] = mapped_column(Fen)
    offline_refund_fen: Mapped[int] = mapped_column(Fen)
    reason: Mapped[str] = mapped_column(Text)
    corrected_by: Mapped[uuid.UUID]
    corrected_at: Mapped[datetime] = mapped_column(default=utcnow)
