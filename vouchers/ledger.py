"""The double-entry ledger: accounts, append-only journal entries, balances and their check.

Money moves only by :func:`post_entry`: one entry, lines summing to zero, linked to its cause
(programme, grant, booking, settlement) and actor, unique by key (so a replay posts nothing).
Each line also moves the account's cached ``balance_fen`` with a conditional update that refuses
to overdraw an account that may not go negative; :func:`check_ledger` proves cache = SUM(lines).

Only the accounts a rule must read before it moves money carry a cached balance (budget, grant,
hold); the shared ones (funding, receivable, settled) are plain sums of their lines: every
provider's captures would otherwise queue on one receivable row until each commit's fsync.

Locking (the order is :mod:`yixiang.locking`'s): services lock the firm's grant rows first, then
post; balance updates run in account-code order so two entries never wait on each other's
accounts in opposite orders.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import BigInteger, and_, bindparam, event, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from vouchers.errors import InsufficientVoucherBalance
from vouchers.models import (
    AccountKind,
    CheckoutState,
    EntryKind,
    GrantStatus,
    JournalEntry,
    JournalLine,
    LedgerAccount,
    PaymentOrder,
    PaymentOrderStatus,
    VoucherCheckout,
    VoucherGrant,
)
from yixiang.db import conflict_ignoring_inserts, utcnow
from yixiang.driver_statements import DriverStatement

CACHED_KINDS = frozenset({AccountKind.budget, AccountKind.grant, AccountKind.hold})


def is_cached(code: str) -> bool:
    return code.split(":", 1)[0] in CACHED_KINDS


def funding_account(program_id: uuid.UUID) -> str:
    return f"funding:{program_id}"


def budget_account(program_id: uuid.UUID) -> str:
    return f"budget:{program_id}"


def grant_account(grant_id: uuid.UUID) -> str:
    return f"grant:{grant_id}"


def hold_account(grant_id: uuid.UUID) -> str:
    return f"hold:{grant_id}"


def receivable_account(program_id: uuid.UUID, unit_id: uuid.UUID) -> str:
    return f"receivable:{program_id}:{unit_id}"


def settled_account(program_id: uuid.UUID, unit_id: uuid.UUID) -> str:
    return f"settled:{program_id}:{unit_id}"


def cash_clearing_account(unit_id: uuid.UUID) -> str:
    """What WeChat Pay collected for the unit from firms, net of refunds (real money)."""
    return f"cash_clearing:{unit_id}"


def firm_payments_account(unit_id: uuid.UUID) -> str:
    """The fees firms paid the unit through WeChat Pay: the other side of its cash clearing."""
    return f"firm_payments:{unit_id}"


_ACCOUNT_INSERT = conflict_ignoring_inserts(LedgerAccount, ["code"])


async def open_account(
    session: AsyncSession,
    code: str,
    kind: AccountKind,
    program_id: uuid.UUID | None,
    *,
    grant_id: uuid.UUID | None = None,
    enterprise_id: uuid.UUID | None = None,
    unit_id: uuid.UUID | None = None,
    may_go_negative: bool = False,
) -> None:
    """Create the account if it does not exist yet (safe to call again, and concurrently)."""
    conn = await session.connection()
    await conn.execute(
        _ACCOUNT_INSERT[conn.dialect.name],
        {
            "code": code,
            "kind": kind,
            "program_id": program_id,
            "grant_id": grant_id,
            "enterprise_id": enterprise_id,
            "unit_id": unit_id,
            "may_go_negative": may_go_negative,
            "balance_fen": 0,
            "created_at": utcnow(),
        },
    )


async def open_receivable_account(session: AsyncSession, program_id: uuid.UUID, unit_id: uuid.UUID) -> None:
    await open_account(
        session, receivable_account(program_id, unit_id), AccountKind.receivable, program_id, unit_id=unit_id
    )


# (database, unit) whose cash accounts this process has seen opened: a unit's every payment
# would otherwise spend two round trips making sure they exist. Accounts are never deleted.
_CASH_ACCOUNTS_OPEN: set[tuple[str, uuid.UUID]] = set()


async def open_cash_accounts(session: AsyncSession, unit_id: uuid.UUID) -> None:
    seen = (str(session.get_bind().engine.url), unit_id)
    if seen in _CASH_ACCOUNTS_OPEN:
        return
    clearing = cash_clearing_account(unit_id)
    await open_account(session, clearing, AccountKind.cash_clearing, None, unit_id=unit_id)
    await open_account(
        session,
        firm_payments_account(unit_id),
        AccountKind.firm_payments,
        None,
        unit_id=unit_id,
        may_go_negative=True,
    )
    # Remembered once they are committed: a rolled-back transaction takes them away again.
    event.listen(session.sync_session, "after_commit", lambda _: _CASH_ACCOUNTS_OPEN.add(seen), once=True)


async def open_settled_account(session: AsyncSession, program_id: uuid.UUID, unit_id: uuid.UUID) -> None:
    await open_account(
        session, settled_account(program_id, unit_id), AccountKind.settled, program_id, unit_id=unit_id
    )


def net_lines(lines: Iterable[tuple[str, int]]) -> dict[str, int]:
    """Sum lines per account and drop the ones that cancel out."""
    totals: dict[str, int] = defaultdict(int)
    for code, amount in lines:
        totals[code] += amount
    return {code: amount for code, amount in sorted(totals.items()) if amount != 0}


@dataclass
class Posting:
    key: str
    kind: EntryKind
    lines: list[tuple[str, int]]
    program_id: uuid.UUID | None = None
    grant_id: uuid.UUID | None = None
    booking_id: uuid.UUID | None = None
    settlement_id: uuid.UUID | None = None
    actor_id: uuid.UUID | None = None
    reason: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


# Every hold, capture, release and settlement posts an entry: its statements run on the driver.
_ENTRY_INSERT = {
    dialect: DriverStatement(statement)
    for dialect, statement in conflict_ignoring_inserts(JournalEntry, ["key"]).items()
}
_LINES_INSERT = DriverStatement(insert(JournalLine))
_DELTA = bindparam("p_delta", type_=BigInteger())
# Moves a cached balance unless that would overdraw an account that may not go negative.
_BALANCE_UPDATE = DriverStatement(
    update(LedgerAccount)
    .where(
        LedgerAccount.code == bindparam("p_code"),
        or_(LedgerAccount.may_go_negative, LedgerAccount.balance_fen + _DELTA >= 0),
    )
    .values(balance_fen=LedgerAccount.balance_fen + _DELTA)
)


async def post_entry(session: AsyncSession, posting: Posting) -> uuid.UUID | None:
    """Post one balanced entry in the caller's transaction; None when nothing moved or the key
    was posted before (a replay changes nothing)."""
    lines = net_lines(posting.lines)
    if sum(lines.values()) != 0:
        raise ValueError(f"unbalanced entry {posting.key}: {lines}")
    if not lines:
        return None
    conn = await session.connection()
    entry_id = uuid.uuid4()
    at = utcnow()
    inserted = await _ENTRY_INSERT[conn.dialect.name].count(
        conn,
        {
            "id": entry_id,
            "key": posting.key,
            "kind": posting.kind,
            "program_id": posting.program_id,
            "grant_id": posting.grant_id,
            "booking_id": posting.booking_id,
            "settlement_id": posting.settlement_id,
            "actor_id": posting.actor_id,
            "reason": posting.reason,
            "created_at": at,
        },
    )
    if inserted != 1:
        return None
    await _LINES_INSERT.run_many(
        conn,
        [
            {"entry_id": entry_id, "account_code": code, "amount_fen": amount, "created_at": at}
            for code, amount in lines.items()
        ],
    )
    for code, amount in lines.items():  # sorted by code: one lock order for every entry
        if not is_cached(code):
            continue
        if await _BALANCE_UPDATE.count(conn, {"p_code": code, "p_delta": amount}) != 1:
            if code not in await balances(session, [code]):
                raise LookupError(f"ledger account {code} does not exist")
            raise InsufficientVoucherBalance(account=code.split(":", 1)[0])
    return entry_id


async def balances(session: AsyncSession, codes: Iterable[str]) -> dict[str, int]:
    """Balances of existing accounts (absent codes are left out): cached ones as cached (read
    after the caller's locks; proven equal to the lines by check_ledger), the others summed."""
    codes = list(codes)
    cached = [c for c in codes if is_cached(c)]
    summed = [c for c in codes if not is_cached(c)]
    found: dict[str, int] = {}
    if cached:
        rows = await session.execute(
            select(LedgerAccount.code, LedgerAccount.balance_fen).where(LedgerAccount.code.in_(cached))
        )
        found.update({code: int(balance) for code, balance in rows.all()})
    if summed:
        rows = await session.execute(
            select(LedgerAccount.code, func.coalesce(func.sum(JournalLine.amount_fen), 0))
            .outerjoin(JournalLine, JournalLine.account_code == LedgerAccount.code)
            .where(LedgerAccount.code.in_(summed))
            .group_by(LedgerAccount.code)
        )
        found.update({code: int(balance) for code, balance in rows.all()})
    return found


async def derived_balance(session: AsyncSession, code: str) -> int:
    total = await session.scalar(
        select(func.coalesce(func.sum(JournalLine.amount_fen), 0)).where(JournalLine.account_code == code)
    )
    return int(total or 0)


@dataclass(frozen=True)
class HeldPart:
    amount_fen: int
    grant_active: bool
    expires_on: date


_HOLD_PARTS = (
    select(VoucherGrant.id, VoucherGrant.status, VoucherGrant.expires_on, func.sum(JournalLine.amount_fen))
    .select_from(JournalLine)
    .join(JournalEntry, JournalEntry.id == JournalLine.entry_id)
    .join(LedgerAccount, LedgerAccount.code == JournalLine.account_code)
    .join(VoucherGrant, VoucherGrant.id == LedgerAccount.grant_id)
    .where(JournalEntry.booking_id == bindparam("p_booking"), LedgerAccount.kind == AccountKind.hold)
    .group_by(VoucherGrant.id, VoucherGrant.status, VoucherGrant.expires_on)
)


async def hold_parts(session: AsyncSession, booking_id: uuid.UUID) -> dict[uuid.UUID, HeldPart]:
    """What a booking still holds, per grant (with the grant's state), derived from its entries."""
    conn = await session.connection()
    rows = await conn.execute(_HOLD_PARTS, {"p_booking": booking_id})
    return {
        grant_id: HeldPart(int(total), status == GrantStatus.active, expires_on)
        for grant_id, status, expires_on, total in rows.all()
        if total
    }


async def check_ledger(session: AsyncSession) -> dict[str, Any]:
    """Recompute every balance from the entries and list every difference (empty lists = sound)."""
    sums = (
        select(JournalLine.account_code.label("code"), func.sum(JournalLine.amount_fen).label("total"))
        .group_by(JournalLine.account_code)
        .subquery()
    )
    rows = await session.execute(
        select(LedgerAccount.code, LedgerAccount.balance_fen, LedgerAccount.may_go_negative, sums.c.total)
        .outerjoin(sums, sums.c.code == LedgerAccount.code)
        .order_by(LedgerAccount.code)
    )
    differences = []
    overdrafts = []
    accounts = 0
    for code, cached, may_go_negative, total in rows.all():
        accounts += 1
        derived = int(total or 0)
        if is_cached(code) and int(cached) != derived:
            differences.append({"account": code, "cached_fen": int(cached), "derived_fen": derived})
        if not may_go_negative and derived < 0:
            overdrafts.append({"account": code, "derived_fen": derived})
    unbalanced = await session.execute(
        select(JournalEntry.id, JournalEntry.key, func.sum(JournalLine.amount_fen))
        .join(JournalLine, JournalLine.entry_id == JournalEntry.id)
        .group_by(JournalEntry.id, JournalEntry.key)
        .having(func.sum(JournalLine.amount_fen) != 0)
    )
    unbalanced_entries = [
        {"entry_id": str(entry_id), "key": key, "sum_fen": int(total)}
        for entry_id, key, total in unbalanced.all()
    ]
    entries = int(await session.scalar(select(func.count()).select_from(JournalEntry)) or 0)
    empty = await session.scalar(
        select(func.count())
        .select_from(JournalEntry)
        .where(~select(JournalLine.id).where(and_(JournalLine.entry_id == JournalEntry.id)).exists())
    )
    # Every hold in the ledger belongs to a held checkout of exactly that amount, and vice versa.
    ledger_holds = await session.execute(
        select(JournalEntry.booking_id, func.sum(JournalLine.amount_fen))
        .join(JournalEntry, JournalEntry.id == JournalLine.entry_id)
        .join(LedgerAccount, LedgerAccount.code == JournalLine.account_code)
        .where(LedgerAccount.kind == AccountKind.hold)
        .group_by(JournalEntry.booking_id)
        .having(func.sum(JournalLine.amount_fen) != 0)
    )
    held_in_ledger = {str(b): int(t) for b, t in ledger_holds.all()}
    held_checkouts = await session.execute(
        select(VoucherCheckout.booking_id, VoucherCheckout.held_fen).where(
            VoucherCheckout.state == CheckoutState.held, VoucherCheckout.held_fen != 0
        )
    )
    held_in_checkouts = {str(b): int(t) for b, t in held_checkouts.all()}
    hold_mismatches = [
        {"booking_id": b, "ledger_fen": held_in_ledger.get(b, 0), "checkout_fen": held_in_checkouts.get(b, 0)}
        for b in sorted(set(held_in_ledger) | set(held_in_checkouts))
        if held_in_ledger.get(b, 0) != held_in_checkouts.get(b, 0)
    ]
    cash_mismatches = await _cash_mismatches(session)
    return {
        "ok": not (
            differences or overdrafts or unbalanced_entries or empty or hold_mismatches or cash_mismatches
        ),
        "hold_mismatches": hold_mismatches,
        "cash_mismatches": cash_mismatches,
        "accounts_checked": accounts,
        "entries_checked": entries,
        "differences": differences,
        "overdrafts": overdrafts,
        "unbalanced_entries": unbalanced_entries,
        "entries_without_lines": int(empty or 0),
    }


async def _cash_mismatches(session: AsyncSession) -> list[dict[str, Any]]:
    """Per unit, its cash clearing balance equals what its paid orders took in minus the refunds
    that succeeded (the orders' own counts): real money the ledger and the orders agree on."""
    in_ledger = await session.execute(
        select(LedgerAccount.unit_id, func.coalesce(func.sum(JournalLine.amount_fen), 0))
        .outerjoin(JournalLine, JournalLine.account_code == LedgerAccount.code)
        .where(LedgerAccount.kind == AccountKind.cash_clearing)
        .group_by(LedgerAccount.unit_id)
    )
    ledger = {str(unit): int(total) for unit, total in in_ledger.all()}
    in_orders = await session.execute(
        select(
            PaymentOrder.unit_id,
            func.sum(PaymentOrder.amount_fen - PaymentOrder.refunded_fen),
        )
        .where(PaymentOrder.status == PaymentOrderStatus.paid)
        .group_by(PaymentOrder.unit_id)
    )
    orders = {str(unit): int(total) for unit, total in in_orders.all()}
    return [
        {"unit_id": unit, "ledger_fen": ledger.get(unit, 0), "orders_fen": orders.get(unit, 0)}
        for unit in sorted(set(ledger) | set(orders))
        if ledger.get(unit, 0) != orders.get(unit, 0)
    ]
