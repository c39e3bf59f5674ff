"""No-touch redemption (无感直兑): the checkout interface booking calls inside its own transactions.

    confirm  → hold_voucher_share(session, order)      the share of the quoted fee is held
    complete → capture_voucher_share(session, order)   the share of the final fee is captured
    cancel / reject / expire / no-show → release_voucher_hold(session, booking_id, ...)
    as the flow advances → record_evidence(session, booking_id, kind, at=..., detail=...)

Each runs inside the caller's open transaction when there is one (the caller commits or rolls
back: a crash between hold and confirm leaves neither), else in its own. Each is idempotent per
booking. Concurrency: the firm's grant rows are locked first (``FOR UPDATE`` on PostgreSQL, in id
order; SQLite serialises write transactions), then balances are read and the entry is posted with
conditional balance updates, so racing checkouts never spend more than the balance.

Which programme pays: the one whose usable grant expires first; within it, grants are drawn
earliest-expiring first. One order is paid by one programme (coverage ratios never stack).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import msgspec
from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from vouchers.ledger import (
    Posting,
    balances,
    budget_account,
    grant_account,
    hold_account,
    hold_parts,
    open_provider_accounts,
    post_entry,
    receivable_account,
)
from vouchers.models import (
    CheckoutEvidence,
    CheckoutState,
    EntryKind,
    GrantStatus,
    ProgramStatus,
    VoucherCheckout,
    VoucherGrant,
    VoucherProgram,
)
from vouchers.rules import ProgramRules, allocate, order_accepted, shanghai_date, voucher_share
from yixiang.db import insert_ignoring_conflict, is_postgres, transaction, utcnow
from yixiang.errors import InvalidInput
from yixiang.identity import Organization

EVIDENCE_KINDS = ("booking", "usage", "payment", "delivery", "rating")


@dataclass(frozen=True)
class CheckoutOrder:
    """What vouchers needs to know about one booking."""

    booking_id: uuid.UUID
    enterprise_id: uuid.UUID  # the paying firm (Organization.kind == enterprise)
    unit_id: uuid.UUID  # the instrument's holding unit = the provider to be paid
    instrument_id: uuid.UUID
    region_code: str  # the instrument's region (GB/T 2260)
    category_code: str  # instrument category code (e.g. "0201")
    voucher_eligible: bool  # the instrument accepts vouchers at all
    fee_fen: int  # quoted fee (hold) or final fee (capture)
    actor_id: uuid.UUID | None  # who caused it (None = system)


@dataclass(frozen=True)
class CaptureResult:
    fee_fen: int
    voucher_fen: int
    due_fen: int


@asynccontextmanager
async def within_caller_transaction(session: AsyncSession) -> AsyncIterator[None]:
    """Join the caller's open transaction (the caller commits) or run in one of our own."""
    if session.in_transaction():
        yield
    else:
        async with transaction(session):
            yield


def program_rules(program: VoucherProgram) -> ProgramRules:
    return ProgramRules(
        region_code=program.region_code,
        valid_from=program.valid_from,
        valid_until=program.valid_until,
        requires_tech_sme=program.requires_tech_sme,
        accepted_region_codes=program.accepted_region_codes,
        cross_region=program.cross_region,
        accepted_unit_ids=program.accepted_unit_ids,
        accepted_category_codes=program.accepted_category_codes,
    )


@dataclass
class _Grant:
    grant: VoucherGrant
    program: VoucherProgram
    balance_fen: int = 0

    @property
    def usable(self) -> bool:
        return self.grant.status == GrantStatus.active and self.program.status == ProgramStatus.active


async def lock_firm_grants(session: AsyncSession, enterprise_id: uuid.UUID) -> list[_Grant]:
    """Every active grant of the firm with its programme, locked (in id order) and with balances."""
    query = (
        select(VoucherGrant, VoucherProgram)
        .join(VoucherProgram, VoucherProgram.id == VoucherGrant.program_id)
        .where(VoucherGrant.enterprise_id == enterprise_id, VoucherGrant.status == GrantStatus.active)
        .order_by(VoucherGrant.id)
        .execution_options(populate_existing=True)
    )
    if is_postgres(session):
        query = query.with_for_update(of=VoucherGrant)
    grants = [_Grant(grant, program) for grant, program in (await session.execute(query)).all()]
    found = await balances(session, [grant_account(g.grant.id) for g in grants])
    for g in grants:
        g.balance_fen = found[grant_account(g.grant.id)]
    return grants


