"""No-touch redemption (无感直兑): the checkout interface booking calls inside its own transactions.

    create   → open_checkout(session, order, at=..., hold=...)   evidence, and the hold if confirmed
    confirm  → hold_voucher_share(session, order)      the share of the quoted fee is held
    complete → capture_voucher_share(session, order)   the share of the final fee is captured
    cancel / reject / expire / no-show → release_voucher_hold(session, booking_id, ...)
    as the flow advances → record_evidence(session, booking_id, kind, at=..., detail=...)

Each runs inside the caller's open transaction when there is one (the caller commits or rolls
back: a crash between hold and confirm leaves neither), else in its own. Each is idempotent per
booking. Concurrency: the firm's grant rows are locked first, in id order, then the checkout
(the order is :mod:`yixiang.locking`'s), then balances are read and the entry is posted with
conditional balance updates, so racing checkouts never spend more than the balance.

Which programme pays: the one whose usable grant expires first; within it, grants are drawn
earliest-expiring first. One order is paid by one programme (coverage ratios never stack).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from vouchers.checkout_store import (
    CHECKOUT_CAPTURED,
    CHECKOUT_FIRM,
    CHECKOUT_INSERT,
    CHECKOUT_RELEASED,
    Grant,
    ProgramTerms,
    firm_usage_by_program,
    firm_usage_fen,
    lock_firm_grants,
    program_terms,
    read_checkout,
    store_evidence,
)
from vouchers.ledger import (
    HeldPart,
    Posting,
    budget_account,
    grant_account,
    hold_account,
    hold_parts,
    open_receivable_account,
    post_entry,
    receivable_account,
)
from vouchers.models import (
    CheckoutState,
    EntryKind,
)
from vouchers.rules import (
    ProgramChoice,
    accepting_grants,
    allocate,
    choose_program,
    program_share,
    programs_with_balance,
)
from yixiang.clock import shanghai_date
from yixiang.db import transaction, utcnow
from yixiang.errors import InvalidInput

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
    booking_number: str = ""  # the number people read (预约号): memos, statements, exports
    booked_by: uuid.UUID | None = None  # the researcher who booked (may request the invoice)


def _require_valid(order: CheckoutOrder) -> None:
    if order.fee_fen < 0:
        raise InvalidInput("费用不能为负数", field="fee_fen", fee_fen=order.fee_fen)


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


async def _choose_program(
    conn: AsyncConnection, order: CheckoutOrder, accepting: list[Grant], year: int
) -> ProgramChoice:
    candidates = programs_with_balance(accepting)
    programs = [program.id for program, _, _ in candidates]
    used = await firm_usage_by_program(conn, order.enterprise_id, programs, year, order.booking_id)
    return choose_program(candidates, order.fee_fen, used)


async def open_checkout(session: AsyncSession, order: CheckoutOrder, *, at: datetime, hold: bool) -> int:
    """A booking was just inserted in the caller's transaction: record the first link of its
    evidence chain and, when it was confirmed as it was made (``hold``), hold the voucher share of
    its quoted fee. Returns the fen held (0 without a hold). One call per new booking."""
    _require_valid(order)
    async with within_caller_transaction(session):
        await store_evidence(session, order.booking_id, "booking", at, {})
        # A booking inserted in this transaction has no checkout yet: the look for one is skipped
        # (were there one, the hold's insert would fail on the key).
        return await _hold(session, order, new_booking=True) if hold else 0


async def hold_voucher_share(session: AsyncSession, order: CheckoutOrder) -> int:
    """At confirmation: hold the voucher share of the quoted fee; returns the fen held.

    Idempotent per booking: a second call returns the existing hold (0 once captured/released).
    """
    _require_valid(order)
    async with within_caller_transaction(session):
        return await _hold(session, order, new_booking=False)


async def _hold(session: AsyncSession, order: CheckoutOrder, *, new_booking: bool) -> int:
    firm = await lock_firm_grants(session, order.enterprise_id)
    conn = await session.connection()
    existing = None if new_booking else await read_checkout(conn, order.booking_id)
    if existing is not None:
        return existing.held_fen if existing.state == CheckoutState.held else 0
    now = utcnow()
    today = shanghai_date(now)
    accepting = accepting_grants(firm.grants, order, today, firm.is_tech_sme)
    choice = await _choose_program(conn, order, accepting, today.year)
    if choice.program is not None:
        lines: list[tuple[str, int]] = []
        for grant_id, amount in allocate(choice.share_fen, [(g.id, g.balance_fen) for g in choice.grants]):
            lines += [(grant_account(grant_id), -amount), (hold_account(grant_id), amount)]
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
    await CHECKOUT_INSERT.run(
        conn,
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
    )
    return choice.share_fen


def _order_columns(order: CheckoutOrder) -> dict[str, Any]:
    return {
        "booking_id": order.booking_id,
        "booking_number": order.booking_number,
        "enterprise_id": order.enterprise_id,
        "unit_id": order.unit_id,
        "instrument_id": order.instrument_id,
        "region_code": order.region_code,
        "category_code": order.category_code,
        "booked_by": order.booked_by,
    }


def _return_account(part: HeldPart, grant_id: uuid.UUID, program_id: uuid.UUID) -> str:
    """Where a released hold goes: back to the grant, or to the budget once the grant expired."""
    return grant_account(grant_id) if part.grant_active else budget_account(program_id)


async def capture_voucher_share(session: AsyncSession, order: CheckoutOrder) -> CaptureResult:
    """At completion, with the final fee: capture the share, release what the hold held beyond
    it, and owe the provider the share (its receivable). Idempotent per booking."""
    _require_valid(order)
    async with within_caller_transaction(session):
        firm = await lock_firm_grants(session, order.enterprise_id)
        conn = await session.connection()
        checkout = await read_checkout(conn, order.booking_id)
        if checkout is not None and checkout.state == CheckoutState.captured:
            return CaptureResult(checkout.fee_fen, checkout.voucher_fen, checkout.due_fen)
        now = utcnow()
        today = shanghai_date(now)
        year = checkout.usage_year if checkout is not None else today.year
        held = await hold_parts(session, order.booking_id) if checkout is not None else {}
        accepting = accepting_grants(firm.grants, order, today, firm.is_tech_sme)

        program: ProgramTerms | None = None
        share = 0
        extra_sources: list[Grant] = []
        if held and checkout is not None and checkout.program_id is not None:
            # The hold reserved this programme at confirmation; it pays even if its window has
            # since closed. More than the hold comes only from grants still usable today.
            program = firm.program(checkout.program_id) or await program_terms(conn, checkout.program_id)
            extra_sources = [g for g in accepting if g.program.id == program.id]
            available = sum(p.amount_fen for p in held.values()) + sum(g.balance_fen for g in extra_sources)
            used = await firm_usage_fen(conn, order.enterprise_id, program.id, year, order.booking_id)
            share = program_share(order.fee_fen, program, available, used)
        else:
            choice = await _choose_program(conn, order, accepting, year)
            program, share, extra_sources = choice.program, choice.share_fen, choice.grants

        if program is not None:
            # Draw on the hold first (earliest-expiring grant first), then on available balances.
            lines: list[tuple[str, int]] = []
            held_order = sorted(held, key=lambda gid: (held[gid].expires_on, gid))
            from_hold = min(share, sum(p.amount_fen for p in held.values()))
            taken_from_hold = dict(allocate(from_hold, [(gid, held[gid].amount_fen) for gid in held_order]))
            for gid in held_order:
                part = held[gid]
                unused = part.amount_fen - taken_from_hold.get(gid, 0)
                lines.append((hold_account(gid), -part.amount_fen))
                if unused:
                    lines.append((_return_account(part, gid, program.id), unused))
            extra = share - from_hold
            if extra:
                for extra_gid, amount in allocate(extra, [(g.id, g.balance_fen) for g in extra_sources]):
                    lines.append((grant_account(extra_gid), -amount))
            if share:
                await open_receivable_account(session, program.id, order.unit_id)
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
        program_id = program.id if (program is not None and share) else None
        if checkout is None:
            await CHECKOUT_INSERT.run(
                conn,
                {
                    **_order_columns(order),
                    "program_id": program_id,
                    "state": CheckoutState.captured,
                    "usage_year": year,
                    "quoted_fee_fen": order.fee_fen,
                    "held_fen": 0,
                    "fee_fen": order.fee_fen,
                    "voucher_fen": share,
                    "due_fen": due,
                    "held_at": now,
                    "captured_at": now,
                    "updated_at": now,
                },
            )
        else:
            await conn.execute(
                CHECKOUT_CAPTURED,
                {
                    "p_booking": order.booking_id,
                    "p_program": program_id,
                    "p_fee": order.fee_fen,
                    "p_voucher": share,
                    "p_due": due,
                    "p_now": now,
                },
            )
        if due == 0:
            await store_evidence(
                session, order.booking_id, "payment", now, {"voucher_fen": share, "due_fen": 0}
            )
        return CaptureResult(order.fee_fen, share, due)


async def release_voucher_hold(
    session: AsyncSession,
    booking_id: uuid.UUID,
    *,
    reason: str,
    actor_id: uuid.UUID | None,
    fee_fen: int = 0,
) -> int:
    """Cancel / reject / expire / no-show: give the held share back; idempotent (0 if none).

    ``fee_fen`` is what the firm owes all the same (a late cancellation's fee): the statement
    then shows it as due, paid by the firm, with no voucher share."""
    if fee_fen < 0:
        raise InvalidInput("费用不能为负数", field="fee_fen", fee_fen=fee_fen)
    async with within_caller_transaction(session):
        conn = await session.connection()
        enterprise_id = await conn.scalar(CHECKOUT_FIRM, {"p_booking": booking_id})
        if enterprise_id is None:
            return 0
        await lock_firm_grants(session, enterprise_id)  # same lock order as hold and capture
        checkout = await read_checkout(conn, booking_id)
        if checkout is None or checkout.state != CheckoutState.held:
            return 0
        held = await hold_parts(session, booking_id)
        if held and checkout.program_id is not None:
            lines: list[tuple[str, int]] = []
            for gid, part in held.items():
                lines += [
                    (hold_account(gid), -part.amount_fen),
                    (_return_account(part, gid, checkout.program_id), part.amount_fen),
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
        await conn.execute(
            CHECKOUT_RELEASED,
            {"p_booking": booking_id, "p_now": utcnow(), "p_reason": reason[:200], "p_fee": fee_fen},
        )
        return checkout.held_fen


async def record_evidence(
    session: AsyncSession, booking_id: uuid.UUID, kind: str, *, at: datetime, detail: dict[str, Any]
) -> None:
    """One link of the evidence chain (booking, usage, payment, delivery, rating); first one wins."""
    if kind not in EVIDENCE_KINDS:
        raise InvalidInput("未知的凭证类型", kind=kind, allowed=list(EVIDENCE_KINDS))
    async with within_caller_transaction(session):
        await store_evidence(session, booking_id, kind, at, msgspec.json.decode(msgspec.json.encode(detail)))
