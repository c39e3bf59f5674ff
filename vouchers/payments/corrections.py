"""费用更正: after completion the provider staff of the unit lowers a booking's fee, or waives it
entirely (the service cancelled after payment), with a reason.

- The voucher share is recomputed with the same programme on the new fee, never above what was
  captured (a correction never draws more voucher); the part no longer covered goes back as 退券
  does (:func:`vouchers.refunds.give_back_account`), refused once the booking is in a settlement
  batch, where amounts are final.
- The firm owes the new fee minus that share. What it already paid beyond that goes back: through
  WeChat Pay when it paid there (a refund reserved in the same transaction, under the same locks,
  so two racing corrections never give back twice), else outside the platform by the unit (the
  correction records it).
- A higher fee after completion is refused: the firm agreed to the fee it was billed; a rise is
  settled between the firm and the unit, not by a silent new charge.

Locks: the firm's grants, then the checkout (:mod:`yixiang.locking`), as every checkout change.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal
from vouchers.access import require_checkout_visible
from vouchers.checkout_store import firm_usage_fen, lock_checkout, lock_firm_grants, program_terms
from vouchers.errors import (
    AlreadyInSettlement,
    FeeRaiseRefused,
    FeeUnchanged,
    NotCaptured,
    ProviderRequired,
)
from vouchers.ledger import Posting, post_entry, receivable_account
from vouchers.models import (
    CheckoutState,
    EntryKind,
    FeeCorrection,
    PaymentOrder,
    PaymentOrderStatus,
    SettlementLine,
    VoucherCheckout,
    VoucherProgram,
)
from vouchers.payments.refunds import RefundRequest, refundable_fen, reserve_refund, reserved_for
from vouchers.refunds import give_back_account
from vouchers.rules import program_share
from yixiang.db import transaction, utcnow
from yixiang.outbox import emit

# {booking_id, old_fee_fen, new_fee_fen, voucher_fen, waiver, reason}: the booking's final fee
# follows it (booking owns that record; vouchers cannot write it).
FEE_CORRECTED = "vouchers.fee_corrected"


@dataclass(frozen=True)
class CorrectionResult:
    correction: FeeCorrection
    refunds: list[RefundRequest]  # reserved: the caller submits them once its transaction commits


async def correct_fee(
    session: AsyncSession,
    principal: Principal,
    booking_id: uuid.UUID,
    fee_fen: int,
    reason: str,
    *,
    key: str,
) -> CorrectionResult:
    """Lower (or, at 0, waive) a completed booking's fee; idempotent per key (the same key gives
    the same correction). Runs in the caller's transaction; the WeChat Pay refunds it reserves
    are the caller's to submit after the commit."""
    async with transaction(session):
        head = await session.get(VoucherCheckout, booking_id)
        program = await session.get(VoucherProgram, head.program_id) if head and head.program_id else None
        head = require_checkout_visible(principal, head, program.region_code if program else None)
        if head.unit_id not in principal.unit_ids:
            raise ProviderRequired()
        grants = (await lock_firm_grants(session, head.enterprise_id)).grants
        checkout = await lock_checkout(session, booking_id)
        assert checkout is not None
        entry_key = f"fee_correction:{booking_id}:{key}"
        replayed = await session.scalar(select(FeeCorrection).where(FeeCorrection.key == entry_key))
        if replayed is not None:
            return CorrectionResult(replayed, await reserved_for(session, _refund_key(replayed)))
        if checkout.state != CheckoutState.captured:
            raise NotCaptured(state=checkout.state.value)
        if fee_fen > checkout.fee_fen:
            raise FeeRaiseRefused(fee_fen=checkout.fee_fen)
        if fee_fen == checkout.fee_fen:
            raise FeeUnchanged(fee_fen=checkout.fee_fen)

        share = checkout.voucher_fen
        if program is not None and share:
            conn = await session.connection()
            terms = await program_terms(conn, program.id)
            used = await firm_usage_fen(
                conn, checkout.enterprise_id, program.id, checkout.usage_year, booking_id
            )
            share = min(share, program_share(fee_fen, terms, share, used))
        give_back = checkout.voucher_fen - share
        if give_back:
            assert program is not None
            in_batch = await session.scalar(
                select(SettlementLine.batch_id).where(SettlementLine.settles_booking_id == booking_id)
            )
            if in_batch is not None:
                raise AlreadyInSettlement(settlement_id=str(in_batch))
            await post_entry(
                session,
                Posting(
                    key=entry_key,
                    kind=EntryKind.refund,
                    lines=[
                        (receivable_account(program.id, checkout.unit_id), -give_back),
                        (give_back_account(grants, program.id), give_back),
                    ],
                    program_id=program.id,
                    booking_id=booking_id,
                    actor_id=principal.user_id,
                    reason=f"费用更正：{reason}",
                ),
            )

        owed = fee_fen - share
        by_wechat = await refundable_fen(session, booking_id)
        offline = await _paid_offline(session, checkout)
        excess = max(0, by_wechat + offline - owed)
        cash_refund = min(excess, by_wechat)
        waiver = fee_fen == 0
        correction = FeeCorrection(
            id=uuid.uuid4(),
            key=entry_key,
            booking_id=booking_id,
            unit_id=checkout.unit_id,
            waiver=waiver,
            old_fee_fen=checkout.fee_fen,
            new_fee_fen=fee_fen,
            old_voucher_fen=checkout.voucher_fen,
            new_voucher_fen=share,
            cash_refund_fen=cash_refund,
            offline_refund_fen=excess - cash_refund,
            reason=reason,
            corrected_by=principal.user_id,
            corrected_at=utcnow(),
        )
        session.add(correction)
        checkout.fee_fen = fee_fen
        checkout.voucher_fen = share
        checkout.refunded_fen += give_back
        checkout.due_fen = max(0, owed - by_wechat - offline)
        checkout.updated_at = utcnow()
        await session.flush()
        refunds: list[RefundRequest] = []
        if cash_refund:
            refunds = await reserve_refund(
                session,
                booking_id,
                cash_refund,
                cause="waiver" if waiver else "fee_correction",
                reason=reason,
                actor=principal.user_id,
                key=_refund_key(correction),
                locked=True,
            )
        await emit(
            session,
            FEE_CORRECTED,
            {
                "booking_id": str(booking_id),
                "old_fee_fen": correction.old_fee_fen,
                "new_fee_fen": fee_fen,
                "voucher_fen": share,
                "due_fen": checkout.due_fen,
                "waiver": waiver,
                "reason": reason,
            },
        )
        return CorrectionResult(correction, refunds)