async def lock_checkout(session: AsyncSession, booking_id: uuid.UUID) -> VoucherCheckout | None:
    query = (
        select(VoucherCheckout)
        .where(VoucherCheckout.booking_id == booking_id)
        .execution_options(populate_existing=True)
    )
    if is_postgres(session):
        query = query.with_for_update()
    return await session.scalar(query)


async def _firm_is_tech_sme(session: AsyncSession, enterprise_id: uuid.UUID) -> bool:
    return bool(
        await session.scalar(select(Organization.is_tech_sme).where(Organization.id == enterprise_id))
    )


def _accepting(grants: list[_Grant], order: CheckoutOrder, on: date, tech_sme: bool) -> list[_Grant]:
    return sorted(
        (
            g
            for g in grants
            if g.usable
            and order_accepted(
                program_rules(g.program),
                on=on,
                firm_is_tech_sme=tech_sme,
                provider_unit_id=str(order.unit_id),
                provider_region=order.region_code,
                category_code=order.category_code,
                instrument_voucher_eligible=order.voucher_eligible,
            )
        ),
        key=lambda g: (g.grant.expires_on, g.grant.created_at, g.grant.id),
    )


async def _firm_usage_fen(
    session: AsyncSession, order: CheckoutOrder, program_id: uuid.UUID, year: int
) -> int:
    """What the firm already holds or captured under the programme this year (other bookings)."""
    total = await session.scalar(
        select(
            func.coalesce(
                func.sum(
                    case(
                        (VoucherCheckout.state == CheckoutState.held, VoucherCheckout.held_fen),
                        else_=VoucherCheckout.voucher_fen,
                    )
                ),
                0,
            )
        ).where(
            VoucherCheckout.enterprise_id == order.enterprise_id,
            VoucherCheckout.program_id == program_id,
            VoucherCheckout.usage_year == year,
            VoucherCheckout.state.in_([CheckoutState.held, CheckoutState.captured]),
            VoucherCheckout.booking_id != order.booking_id,
        )
    )
    return int(total or 0)


@dataclass
class _Choice:
    program: VoucherProgram | None
    share_fen: int
    grants: list[_Grant]  # the programme's usable grants, earliest-expiring first


async def _choose_program(
    session: AsyncSession,
    order: CheckoutOrder,
    fee_fen: int,
    grants: list[_Grant],
    year: int,
    *,
    extra_available: dict[uuid.UUID, int] | None = None,
) -> _Choice:
    """The first programme (by earliest-expiring grant) that pays a positive share of the fee."""
    by_program: dict[uuid.UUID, list[_Grant]] = {}
    for g in grants:
        by_program.setdefault(g.program.id, []).append(g)
    for program_grants in by_program.values():
        program = program_grants[0].program
        available = sum(g.balance_fen for g in program_grants) + (extra_available or {}).get(program.id, 0)
        if available <= 0:
            continue
        used = await _firm_usage_fen(session, order, program.id, year)
        share = voucher_share(
            fee_fen,
            program.coverage_bp,
            program.per_order_cap_fen,
            available,
            program.per_firm_year_cap_fen - used,
        )
        if share > 0:
            return _Choice(program, share, program_grants)
    return _Choice(None, 0, [])


