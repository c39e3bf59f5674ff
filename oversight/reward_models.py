"""Tables of the sharing reward (共享奖励 / 后补助) and the insurance subsidy (共享保): a programme's
terms per region and year, and the reward batches drawn from the year's records.

A batch goes through the settlement's states (``vouchers.models.SettlementStatus``): one line per
unit, one item per instrument and kind, and the bookings each sharing item counted (its evidence).
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Enum, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from vouchers.models import FourEyesStamps, SettlementStatus
from yixiang.db import Base, Timestamps, UUIDPrimaryKey

BigId = BigInteger().with_variant(Integer, "sqlite")
Fen = BigInteger


def _enum(cls: type[enum.Enum]) -> Enum:
    return Enum(cls, native_enum=False, length=32, values_callable=lambda e: [m.value for m in e])


class RewardKind(enum.StrEnum):
    sharing = "sharing"  # 共享奖励: a share of the year's external service fees
    insurance = "insurance"  # 共享保: part of the premium for a sensor-equipped instrument


class RewardProgramme(UUIDPrimaryKey, Timestamps, Base):
    """The year's reward terms of a region, set by its finance bureau (seed 004 §10, §12);
    editable until a batch is drawn under them."""

    __tablename__ = "reward_programmes"
    __table_args__ = (UniqueConstraint("region_code", "year"),)

    bureau_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"))
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    year: Mapped[int]
    name: Mapped[str] = mapped_column(String(200))
    rate_bp: Mapped[int]  # of the external service fees, in basis points (1000 = 10%)
    instrument_cap_fen: Mapped[int] = mapped_column(Fen)
    unit_cap_fen: Mapped[int] = mapped_column(Fen)
    premium_cap_fen: Mapped[int] = mapped_column(Fen)  # per sensor-equipped instrument
    excellent_rate_bp: Mapped[int]  # 优秀: of the premium
    good_rate_bp: Mapped[int]  # 良好
    created_by: Mapped[uuid.UUID]
    updated_by: Mapped[uuid.UUID | None]


class RewardBatch(UUIDPrimaryKey, Timestamps, FourEyesStamps, Base):
    """奖励批次: a programme's rewards, drawn from the year's records, approved by four eyes."""

    __tablename__ = "reward_batches"

    programme_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("reward_programmes.id"), index=True)
    # Set while the batch is not discarded: one live batch per programme, so nothing is paid twice.
    live_programme_id: Mapped[uuid.UUID | None] = mapped_column(unique=True)
    bureau_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"))
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    year: Mapped[int]
    status: Mapped[SettlementStatus] = mapped_column(_enum(SettlementStatus), default=SettlementStatus.draft)
    sharing_fen: Mapped[int] = mapped_column(Fen, default=0)
    insurance_fen: Mapped[int] = mapped_column(Fen, default=0)
    total_fen: Mapped[int] = mapped_column(Fen, default=0)
    grades_published: Mapped[bool] = mapped_column(default=False)  # the year's evaluation, when drawn
    bank_reference: Mapped[str] = mapped_column(String(100), default="")


class RewardLine(Base):
    """One unit's reward in a batch."""

    __tablename__ = "reward_lines"
    __table_args__ = (UniqueConstraint("batch_id", "unit_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    batch_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("reward_batches.id"), index=True)
    unit_id: Mapped[uuid.UUID] = mapped_column(index=True)
    sharing_fen: Mapped[int] = mapped_column(Fen)
    insurance_fen: Mapped[int] = mapped_column(Fen)
    amount_fen: Mapped[int] = mapped_column(Fen)
    unit_capped: Mapped[bool]  # the unit's cap cut its instruments' sharing rewards
    grade: Mapped[str | None] = mapped_column(String(8))  # the year's published grade, if any


class RewardItem(Base):
    """One instrument's part of a unit's line: the basis, the rule's result and each cap's cut."""

    __tablename__ = "reward_items"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    line_id: Mapped[int] = mapped_column(ForeignKey("reward_lines.id"), index=True)
    batch_id: Mapped[uuid.UUID] = mapped_column(index=True)
    instrument_id: Mapped[uuid.UUID] = mapped_column(index=True)
    kind: Mapped[RewardKind] = mapped_column(_enum(RewardKind))
    basis_fen: Mapped[int] = mapped_column(Fen)  # external fees (sharing) or the premium (insurance)
    bookings: Mapped[int] = mapped_column(default=0)
    computed_fen: Mapped[int] = mapped_column(Fen)  # basis × rate, rounded down to the fen
    capped_fen: Mapped[int] = mapped_column(Fen)  # after the per-instrument cap
    amount_fen: Mapped[int] = mapped_column(Fen)  # after the unit's cap: what is paid


class RewardEvidence(Base):
    """A booking a sharing item counted, with the fee it counted (the records behind each fen)."""

    __tablename__ = "reward_evidence"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("reward_items.id"), index=True)
    batch_id: Mapped[uuid.UUID] = mapped_column(index=True)
    booking_id: Mapped[uuid.UUID]
    fee_fen: Mapped[int] = mapped_column(Fen)
    completed_at: Mapped[datetime]
