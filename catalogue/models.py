"""The instrument catalogue: instruments, their service items and fee standards, categories."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Enum, ForeignKey, Index, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from yixiang.db import Base, Timestamps, UUIDPrimaryKey


def _enum(cls: type[enum.Enum]) -> Enum:
    return Enum(cls, native_enum=False, length=32, values_callable=lambda e: [m.value for m in e])


class InstrumentStatus(enum.StrEnum):
    in_service = "in_service"
    maintenance = "maintenance"
    retired = "retired"


class Origin(enum.StrEnum):
    domestic = "domestic"
    imported = "imported"


class PublicationStatus(enum.StrEnum):
    draft = "draft"  # provider staff editing
    pending = "pending"  # submitted, awaiting the unit admin
    published = "published"  # visible in search
    withdrawn = "withdrawn"


class ServiceMode(enum.StrEnum):
    machine_time = "machine_time"
    sample_testing = "sample_testing"


class PriceUnit(enum.StrEnum):
    per_hour = "per_hour"
    per_sample = "per_sample"
    per_item = "per_item"


class ServiceDuty(enum.StrEnum):
    """Whether a service item is duty rather than open sharing (seed 004 §10): such items earn no
    sharing reward (共享奖励)."""

    none = "none"  # open sharing service
    statutory = "statutory"  # 法定检测
    mandatory = "mandatory"  # 强制检测 (required by a mandatory standard)
    own_duty = "own_duty"  # 本单位职责: testing the unit does as part of its own duties


DUTY_LABELS: dict[ServiceDuty, str] = {
    ServiceDuty.none: "对外共享服务",
    ServiceDuty.statutory: "法定检测",
    ServiceDuty.mandatory: "强制检测",
    ServiceDuty.own_duty: "本单位职责",
}


class Category(Base):
    """Two-level instrument classification (e.g. 02 分析仪器 → 0201 波谱仪器)."""

    __tablename__ = "instrument_categories"

    code: Mapped[str] = mapped_column(String(8), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    name_en: Mapped[str] = mapped_column(String(100), default="")
    parent_code: Mapped[str | None] = mapped_column(ForeignKey("instrument_categories.code"), index=True)
    # 通用性强 (seed 004 §十四): a class of general-purpose instruments, flagged by the bureaus'
    # evaluation when its usage falls below 30% (oversight/INDICATORS.md)
    generic: Mapped[bool] = mapped_column(default=False, server_default=false())


class Instrument(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "instruments"
    __table_args__ = (
        Index("ix_instruments_unit_publication", "unit_id", "publication"),
        # The unit's own asset number (资产编号): the key of the monthly push (import/export).
        UniqueConstraint("unit_id", "asset_number", name="uq_instruments_unit_asset_number"),
    )

    asset_number: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200), default="")
    aliases: Mapped[list[str]] = mapped_column(default=list)
    model: Mapped[str] = mapped_column(String(100), default="")
    manufacturer: Mapped[str] = mapped_column(String(200), default="")
    origin: Mapped[Origin] = mapped_column(_enum(Origin), default=Origin.imported)
    category_code: Mapped[str] = mapped_column(ForeignKey("instrument_categories.code"), index=True)
    original_value_fen: Mapped[int] = mapped_column(BigInteger)  # fen: a cryo-EM is > 2^31 fen
    purchase_date: Mapped[date | None]
    acceptance_date: Mapped[date | None]
    unit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), index=True)
    lab: Mapped[str] = mapped_column(String(200), default="")
    address: Mapped[str] = mapped_column(String(300), default="")
    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code"), index=True)
    latitude: Mapped[float | None]
    longitude: Mapped[float | None]
    status: Mapped[InstrumentStatus] = mapped_column(
        _enum(InstrumentStatus), default=InstrumentStatus.in_service
    )
    publication: Mapped[PublicationStatus] = mapped_column(
        _enum(PublicationStatus), default=PublicationStatus.draft
    )
    published_at: Mapped[datetime | None]
    open_to_public: Mapped[bool] = mapped_column(default=True)
    # Machine time: self-operation and/or operator-run; sample testing: a queue, no slot.
    self_operation: Mapped[bool] = mapped_column(default=False)
    operator_run: Mapped[bool] = mapped_column(default=True)
    sample_testing: Mapped[bool] = mapped_column(default=True)
    specifications: Mapped[dict[str, Any]] = mapped_column(default=dict)
    sample_requirements: Mapped[str] = mapped_column(Text, default="")
    photos: Mapped[list[str]] = mapped_column(default=list)
    contact_name: Mapped[str] = mapped_column(String(50), default="")
    contact_phone: Mapped[str] = mapped_column(String(30), default="")
    contact_email: Mapped[str] = mapped_column(String(100), default="")
    voucher_eligible: Mapped[bool] = mapped_column(default=True)
    customs_supervised_until: Mapped[date | None]
    # 收费标准: the published cost-compensation basis (material, running and labour cost).
    fee_basis: Mapped[str] = mapped_column(Text, default="")
    # Denormalised from ratings (booking results/ratings issue) for search ranking and display.
    rating_count: Mapped[int] = mapped_column(default=0)
    rating_mean: Mapped[float | None]
    # Who last changed the record (provider staff, unit admin or an import).
    updated_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    submitted_at: Mapped[datetime | None]
    reviewed_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    review_note: Mapped[str] = mapped_column(String(500), default="")

    service_items: Mapped[list[ServiceItem]] = relationship(
        back_populates="instrument",
        lazy="selectin",
        order_by="ServiceItem.position",
        cascade="all, delete-orphan",
    )

    @property
    def service_modes(self) -> list[ServiceMode]:
        modes = []
        if self.self_operation or self.operator_run:
            modes.append(ServiceMode.machine_time)
        if self.sample_testing:
            modes.append(ServiceMode.sample_testing)
        return modes


class ServiceItem(UUIDPrimaryKey, Base):
    """检测项目: one priced service of an instrument (internal and external rates, in fen)."""

    __tablename__ = "service_items"

    instrument_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("instruments.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(default=0)
    name: Mapped[str] = mapped_column(String(200))
    mode: Mapped[ServiceMode] = mapped_column(_enum(ServiceMode))
    price_unit: Mapped[PriceUnit] = mapped_column(_enum(PriceUnit))
    internal_price_fen: Mapped[int]
    external_price_fen: Mapped[int]
    turnaround_working_days: Mapped[int | None]
    description: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(default=True)
    # 法定检测 / 强制检测 / 本单位职责: left out of the sharing reward
    duty: Mapped[ServiceDuty] = mapped_column(
        _enum(ServiceDuty), default=ServiceDuty.none, server_default=ServiceDuty.none.value
    )

    instrument: Mapped[Instrument] = relationship(back_populates="service_items")
