"""Request and response bodies of the sharing reward (共享奖励) and its batches."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import msgspec

from oversight.reward_models import RewardKind
from vouchers.models import SettlementStatus
from yixiang.schemas import Input, Output

BasisPoints = Annotated[int, msgspec.Meta(ge=0, le=10_000)]
CapFen = Annotated[int, msgspec.Meta(ge=0, le=100_000_000_000)]  # up to 10 亿元


class RewardTermsIn(Input):
    """The programme's terms (defaults: seed 004 §10 and §12)."""

    name: Annotated[str, msgspec.Meta(max_length=200)] = ""
    rate_bp: BasisPoints = 1000  # 10% of the external service fees
    instrument_cap_fen: CapFen = 2_000_000  # 2 万元 per instrument
    unit_cap_fen: CapFen = 50_000_000  # 50 万元 per unit
    premium_cap_fen: CapFen = 100_000  # 共享保: a premium of at most 1,000 元 per instrument
    excellent_rate_bp: BasisPoints = 8000  # 优秀: 80% of the premium
    good_rate_bp: BasisPoints = 5000  # 良好: 50%


class RewardProgrammeIn(RewardTermsIn, kw_only=True):
    # keyword-only fields (Input): a required one may follow the terms' defaults
    year: Annotated[int, msgspec.Meta(ge=1990, le=2100)]  # type: ignore[misc]
    bureau_id: uuid.UUID | None = None  # default: the caller's only finance bureau


class RewardProgrammeOut(Output):
    id: uuid.UUID
    bureau_id: uuid.UUID
    region_code: str
    year: int
    name: str
    rate_bp: int
    instrument_cap_fen: int
    unit_cap_fen: int
    premium_cap_fen: int
    excellent_rate_bp: int
    good_rate_bp: int
    editable: bool  # no live batch drawn under it yet
    updated_at: datetime


class RewardItemOut(Output):
    instrument_id: uuid.UUID
    instrument_name: str
    kind: RewardKind
    kind_label: str
    basis_fen: int  # external service fees (共享奖励) or the premium counted (共享保)
    bookings: int
    computed_fen: int
    capped_fen: int
    amount_fen: int


class RewardLineOut(Output):
    batch_id: uuid.UUID
    year: int
    region_code: str
    status: SettlementStatus
    status_label: str
    unit_id: uuid.UUID
    unit_name: str
    grade: str | None
    sharing_fen: int
    insurance_fen: int
    amount_fen: int
    unit_capped: bool
    items: list[RewardItemOut]
    evidence_url: str  # the bookings behind the line's sharing reward


class RewardBatchOut(Output):
    id: uuid.UUID
    programme_id: uuid.UUID
    bureau_id: uuid.UUID
    region_code: str
    year: int
    status: SettlementStatus
    status_label: str
    sharing_fen: int
    insurance_fen: int
    total_fen: int
    grades_published: bool
    bank_reference: str
    lines: list[RewardLineOut]
    created_at: datetime
    submitted_at: datetime | None
    approved_at: datetime | None
    paid_at: datetime | None
    reconciled_at: datetime | None


class RewardBatchSummaryOut(Output):
    id: uuid.UUID
    programme_id: uuid.UUID
    region_code: str
    year: int
    status: SettlementStatus
    status_label: str
    units: int
    sharing_fen: int
    insurance_fen: int
    total_fen: int
    created_at: datetime


class RewardEvidenceOut(Output):
    """A booking a unit's sharing reward counted, with its records."""

    booking_id: uuid.UUID
    booking_number: str
    instrument_id: uuid.UUID
    instrument_name: str
    enterprise_name: str
    service_item: str
    fee_fen: int
    voucher_fen: int
    paid_fen: int
    payment_reference: str
    completed_at: datetime
    # the booking's recorded chain: booking, usage, payment, delivery, rating → {at, detail...}
    records: dict[str, dict[str, Any]]
    statement_url: str  # the booking's statement (for its unit and firm, and the voucher's bureau)


class RewardReconciliationOut(Output):
    batch_id: uuid.UUID
    total_fen: int
    ledger_approved_fen: int  # moved from the reward budget to the units' payables
    ledger_paid_fen: int  # moved from the payables to paid
    difference_fen: int
    balanced: bool
