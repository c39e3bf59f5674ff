"""Invoice routes (发票 / 财政票据): the firm asks for a paid booking's invoice, the provider
issues it (number + PDF) or refuses it; the firm downloads the file. Rules in vouchers.invoices."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Controller, Response, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body, Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal
from vouchers import invoices
from vouchers.documents import download
from vouchers.models import InvoiceStatus
from vouchers.schemas import InvoiceIn, InvoiceOut, InvoicePage, InvoiceRejectIn
from yixiang.db import transaction
from yixiang.openapi import files

PDF = "application/pdf"


@dataclass
class IssueForm:
    """The provider's answer: the invoice's number and its PDF (multipart)."""

    invoice_number: str
    file: UploadFile


class InvoiceController(Controller):
    path = "/api/v1/bookings/{booking_id:uuid}/invoice"
    tags = ["vouchers"]

    @post("/", summary="Ask for the invoice of a paid booking (the booking's researcher or a firm admin)")
    async def request_invoice(
        self, booking_id: uuid.UUID, data: InvoiceIn, principal: Principal, db_session: AsyncSession
    ) -> InvoiceOut:
        async with transaction(db_session):
            invoice = await invoices.request_invoice(db_session, principal, booking_id, data)
            return invoices.invoice_out(invoice)

    @get("/", summary="The booking's invoice request and the provider's answer")
    async def show(self, booking_id: uuid.UUID, principal: Principal, db_session: AsyncSession) -> InvoiceOut:
        async with transaction(db_session, read_only=True):
            return invoices.invoice_out(await invoices.show_invoice(db_session, principal, booking_id))

    @post(
        "/issue",
        status_code=200,
        summary="Provider: the invoice is issued (multipart `invoice_number`, `file`: a PDF, at most 2 MB)",
        request_max_body_size=invoices.MAX_INVOICE_BYTES + 64 * 1024,
    )
    async def issue(
        self,
        booking_id: uuid.UUID,
        data: Annotated[IssueForm, Body(media_type=RequestEncodingType.MULTI_PART)],
        principal: Principal,
        db_session: AsyncSession,
    ) -> InvoiceOut:
        content = await data.file.read()
        async with transaction(db_session):
            invoice = await invoices.issue_invoice(
                db_session,
                principal,
                booking_id,
                invoice_number=data.invoice_number,
                file_name=data.file.filename or "",
                data=content,
            )
            return invoices.invoice_out(invoice)

    @post("/reject", status_code=200, summary="Provider: refuse the invoice request, with a reason")
    async def reject(
        self, booking_id: uuid.UUID, data: InvoiceRejectIn, principal: Principal, db_session: AsyncSession
    ) -> InvoiceOut:
        async with transaction(db_session):
            invoice = await invoices.reject_invoice(db_session, principal, booking_id, data.reason)
            return invoices.invoice_out(invoice)

    @get(
        "/file", summary="Download the issued invoice (the firm; the provider)", opt=files("application/pdf")
    )
    async def file(
        self, booking_id: uuid.UUID, principal: Principal, db_session: AsyncSession
    ) -> Response[bytes]:
        async with transaction(db_session, read_only=True):
            invoice = await invoices.invoice_file(db_session, principal, booking_id)
        assert invoice.file_data is not None
        return download(invoice.file_name, invoice.file_content_type, invoice.file_data)


@get(
    "/api/v1/invoices",
    tags=["vouchers"],
    summary="Invoices the caller is party to (a provider's queue, a firm's)",
)
async def list_invoices(
    principal: Principal,
    db_session: AsyncSession,
    status: InvoiceStatus | None = None,
    limit: Annotated[int, Parameter(ge=1, le=200)] = 50,
    offset: Annotated[int, Parameter(ge=0, le=1_000_000)] = 0,
) -> InvoicePage:
    async with transaction(db_session, read_only=True):
        return await invoices.list_invoices(db_session, principal, status, limit=limit, offset=offset)


ROUTES: list[Any] = [InvoiceController, list_invoices]
