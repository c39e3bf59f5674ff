"""Invoices (发票 / 财政票据) for a paid booking: the firm asks, the provider answers.

Issuing the invoice itself is the holding unit's own system's job (its tax-control or fiscal-note
system): the platform records the request (kind, title, tax number, e-mail), and the provider's
answer — the invoice's number and its PDF, or a reason for refusing — so both sides and the
booking's statement show where it stands, and the firm downloads the file here.

Who: the booking's researcher or an admin of its firm asks; the staff of the provider's unit
answer. What: only a booking whose payment the provider recorded, with something paid (a fee the
vouchers covered whole leaves nothing for the firm to invoice). One invoice per booking; each
step is recorded (``InvoiceEvent``) and repeating it with the same content changes nothing. A
refused request may be made again (corrected); an issued invoice is final.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal
from accounts.models import Role
from vouchers.access import require_checkout_visible
from vouchers.checkout import within_caller_transaction
from vouchers.checkout_store import lock_checkout
from vouchers.documents import PDF_KINDS, checked_document
from vouchers.errors import (
    InvoiceAlreadyIssued,
    InvoiceAlreadyRequested,
    InvoiceNotFound,
    InvoiceNotPaid,
    InvoiceRequesterRequired,
    InvoiceStateInvalid,
    NothingToInvoice,
    ProviderRequired,
)
from vouchers.models import (
    CheckoutState,
    InvoiceEvent,
    InvoiceKind,
    InvoiceRequest,
    InvoiceStatus,
    VoucherCheckout,
    VoucherProgram,
)
from vouchers.schemas import InvoiceIn, InvoiceOut, InvoicePage
from yixiang.db import utcnow
from yixiang.errors import InvalidInput
from yixiang.locking import locked
from yixiang.outbox import emit

# To the researcher or admin who asked (bot/notify.py turns it into a message).
ISSUED_TOPIC = "voucher.invoice_issued"
REJECTED_TOPIC = "voucher.invoice_rejected"
MAX_INVOICE_BYTES = 2 * 1024 * 1024  # an e-invoice PDF is tens of kB
INVOICE_NUMBER_PATTERN = r"^[0-9A-Za-z-]{8,40}$"  # 8-digit paper numbers to 20-digit 全电发票

KIND_LABELS = {
    InvoiceKind.ordinary: "增值税普通发票",
    InvoiceKind.special: "增值税专用发票",
    InvoiceKind.fiscal: "财政票据",
}
STATUS_LABELS = {
    InvoiceStatus.requested: "待开具",
    InvoiceStatus.issued: "已开具",
    InvoiceStatus.rejected: "已拒绝",
}


def file_url(booking_id: uuid.UUID) -> str:
    return f"/api/v1/bookings/{booking_id}/invoice/file"


def invoice_out(invoice: InvoiceRequest) -> InvoiceOut:
    return InvoiceOut(
        booking_id=invoice.booking_id,
        booking_number=invoice.booking_number or str(invoice.booking_id),
        status=invoice.status,
        status_label=STATUS_LABELS[invoice.status],
        kind=invoice.kind,
        kind_label=KIND_LABELS[invoice.kind],
        title=invoice.title,
        tax_number=invoice.tax_number,
        email=invoice.email,
        amount_fen=invoice.amount_fen,
        requested_at=invoice.requested_at,
        answered_at=invoice.answered_at,
        invoice_number=invoice.invoice_number,
        reject_reason=invoice.reject_reason,
        file_name=invoice.file_name,
        file_size=invoice.file_size,
        file_url=file_url(invoice.booking_id) if invoice.status == InvoiceStatus.issued else None,
    )


async def invoice_of(session: AsyncSession, booking_id: uuid.UUID) -> InvoiceOut | None:
    """The booking's invoice as its statement shows it (its file is not read)."""
    found = await session.scalar(
        select(InvoiceRequest)
        .where(InvoiceRequest.booking_id == booking_id)
        .execution_options(populate_existing=True)
    )
    return invoice_out(found) if found is not None else None


async def _checkout(
    session: AsyncSession, principal: Principal, booking_id: uuid.UUID, *, lock: bool = True
) -> VoucherCheckout:
    """The booking's checkout if the caller sees its statement; locked for a step (every invoice
    step of a booking goes one at a time)."""
    checkout = (
        await lock_checkout(session, booking_id) if lock else await session.get(VoucherCheckout, booking_id)
    )
    region = (
        await session.scalar(
            select(VoucherProgram.region_code).where(VoucherProgram.id == checkout.program_id)
        )
        if checkout is not None and checkout.program_id is not None
        else None
    )
    return require_checkout_visible(principal, checkout, region)


