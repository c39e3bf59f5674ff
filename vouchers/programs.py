"""Voucher programmes (创新券批次): creation by a bureau, budget, adjustments, expiry at the end.

A programme's budget is funded by one entry (funding → budget); grants draw on the budget; at
the end of the programme every grant's unused balance returns to it (expiry).
"""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal
from accounts.models import Organization, OrgKind, Role
from vouchers.access import require_bureau_officer, require_program_officer
from vouchers.checkout import within_caller_transaction
from vouchers.errors import (
    BudgetExceeded,
    BureauRequired,
    GrantNotFound,
    InsufficientVoucherBalance,
    InvalidProgram,
    ZeroAdjustment,
)
from vouchers.ledger import (
    Posting,
    balances,
    budget_account,
    funding_account,
    grant_account,
    open_account,
    post_entry,
)
from vouchers.models import (
    AccountKind,
    EntryKind,
    GrantStatus,
    JournalEntry,
    ProgramStatus,
    VoucherGrant,
    VoucherProgram,
)
from vouchers.rules import region_covers
from vouchers.schemas import AdjustmentIn, ProgramIn
from yixiang.audit import record_change, snapshot
from yixiang.db import utcnow
from yixiang.locking import lock_row, locked

PROGRAM_AUDITED = (
    *("name", "year", "budget_fen", "coverage_bp", "per_order_cap_fen", "per_firm_year_cap_fen"),
    *("valid_from", "valid_until", "requires_tech_sme", "accepted_region_codes", "cross_region"),
    *("accepted_unit_ids", "accepted_category_codes", "status", "bureau_id", "region_code"),
)


async def lock_program(session: AsyncSession, program_id: uuid.UUID) -> VoucherProgram | None:
    return await lock_row(session, VoucherProgram, program_id)


def _validate(data: ProgramIn, issuer_region: str) -> None:
    if data.valid_until < data.valid_from:
        raise InvalidProgram("有效期结束日期早于开始日期", field="valid_until")
    if data.per_order_cap_fen > data.per_firm_year_cap_fen:
        raise InvalidProgram("单笔上限不能高于企业年度上限", field="per_order_cap_fen")
    if not data.cross_region:
        outside = [c for c in data.accepted_region_codes if not region_covers(issuer_region, c)]
        if outside:
            raise InvalidProgram(
                "未开通通用通兑时，接受地区必须在发券地区之内", field="accepted_region_codes", codes=outside
            )


async def create_program(
    session: AsyncSession, principal: Principal, data: ProgramIn, *, key: str | None = None
) -> VoucherProgram:
    require_bureau_officer(principal)
    bureaus = principal.orgs_where(Role.bureau_officer)
    bureau_id = data.bureau_id or (next(iter(bureaus)) if len(bureaus) == 1 else None)
    if bureau_id is None or bureau_id not in bureaus:
        raise BureauRequired("请指定您所在的发券部门", field="bureau_id")
    async with within_caller_transaction(session):
        bureau = await session.get(Organization, bureau_id)
        if bureau is None or bureau.kind != OrgKind.bureau:
            raise BureauRequired()
        _validate(data, bureau.region_code)
        program_id = (
            uuid.uuid5(uuid.NAMESPACE_URL, f"voucher-program:{bureau_id}:{key}") if key else uuid.uuid4()
        )
        existing = await session.get(VoucherProgram, program_id)
        if existing is not None:
            return existing  # the same request replayed with its key
        program = VoucherProgram(
            id=program_id,
            bureau_id=bureau_id,
            region_code=bureau.region_code,
            name=data.name,
            year=data.year,
            budget_fen=data.budget_fen,
            coverage_bp=data.coverage_bp,
            per_order_cap_fen=data.per_order_cap_fen,
            per_firm_year_cap_fen=data.per_firm_year_cap_fen,
            valid_from=data.valid_from,
            valid_until=data.valid_until,
            requires_tech_sme=data.requires_tech_sme,
            accepted_region_codes=list(data.accepted_region_codes),
            cross_region=data.cross_region,
            accepted_unit_ids=[str(u) for u in data.accepted_unit_ids],
            accepted_category_codes=list(data.accepted_category_codes),
            status=ProgramStatus.active,
            created_by=principal.user_id,
        )
        session.add(program)
        await session.flush()
        await record_change(
            session,
            actor_id=principal.user_id,
            entity_type="voucher_program",
            entity_id=program.id,
            action="created",
            after=snapshot(program, PROGRAM_AUDITED),
        )
        await fund_program(session, program, principal.user_id)
        return program


