"""What a firm's vouchers would pay of an order, without holding anything: for quotes (the bot's,
and the quote before booking).

The estimate applies the hold's own rules (``vouchers.rules``: which grants accept the order,
which programme pays, coverage ratio, per-order and per-firm caps, balance) to the same reads
(the firm's grants with their balances, its use of each programme this year), read without
locks in a read-only transaction: an estimate never waits for a checkout, never blocks one and
writes nothing. It can be out of date by the time the booking is confirmed; the hold decides.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from vouchers.checkout import CheckoutOrder
from vouchers.checkout_store import FirmGrants, firm_usage_by_program, read_firm_grants
from vouchers.rules import accepting_grants, choose_program, programs_with_balance
from yixiang.clock import shanghai_date
from yixiang.db import transaction, utcnow


def estimate_voucher_share(
    order: CheckoutOrder, firm: FirmGrants, used_fen: Mapping[uuid.UUID, int], on: date
) -> int:
    """The fen a hold taken on ``on`` would take for ``order``, given the firm's grants and its
    use this year of each programme they belong to."""
    accepting = accepting_grants(firm.grants, order, on, firm.is_tech_sme)
    return choose_program(programs_with_balance(accepting), order.fee_fen, used_fen).share_fen


async def load_estimate_inputs(
    session: AsyncSession, order: CheckoutOrder, on: date
) -> tuple[FirmGrants, dict[uuid.UUID, int]]:
    """The firm's grants and its use of their programmes in ``on``'s year, read without locks."""
    conn = await session.connection()
    firm = await read_firm_grants(conn, order.enterprise_id)
    accepting = accepting_grants(firm.grants, order, on, firm.is_tech_sme)
    programs = [program.id for program, _, _ in programs_with_balance(accepting)]
    used = await firm_usage_by_program(conn, order.enterprise_id, programs, on.year, order.booking_id)
    return firm, used


async def estimate_order(session: AsyncSession, order: CheckoutOrder, now: datetime | None = None) -> int:
    """What vouchers would cover of ``order`` if it were confirmed now."""
    today = shanghai_date(now or utcnow())
    async with transaction(session, read_only=True):
        firm, used = await load_estimate_inputs(session, order, today)
    return estimate_voucher_share(order, firm, used, today)
