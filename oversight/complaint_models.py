"""Complaints (投诉渠道, seed 001: 相关行政主管部门要建立投诉渠道，接受社会对科研设施与仪器调配、使用
情况的监督): a researcher or firm complains about a booking of theirs or a provider unit; the
science bureau of the unit's region handles it."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime

from sqlalchemy import Enum, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from yixiang.db import Base, UUIDPrimaryKey, utcnow


class ComplaintStatus(enum.StrEnum):
    filed = "filed"  # 待受理
    accepted = "accepted"  # 已受理 (being handled)
    upheld = "upheld"  # 投诉成立
    rejected = "rejected"  # 投诉不成立 / 不予受理


class Complaint(UUIDPrimaryKey, Base):
    __tablename__ = "oversight_complaints"
    __table_args__ = (Index("ix_oversight_complaints_region_status", "region_code", "status"),)

    filed_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    enterprise_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"))  # the complainant's firm
    booking_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("bookings.id"))
    instrument_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("instruments.id"), index=True)
    unit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), index=True)  # complained about
    region_code: Mapped[str] = mapped_column(String(6))  # the unit's: its science bureau handles it
    text: Mapped[str] = mapped_column(String(2000))
    status: Mapped[ComplaintStatus] = mapped_column(
        Enum(ComplaintStatus, native_enum=False, length=16), default=ComplaintStatus.filed
    )
    filed_at: Mapped[datetime] = mapped_column(default=utcnow)
    deadline: Mapped[date]  # to be decided by (working days from filing)
    accepted_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    accepted_at: Mapped[datetime | None]
    decided_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None]
    answer: Mapped[str] = mapped_column(String(2000), default="")  # the bureau's reasons
