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
from sqlalchemy import bindparam, case, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

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
    AccountKind,
    CheckoutEvidence,
    CheckoutState,
    EntryKind,
    GrantStatus,
    LedgerAccount,
    ProgramStatus,
    VoucherCheckout,
    VoucherGrant,
    VoucherProgram,
)
from vouchers.rules import ProgramRules, allocate, order_accepted, shanghai_date, voucher_share
from yixiang.db import is_postgres, transaction, utcnow
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


# The checkout runs on every confirmation and completion, so its statements are plain Core,
# built once here (SQLAlchemy then only binds parameters), on the session's own connection.


@dataclass(frozen=True)
class ProgramTerms:
    """The columns of a programme the checkout needs."""

    id: uuid.UUID
    status: ProgramStatus
    coverage_bp: int
    per_order_cap_fen: int
    per_firm_year_cap_fen: int
    rules: ProgramRules


_PROGRAM_COLUMNS = (
    VoucherProgram.id,
    VoucherProgram.status,
    VoucherProgram.coverage_bp,
    VoucherProgram.per_order_cap_fen,
    VoucherProgram.per_firm_year_cap_fen,
    VoucherProgram.region_code,
    VoucherProgram.valid_from,
    VoucherProgram.valid_until,
    VoucherProgram.requires_tech_sme,
    VoucherProgram.accepted_region_codes,
    VoucherProgram.cross_region,
    VoucherProgram.accepted_unit_ids,
    VoucherProgram.accepted_category_codes,
)
_PROGRAM_SELECT = select(*_PROGRAM_COLUMNS).where(VoucherProgram.id == bindparam("p_program"))


def _terms(row: Any, offset: int = 0) -> ProgramTerms:
    (
        pid,
        status,
        coverage,
        order_cap,
        firm_cap,
        region,
        start,
        end,
        sme,
        regions,
        cross,
        units,
        categories,
    ) = row[offset : offset + len(_PROGRAM_COLUMNS)]
    return ProgramTerms(
        id=pid,
        status=status,
        coverage_bp=coverage,
        per_order_cap_fen=order_cap,
        per_firm_year_cap_fen=firm_cap,
        rules=ProgramRules(
            region_code=region,
            valid_from=start,
            valid_until=end,
            requires_tech_sme=sme,
            accepted_region_codes=regions,
            cross_region=cross,
            accepted_unit_ids=units,
            accepted_category_codes=categories,
        ),
    )


@dataclass
class _Grant:
    id: uuid.UUID
    status: GrantStatus
    expires_on: date
    created_at: datetime
    balance_fen: int
    program: ProgramTerms

    @property
    def usable(self) -> bool:
        return self.status == GrantStatus.active and self.program.status == ProgramStatus.active


@dataclass
class FirmGrants:
    grants: list[_Grant]
    is_tech_sme: bool

    def program(self, program_id: uuid.UUID) -> ProgramTerms | None:
        return next((g.program for g in self.grants if g.program.id == program_id), None)


_FIRM_GRANTS = (
    select(
        VoucherGrant.id,
        VoucherGrant.status,
        VoucherGrant.expires_on,
        VoucherGrant.created_at,
        LedgerAccount.balance_fen,
        Organization.is_tech_sme,
        *_PROGRAM_COLUMNS,
    )
    .join(VoucherProgram, VoucherProgram.id == VoucherGrant.program_id)
    .join(
        LedgerAccount, (LedgerAccount.grant_id == VoucherGrant.id) & (LedgerAccount.kind == AccountKind.grant)
    )
    .join(Organization, Organization.id == VoucherGrant.enterprise_id)
    .where(VoucherGrant.enterprise_id == bindparam("p_firm"), VoucherGrant.status == GrantStatus.active)
    .order_by(VoucherGrant.id)
)
# Lock the balance rows too: READ COMMITTED hands back the newest version of a row it locked,
# while an unlocked joined row would be read as of the statement's start, i.e. from before the
# wait for the lock (a stale balance). SQLite needs no lock: its writers are serialised.
_FIRM_GRANTS_LOCKED = _FIRM_GRANTS.with_for_update(of=[VoucherGrant, LedgerAccount])


async def lock_firm_grants(session: AsyncSession, enterprise_id: uuid.UUID) -> FirmGrants:
    """Every active grant of the firm with its programme and balance, locked in id order."""
    conn = await session.connection()
    query = _FIRM_GRANTS_LOCKED if conn.dialect.name == "postgresql" else _FIRM_GRANTS
    rows = (await conn.execute(query, {"p_firm": enterprise_id})).all()
    return FirmGrants(
        grants=[_Grant(r[0], r[1], r[2], r[3], int(r[4]), _terms(r, 6)) for r in rows],
        is_tech_sme=bool(rows[0][5]) if rows else False,
    )


@dataclass(frozen=True)
class _Checkout:
    state: CheckoutState
    program_id: uuid.UUID | None
    usage_year: int
    held_fen: int
    fee_fen: int
    voucher_fen: int
    due_fen: int


