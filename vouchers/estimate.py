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
from dataclasses import dataclass, replace
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from vouchers.checkout import CheckoutOrder
from vouchers.checkout_store import FirmGrants, firm_usage_by_program, read_firm_grants
from vouchers.models import VoucherProgram
from vouchers.rules import ProgramChoice, accepting_grants, allocate, choose_program, programs_with_balance
from yixiang.clock import shanghai_date
from yixiang.db import transaction, utcnow


@dataclass(frozen=True)
class VoucherEstimate:
    """What a hold taken now would take, and under which programme's terms."""

    share_fen: int
    program_id: uuid.UUID | None = None
    program_name: str = ""
    coverage_bp: int = 0
    per_order_cap_fen: int = 0
    per_firm_year_cap_fen: int = 0
    firm_year_used_fen: int = 0  # held or captured under the programme this year, before this order
    grants: tuple[tuple[uuid.UUID, int], ...] = ()  # which grants would pay, earliest-expiring first


def choose_for(
    order: CheckoutOrder, firm: FirmGrants, used_fen: Mapping[uuid.UUID, int], on: date
) -> ProgramChoice:
    accepting = accepting_grants(firm.grants, order, on, firm.is_tech_sme)
    return choose_program(programs_with_balance(accepting), order.fee_fen, used_fen)


def estimate_voucher_share(
    order: CheckoutOrder, firm: FirmGrants, used_fen: Mapping[uuid.UUID, int], on: date
) -> int:
    """The fen a hold taken on ``on`` would take for ``order``, given the firm's grants and its
    use this year of each programme they belong to."""
    return choose_for(order, firm, used_fen, on).share_fen


def explain_estimate(
    order: CheckoutOrder, firm: FirmGrants, used_fen: Mapping[uuid.UUID, int], on: date
) -> VoucherEstimate:
    choice = choose_for(order, firm, used_fen, on)
    if choice.program is None:
        return VoucherEstimate(share_fen=0)
    program = choice.program
    return VoucherEstimate(
        share_fen=choice.share_fen,
        program_id=program.id,
        coverage_bp=program.coverage_bp,
        per_order_cap_fen=program.per_order_cap_fen,
        per_firm_year_cap_fen=program.per_firm_year_cap_fen,
        firm_year_used_fen=used_fen[program.id],
        grants=tuple(allocate(choice.share_fen, [(g.id, g.balance_fen) for g in choice.grants])),
    )


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
    return (await explain_order(session, order, now)).share_fen


async def explain_order(
    session: AsyncSession, order: CheckoutOrder, now: datetime | None = None
) -> VoucherEstimate:
    """What vouchers would cover of ``order`` if it were confirmed now, with the terms applied."""
    today = shanghai_date(now or utcnow())
    async with transaction(session, read_only=True):
        firm, used = await load_estimate_inputs(session, order, today)
        estimate = explain_estimate(order, firm, used, today)
        if estimate.program_id is not None:
            name = await session.scalar(
                select(VoucherProgram.name).where(VoucherProgram.id == estimate.program_id)
            )
            estimate = replace(estimate, program_name=name or "")
    return estimate
