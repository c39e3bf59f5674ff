"""A holding unit's statements: for each of its bookings with a checkout, the fee, the voucher
share, what the firm owes and has paid. For the unit's own staff (as each statement is)."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal
from vouchers.errors import ProviderRequired
from vouchers.models import CheckoutState, VoucherCheckout


async def list_unit_statements(
    session: AsyncSession,
    principal: Principal,
    unit_id: uuid.UUID,
    *,
    unpaid: bool = False,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[VoucherCheckout], int]:
    """The unit's captured checkouts (completed bookings), newest first; ``unpaid``: those whose
    firm still owes a remainder."""
    if unit_id not in principal.unit_ids:
        raise ProviderRequired()
    query = select(VoucherCheckout).where(
        VoucherCheckout.unit_id == unit_id, VoucherCheckout.state == CheckoutState.captured
    )
    if unpaid:
        query = query.where(VoucherCheckout.due_fen > 0)
    total = int(await session.scalar(select(func.count()).select_from(query.subquery())) or 0)
    rows = (
        await session.scalars(
            query.order_by(VoucherCheckout.captured_at.desc(), VoucherCheckout.booking_id)
            .limit(limit)
            .offset(offset)
        )
    ).all()
    return list(rows), total