async def _invoice(session: AsyncSession, booking_id: uuid.UUID) -> InvoiceRequest | None:
    query = locked(select(InvoiceRequest).where(InvoiceRequest.booking_id == booking_id))
    return await session.scalar(query.execution_options(populate_existing=True))


def _record(
    session: AsyncSession, invoice: InvoiceRequest, action: str, actor: uuid.UUID, **detail: Any
) -> None:
    session.add(
        InvoiceEvent(invoice_id=invoice.id, action=action, actor_id=actor, detail=detail, at=utcnow())
    )


def _may_request(principal: Principal, checkout: VoucherCheckout) -> bool:
    return checkout.enterprise_id in principal.orgs_where(Role.enterprise_admin) or (
        checkout.booked_by == principal.user_id and checkout.enterprise_id in principal.enterprise_ids
    )


def _same_request(invoice: InvoiceRequest, data: InvoiceIn) -> bool:
    return (invoice.kind, invoice.title, invoice.tax_number, invoice.email) == (
        data.kind,
        data.title.strip(),
        data.tax_number,
        data.email,
    )


async def request_invoice(
    session: AsyncSession, principal: Principal, booking_id: uuid.UUID, data: InvoiceIn
) -> InvoiceRequest:
    if data.kind != InvoiceKind.fiscal and not data.tax_number:
        raise InvalidInput("开具增值税发票须填写纳税人识别号", field="tax_number")
    async with within_caller_transaction(session):
        checkout = await _checkout(session, principal, booking_id)
        if not _may_request(principal, checkout):
            raise InvoiceRequesterRequired()
        if checkout.payment_received_at is None:
            if checkout.due_fen > 0 or checkout.state == CheckoutState.held:
                raise InvoiceNotPaid(due_fen=checkout.due_fen)
            raise NothingToInvoice()  # the vouchers covered the whole fee (or nothing was charged)
        if checkout.paid_fen <= 0:
            raise NothingToInvoice()
        invoice = await _invoice(session, booking_id)
        now = utcnow()
        if invoice is not None and _same_request(invoice, data) and invoice.status != InvoiceStatus.rejected:
            return invoice  # the same request again (a retry): nothing changes
        if invoice is not None and invoice.status == InvoiceStatus.issued:
            raise InvoiceAlreadyIssued(invoice_number=invoice.invoice_number)
        if invoice is not None and invoice.status == InvoiceStatus.requested:
            raise InvoiceAlreadyRequested(title=invoice.title, tax_number=invoice.tax_number)
        if invoice is None:
            invoice = InvoiceRequest(
                booking_id=booking_id,
                booking_number=checkout.booking_number,
                enterprise_id=checkout.enterprise_id,
                unit_id=checkout.unit_id,
            )
            session.add(invoice)
        # new, or asked again after a refusal (corrected, or the cause put right)
        invoice.status = InvoiceStatus.requested
        invoice.kind, invoice.title = data.kind, data.title.strip()
        invoice.tax_number, invoice.email = data.tax_number, data.email
        invoice.amount_fen = checkout.paid_fen
        invoice.requested_by, invoice.requested_at = principal.user_id, now
        invoice.answered_by, invoice.answered_at, invoice.reject_reason = None, None, ""
        await session.flush()
        _record(session, invoice, "request", principal.user_id, kind=data.kind.value, title=invoice.title)
        await session.flush()
        return invoice


async def _answerable(
    session: AsyncSession, principal: Principal, booking_id: uuid.UUID
) -> tuple[VoucherCheckout, InvoiceRequest]:
    checkout = await _checkout(session, principal, booking_id)
    if checkout.unit_id not in principal.unit_ids:
        raise ProviderRequired()
    invoice = await _invoice(session, booking_id)
    if invoice is None:
        raise InvoiceNotFound()
    return checkout, invoice


