"""A firm's voucher history as people read it: one line per ledger entry that moved the firm's
money, in words (发放, 冻结, 抵扣, 释放 ...), with the amount, the booking number and the programme.

The ledger posts each event as balanced lines (a hold moves the grant's balance to its hold
account: −450 and +450); a firm reads one event: "冻结 450.00 元". The two signed changes (to the
available and to the held amount) stay in the answer for a client that draws its own view.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, Select, String, bindparam, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from vouchers.models import AccountKind, EntryKind, JournalEntry, JournalLine, LedgerAccount
from vouchers.rules import fen_to_yuan
from vouchers.schemas import HistoryOut
from vouchers.statements import booking_numbers

HISTORY_LIMIT = 100

# What each kind of entry is called where it touches a firm's vouchers.
LABELS: dict[EntryKind, str] = {
    EntryKind.grant: "发放",
    EntryKind.hold: "冻结",
    EntryKind.capture: "抵扣",
    EntryKind.release: "释放",
    EntryKind.expiry: "到期收回",
    EntryKind.refund: "退回",
    EntryKind.adjustment: "调整",
}
EXPLANATIONS: dict[EntryKind, str] = {
    EntryKind.grant: "科技局发放创新券",
    EntryKind.hold: "预约确认，暂时冻结预计抵扣的金额",
    EntryKind.capture: "服务完成，按最终费用抵扣",
    EntryKind.release: "冻结的金额退回可用余额",
    EntryKind.expiry: "创新券过期，余额收回",
    EntryKind.refund: "科技局退回已抵扣的金额",
    EntryKind.adjustment: "科技局调整创新券金额",
}


def moved_fen(kind: EntryKind, available_change: int, held_change: int) -> int:
    """The amount the entry's word speaks of (≥ 0): a hold the amount frozen, a capture the
    share spent (what left the firm: the hold's rest went back), a release what the hold gave up;
    the others what their change to the available balance was."""
    if kind == EntryKind.hold:
        return held_change
    if kind == EntryKind.capture:
        return -(available_change + held_change)
    if kind == EntryKind.release:
        return -held_change
    return abs(available_change)


def label_of(kind: EntryKind, available_change: int) -> str:
    if kind == EntryKind.adjustment:
        return "调增" if available_change > 0 else "调减"
    return LABELS.get(kind, kind.value)


def history_line(
    kind: EntryKind,
    at: datetime,
    available_change: int,
    held_change: int,
    *,
    booking_id: uuid.UUID | None,
    booking_number: str | None,
    program_id: uuid.UUID | None,
    program_name: str | None,
    reason: str,
) -> HistoryOut:
    amount = moved_fen(kind, available_change, held_change)
    label = label_of(kind, available_change)
    about = f"（预约 {booking_number}）" if booking_number else ""
    return HistoryOut(
        at=at,
        kind=kind.value,
        label=label,
        amount_fen=amount,
        amount_yuan=fen_to_yuan(amount),
        text=f"{label} {fen_to_yuan(amount)} 元{about}：{EXPLANATIONS.get(kind, reason)}",
        available_change_fen=available_change,
        held_change_fen=held_change,
        booking_id=booking_id,
        booking_number=booking_number,
        program_id=program_id,
        program_name=program_name,
        reason=reason,
    )


@functools.cache
def _newest_lines(accounts: int) -> Select[Any]:
    """The newest ``:limit`` lines on the accounts ``:code_0`` ... (their number is the cache's
    key: building the statement costs about half a millisecond per account), newest first: per
    account a backward scan of ``ix_journal_lines_account_time`` that stops at the limit, merged
    in time order (PostgreSQL's Merge Append reads only the lines it returns), whatever the
    accounts' years hold."""
    limit = bindparam("limit", type_=Integer())
    per_account = []
    for n in range(accounts):
        newest = (
            select(
                JournalLine.entry_id, JournalLine.created_at, JournalLine.account_code, JournalLine.amount_fen
            )
            .where(JournalLine.account_code == bindparam(f"code_{n}", type_=String()))
            .order_by(JournalLine.created_at.desc(), JournalLine.entry_id.desc())
            .limit(limit)
            .subquery()
        )
        per_account.append(select(newest))  # a subquery each: SQLite allows no LIMIT in a UNION's member
    merged = union_all(*per_account).subquery()
    return (
        select(merged.c.entry_id, merged.c.created_at, merged.c.account_code, merged.c.amount_fen)
        .order_by(merged.c.created_at.desc(), merged.c.entry_id.desc())
        .limit(limit)
    )


async def _newest_entries(session: AsyncSession, kinds: dict[str, AccountKind]) -> dict[uuid.UUID, list[int]]:
    """Up to HISTORY_LIMIT entries on the accounts, newest first, each with its change to the
    grant accounts and to the hold accounts. An entry's lines share its time, so they come
    together; the last entry read may be cut off by the limit, and is only kept when the read
    was not full. Reads twice as many lines again when the entries touched more accounts."""
    limit = 2 * HISTORY_LIMIT + 1
    while True:
        params: dict[str, Any] = {f"code_{n}": code for n, code in enumerate(kinds)}
        lines = (await session.execute(_newest_lines(len(kinds)), params | {"limit": limit})).all()
        changes: dict[uuid.UUID, list[int]] = {}
        for entry_id, _, code, amount in lines:
            change = changes.setdefault(entry_id, [0, 0])
            change[0 if kinds[code] == AccountKind.grant else 1] += amount
        complete = len(changes) if len(lines) < limit else len(changes) - 1
        if complete >= HISTORY_LIMIT or len(lines) < limit:
            return dict(list(changes.items())[: min(complete, HISTORY_LIMIT)])
        limit *= 2


async def firm_history(
    session: AsyncSession, firms: Iterable[uuid.UUID], program_names: dict[uuid.UUID, str]
) -> list[HistoryOut]:
    """The firms' latest entries on their grant and hold accounts, newest first, one line each."""
    kinds = dict(
        (
            await session.execute(
                select(LedgerAccount.code, LedgerAccount.kind).where(
                    LedgerAccount.enterprise_id.in_(list(firms)),
                    LedgerAccount.kind.in_([AccountKind.grant, AccountKind.hold]),
                )
            )
        ).all()
    )
    if not kinds:
        return []
    changes = await _newest_entries(session, kinds)
    entries = {
        entry.id: entry
        for entry in (await session.scalars(select(JournalEntry).where(JournalEntry.id.in_(list(changes)))))
    }
    numbers = await booking_numbers(
        session, {e.booking_id for e in entries.values() if e.booking_id is not None}
    )
    return [
        history_line(
            entry.kind,
            entry.created_at,
            available,
            held,
            booking_id=entry.booking_id,
            booking_number=numbers.get(entry.booking_id) if entry.booking_id else None,
            program_id=entry.program_id,
            program_name=program_names.get(entry.program_id) if entry.program_id else None,
            reason=entry.reason,
        )
        for entry_id, (available, held) in changes.items()
        for entry in [entries[entry_id]]
    ]
