"""The record that a user's personal data was erased: when, and what was kept and deleted (the
answer the user was given). The user's row stays, pseudonymised, so the kept records still add up."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from yixiang.db import Base, UUIDPrimaryKey, utcnow


class PersonalDataErasure(UUIDPrimaryKey, Base):
    __tablename__ = "personal_data_erasures"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), unique=True)
    erased_at: Mapped[datetime] = mapped_column(default=utcnow)
    kept: Mapped[dict[str, Any]]  # {"items": [{"what", "count", "why"}]}
    deleted: Mapped[dict[str, Any]]  # {"items": [{"what", "count"}]}