async def issue_invoice(
    session: AsyncSession,
    principal: Principal,
    booking_id: uuid.UUID,
    *,
    invoice_number: str,
    file_name: str,
    data: bytes,
) -> InvoiceRequest:
    """The provider's unit issued it: its number and its PDF (the same again changes nothing)."""
    number = invoice_number.strip()
    if not re.fullmatch(INVOICE_NUMBER_PATTERN, number):
        raise InvalidInput("发票号码有误（8 至 40 位数字或字母）", field="invoice_number")
    document = checked_document(
        file_name, data, kinds=PDF_KINDS, max_bytes=MAX_INVOICE_BYTES, what="发票文件"
    )
    async with within_caller_transaction(session):
        checkout, invoice = await _answerable(session, principal, booking_id)
        if invoice.status == InvoiceStatus.issued:
            if (invoice.invoice_number, invoice.file_sha256) == (number, document.sha256):
                return invoice
            raise InvoiceAlreadyIssued(invoice_number=invoice.invoice_number)
        if invoice.status != InvoiceStatus.requested:
            raise InvoiceStateInvalid("该发票申请已被拒绝，请等待企业重新申请", status=invoice.status.value)
        now = utcnow()
        invoice.status, invoice.invoice_number = InvoiceStatus.issued, number
        invoice.answered_by, invoice.answered_at = principal.user_id, now
        invoice.file_name, invoice.file_content_type = document.name, document.content_type
        invoice.file_size, invoice.file_sha256, invoice.file_data = (
            document.size,
            document.sha256,
            document.data,
        )
        _record(session, invoice, "issue", principal.user_id, invoice_number=number, sha256=document.sha256)
        await emit(session, ISSUED_TOPIC, _notice(checkout, invoice))
        await session.flush()
        return invoice


async def reject_invoice(
    session: AsyncSession, principal: Principal, booking_id: uuid.UUID, reason: str
) -> InvoiceRequest:
    reason = reason.strip()
    async with within_caller_transaction(session):
        checkout, invoice = await _answerable(session, principal, booking_id)
        if invoice.status == InvoiceStatus.rejected and invoice.reject_reason == reason:
            return invoice
        if invoice.status == InvoiceStatus.issued:
            raise InvoiceAlreadyIssued(invoice_number=invoice.invoice_number)
        if invoice.status != InvoiceStatus.requested:
            raise InvoiceStateInvalid("该发票申请已被拒绝，请等待企业重新申请", status=invoice.status.value)
        invoice.status, invoice.reject_reason = InvoiceStatus.rejected, reason
        invoice.answered_by, invoice.answered_at = principal.user_id, utcnow()
        _record(session, invoice, "reject", principal.user_id, reason=reason)
        await emit(session, REJECTED_TOPIC, _notice(checkout, invoice))
        await session.flush()
        return invoice


def _notice(checkout: VoucherCheckout, invoice: InvoiceRequest) -> dict[str, Any]:
    """What the requester is told (bot/notify.py): never the file, never the tax number."""
    return {
        "booking_id": invoice.booking_id,
        "booking_code": checkout.booking_number or str(checkout.booking_id),
        "user_id": invoice.requested_by,
        "enterprise_id": invoice.enterprise_id,
        "kind_label": KIND_LABELS[invoice.kind],
        "amount_fen": invoice.amount_fen,
        "invoice_number": invoice.invoice_number,
        "reason": invoice.reject_reason,
        "status_text": STATUS_LABELS[invoice.status],
    }


async def show_invoice(session: AsyncSession, principal: Principal, booking_id: uuid.UUID) -> InvoiceRequest:
    """For the firm, the provider (and those who see the booking's statement)."""
    await _checkout(session, principal, booking_id, lock=False)
    found = await session.scalar(select(InvoiceRequest).where(InvoiceRequest.booking_id == booking_id))
    if found is None:
        raise InvoiceNotFound()
    return found


async def invoice_file(session: AsyncSession, principal: Principal, booking_id: uuid.UUID) -> InvoiceRequest:
    """The issued invoice's file: for the firm and the provider (the platform admin too)."""
    invoice = await show_invoice(session, principal, booking_id)
    mine = invoice.enterprise_id in principal.enterprise_ids or invoice.unit_id in principal.unit_ids
    if not (mine or principal.is_platform_admin):
        raise InvoiceNotFound("未找到该发票文件")
    if invoice.status != InvoiceStatus.issued or invoice.file_data is None:
        raise InvoiceNotFound("发票尚未开具")
    return invoice


async def list_invoices(
    session: AsyncSession, principal: Principal, status: InvoiceStatus | None, *, limit: int, offset: int
) -> InvoicePage:
    """The invoices the caller is party to, newest request first: a provider's staff see their
    units' (the queue to answer), a firm's members their firm's; the platform admin sees all."""
    query = select(InvoiceRequest)
    if not principal.is_platform_admin:
        query = query.where(
            or_(
                InvoiceRequest.unit_id.in_(principal.unit_ids),
                InvoiceRequest.enterprise_id.in_(principal.enterprise_ids),
            )
        )
    if status is not None:
        query = query.where(InvoiceRequest.status == status)
    total = int(await session.scalar(select(func.count()).select_from(query.subquery())) or 0)
    found = await session.scalars(
        query.order_by(InvoiceRequest.requested_at.desc(), InvoiceRequest.id).limit(limit).offset(offset)
    )
    return InvoicePage(items=[invoice_out(i) for i in found.all()], total=total, limit=limit, offset=offset)
