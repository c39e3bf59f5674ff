"""A booking as the desk's tables show it (its time or samples, its fee, the names beside its
ids) and the bookings table as a download: at once when small, else as a job
(``console.exports``) that fetches the rows a page at a time."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from anyio.to_thread import run_sync
from litestar import Request
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal
from booking.models import Booking, BookingStatus
from booking.queries import list_bookings
from booking.services import STATUS_LABELS
from catalogue.models import ServiceMode
from console.exports import ExportFile, start_export
from console.long_work import BOOKINGS_EXPORT
from console.names import instrument_names, org_names, user_names
from console.tables import Column
from yixiang.clock import SHANGHAI
from yixiang.db import transaction
from yixiang.long_jobs import ProgressReport
from yixiang.spreadsheet import table_bytes

BOOKING_COLUMNS = (
    Column("number", "预约号", sortable=True),
    Column("instrument", "仪器"),
    Column("enterprise", "预约单位"),
    Column("start", "时间 / 样品", sortable=True),
    Column("status", "状态", sortable=True),
    Column("fee", "费用（元）"),
    Column("created", "提交时间", sortable=True),
)


async def booking_names(session: AsyncSession, bookings: list[Booking]) -> dict[uuid.UUID, str]:
    """Names of the instruments, firms and bookers the rows show."""
    return {
        **await instrument_names(session, (b.instrument_id for b in bookings)),
        **await org_names(session, (b.enterprise_id for b in bookings)),
        **await user_names(session, (b.user_id for b in bookings)),
    }


def when_text(booking: Booking) -> str:
    if booking.mode == ServiceMode.sample_testing:
        return f"送样 {booking.samples or 0} 个"
    assert booking.start_at is not None and booking.end_at is not None
    start, end = booking.start_at.astimezone(SHANGHAI), booking.end_at.astimezone(SHANGHAI)
    return f"{start:%m-%d %H:%M}–{end:%H:%M}"


def shown_fee_fen(booking: Booking) -> int:
    return booking.final_fee_fen if booking.final_fee_fen is not None else booking.quoted_fee_fen


EXPORT_HEADER = [c.label for c in BOOKING_COLUMNS] + ["预约人"]
EXPORT_PAGE = 1_000  # bookings fetched at a time by a download job


def export_row(b: Booking, names: dict[uuid.UUID, str]) -> list[Any]:
    return [
        b.number,
        names.get(b.instrument_id, ""),
        names.get(b.enterprise_id, ""),
        when_text(b),
        STATUS_LABELS[b.status],
        shown_fee_fen(b) / 100,
        b.created_at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M"),
        names.get(b.user_id, ""),
    ]


@dataclass(frozen=True)
class BookingSelection:
    """The bookings a table shows (its filters and order), fetched a page at a time."""

    unit_id: uuid.UUID
    status: BookingStatus | None
    starts_from: datetime | None
    starts_before: datetime | None
    sort: str
    descending: bool
    name: str  # of the download

    async def fetch(
        self, session: AsyncSession, principal: Principal, *, limit: int, offset: int
    ) -> tuple[list[tuple[Booking, int | None]], int]:
        # read-only: on SQLite a download job's pages do not hold the write lock from bookings
        async with transaction(session, read_only=True):
            return await list_bookings(
                session,
                principal,
                unit_id=self.unit_id,
                status=self.status,
                starts_from=self.starts_from,
                starts_before=self.starts_before,
                sort=self.sort,
                descending=self.descending,
                limit=limit,
                offset=offset,
            )


async def export_job(
    request: Request[Any, Any, Any],
    principal: Principal,
    selection: BookingSelection,
    format: str,
    total: int,
) -> Redirect:
    """The download as a job: the rows fetched a page at a time (the progress), then the file."""
    session_maker = request.app.state.runtime.session_maker

    async def produce(report: ProgressReport) -> ExportFile:
        written: list[list[Any]] = []
        report(0, total)
        async with session_maker() as session:
            while len(written) < total:
                page, _ = await selection.fetch(
                    session, principal, limit=min(EXPORT_PAGE, total - len(written)), offset=len(written)
                )
                if not page:
                    break
                found = [b for b, _ in page]
                async with transaction(session, read_only=True):
                    names = await booking_names(session, found)
                written.extend(export_row(b, names) for b in found)
                report(len(written), total)
        content, media = await run_sync(table_bytes, EXPORT_HEADER, written, format)
        return ExportFile(content, f"{selection.name}.{format}", media, len(written))

    return await start_export(
        request,
        principal,
        kind=BOOKINGS_EXPORT,
        title=f"导出预约表（{total} 条，{format.upper()}）",
        organization_id=selection.unit_id,
        produce=produce,
    )