async def fund_program(session: AsyncSession, program: VoucherProgram, actor_id: uuid.UUID | None) -> None:
    await open_account(
        session, funding_account(program.id), AccountKind.funding, program.id, may_go_negative=True
    )
    await open_account(session, budget_account(program.id), AccountKind.budget, program.id)
    await post_entry(
        session,
        Posting(
            key=f"funding:{program.id}",
            kind=EntryKind.funding,
            lines=[
                (funding_account(program.id), -program.budget_fen),
                (budget_account(program.id), program.budget_fen),
            ],
            program_id=program.id,
            actor_id=actor_id,
            reason="批次预算下达",
        ),
    )


async def budget_available_fen(session: AsyncSession, program_id: uuid.UUID) -> int:
    return (await balances(session, [budget_account(program_id)]))[budget_account(program_id)]


async def adjust_grant(
    session: AsyncSession, principal: Principal, program_id: uuid.UUID, data: AdjustmentIn, *, key: str
) -> uuid.UUID | None:
    """A bureau officer's correction of a grant, with a reason: budget ↔ grant, either way."""
    if data.amount_fen == 0:  # it would move nothing, yet answer as if a correction was made
        raise ZeroAdjustment(field="amount_fen")
    async with within_caller_transaction(session):
        program = require_program_officer(principal, await lock_program(session, program_id))
        grant = await session.scalar(
            locked(
                select(VoucherGrant).where(
                    VoucherGrant.id == data.grant_id, VoucherGrant.program_id == program.id
                )
            )
        )
        if grant is None:
            raise GrantNotFound()
        entry_key = f"adjustment:{program.id}:{key}"
        replayed = await session.scalar(select(JournalEntry.id).where(JournalEntry.key == entry_key))
        if replayed is not None:
            return replayed
        if grant.status != GrantStatus.active:
            raise GrantNotFound("该创新券已过期，不能调整")
        budget = await budget_available_fen(session, program.id)
        if data.amount_fen > budget:
            raise BudgetExceeded(available_fen=budget)
        balance = (await balances(session, [grant_account(grant.id)]))[grant_account(grant.id)]
        if -data.amount_fen > balance:
            raise InsufficientVoucherBalance(available_fen=balance)
        return await post_entry(
            session,
            Posting(
                key=entry_key,
                kind=EntryKind.adjustment,
                lines=[
                    (budget_account(program.id), -data.amount_fen),
                    (grant_account(grant.id), data.amount_fen),
                ],
                program_id=program.id,
                grant_id=grant.id,
                actor_id=principal.user_id,
                reason=data.reason,
            ),
        )


async def expire_programs(session: AsyncSession, today: date) -> list[uuid.UUID]:
    """Close every programme whose last valid day is before ``today``: grants expire and their
    unused balances return to the budget. Held amounts stay held for their bookings (they were
    reserved while the voucher was valid); a later release sends them to the budget directly."""
    async with within_caller_transaction(session):
        due = (
            await session.scalars(
                select(VoucherProgram.id)
                .where(VoucherProgram.status == ProgramStatus.active, VoucherProgram.valid_until < today)
                .order_by(VoucherProgram.id)
            )
        ).all()
        closed = []
        for program_id in due:
            program = await lock_program(session, program_id)
            if program is None or program.status != ProgramStatus.active:
                continue
            await expire_program_grants(session, program)
            closed.append(program_id)
        return closed


async def expire_program_grants(session: AsyncSession, program: VoucherProgram) -> None:
    query = locked(
        select(VoucherGrant)
        .where(VoucherGrant.program_id == program.id, VoucherGrant.status == GrantStatus.active)
        .order_by(VoucherGrant.id)
    ).execution_options(populate_existing=True)
    grants = (await session.scalars(query)).all()
    found = await balances(session, [grant_account(g.id) for g in grants])
    now = utcnow()
    for grant in grants:
        left = found[grant_account(grant.id)]
        await post_entry(
            session,
            Posting(
                key=f"expiry:{grant.id}",
                kind=EntryKind.expiry,
                lines=[(grant_account(grant.id), -left), (budget_account(program.id), left)],
                program_id=program.id,
                grant_id=grant.id,
                reason="批次到期：未使用额度退回预算",
            ),
        )
        grant.status = GrantStatus.expired
        grant.expired_at = now
    await record_change(
        session,
        actor_id=None,
        entity_type="voucher_program",
        entity_id=program.id,
        action="closed",
        before={"status": program.status},
        after={"status": ProgramStatus.closed},
    )
    program.status = ProgramStatus.closed
    program.closed_at = now
    await session.flush()
