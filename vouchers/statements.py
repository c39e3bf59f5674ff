"""A booking's checkout statement (fee, voucher share, amount due, how it is paid, evidence) and
the payment of the amount due.

Two ways to pay what is due: corporate transfer (对公转账, the default), settled outside the
platform and marked received by the provider; and WeChat Pay (``vouchers/payments/``), whose
notification records the payment itself. Each has its :class:`PaymentMethodAdapter` saying what
the firm reads.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal
from accounts.models import Organization
from vouchers.access import require_checkout_visible
from vouchers.checkout import EVIDENCE_KINDS, within_caller_transaction
from vouchers.checkout_store import store_evidence
from vouchers.errors import NotCaptured, NothingDue, PaymentAlreadyReceived, ProviderRequired
from vouchers.evidence import REQUIRED_EVIDENCE as REQUIRED_EVIDENCE  # re-exported: the chain
from vouchers.evidence import completeness
from vouchers.invoices import invoice_of
from vouchers.models import CheckoutEvidence, CheckoutState, PaymentMethod, VoucherCheckout, VoucherProgram
from vouchers.rules import fen_to_yuan
from vouchers.schemas import EvidenceOut, StatementOut
from yixiang.db import utcnow
from yixiang.locking import locked
from yixiang.outbox import emit

# Emitted when the provider records the firm's payment: {booking_id, paid_fen, reference}.
PAYMENT_RECEIVED = "vouchers.payment_received"

# Settlement pays a provider only for a complete chain: booking, usage, payment, delivery, and a
# rating or the rating window passed without one (vouchers.evidence: a firm's silence must not
# withhold the provider's payment for ever). The rule lives in vouchers.evidence.


class PaymentMethodAdapter(Protocol):
    method: PaymentMethod

    def instructions(self, checkout: VoucherCheckout, payee_name: str) -> str: ...


class CorporateTransfer:
    method = PaymentMethod.corporate_transfer

    def instructions(self, checkout: VoucherCheckout, payee_name: str) -> str:
        if checkout.payment_received_at is not None:
            paid = fen_to_yuan(checkout.paid_fen)
            reference = checkout.payment_reference or "未填写"
            return f"{payee_name}已确认收到对公转账 {paid} 元（流水号 {reference}），无需再付"
        if checkout.due_fen <= 0 and checkout.state == CheckoutState.released:
            return "预约已取消，无需支付"
        if checkout.due_fen <= 0:
            return "本次费用已由创新券全额抵扣，无需另行支付"
        amount = fen_to_yuan(checkout.due_fen)
        return f"请以对公转账方式向{payee_name}支付 {amount} 元，备注预约号 {booking_number(checkout)}"


def booking_number(checkout: VoucherCheckout) -> str:
    """The number people read (a checkout recorded before numbers were kept shows its id)."""
    return checkout.booking_number or str(checkout.booking_id)


async def booking_numbers(session: AsyncSession, booking_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The numbers people read of these bookings (a booking checked out before numbers were kept
    shows its id)."""
    wanted = list(booking_ids)
    if not wanted:
        return {}
    rows = await session.execute(
        select(VoucherCheckout.booking_id, VoucherCheckout.booking_number).where(
            VoucherCheckout.booking_id.in_(wanted)
        )
    )
    found = {booking_id: number for booking_id, number in rows.all() if number}
    return {b: found.get(b, str(b)) for b in wanted}


class WeChatPayment:
    method = PaymentMethod.wechat_pay

    def instructions(self, checkout: VoucherCheckout, payee_name: str) -> str:
        paid = fen_to_yuan(checkout.paid_fen)
        text = f"已通过微信支付向{payee_name}支付 {paid} 元（交易单号 {checkout.payment_reference}）"
        if checkout.cash_refunded_fen:
            text += f"，已退回 {fen_to_yuan(checkout.cash_refunded_fen)} 元"
        if checkout.due_fen > 0:
            text += f"，尚需支付 {fen_to_yuan(checkout.due_fen)} 元"
        return text


PAYMENT_METHODS: dict[PaymentMethod, PaymentMethodAdapter] = {
    PaymentMethod.corporate_transfer: CorporateTransfer(),
    PaymentMethod.wechat_pay: WeChatPayment(),
}


def missing_evidence(found: dict[str, datetime], rating_window: timedelta | None) -> list[str]:
    return completeness(found, rating_window, utcnow()).missing


