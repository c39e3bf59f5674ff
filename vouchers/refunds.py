"""退券: a bureau officer gives part of a captured voucher share back to the firm, with a reason.

The fee shrinks by the refund (the provider is owed less by the bureau, the firm regains voucher
balance; what the firm owes itself is unchanged). Not once the booking is in a settlement batch:
amounts there are final.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal
from vouchers.access import officer_of_region, require_checkout_visible
from vouchers.checkout import within_caller_transaction
from vouchers.checkout_store import Grant, lock_checkout, lock_firm_grants
from vouchers.errors import AlreadyInSettlement, BureauRequired, NotCaptured, RefundTooLarge
from vouchers.ledger import Posting, budget_account, grant_account, post_entry, receivable_account
from vouchers.models import (
    CheckoutState,
    EntryKind,
    JournalEntry,
    SettlementLine,
    VoucherCheckout,
    VoucherProgram,
)
from vouchers.schemas import RefundIn
from yixiang.db import utcnow


def give_back_account(grants: Sequence[Grant], program_id: uuid.UUID) -> str:
    """Where a voucher share given back goes: the firm's earliest-expiring usable grant of the
    programme, else (none left) the programme's budget."""
    return next(
        (
            grant_account(g.id)
            for g in sorted(grants, key=lambda g: (g.expires_on, g.id))
            if g.program.id == program_id and g.usable
        ),
        budget_account(program_id),
    )


async def refund_voucher_share(
    session: AsyncSession, principal: Principal, booking_id: uuid.UUID, data: RefundIn, *, key: str
) -> uuid.UUID:
    async with within_caller_transaction(session):
        head = await session.get(VoucherCheckout, booking_id)
        program = await session.get(VoucherProgram, head.program_id) if head and head.program_id else None
        require_checkout_visible(principal, head, program.region_code if program else None)
        if program is None:
            raise NotCaptured()
        # The firm and the provider see this booking's statement (and its programme's name): they
        # are refused (403), not told that the programme does not exist.
        if not officer_of_region(principal, program.region_code):
            raise BureauRequired()
        assert head is not None
        grants = (await lock_firm_grants(session, head.enterprise_id)).grants
        checkout = await lock_checkout(session, booking_id)
        assert checkout is not None
        entry_key = f"refund:{booking_id}:{key}"
        replayed = await session.scalar(select(JournalEntry.id).where(JournalEntry.key == entry_key))
        if replayed is not None:
            return replayed
        if checkout.state != CheckoutState.captured:
            raise NotCaptured(state=checkout.state.value)
        in_batch = await session.scalar(
            select(SettlementLine.batch_id).where(SettlementLine.settles_booking_id == booking_id)
        )
        if in_batch is not None:
            raise AlreadyInSettlement(settlement_id=str(in_batch))
        if data.amount_fen > checkout.voucher_fen:
            raise RefundTooLarge(voucher_fen=checkout.voucher_fen)
        target = give_back_account(grants, program.id)
        entry_id = await post_entry(
            session,
            Posting(
                key=entry_key,
                kind=EntryKind.refund,
                lines=[
                    (receivable_account(program.id, checkout.unit_id), -data.amount_fen),
                    (target, data.amount_fen),
                ],
                program_id=program.id,
                booking_id=booking_id,
                actor_id=principal.user_id,
                reason=data.reason,
            ),
        )
        assert entry_id is not None  # a new key: the entry was posted
        checkout.voucher_fen -= data.amount_fen
        checkout.refunded_fen += data.amount_fen
        checkout.fee_fen -= data.amount_fen
        checkout.updated_at = utcnow()
        await session.flush()
        return entry_id
