"""What a firm (and a bureau) sees of vouchers: grants with balances, holds, history; programmes."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal
from accounts.models import Role
from vouchers.access import firm_for, require_program_visible
from vouchers.checkout_store import firm_usage_all_programs
from vouchers.history import firm_history
from vouchers.ledger import balances, grant_account, hold_account
from vouchers.models import (
    CheckoutState,
    VoucherCheckout,
    VoucherGrant,
    VoucherProgram,
)
from vouchers.programs import budget_available_fen
from vouchers.rules import fen_to_yuan
from vouchers.schemas import FirmProgramOut, GrantOut, HoldOut, MyVouchersOut, ProgramOut
from vouchers.statements import booking_number
from yixiang.clock import shanghai_date
from yixiang.db import utcnow

# Holds listed on a firm's statement, newest first (the rest are counted: a firm with thousands of
# bookings awaiting settlement still gets its statement at once).
HOLDS_LIMIT = 100


async def grant_outs(
    session: AsyncSession, rows: Sequence[tuple[VoucherGrant, VoucherProgram]]
) -> list[GrantOut]:
    codes = [c for g, _ in rows for c in (grant_account(g.id), hold_account(g.id))]
    found = await balances(session, codes)
    return [
        GrantOut(
            id=g.id,
            program_id=p.id,
            program_name=p.name,
            enterprise_id=g.enterprise_id,
            amount_fen=g.amount_fen,
            balance_fen=found[grant_account(g.id)],
            held_fen=found[hold_account(g.id)],
            expires_on=g.expires_on,
            status=g.status,
            note=g.note,
            created_at=g.created_at,
        )
        for g, p in rows
    ]


async def my_vouchers(
    session: AsyncSession, principal: Principal, enterprise_id: uuid.UUID | None
) -> MyVouchersOut:
    firms = sorted(firm_for(principal, enterprise_id))
    rows = (
        await session.execute(
            select(VoucherGrant, VoucherProgram)
            .join(VoucherProgram, VoucherProgram.id == VoucherGrant.program_id)
            .where(VoucherGrant.enterprise_id.in_(firms))
            .order_by(VoucherGrant.expires_on, VoucherGrant.created_at)
        )
    ).all()
    grants = await grant_outs(session, rows)
    held = (
        VoucherCheckout.enterprise_id.in_(firms),
        VoucherCheckout.state == CheckoutState.held,
        VoucherCheckout.held_fen > 0,
    )
    holds = (
        await session.scalars(
            select(VoucherCheckout).where(*held).order_by(VoucherCheckout.held_at.desc()).limit(HOLDS_LIMIT)
        )
    ).all()
    holds_count = len(holds)
    if holds_count == HOLDS_LIMIT:
        counted = select(func.count()).select_from(VoucherCheckout).where(*held)
        holds_count = await session.scalar(counted) or 0
    return MyVouchersOut(
        enterprise_ids=firms,
        available_fen=sum(g.balance_fen for g in grants if g.status == "active"),
        held_fen=sum(g.held_fen for g in grants),
        grants=grants,
        programs=await firm_programs(session, rows, grants),
        holds=[
            HoldOut(
                booking_id=h.booking_id,
                booking_number=booking_number(h),
                held_fen=h.held_fen,
                quoted_fee_fen=h.quoted_fee_fen,
                held_at=h.held_at,
            )
            for h in holds
        ],
        holds_count=holds_count,
        history=await firm_history(session, firms, {p.id: p.name for _, p in rows}),
    )


async def firm_programs(
    session: AsyncSession, rows: Sequence[tuple[VoucherGrant, VoucherProgram]], grants: Sequence[GrantOut]
) -> list[FirmProgramOut]:
    """Per firm and programme of its grants: coverage, caps and what is left this year (the rules
    of vouchers/rules.py: a share is the coverage of the fee, at most the per-booking cap, the
    balance and what the per-firm-year cap leaves)."""
    year = shanghai_date(utcnow()).year
    conn = await session.connection()
    available: dict[tuple[uuid.UUID, uuid.UUID], int] = defaultdict(int)
    for g in grants:
        available[(g.enterprise_id, g.program_id)] += g.balance_fen if g.status == "active" else 0
    programs = {(g.enterprise_id, p.id): p for g, p in rows}
    usage: dict[tuple[uuid.UUID, uuid.UUID], int] = {}
    for firm in {firm for firm, _ in programs}:
        of_firm = await firm_usage_all_programs(conn, firm, [p for f, p in programs if f == firm], year)
        usage.update({(firm, p): used for p, used in of_firm.items()})
    outs = []
    for (firm, program_id), p in programs.items():
        used = usage[(firm, program_id)]
        left = max(p.per_firm_year_cap_fen - used, 0)
        usable = min(available[(firm, program_id)], left)
        percent = f"{p.coverage_bp / 100:g}%"
        outs.append(
            FirmProgramOut(
                program_id=program_id,
                program_name=p.name,
                enterprise_id=firm,
                coverage_bp=p.coverage_bp,
                coverage_percent=percent,
                per_order_cap_fen=p.per_order_cap_fen,
                per_firm_year_cap_fen=p.per_firm_year_cap_fen,
                year=year,
                used_this_year_fen=used,
                left_this_year_fen=left,
                available_fen=available[(firm, program_id)],
                usable_fen=usable,
                valid_until=p.valid_until,
                summary=(
                    f"{p.name}：抵扣服务费的 {percent}，每笔预约最多 {fen_to_yuan(p.per_order_cap_fen)} 元，"
                    f"每家企业每年最多 {fen_to_yuan(p.per_firm_year_cap_fen)} 元；"
                    f"{year} 年已用 {fen_to_yuan(used)} 元，还可用 {fen_to_yuan(usable)} 元，"
                    f"有效期至 {p.valid_until:%Y-%m-%d}"
                ),
            )
        )
    return outs


async def program_out(session: AsyncSession, program: VoucherProgram) -> ProgramOut:
    return ProgramOut(
        id=program.id,
        bureau_id=program.bureau_id,
        region_code=program.region_code,
        name=program.name,
        year=program.year,
        budget_fen=program.budget_fen,
        budget_available_fen=await budget_available_fen(session, program.id),
        coverage_bp=program.coverage_bp,
        per_order_cap_fen=program.per_order_cap_fen,
        per_firm_year_cap_fen=program.per_firm_year_cap_fen,
        valid_from=program.valid_from,
        valid_until=program.valid_until,
        requires_tech_sme=program.requires_tech_sme,
        accepted_region_codes=list(program.accepted_region_codes),
        cross_region=program.cross_region,
        accepted_unit_ids=list(program.accepted_unit_ids),
        accepted_category_codes=list(program.accepted_category_codes),
        status=program.status,
    )


async def list_programs(session: AsyncSession, principal: Principal) -> list[ProgramOut]:
    query = select(VoucherProgram).order_by(VoucherProgram.created_at.desc())
    if not principal.is_platform_admin:
        query = query.where(VoucherProgram.region_code.in_(principal.regions_where(Role.bureau_officer)))
    return [await program_out(session, p) for p in (await session.scalars(query)).all()]


async def show_program(session: AsyncSession, principal: Principal, program_id: uuid.UUID) -> ProgramOut:
    program = require_program_visible(principal, await session.get(VoucherProgram, program_id))
    return await program_out(session, program)


async def program_grants(
    session: AsyncSession, principal: Principal, program_id: uuid.UUID
) -> list[GrantOut]:
    program = require_program_visible(principal, await session.get(VoucherProgram, program_id))
    rows = (
        await session.execute(
            select(VoucherGrant, VoucherProgram)
            .join(VoucherProgram, VoucherProgram.id == VoucherGrant.program_id)
            .where(VoucherGrant.program_id == program.id)
            .order_by(VoucherGrant.created_at)
        )
    ).all()
    return await grant_outs(session, rows)
