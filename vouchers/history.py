"""A firm's voucher history as people read it: one line per ledger entry that moved the firm's
money, in words (发放, 冻结, 抵扣, 释放 ...), with the amount, the booking number and the programme.

The ledger posts each event as balanced lines (a hold moves the grant's balance to its hold
account: −450 and +450); a firm reads one event: "冻结 450.00 元". The two signed changes (to the
available and to the held amount) stay in the answer for a client that draws its own view.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import case, func, select
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


async def firm_history(
    session: AsyncSession, firms: Iterable[uuid.UUID], program_names: dict[uuid.UUID, str]
) -> list[HistoryOut]:
    """The firms' latest entries, newest first, one line each."""
    is_grant = LedgerAccount.kind == AccountKind.grant
    is_hold = LedgerAccount.kind == AccountKind.hold
    rows = (
        await session.execute(
            select(
                JournalEntry.id,
                JournalEntry.kind,
                JournalEntry.created_at,
                JournalEntry.booking_id,
                JournalEntry.program_id,
                JournalEntry.reason,
                func.sum(case((is_grant, JournalLine.amount_fen), else_=0)),
                func.sum(case((is_hold, JournalLine.amount_fen), else_=0)),
            )
            .join(JournalLine, JournalLine.entry_id == JournalEntry.id)
            .join(LedgerAccount, LedgerAccount.code == JournalLine.account_code)
            .where(LedgerAccount.enterprise_id.in_(list(firms)), is_grant | is_hold)
            .group_by(
                JournalEntry.id,
                JournalEntry.kind,
                JournalEntry.created_at,
                JournalEntry.booking_id,
                JournalEntry.program_id,
                JournalEntry.reason,
            )
            .order_by(JournalEntry.created_at.desc(), JournalEntry.id)
            .limit(HISTORY_LIMIT)
        )
    ).all()
    numbers = await booking_numbers(session, {row[3] for row in rows if row[3] is not None})
    return [
        history_line(
            kind,
            at,
            int(available),
            int(held),
            booking_id=booking_id,
            booking_number=numbers.get(booking_id) if booking_id else None,
            program_id=program_id,
            program_name=program_names.get(program_id) if program_id else None,
            reason=reason,
        )
        for _, kind, at, booking_id, program_id, reason, available, held in rows
    ]