_CHECKOUT_SELECT = select(
    VoucherCheckout.state,
    VoucherCheckout.program_id,
    VoucherCheckout.usage_year,
    VoucherCheckout.held_fen,
    VoucherCheckout.fee_fen,
    VoucherCheckout.voucher_fen,
    VoucherCheckout.due_fen,
).where(VoucherCheckout.booking_id == bindparam("p_booking"))
_CHECKOUT_SELECT_LOCKED = _CHECKOUT_SELECT.with_for_update()
_CHECKOUT_FIRM = select(VoucherCheckout.enterprise_id).where(
    VoucherCheckout.booking_id == bindparam("p_booking")
)
_CHECKOUT_INSERT = insert(VoucherCheckout)
_CHECKOUT_CAPTURED = (
    update(VoucherCheckout)
    .where(VoucherCheckout.booking_id == bindparam("p_booking"))
    .values(
        program_id=bindparam("p_program"),
        state=CheckoutState.captured,
        fee_fen=bindparam("p_fee"),
        voucher_fen=bindparam("p_voucher"),
        due_fen=bindparam("p_due"),
        captured_at=bindparam("p_now"),
        updated_at=bindparam("p_now"),
    )
)
_CHECKOUT_RELEASED = (
    update(VoucherCheckout)
    .where(VoucherCheckout.booking_id == bindparam("p_booking"))
    .values(
        state=CheckoutState.released,
        released_at=bindparam("p_now"),
        release_reason=bindparam("p_reason"),
        updated_at=bindparam("p_now"),
    )
)


async def _checkout(conn: AsyncConnection, booking_id: uuid.UUID) -> _Checkout | None:
    query = _CHECKOUT_SELECT_LOCKED if conn.dialect.name == "postgresql" else _CHECKOUT_SELECT
    row = (await conn.execute(query, {"p_booking": booking_id})).first()
    return _Checkout(*row) if row is not None else None


async def lock_checkout(session: AsyncSession, booking_id: uuid.UUID) -> VoucherCheckout | None:
    """The checkout as an ORM object, locked (for the rarer paths that edit it: refunds)."""
    query = (
        select(VoucherCheckout)
        .where(VoucherCheckout.booking_id == booking_id)
        .execution_options(populate_existing=True)
    )
    if is_postgres(session):
        query = query.with_for_update()
    return await session.scalar(query)


def _accepting(grants: list[_Grant], order: CheckoutOrder, on: date, tech_sme: bool) -> list[_Grant]:
    return sorted(
        (
            g
            for g in grants
            if g.usable
            and order_accepted(
                g.program.rules,
                on=on,
                firm_is_tech_sme=tech_sme,
                provider_unit_id=str(order.unit_id),
                provider_region=order.region_code,
                category_code=order.category_code,
                instrument_voucher_eligible=order.voucher_eligible,
            )
        ),
        key=lambda g: (g.expires_on, g.created_at, g.id),
    )


_FIRM_USAGE = select(
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
    VoucherCheckout.enterprise_id == bindparam("p_firm"),
    VoucherCheckout.program_id == bindparam("p_program"),
    VoucherCheckout.usage_year == bindparam("p_year"),
    VoucherCheckout.state.in_([CheckoutState.held, CheckoutState.captured]),
    VoucherCheckout.booking_id != bindparam("p_booking"),
)


async def _firm_usage_fen(
    conn: AsyncConnection, order: CheckoutOrder, program_id: uuid.UUID, year: int
) -> int:
    """What the firm already holds or captured under the programme this year (other bookings)."""
    total = await conn.scalar(
        _FIRM_USAGE,
        {
            "p_firm": order.enterprise_id,
            "p_program": program_id,
            "p_year": year,
            "p_booking": order.booking_id,
        },
    )
    return int(total or 0)


async def _share(
    conn: AsyncConnection, order: CheckoutOrder, program: ProgramTerms, available_fen: int, year: int
) -> int:
    used = await _firm_usage_fen(conn, order, program.id, year)
    return voucher_share(
        order.fee_fen,
        program.coverage_bp,
        program.per_order_cap_fen,
        available_fen,
        program.per_firm_year_cap_fen - used,
    )


@dataclass
class _Choice:
    program: ProgramTerms | None
    share_fen: int
    grants: list[_Grant]  # the programme's usable grants, earliest-expiring first


async def _choose_program(
    conn: AsyncConnection, order: CheckoutOrder, grants: list[_Grant], year: int
) -> _Choice:
    """The first programme (by earliest-expiring grant) that pays a positive share of the fee."""
    by_program: dict[uuid.UUID, list[_Grant]] = {}
    for g in grants:
        by_program.setdefault(g.program.id, []).append(g)
    for program_grants in by_program.values():
        available = sum(g.balance_fen for g in program_grants)
        if available <= 0:
            continue
        share = await _share(conn, order, program_grants[0].program, available, year)
        if share > 0:
            return _Choice(program_grants[0].program, share, program_grants)
    return _Choice(None, 0, [])


