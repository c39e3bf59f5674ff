"""Voucher routes: parse → call a service → return a Struct. Rules live in the services."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any, Literal

from litestar import Controller, Request, Response, get, post
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal, requires_role
from accounts.models import Role
from vouchers import grants as grant_service
from vouchers import programs as program_service
from vouchers import settlement as settlement_service
from vouchers import settlement_export, wallet
from vouchers import statements as statement_service
from vouchers.evidence import rating_window
from vouchers.ledger import check_ledger
from vouchers.models import SettlementStatus, VoucherProgram
from vouchers.refunds import refund_voucher_share
from vouchers.schemas import (
    AdjustmentIn,
    EntryOut,
    GrantImportOut,
    GrantIn,
    GrantOut,
    LedgerCheckOut,
    MarkPaidIn,
    MyVouchersOut,
    PaymentReceivedIn,
    ProgramIn,
    ProgramOut,
    ReconciliationOut,
    RefundIn,
    SettlementIn,
    SettlementOut,
    SettlementPage,
    StatementOut,
)
from vouchers.settlement_list import SettlementFilter, list_settlements
from yixiang.db import transaction
from yixiang.openapi import CSV, XLSX, files


def operation_key(request: Request[Any, Any, Any], principal: Principal) -> str:
    """The caller's Idempotency-Key (scoped to the caller) or a fresh one."""
    key = request.headers.get("idempotency-key")
    return f"{principal.user_id}:{key}" if key else uuid.uuid4().hex


class VoucherProgramController(Controller):
    path = "/api/v1/voucher-programs"
    tags = ["vouchers"]

    @post("/", summary="Create a voucher programme (bureau officer of the issuing region)")
    async def create(
        self, data: ProgramIn, principal: Principal, db_session: AsyncSession, request: Request[Any, Any, Any]
    ) -> ProgramOut:
        key = request.headers.get("idempotency-key")
        async with transaction(db_session):
            program = await program_service.create_program(db_session, principal, data, key=key)
            return await wallet.program_out(db_session, program)

    @get("/", summary="Programmes of the caller's region (bureau officers; platform admins see all)")
    async def index(self, principal: Principal, db_session: AsyncSession) -> list[ProgramOut]:
        async with transaction(db_session, read_only=True):
            return await wallet.list_programs(db_session, principal)

    @get("/{program_id:uuid}", summary="One programme with its remaining budget")
    async def show(self, program_id: uuid.UUID, principal: Principal, db_session: AsyncSession) -> ProgramOut:
        async with transaction(db_session, read_only=True):
            return await wallet.show_program(db_session, principal, program_id)

    @get("/{program_id:uuid}/grants", summary="Grants of a programme with balances")
    async def grants(
        self, program_id: uuid.UUID, principal: Principal, db_session: AsyncSession
    ) -> list[GrantOut]:
        async with transaction(db_session, read_only=True):
            return await wallet.program_grants(db_session, principal, program_id)

    @post("/{program_id:uuid}/grants", summary="Grant a firm an amount under the programme")
    async def grant(
        self,
        program_id: uuid.UUID,
        data: GrantIn,
        principal: Principal,
        db_session: AsyncSession,
        request: Request[Any, Any, Any],
    ) -> GrantOut:
        async with transaction(db_session):
            grant = await grant_service.create_grant(
                db_session, principal, program_id, data, key=operation_key(request, principal)
            )
            program = await db_session.get(VoucherProgram, program_id)
            assert program is not None
            return (await wallet.grant_outs(db_session, [(grant, program)]))[0]

    @post(
        "/{program_id:uuid}/grants/import",
        summary="Grant many firms from a CSV file (uscc, amount_yuan, note); all rows or none",
    )
    async def import_grants(
        self,
        program_id: uuid.UUID,
        principal: Principal,
        db_session: AsyncSession,
        request: Request[Any, Any, Any],
    ) -> GrantImportOut:
        raw = await request.body()
        async with transaction(db_session):
            grants = await grant_service.import_grants(
                db_session, principal, program_id, raw, key=operation_key(request, principal)
            )
            program = await db_session.get(VoucherProgram, program_id)
            assert program is not None
            outs = await wallet.grant_outs(db_session, [(g, program) for g in grants])
            return GrantImportOut(imported=len(outs), total_fen=sum(g.amount_fen for g in outs), grants=outs)

    @post("/{program_id:uuid}/adjustments", summary="Adjust a grant (± from/to the budget), with a reason")
    async def adjust(
        self,
        program_id: uuid.UUID,
        data: AdjustmentIn,
        principal: Principal,
        db_session: AsyncSession,
        request: Request[Any, Any, Any],
    ) -> EntryOut:
        async with transaction(db_session):
            entry_id = await program_service.adjust_grant(
                db_session, principal, program_id, data, key=operation_key(request, principal)
            )
            return EntryOut(entry_id=entry_id)


