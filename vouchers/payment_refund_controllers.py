"""Routes of fee corrections, WeChat Pay refunds and the daily reconciliation: parse → call a
service → return a Struct (rules in ``vouchers/payments/``)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal
from vouchers.controllers import operation_key
from vouchers.errors import BillUnavailable
from vouchers.models import FeeCorrection, RefundStatus, VoucherCheckout
from vouchers.payments import corrections, reconcile
from vouchers.payments.gateway import WECHAT_PAY, WeChatPay
from vouchers.payments.refund_schemas import (
    FeeCorrectionIn,
    FeeCorrectionOut,
    PaymentReconciliationOut,
    ReconcileIn,
    RefundOut,
)
from vouchers.payments.refunds import list_refunds, refunds_by_key, submit_refund
from yixiang.db import transaction


def wechat_pay(request: Request[Any, Any, Any]) -> WeChatPay | None:
    """The WeChat Pay service when it is on (None: off, remainders by transfer)."""
    return request.app.state.services.get(WECHAT_PAY)  # type: ignore[no-any-return]


@post(
    "/api/v1/bookings/{booking_id:uuid}/fee-correction",
    status_code=200,
    tags=["payments"],
    summary="Provider: lower (or, at 0, waive) a completed booking's fee; overpaid money goes back",
)
async def correct_fee(
    booking_id: uuid.UUID,
    data: FeeCorrectionIn,
    principal: Principal,
    db_session: AsyncSession,
    request: Request[Any, Any, Any],
) -> FeeCorrectionOut:
    async with transaction(db_session):
        result = await corrections.correct_fee(
            db_session,
            principal,
            booking_id,
            data.fee_fen,
            data.reason,
            key=operation_key(request, principal),
        )
        correction_id, refund_key = result.correction.id, f"fee_correction:{result.correction.id}"
    pay = wechat_pay(request)
    if pay is not None:  # off: the refunds stay processing until it is on and the job sends them
        for refund in result.refunds:
            await submit_refund(db_session, pay, refund)
    async with transaction(db_session, read_only=True):
        correction = await db_session.get(FeeCorrection, correction_id, populate_existing=True)
        checkout = await db_session.get(VoucherCheckout, booking_id, populate_existing=True)
        assert correction is not None and checkout is not None
        return FeeCorrectionOut.of(correction, checkout.due_fen, await refunds_by_key(db_session, refund_key))


@get(
    "/api/v1/payment-refunds",
    tags=["payments"],
    summary="WeChat Pay refunds, newest first: finance and platform admins all, units and firms their own",
)
async def refunds(
    principal: Principal,
    db_session: AsyncSession,
    booking_id: uuid.UUID | None = None,
    status: RefundStatus | None = None,
    limit: Annotated[int, Parameter(ge=1, le=200)] = 50,
    offset: Annotated[int, Parameter(ge=0, le=1_000_000)] = 0,
) -> list[RefundOut]:
    async with transaction(db_session, read_only=True):
        everything = principal.is_platform_admin or await reconcile.is_finance_officer(db_session, principal)
        rows = await list_refunds(
            db_session,
            everything=everything,
            unit_ids=principal.unit_ids,
            enterprise_ids=principal.enterprise_ids,
            booking_id=booking_id,
            status=status,
            limit=limit,
            offset=offset,
        )
        return [RefundOut.of(r) for r in rows]


class PaymentReconciliationController(Controller):
    path = "/api/v1/payment-reconciliations"
    tags = ["payments"]

    @get("/", summary="Daily WeChat Pay reconciliations: finance and platform admins all, a unit its own")
    async def index(
        self,
        principal: Principal,
        db_session: AsyncSession,
        request: Request[Any, Any, Any],
        day_from: date | None = None,
        day_to: date | None = None,
        with_differences: bool = False,
        limit: Annotated[int, Parameter(ge=1, le=200)] = 50,
        offset: Annotated[int, Parameter(ge=0, le=1_000_000)] = 0,
    ) -> list[PaymentReconciliationOut]:
        async with transaction(db_session, read_only=True):
            rows = await reconcile.list_reconciliations(
                db_session,
                principal,
                wechat_pay(request),
                day_from=day_from,
                day_to=day_to,
                with_differences=with_differences,
                limit=limit,
                offset=offset,
            )
            return [PaymentReconciliationOut.of(r) for r in rows]

    @get("/{reconciliation_id:uuid}", summary="One day's reconciliation with its differences")
    async def show(
        self,
        reconciliation_id: uuid.UUID,
        principal: Principal,
        db_session: AsyncSession,
        request: Request[Any, Any, Any],
    ) -> PaymentReconciliationOut:
        async with transaction(db_session, read_only=True):
            found = await reconcile.get_reconciliation(
                db_session, principal, wechat_pay(request), reconciliation_id
            )
            return PaymentReconciliationOut.of(found)

    @post("/", status_code=200, summary="Finance: reconcile a day again (replaces that day's result)")
    async def run(
        self,
        data: ReconcileIn,
        principal: Principal,
        db_session: AsyncSession,
        request: Request[Any, Any, Any],
    ) -> PaymentReconciliationOut:
        async with transaction(db_session, read_only=True):
            await reconcile.require_finance(db_session, principal)
        pay = wechat_pay(request)
        if pay is None:
            raise BillUnavailable("微信支付未开通，没有可对账的账单")
        result = await reconcile.reconcile_day(db_session, pay, data.day, data.sub_mchid)
        return PaymentReconciliationOut.of(result)


ROUTES: list[Any] = [correct_fee, refunds, PaymentReconciliationController]