async def hold_voucher_share(session: AsyncSession, order: CheckoutOrder) -> int:
    """At confirmation: hold the voucher share of the quoted fee; returns the fen held.

    Idempotent per booking: a second call returns the existing hold (0 once captured/released).
    """
    async with within_caller_transaction(session):
        grants = await lock_firm_grants(session, order.enterprise_id)
        existing = await lock_checkout(session, order.booking_id)
        if existing is not None:
            return existing.held_fen if existing.state == CheckoutState.held else 0
        now = utcnow()
        today = shanghai_date(now)
        accepting = _accepting(grants, order, today, await _firm_is_tech_sme(session, order.enterprise_id))
        choice = await _choose_program(session, order, order.fee_fen, accepting, today.year)
        if choice.program is not None:
            taken = allocate(choice.share_fen, [(g.grant.id, g.balance_fen) for g in choice.grants])
            lines: list[tuple[str, int]] = []
            for grant_id, amount in taken:
                lines += [
                    (grant_account(grant_id), -amount),
                    (hold_account(grant_id), amount),
                ]
            await post_entry(
                session,
                Posting(
                    key=f"hold:{order.booking_id}",
                    kind=EntryKind.hold,
                    lines=lines,
                    program_id=choice.program.id,
                    booking_id=order.booking_id,
                    actor_id=order.actor_id,
                    reason="预约确认：冻结创新券抵扣额",
                ),
            )
        await insert_ignoring_conflict(
            session,
            VoucherCheckout,
            {
                **_order_columns(order),
                "program_id": choice.program.id if choice.program else None,
                "state": CheckoutState.held,
                "usage_year": today.year,
                "quoted_fee_fen": order.fee_fen,
                "held_fen": choice.share_fen,
                "fee_fen": order.fee_fen,
                "voucher_fen": 0,
                "due_fen": order.fee_fen - choice.share_fen,
                "held_at": now,
                "updated_at": now,
            },
            ["booking_id"],
        )
        return choice.share_fen


def _order_columns(order: CheckoutOrder) -> dict[str, Any]:
    return {
        "booking_id": order.booking_id,
        "enterprise_id": order.enterprise_id,
        "unit_id": order.unit_id,
        "instrument_id": order.instrument_id,
        "region_code": order.region_code,
        "category_code": order.category_code,
    }


def _return_account(grant: VoucherGrant | None, grant_id: uuid.UUID, program_id: uuid.UUID) -> str:
    """Where a released hold goes: back to the grant, or to the budget once the grant expired."""
    if grant is not None and grant.status == GrantStatus.active:
        return grant_account(grant_id)
    return budget_account(program_id)


async def _grants_by_id(session: AsyncSession, ids: list[uuid.UUID]) -> dict[uuid.UUID, VoucherGrant]:
    if not ids:
        return {}
    rows = await session.scalars(
        select(VoucherGrant).where(VoucherGrant.id.in_(ids)).execution_options(populate_existing=True)
    )
    return {g.id: g for g in rows.all()}


async def capture_voucher_share(session: AsyncSession, order: CheckoutOrder) -> CaptureResult:
    """At completion, with the final fee: capture the share, release what the hold held beyond
    it, and owe the provider the share (its receivable). Idempotent per booking."""
    async with within_caller_transaction(session):
        grants = await lock_firm_grants(session, order.enterprise_id)
        checkout = await lock_checkout(session, order.booking_id)
        if checkout is not None and checkout.state == CheckoutState.captured:
            return CaptureResult(checkout.fee_fen, checkout.voucher_fen, checkout.due_fen)
        now = utcnow()
        today = shanghai_date(now)
        year = checkout.usage_year if checkout is not None else today.year
        held = await hold_parts(session, order.booking_id) if checkout is not None else {}
        held_grants = await _grants_by_id(session, sorted(held))
        tech_sme = await _firm_is_tech_sme(session, order.enterprise_id)
        accepting = _accepting(grants, order, today, tech_sme)

        program: VoucherProgram | None = None
        share = 0
        extra_sources: list[_Grant] = []
        if held and checkout is not None and checkout.program_id is not None:
            # The hold reserved this programme at confirmation; it pays even if its window has
            # since closed. More than the hold comes only from grants still usable today.
            program = await session.get(VoucherProgram, checkout.program_id)
            assert program is not None
            extra_sources = [g for g in accepting if g.program.id == program.id]
            available = sum(held.values()) + sum(g.balance_fen for g in extra_sources)
            used = await _firm_usage_fen(session, order, program.id, year)
            share = voucher_share(
                order.fee_fen,
                program.coverage_bp,
                program.per_order_cap_fen,
                available,
                program.per_firm_year_cap_fen - used,
            )
        else:
            choice = await _choose_program(session, order, order.fee_fen, accepting, year)
            program, share, extra_sources = choice.program, choice.share_fen, choice.grants

        lines: list[tuple[str, int]] = []
        if program is not None:
            # Draw on the hold first (earliest-expiring grant first), then on available balances.
            held_order = sorted(held, key=lambda gid: (held_grants[gid].expires_on, gid))
            from_hold = min(share, sum(held.values()))
            taken_from_hold = dict(allocate(from_hold, [(gid, held[gid]) for gid in held_order]))
            for gid in held_order:
                used_fen = taken_from_hold.get(gid, 0)
                lines.append((hold_account(gid), -held[gid]))
                if held[gid] - used_fen:
                    lines.append(
                        (_return_account(held_grants.get(gid), gid, program.id), held[gid] - used_fen)
                    )
            extra = share - from_hold
            if extra:
                for extra_gid, amount in allocate(
                    extra, [(g.grant.id, g.balance_fen) for g in extra_sources]
                ):
                    lines.append((grant_account(extra_gid), -amount))
            if share:
                await open_provider_accounts(session, program.id, order.unit_id)
                lines.append((receivable_account(program.id, order.unit_id), share))
            await post_entry(
                session,
                Posting(
                    key=f"capture:{order.booking_id}",
                    kind=EntryKind.capture,
                    lines=lines,
                    program_id=program.id,
                    booking_id=order.booking_id,
                    actor_id=order.actor_id,
                    reason="服务完成：按最终费用抵扣创新券",
                ),
            )
        due = order.fee_fen - share
        values = {
            "program_id": program.id if (program is not None and share) else None,
            "state": CheckoutState.captured,
            "fee_fen": order.fee_fen,
            "voucher_fen": share,
            "due_fen": due,
            "captured_at": now,
            "updated_at": now,
        }
        if checkout is None:
            session.add(
                VoucherCheckout(
                    **_order_columns(order),
                    **values,
                    usage_year=year,
                    quoted_fee_fen=order.fee_fen,
                    held_fen=0,
                    held_at=now,
                )
            )
        else:
            for name, value in values.items():
                setattr(checkout, name, value)
        if due == 0:
            await store_evidence(
                session, order.booking_id, "payment", now, {"voucher_fen": share, "due_fen": 0}
            )
        await session.flush()
        return CaptureResult(order.fee_fen, share, due)


