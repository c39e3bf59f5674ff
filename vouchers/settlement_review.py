"""A settlement batch reviewed a page at a time: the included lines sorted, limited and offset in
SQL with their names and booking numbers joined in, the held-back lines (few: those whose evidence
is not complete) in full, and the batch's totals from its own row.

The whole batch (``settlement.batch_out``) is for the API and the export; the console's review
page of a batch of thousands of lines reads only the page it shows.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from accounts.models import Organization
from vouchers.models import SettlementBatch, SettlementLine, VoucherCheckout
from vouchers.schemas import SettlementLineOut
from vouchers.settlement import line_out

UNIT = aliased(Organization, name="unit_org")
FIRM = aliased(Organization, name="firm_org")
# The page's sort keys → the column they sort by.
LINE_ORDER: dict[str, Any] = {
    "number": VoucherCheckout.booking_number,
    "unit": UNIT.name,
    "enterprise": FIRM.name,
    "fee": SettlementLine.fee_fen,
    "voucher": SettlementLine.voucher_fen,
    "captured": SettlementLine.captured_at,
}


@dataclass(frozen=True)
class ReviewPage:
    lines: list[SettlementLineOut]  # the page of included lines
    line_count: int  # all included lines
    held_back: list[SettlementLineOut]


def _lines_query(batch_id: Any, *, included: bool) -> Any:
    return (
        select(SettlementLine, UNIT.name, FIRM.name, VoucherCheckout.booking_number)
        .outerjoin(UNIT, UNIT.id == SettlementLine.unit_id)
        .outerjoin(FIRM, FIRM.id == SettlementLine.enterprise_id)
        .outerjoin(VoucherCheckout, VoucherCheckout.booking_id == SettlementLine.booking_id)
        .where(SettlementLine.batch_id == batch_id, SettlementLine.included.is_(included))
    )


def _outs(rows: Any) -> list[SettlementLineOut]:
    return [
        line_out(line, unit_name or "", firm_name or "", number or str(line.booking_id))
        for line, unit_name, firm_name, number in rows
    ]


async def review_page(
    session: AsyncSession,
    batch: SettlementBatch,
    *,
    sort: str,
    descending: bool,
    limit: int,
    offset: int,
) -> ReviewPage:
    column = LINE_ORDER[sort]
    order = (column.desc() if descending else column.asc(), SettlementLine.id)
    page = await session.execute(
        _lines_query(batch.id, included=True).order_by(*order).limit(limit).offset(offset)
    )
    count = await session.scalar(
        select(func.count())
        .select_from(SettlementLine)
        .where(SettlementLine.batch_id == batch.id, SettlementLine.included.is_(True))
    )
    held = await session.execute(_lines_query(batch.id, included=False).order_by(SettlementLine.id))
    return ReviewPage(_outs(page.all()), int(count or 0), _outs(held.all()))


async def line_total(session: AsyncSession, batch_id: uuid.UUID) -> int:
    """Every line of the batch, included and held back: the rows its export has."""
    count = await session.scalar(
        select(func.count()).select_from(SettlementLine).where(SettlementLine.batch_id == batch_id)
    )
    return int(count or 0)