def _refund_key(correction: FeeCorrection) -> str:
    return f"fee_correction:{correction.id}"


async def _paid_offline(session: AsyncSession, checkout: VoucherCheckout) -> int:
    """What the firm paid outside WeChat Pay (a transfer the provider marked received: the part of
    the checkout's paid amount no paid order accounts for) and no earlier correction has yet
    told the unit to return. Read from the orders, not the payment method, so a WeChat payment is
    never counted twice."""
    by_orders = await session.scalar(
        select(func.coalesce(func.sum(PaymentOrder.amount_fen), 0)).where(
            PaymentOrder.booking_id == checkout.booking_id, PaymentOrder.status == PaymentOrderStatus.paid
        )
    )
    returned = await session.scalar(
        select(func.coalesce(func.sum(FeeCorrection.offline_refund_fen), 0)).where(
            FeeCorrection.booking_id == checkout.booking_id
        )
    )
    return max(0, checkout.paid_fen - int(by_orders or 0) - int(returned or 0))


async def corrections_of(session: AsyncSession, booking_id: uuid.UUID) -> list[FeeCorrection]:
    return list(
        (
            await session.scalars(
                select(FeeCorrection)
                .where(FeeCorrection.booking_id == booking_id)
                .order_by(FeeCorrection.corrected_at)
            )
        ).all()
    )