async def release_voucher_hold(
    session: AsyncSession, booking_id: uuid.UUID, *, reason: str, actor_id: uuid.UUID | None
) -> int:
    """Cancel / reject / expire / no-show: give the held share back; idempotent (0 if none)."""
    async with within_caller_transaction(session):
        enterprise_id = await session.scalar(
            select(VoucherCheckout.enterprise_id).where(VoucherCheckout.booking_id == booking_id)
        )
        if enterprise_id is None:
            return 0
        await lock_firm_grants(session, enterprise_id)  # same lock order as hold and capture
        checkout = await lock_checkout(session, booking_id)
        if checkout is None or checkout.state != CheckoutState.held:
            return 0
        held = await hold_parts(session, booking_id)
        grants = await _grants_by_id(session, sorted(held))
        if held and checkout.program_id is not None:
            lines: list[tuple[str, int]] = []
            for gid, amount in held.items():
                lines += [
                    (hold_account(gid), -amount),
                    (_return_account(grants.get(gid), gid, checkout.program_id), amount),
                ]
            await post_entry(
                session,
                Posting(
                    key=f"release:{booking_id}",
                    kind=EntryKind.release,
                    lines=lines,
                    program_id=checkout.program_id,
                    booking_id=booking_id,
                    actor_id=actor_id,
                    reason=reason,
                ),
            )
        now = utcnow()
        released = checkout.held_fen
        checkout.state = CheckoutState.released
        checkout.released_at = now
        checkout.release_reason = reason[:200]
        checkout.updated_at = now
        await session.flush()
        return released


async def store_evidence(
    session: AsyncSession, booking_id: uuid.UUID, kind: str, at: datetime, detail: dict[str, Any]
) -> None:
    await insert_ignoring_conflict(
        session,
        CheckoutEvidence,
        {"booking_id": booking_id, "kind": kind, "at": at, "detail": detail, "recorded_at": utcnow()},
        ["booking_id", "kind"],
    )


async def record_evidence(
    session: AsyncSession, booking_id: uuid.UUID, kind: str, *, at: datetime, detail: dict[str, Any]
) -> None:
    """One link of the evidence chain (booking, usage, payment, delivery, rating); first one wins."""
    if kind not in EVIDENCE_KINDS:
        raise InvalidInput("未知的凭证类型", kind=kind, allowed=list(EVIDENCE_KINDS))
    async with within_caller_transaction(session):
        await store_evidence(session, booking_id, kind, at, msgspec.json.decode(msgspec.json.encode(detail)))