async def _program_region(
    session: AsyncSession, program_id: uuid.UUID | None
) -> tuple[str | None, str | None]:
    if program_id is None:
        return None, None
    row = (
        await session.execute(
            select(VoucherProgram.region_code, VoucherProgram.name).where(VoucherProgram.id == program_id)
        )
    ).first()
    return (row[0], row[1]) if row else (None, None)


async def statement(
    session: AsyncSession,
    principal: Principal,
    booking_id: uuid.UUID,
    *,
    rating_window: timedelta | None = None,
) -> StatementOut:
    """``rating_window``: as the app knows it (vouchers.evidence.rating_window); without it the
    rating link is not asked for."""
    checkout = await session.get(VoucherCheckout, booking_id, populate_existing=True)
    region, program_name = await _program_region(session, checkout.program_id if checkout else None)
    checkout = require_checkout_visible(principal, checkout, region)
    evidence = {
        e.kind: e
        for e in (
            await session.scalars(select(CheckoutEvidence).where(CheckoutEvidence.booking_id == booking_id))
        ).all()
    }
    payee = await session.get(Organization, checkout.unit_id)
    adapter = PAYMENT_METHODS.get(checkout.payment_method, PAYMENT_METHODS[PaymentMethod.corporate_transfer])
    held = checkout.state == CheckoutState.held
    return StatementOut(
        booking_id=checkout.booking_id,
        booking_number=booking_number(checkout),
        state=checkout.state,
        fee_fen=checkout.fee_fen,
        quoted_fee_fen=checkout.quoted_fee_fen,
        # held: the share reserved so far; captured: the share paid; released: 0 (cleared then)
        voucher_fen=checkout.held_fen if held else checkout.voucher_fen,
        refunded_fen=checkout.refunded_fen,
        due_fen=checkout.due_fen,
        paid_fen=checkout.paid_fen,
        held_fen=checkout.held_fen if held else 0,
        program_id=checkout.program_id,
        program_name=program_name,
        payment_method=checkout.payment_method,
        payment_received_at=checkout.payment_received_at,
        payment_reference=checkout.payment_reference,
        payment_instructions=adapter.instructions(checkout, payee.name if payee else "服务单位"),
        evidence={
            kind: EvidenceOut(at=evidence[kind].at, detail=evidence[kind].detail)
            if kind in evidence
            else None
            for kind in EVIDENCE_KINDS
        },
        evidence_complete=not missing_evidence({k: e.at for k, e in evidence.items()}, rating_window),
        cash_refunded_fen=checkout.cash_refunded_fen,
        invoice=await invoice_of(session, booking_id),
    )


async def mark_payment_received(
    session: AsyncSession, principal: Principal, booking_id: uuid.UUID, reference: str
) -> None:
    """The provider confirms the firm's transfer of the amount due (after completion, or a late
    cancellation's fee): nothing is due any more. The same reference again changes nothing;
    another reference is refused (one payment per booking: a second would be a mistake, or a
    double payment the provider must return outside the platform)."""
    async with within_caller_transaction(session):
        query = locked(select(VoucherCheckout).where(VoucherCheckout.booking_id == booking_id))
        checkout = await session.scalar(query.execution_options(populate_existing=True))
        region, _ = await _program_region(session, checkout.program_id if checkout else None)
        checkout = require_checkout_visible(principal, checkout, region)
        if checkout.unit_id not in principal.unit_ids:
            raise ProviderRequired()
        if checkout.payment_received_at is not None:
            if reference != checkout.payment_reference:
                raise PaymentAlreadyReceived.naming(checkout.payment_reference, checkout.paid_fen)
            return
        if checkout.state == CheckoutState.held:
            raise NotCaptured(state=checkout.state.value)
        if checkout.due_fen <= 0:
            raise NothingDue()
        now = utcnow()
        checkout.payment_received_at = now
        checkout.payment_received_by = principal.user_id
        checkout.payment_reference = reference
        checkout.paid_fen, checkout.due_fen = checkout.due_fen, 0
        await store_evidence(
            session,
            booking_id,
            "payment",
            now,
            {"method": checkout.payment_method.value, "paid_fen": checkout.paid_fen, "reference": reference},
        )
        payment = {"booking_id": booking_id, "paid_fen": checkout.paid_fen, "reference": reference}
        await emit(session, PAYMENT_RECEIVED, payment)
        await session.flush()