class BookingVoucherController(Controller):
    """The voucher side of a booking, answered from vouchers' own checkout records."""

    path = "/api/v1/bookings"
    tags = ["vouchers"]

    @get("/{booking_id:uuid}/statement", summary="Fee, voucher share, amount due, payment and evidence")
    async def statement(
        self,
        booking_id: uuid.UUID,
        principal: Principal,
        db_session: AsyncSession,
        request: Request[Any, Any, Any],
    ) -> StatementOut:
        async with transaction(db_session, read_only=True):
            return await statement_service.statement(
                db_session, principal, booking_id, rating_window=rating_window(request.app.state)
            )

    @post(
        "/{booking_id:uuid}/payment-received", status_code=200, summary="Provider: the firm's payment arrived"
    )
    async def payment_received(
        self,
        booking_id: uuid.UUID,
        data: PaymentReceivedIn,
        principal: Principal,
        db_session: AsyncSession,
        request: Request[Any, Any, Any],
    ) -> StatementOut:
        async with transaction(db_session):
            await statement_service.mark_payment_received(db_session, principal, booking_id, data.reference)
            return await statement_service.statement(
                db_session, principal, booking_id, rating_window=rating_window(request.app.state)
            )

    @post(
        "/{booking_id:uuid}/voucher-refund", status_code=200, summary="Bureau: refund part of a voucher share"
    )
    async def refund(
        self,
        booking_id: uuid.UUID,
        data: RefundIn,
        principal: Principal,
        db_session: AsyncSession,
        request: Request[Any, Any, Any],
    ) -> StatementOut:
        async with transaction(db_session):
            await refund_voucher_share(
                db_session, principal, booking_id, data, key=operation_key(request, principal)
            )
            return await statement_service.statement(
                db_session, principal, booking_id, rating_window=rating_window(request.app.state)
            )


@get("/api/v1/me/vouchers", tags=["vouchers"], summary="The caller's firm's grants, balances, holds, history")
async def my_vouchers(
    principal: Principal, db_session: AsyncSession, enterprise_id: uuid.UUID | None = None
) -> MyVouchersOut:
    async with transaction(db_session, read_only=True):
        return await wallet.my_vouchers(db_session, principal, enterprise_id)


@get(
    "/api/v1/ledger/check",
    tags=["vouchers"],
    guards=[requires_role(Role.platform_admin)],
    summary="Platform admin: recompute every balance from the journal and report differences",
)
async def ledger_check(db_session: AsyncSession) -> LedgerCheckOut:
    async with transaction(db_session, read_only=True):
        return LedgerCheckOut(**await check_ledger(db_session))


