"""Result files of a booking, every download of them, and every purge."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from yixiang.db import Base, UUIDPrimaryKey, utcnow

BigId = BigInteger().with_variant(Integer, "sqlite")


class ResultFile(UUIDPrimaryKey, Base):
    __tablename__ = "result_files"

    booking_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("bookings.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigId)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    # A correction: this file replaces an earlier version, which stays listed in the history.
    replaces_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("result_files.id"))
    version: Mapped[int] = mapped_column(default=1)
    superseded_at: Mapped[datetime | None]
    uploaded_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    purged_at: Mapped[datetime | None]


class ResultDownload(Base):
    """The audit of who fetched which file when."""

    __tablename__ = "result_downloads"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    file_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("result_files.id"), index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class ResultPurge(Base):
    __tablename__ = "result_purges"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    file_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("result_files.id"), index=True)
    reason: Mapped[str] = mapped_column(String(200))
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))  # None: the retention job
    at: Mapped[datetime] = mapped_column(default=utcnow)
