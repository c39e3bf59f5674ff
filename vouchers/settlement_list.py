"""The settlement batches a bureau (or the platform) sees, filtered and paged: by status, provider
unit, bureau, programme and period. A bureau officer sees the batches of the regions they are an
officer in (as for one batch); the platform admin sees every batch; anyone else is refused."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal
from accounts.models import Role
from vouchers.errors import BureauRequired
from vouchers.models import SettlementBatch, SettlementLine, SettlementStatus
from vouchers.schemas import SettlementPage, SettlementSummaryOut
from vouchers.settlement_export import STATUS_LABELS
from yixiang.errors import InvalidInput


@dataclass(frozen=True)
class SettlementFilter:
    status: SettlementStatus | None = None
    unit_id: uuid.UUID | None = None  # batches with a line of this provider unit
    bureau_id: uuid.UUID | None = None
    program_id: uuid.UUID | None = None  # batches with a line paid by this programme
    period_from: date | None = None  # batches whose period meets [period_from, period_to]
    period_to: date | None = None


async def list_settlements(
    session: AsyncSession, principal: Principal, wanted: SettlementFilter, *, limit: int, offset: int
) -> SettlementPage:
    if not (principal.is_platform_admin or principal.has_role(Role.bureau_officer)):
        raise BureauRequired()
    if wanted.period_from and wanted.period_to and wanted.period_to < wanted.period_from:
        raise InvalidInput("期间有误：结束日期早于开始日期", field="period_to")
    query = select(SettlementBatch)
    if not principal.is_platform_admin:
        query = query.where(SettlementBatch.region_code.in_(principal.regions_where(Role.bureau_officer)))
    if wanted.status is not None:
        query = query.where(SettlementBatch.status == wanted.status)
    if wanted.bureau_id is not None:
        query = query.where(SettlementBatch.bureau_id == wanted.bureau_id)
    if wanted.unit_id is not None:
        query = query.where(
            SettlementBatch.id.in_(
                select(SettlementLine.batch_id).where(SettlementLine.unit_id == wanted.unit_id)
            )
        )
    if wanted.program_id is not None:
        query = query.where(
            SettlementBatch.id.in_(
                select(SettlementLine.batch_id).where(SettlementLine.program_id == wanted.program_id)
            )
        )
    if wanted.period_from is not None:
        query = query.where(SettlementBatch.period_end >= wanted.period_from)
    if wanted.period_to is not None:
        query = query.where(SettlementBatch.period_start <= wanted.period_to)
    total = int(await session.scalar(select(func.count()).select_from(query.subquery())) or 0)
    batches = (
        await session.scalars(
            query.order_by(SettlementBatch.created_at.desc(), SettlementBatch.id).limit(limit).offset(offset)
        )
    ).all()
    counts = await _line_counts(session, [b.id for b in batches])
    return SettlementPage(
        items=[_summary(b, *counts.get(b.id, (0, 0))) for b in batches],
        total=total,
        limit=limit,
        offset=offset,
    )


async def _line_counts(session: AsyncSession, batch_ids: list[uuid.UUID]) -> dict[uuid.UUID, tuple[int, int]]:
    """(included lines, held-back lines) per batch."""
    if not batch_ids:
        return {}
    rows = await session.execute(
        select(SettlementLine.batch_id, SettlementLine.included, func.count())
        .where(SettlementLine.batch_id.in_(batch_ids))
        .group_by(SettlementLine.batch_id, SettlementLine.included)
    )
    counts: dict[uuid.UUID, list[int]] = {}
    for batch_id, included, n in rows.all():
        counts.setdefault(batch_id, [0, 0])[0 if included else 1] += int(n)
    return {b: (c[0], c[1]) for b, c in counts.items()}


def _summary(batch: SettlementBatch, lines: int, held_back_lines: int) -> SettlementSummaryOut:
    return SettlementSummaryOut(
        id=batch.id,
        bureau_id=batch.bureau_id,
        region_code=batch.region_code,
        period_start=batch.period_start,
        period_end=batch.period_end,
        status=batch.status,
        status_label=STATUS_LABELS[batch.status],
        total_fen=batch.total_fen,
        held_back_fen=batch.held_back_fen,
        lines=lines,
        held_back_lines=held_back_lines,
        bank_reference=batch.bank_reference,
        created_at=batch.created_at,
        submitted_at=batch.submitted_at,
        approved_at=batch.approved_at,
        paid_at=batch.paid_at,
        reconciled_at=batch.reconciled_at,
    )