async def hold_voucher_share(session: AsyncSession, order: CheckoutOrder) -> int:
    """At confirmation: hold the voucher share of the quoted fee; returns the fen held.

    Idempotent per booking: a second call returns the existing hold (0 once captured/released).
    """
    _require_valid(order)
    async with within_caller_transaction(session):
        firm = await lock_firm_grants(session, order.enterprise_id)
        conn = await session.connection()
        existing = await _checkout(conn, order.booking_id)
        if existing is not None:
            return existing.held_fen if existing.state == CheckoutState.held else 0
        now = utcnow()
        today = shanghai_date(now)
        accepting = _accepting(firm.grants, order, today, firm.is_tech_sme)
        choice = await _choose_program(conn, order, accepting, today.year)
        if choice.program is not None:
            lines: list[tuple[str, int]] = []
            for grant_id, amount in allocate(
                choice.share_fen, [(g.id, g.balance_fen) for g in choice.grants]
            ):
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
        await conn.execute(
            _CHECKOUT_INSERT,
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
        "enterprise_id": order.enterprise_id,
        "unit_id": order.unit_id,
        "instrument_id": order.instrument_id,
        "region_code": order.region_code,
        "category_code": order.category_code,
    }


def _return_account(part: HeldPart, grant_id: uuid.UUID, program_id: uuid.UUID) -> str:
    """Where a released hold goes: back to the grant, or to the budget once the grant expired."""
    return grant_account(grant_id) if part.grant_active else budget_account(program_id)


async def _program_terms(conn: AsyncConnection, program_id: uuid.UUID) -> ProgramTerms:
    row = (await conn.execute(_PROGRAM_SELECT, {"p_program": program_id})).one()
    return _terms(row)


async def capture_voucher_share(session: AsyncSession, order: CheckoutOrder) -> CaptureResult:
    """At completion, with the final fee: capture the share, release what the hold held beyond
    it, and owe the provider the share (its receivable). Idempotent per booking."""
    _require_valid(order)
    async with within_caller_transaction(session):
        firm = await lock_firm_grants(session, order.enterprise_id)
        conn = await session.connection()
        checkout = await _checkout(conn, order.booking_id)
        if checkout is not None and checkout.state == CheckoutState.captured:
            return CaptureResult(checkout.fee_fen, checkout.voucher_fen, checkout.due_fen)
        now = utcnow()
        today = shanghai_date(now)
        year = checkout.usage_year if checkout is not None else today.year
        held = await hold_parts(session, order.booking_id) if checkout is not None else {}
        accepting = _accepting(firm.grants, order, today, firm.is_tech_sme)

        program: ProgramTerms | None = None
        share = 0
        extra_sources: list[_Grant] = []
        if held and checkout is not None and checkout.program_id is not None:
            # The hold reserved this programme at confirmation; it pays even if its window has
            # since closed. More than the hold comes only from grants still usable today.
            program = firm.program(checkout.program_id) or await _program_terms(conn, checkout.program_id)
            extra_sources = [g for g in accepting if g.program.id == program.id]
            available = sum(p.amount_fen for p in held.values()) + sum(g.balance_fen for g in extra_sources)
            share = await _share(conn, order, program, available, year)
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
            await conn.execute(
                _CHECKOUT_INSERT,
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
                _CHECKOUT_CAPTURED,
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
    session: AsyncSession, booking_id: uuid.UUID, *, reason: str, actor_id: uuid.UUID | None
) -> int:
    """Cancel / reject / expire / no-show: give the held share back; idempotent (0 if none)."""
    async with within_caller_transaction(session):
        conn = await session.connection()
        enterprise_id = await conn.scalar(_CHECKOUT_FIRM, {"p_booking": booking_id})
        if enterprise_id is None:
            return 0
        await lock_firm_grants(session, enterprise_id)  # same lock order as hold and capture
        checkout = await _checkout(conn, booking_id)
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
            _CHECKOUT_RELEASED, {"p_booking": booking_id, "p_now": utcnow(), "p_reason": reason[:200]}
        )
        return checkout.held_fen


_EVIDENCE_INSERT = {
    "postgresql": postgresql.insert(CheckoutEvidence).on_conflict_do_nothing(
        index_elements=["booking_id", "kind"]
    ),
    "sqlite": sqlite.insert(CheckoutEvidence).on_conflict_do_nothing(index_elements=["booking_id", "kind"]),
}


async def store_evidence(
    session: AsyncSession, booking_id: uuid.UUID, kind: str, at: datetime, detail: dict[str, Any]
) -> None:
    conn = await session.connection()
    await conn.execute(
        _EVIDENCE_INSERT[conn.dialect.name],
        {"booking_id": booking_id, "kind": kind, "at": at, "detail": detail, "recorded_at": utcnow()},
    )


async def record_evidence(
    session: AsyncSession, booking_id: uuid.UUID, kind: str, *, at: datetime, detail: dict[str, Any]
) -> None:
    """One link of the evidence chain (booking, usage, payment, delivery, rating); first one wins."""
    if kind not in EVIDENCE_KINDS:
        raise InvalidInput("未知的凭证类型", kind=kind, allowed=list(EVIDENCE_KINDS))
    async with within_caller_transaction(session):
        await store_evidence(session, booking_id, kind, at, msgspec.json.decode(msgspec.json.encode(detail)))