class SettlementController(Controller):
    path = "/api/v1/settlements"
    tags = ["vouchers"]

    @post("/", summary="Draw a settlement batch for the caller's region and a period")
    async def create(
        self,
        data: SettlementIn,
        principal: Principal,
        db_session: AsyncSession,
        request: Request[Any, Any, Any],
    ) -> SettlementOut:
        async with transaction(db_session):
            batch = await settlement_service.create_settlement(
                db_session, principal, data, rating_window=rating_window(request.app.state)
            )
            return await settlement_service.batch_out(db_session, batch)

    @get(
        "/",
        summary="Settlement batches of the caller's regions (platform admins: all), filtered, newest first",
    )
    async def index(
        self,
        principal: Principal,
        db_session: AsyncSession,
        status: SettlementStatus | None = None,
        unit: uuid.UUID | None = None,
        bureau: uuid.UUID | None = None,
        program: uuid.UUID | None = None,
        period_from: date | None = None,
        period_to: date | None = None,
        limit: Annotated[int, Parameter(ge=1, le=200)] = 50,
        offset: Annotated[int, Parameter(ge=0, le=1_000_000)] = 0,
    ) -> SettlementPage:
        wanted = SettlementFilter(status, unit, bureau, program, period_from, period_to)
        async with transaction(db_session, read_only=True):
            return await list_settlements(db_session, principal, wanted, limit=limit, offset=offset)

    @get("/{batch_id:uuid}", summary="A settlement batch with its lines")
    async def show(
        self, batch_id: uuid.UUID, principal: Principal, db_session: AsyncSession
    ) -> SettlementOut:
        async with transaction(db_session, read_only=True):
            batch = await settlement_service.get_batch(db_session, principal, batch_id)
            return await settlement_service.batch_out(db_session, batch)

    async def _act(
        self, db_session: AsyncSession, principal: Principal, batch_id: uuid.UUID, action: str, **kw: Any
    ) -> SettlementOut:
        async with transaction(db_session):
            batch = await settlement_service.transition(db_session, principal, batch_id, action, **kw)
            return await settlement_service.batch_out(db_session, batch)

    @post(
        "/{batch_id:uuid}/submit", status_code=200, summary="Submit the draft (amounts are final from here)"
    )
    async def submit(
        self, batch_id: uuid.UUID, principal: Principal, db_session: AsyncSession
    ) -> SettlementOut:
        return await self._act(db_session, principal, batch_id, "submit")

    @post("/{batch_id:uuid}/approve", status_code=200, summary="Approve (another officer than the submitter)")
    async def approve(
        self, batch_id: uuid.UUID, principal: Principal, db_session: AsyncSession
    ) -> SettlementOut:
        return await self._act(db_session, principal, batch_id, "approve")

    @post("/{batch_id:uuid}/mark-paid", status_code=200, summary="Record the bank payment (reference)")
    async def mark_paid(
        self, batch_id: uuid.UUID, data: MarkPaidIn, principal: Principal, db_session: AsyncSession
    ) -> SettlementOut:
        return await self._act(db_session, principal, batch_id, "mark_paid", paid=data)

    @post("/{batch_id:uuid}/discard", status_code=200, summary="Discard a draft (its bookings free again)")
    async def discard(
        self, batch_id: uuid.UUID, principal: Principal, db_session: AsyncSession
    ) -> SettlementOut:
        return await self._act(db_session, principal, batch_id, "discard")

    @post(
        "/{batch_id:uuid}/reconcile", status_code=200, summary="Close the batch once it reconciles to the fen"
    )
    async def reconcile(
        self, batch_id: uuid.UUID, principal: Principal, db_session: AsyncSession
    ) -> SettlementOut:
        return await self._act(db_session, principal, batch_id, "reconcile")

    @get("/{batch_id:uuid}/reconciliation", summary="Batch against ledger, to the fen")
    async def reconciliation(
        self, batch_id: uuid.UUID, principal: Principal, db_session: AsyncSession
    ) -> ReconciliationOut:
        async with transaction(db_session, read_only=True):
            return await settlement_service.reconciliation(db_session, principal, batch_id)

    @get("/{batch_id:uuid}/export", summary="The batch as CSV or XLSX", opt=files(CSV, XLSX))
    async def export(
        self,
        batch_id: uuid.UUID,
        principal: Principal,
        db_session: AsyncSession,
        format: Literal["csv", "xlsx"] = "csv",
    ) -> Response[bytes]:
        async with transaction(db_session, read_only=True):
            batch = await settlement_service.get_batch(db_session, principal, batch_id)
            out = await settlement_service.batch_out(db_session, batch)
        if format == "xlsx":
            content = settlement_export.export_xlsx(out)
            media = XLSX
        else:
            content = settlement_export.export_csv(out)
            media = CSV
        return Response(
            content,
            media_type=media,
            headers={"Content-Disposition": f'attachment; filename="settlement-{batch_id}.{format}"'},
        )


ROUTES: list[Any] = [
    VoucherProgramController,
    BookingVoucherController,
    SettlementController,
    my_vouchers,
    ledger_check,
]
