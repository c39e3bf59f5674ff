"""The journal itself: balanced entries, never edited, each naming its cause and actor."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import DBAPIError

from tests.vouchers.desk import VoucherDesk, order
from vouchers.checkout import capture_voucher_share, hold_voucher_share
from vouchers.models import EntryKind, JournalEntry, JournalLine


async def test_every_journal_entry_sums_to_zero_and_names_its_cause(world: VoucherDesk) -> None:
    firm, _ = await world.firm_with_grant(500_000)
    o = order(firm, 100_000)
    await world.run(hold_voucher_share, o)
    await world.run(capture_voucher_share, order(firm, 130_000, booking_id=o.booking_id))
    async with world.backend.runtime.session_maker() as session:
        unbalanced = (
            await session.execute(
                select(JournalLine.entry_id, func.sum(JournalLine.amount_fen), func.count())
                .group_by(JournalLine.entry_id)
                .having((func.sum(JournalLine.amount_fen) != 0) | (func.count() < 2))
            )
        ).all()
        assert unbalanced == []
        entries = (
            await session.scalars(select(JournalEntry).where(JournalEntry.booking_id == o.booking_id))
        ).all()
    assert sorted(e.kind for e in entries) == [EntryKind.capture, EntryKind.hold]
    assert all(e.reason and e.program_id for e in entries)


async def test_the_journal_cannot_be_edited_or_deleted(world: VoucherDesk) -> None:
    firm, _ = await world.firm_with_grant(500_000)
    o = order(firm, 100_000)
    await world.run(hold_voucher_share, o)
    async with world.backend.runtime.session_maker() as session:
        entry_id = await session.scalar(
            select(JournalEntry.id).where(JournalEntry.booking_id == o.booking_id)
        )
    for statement in (
        update(JournalLine)
        .where(JournalLine.entry_id == entry_id)
        .values(amount_fen=JournalLine.amount_fen * 2),
        delete(JournalLine).where(JournalLine.entry_id == entry_id),
        update(JournalEntry).where(JournalEntry.id == entry_id).values(reason="改账"),
    ):
        async with world.backend.runtime.session_maker() as session:
            with pytest.raises(DBAPIError, match="append-only"):
                async with session.begin():
                    await session.execute(statement)
