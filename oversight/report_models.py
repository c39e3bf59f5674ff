"""The published yearly reports (统计年报): each a frozen snapshot of its figures.

Once published, a report is what the public reads, whatever the records do afterwards: the page,
the PDF, the CSV tables and the API serve the stored JSON (``report``), encoded once at
publication, and the PDF made then (``pdf``). Drafts are not stored: the bureau's preview
computes them from the records each time.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from yixiang.db import Base, utcnow


class PublishedYearlyReport(Base):
    __tablename__ = "oversight_yearly_reports"

    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code"), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    report: Mapped[bytes] = mapped_column(LargeBinary)  # the YearlyReport as JSON (msgspec)
    pdf: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)  # read on its own
    published_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))  # None: the demo
    published_at: Mapped[datetime] = mapped_column(default=utcnow)
    bureau_name: Mapped[str] = mapped_column(String(200), default="")  # who publishes it, as signed
