"""Refunds through WeChat Pay against the local fake (real signatures both ways): partial refunds,
never beyond what was paid, one per key, a failed call retried with the same number, and the fee
corrections (费用更正) and waivers of a provider that give money back; the ledger covers it all."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.fakes.wechatpay import FakeWeChatPay
from tests.support import Backend, error_code
from tests.vouchers.desk import VoucherDesk, today
from tests.vouchers.paydesk import (
    PaidBooking,
    completed_booking,
    pay_in_wechat,
    settle_paid_order,
    the_pay,
)
from vouchers.errors import NotPaidByWeChat, RefundExceedsPaid
from vouchers.ledger import check_ledger
from vouchers.models import JournalEntry, PaymentOrder, PaymentRefund, RefundStatus, VoucherCheckout
from vouchers.payments.gateway import WECHAT_PAY, WeChatPay
from vouchers.payments.refund_jobs import PAYMENT_OVERPAID, REFUNDS_DUE, refund_overpayment
from vouchers.payments.refunds import REFUND_SUCCEEDED, apply_refund, request_refund, sync_refunds
from vouchers.wechatpay.client import WeChatPayClient
from vouchers.wechatpay.notifications import open_notification
from vouchers.wechatpay.signing import load_public_key
from yixiang.db import utcnow
from yixiang.domains import JobContext
from yixiang.outbox import Event, OutboxEvent

FEE = 100_000  # 1,000.00 元: half by vouchers (the desk's programme covers 50%), half due


async def refund(backend: Backend, booking: PaidBooking, amount: int, key: str, **how: object) -> list[str]:
    async with backend.runtime.session_maker() as session:
        made = await request_refund(
            session,
            the_pay(backend),
            booking.booking_id,
            amount,
            str(how.pop("cause", "fee_correction")),
            "部分检测项目未做",
            None,
            key,
            **how,  # type: ignore[arg-type]
        )
    return [r.out_refund_no for r in made]


async def refunds_of(backend: Backend, booking: PaidBooking) -> list[PaymentRefund]:
    async with backend.runtime.session_maker() as session:
        rows = await session.scalars(
            select(PaymentRefund)
            .where(PaymentRefund.booking_id == booking.booking_id)
            .order_by(PaymentRefund.key)
        )
        return list(rows.all())


async def checkout_of(backend: Backend, booking: PaidBooking) -> VoucherCheckout:
    async with backend.runtime.session_maker() as session:
        found = await session.get(VoucherCheckout, booking.booking_id)
        assert found is not None
        return found


async def run_refund_job(backend: Backend) -> int:
    async with backend.runtime.session_maker() as session:
        return await sync_refunds(session, the_pay(backend), older_than=timedelta(0))


async def ledger_report(backend: Backend) -> dict[str, object]:
    async with backend.runtime.session_maker() as session:
        return await check_ledger(session)


async def test_a_partial_refund_goes_back_once_and_is_posted_on_the_units_cash_accounts(
    backend: Backend, world: VoucherDesk, wechat_pay: FakeWeChatPay
) -> None:
    booking = await completed_booking(world, FEE)
    out_trade_no = await pay_in_wechat(backend, wechat_pay, booking)
    assert booking.due_fen == 50_000

    [out_refund_no] = await refund(backend, booking, 20_000, "k-partial")
    assert await refund(backend, booking, 20_000, "k-partial") == [out_refund_no]  # the same key: the same
    assert [(r.amount, r.status) for r in wechat_pay.refunds.values()] == [(20_000, "PROCESSING")]
    [row] = await refunds_of(backend, booking)
    assert (row.status, row.amount_fen, row.refund_id != "") == (RefundStatus.processing, 20_000, True)
    assert (await checkout_of(backend, booking)).cash_refunded_fen == 0  # not back yet

    wechat_pay.finish_refund(out_refund_no)
    headers, body = wechat_pay.refund_notification(out_refund_no)
    pay = the_pay(backend)
    notification = open_notification(
        headers, body, platform_keys=pay.client.keys.platform_keys, apiv3_key=pay.client.keys.apiv3_key
    )
    assert notification.event_type == "REFUND.SUCCESS" and notification.refund is not None
    async with backend.runtime.session_maker() as session:
        assert await apply_refund(session, notification.refund) is True
    async with backend.runtime.session_maker() as session:  # delivered again: changes nothing
        assert await apply_refund(session, notification.refund) is False
    assert await run_refund_job(backend) == 0  # and the job's query finds nothing left to do

    [row] = await refunds_of(backend, booking)
    checkout = await checkout_of(backend, booking)
    assert row.status == RefundStatus.succeeded and row.finished_at is not None
    assert (checkout.paid_fen, checkout.cash_refunded_fen) == (50_000, 20_000)
    async with backend.runtime.session_maker() as session:
        order = await session.scalar(select(PaymentOrder).where(PaymentOrder.out_trade_no == out_trade_no))
        entries = (
            await session.scalars(
                select(JournalEntry.key).where(JournalEntry.booking_id == booking.booking_id)
            )
        ).all()
        told = (
            await session.scalars(select(OutboxEvent.payload).where(OutboxEvent.topic == REFUND_SUCCEEDED))
        ).all()
    assert order is not None and order.refunded_fen == 20_000
    assert sorted(k for k in entries if k.startswith(("payment:", "cash_refund:"))) == [
        f"cash_refund:{out_refund_no}",
        f"payment:{out_trade_no}",
    ]
    mine = [p for p in told if p["out_refund_no"] == out_refund_no]
    assert len(mine) == 1 and mine[0]["amount_fen"] == 20_000 and mine[0]["cause_text"] == "费用更正"
    report = await ledger_report(backend)
    assert report["ok"] and report["cash_mismatches"] == [], report


async def test_refunds_never_exceed_what_was_paid(
    backend: Backend, world: VoucherDesk, wechat_pay: FakeWeChatPay
) -> None:
    booking = await completed_booking(world, FEE)
    with pytest.raises(NotPaidByWeChat):  # nothing paid in WeChat yet
        await refund(backend, booking, 1, "k-unpaid")
    await pay_in_wechat(backend, wechat_pay, booking)

    await refund(backend, booking, 30_000, "k-first")  # processing: reserved all the same
    with pytest.raises(RefundExceedsPaid) as refused:
        await refund(backend, booking, 20_001, "k-second")
    assert refused.value.details["refundable_fen"] == 20_000
    await refund(backend, booking, 20_000, "k-third")
    with pytest.raises(RefundExceedsPaid):
        await refund(backend, booking, 1, "k-fourth")
    assert sum(r.amount for r in wechat_pay.refunds.values()) == 50_000
    assert [r.amount_fen for r in await refunds_of(backend, booking)] == [30_000, 20_000]


async def test_a_call_that_fails_leaves_the_refund_recorded_and_the_job_sends_it_once(
    backend: Backend, world: VoucherDesk, wechat_pay: FakeWeChatPay
) -> None:
    booking = await completed_booking(world, FEE)
    await pay_in_wechat(backend, wechat_pay, booking)
    good = the_pay(backend)
    unreachable = WeChatPayClient(good.client.keys, "http://127.0.0.1:9")  # nothing listens there
    backend.runtime.services[WECHAT_PAY] = WeChatPay(good.settings, unreachable)
    try:
        [out_refund_no] = await refund(backend, booking, 15_000, "k-lost")
    finally:
        backend.runtime.services[WECHAT_PAY] = good
        await unreachable.aclose()
    [row] = await refunds_of(backend, booking)
    assert row.status == RefundStatus.processing and row.refund_id == "" and "ConnectError" in row.last_error
    assert wechat_pay.refunds == {}

    wechat_pay.refunds_settle_immediately = True
    assert await run_refund_job(backend) >= 1
    assert await run_refund_job(backend) == 0
    assert [r.amount for r in wechat_pay.refunds.values()] == [15_000]  # sent once, under its number
    [row] = await refunds_of(backend, booking)
    assert (row.out_refund_no, row.status) == (out_refund_no, RefundStatus.succeeded)
    assert (await checkout_of(backend, booking)).cash_refunded_fen == 15_000


async def test_a_refund_wechat_pay_closes_is_recorded_and_its_amount_may_be_refunded_again(
    backend: Backend, world: VoucherDesk, wechat_pay: FakeWeChatPay
) -> None:
    booking = await completed_booking(world, FEE)
    await pay_in_wechat(backend, wechat_pay, booking)
    [closed] = await refund(backend, booking, 50_000, "k-closed")
    wechat_pay.finish_refund(closed, "CLOSED")
    await run_refund_job(backend)

    [row] = await refunds_of(backend, booking)
    assert row.status == RefundStatus.closed
    assert (await checkout_of(backend, booking)).cash_refunded_fen == 0
    await refund(backend, booking, 50_000, "k-again")  # nothing went back: all of it may
    assert (await ledger_report(backend))["ok"]


async def test_a_second_payment_for_a_booking_that_owed_nothing_is_refunded_whole(
    backend: Backend, world: VoucherDesk, wechat_pay: FakeWeChatPay
) -> None:
    booking = await completed_booking(world, FEE)
    await pay_in_wechat(backend, wechat_pay, booking)  # in WeChat
    second = await pay_in_wechat(backend, wechat_pay, booking, 50_000)  # and at the desk's QR code
    event = Event(
        id=0,
        topic=PAYMENT_OVERPAID,
        payload={"booking_id": str(booking.booking_id), "out_trade_no": second, "amount_fen": 50_000},
        attempts=0,
        created_at=utcnow(),
    )
    for _ in range(2):  # the event delivered twice: one refund
        async with backend.runtime.session_maker() as session:
            ctx = JobContext(session, backend.settings, backend.app.state.store, backend.runtime.services)
            await refund_overpayment(ctx, event)

    [row] = await refunds_of(backend, booking)
    assert (row.cause, row.amount_fen) == ("duplicate_payment", 50_000)
    assert [(r.out_trade_no, r.amount) for r in wechat_pay.refunds.values()] == [(second, 50_000)]


# --- fee corrections (费用更正) -------------------------------------------------------------------
async def correct(
    world: VoucherDesk,
    booking: PaidBooking,
    fee_fen: int,
    user: str = "demo-provider",
    key: str | None = None,
) -> object:
    headers = dict(await world.headers(user))
    if key:
        headers["Idempotency-Key"] = key
    return await world.client.post(
        f"/api/v1/bookings/{booking.booking_id}/fee-correction",
        json={"fee_fen": fee_fen, "reason": "实际只检测了部分样品"},
        headers=headers,
    )


async def statement(world: VoucherDesk, booking: PaidBooking) -> dict[str, int]:
    answer = await world.client.get(
        f"/api/v1/bookings/{booking.booking_id}/statement", headers=await world.headers("demo-provider")
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def test_a_lower_fee_after_payment_gives_back_the_voucher_part_and_refunds_the_overpaid_cash(
    backend: Backend, world: VoucherDesk, wechat_pay: FakeWeChatPay
) -> None:
    booking = await completed_booking(world, FEE)
    await pay_in_wechat(backend, wechat_pay, booking)
    grant_before = await world.balances(await grant_of(world, booking))

    answer = await correct(world, booking, 60_000, key="fix-1")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    # 60,000 at 50%: 30,000 by vouchers (20,000 back to the grant), 30,000 owed; 50,000 was paid
    assert (body["new_voucher_fen"], body["cash_refund_fen"], body["due_fen"]) == (30_000, 20_000, 0)
    assert [(r["amount_fen"], r["cause"]) for r in body["refunds"]] == [(20_000, "fee_correction")]
    assert [r.amount for r in wechat_pay.refunds.values()] == [20_000]
    again = await correct(world, booking, 60_000, key="fix-1")  # a retry of the same request
    assert again.json()["id"] == body["id"] and len(wechat_pay.refunds) == 1
    seen = await statement(world, booking)
    assert (seen["fee_fen"], seen["voucher_fen"], seen["due_fen"], seen["paid_fen"]) == (
        60_000,
        30_000,
        0,
        50_000,
    )
    available, _ = await world.balances(await grant_of(world, booking))
    assert available == grant_before[0] + 20_000

    refunds = await world.client.get(
        "/api/v1/payment-refunds",
        params={"booking_id": str(booking.booking_id)},
        headers=await world.headers("demo-provider"),
    )
    assert [r["amount_fen"] for r in refunds.json()] == [20_000]
    wechat_pay.finish_refund(body["refunds"][0]["out_refund_no"])
    await run_refund_job(backend)
    assert (await checkout_of(backend, booking)).cash_refunded_fen == 20_000
    assert (await ledger_report(backend))["ok"]


async def grant_of(world: VoucherDesk, booking: PaidBooking) -> str:
    grants = await world.client.get(
        f"/api/v1/voucher-programs/{booking.program_id}/grants", headers=await world.bureau()
    )
    return str(grants.json()[0]["id"])


async def test_a_correction_before_payment_only_lowers_what_is_due(
    backend: Backend, world: VoucherDesk, wechat_pay: FakeWeChatPay
) -> None:
    booking = await completed_booking(world, FEE)
    answer = await correct(world, booking, 80_000)
    assert answer.status_code == 200, answer.text
    assert (answer.json()["due_fen"], answer.json()["cash_refund_fen"], answer.json()["refunds"]) == (
        40_000,
        0,
        [],
    )
    assert wechat_pay.refunds == {}


async def test_a_booking_paid_by_transfer_has_its_overpayment_recorded_for_the_unit_to_return(
    backend: Backend, world: VoucherDesk, wechat_pay: FakeWeChatPay
) -> None:
    booking = await completed_booking(world, FEE)
    received = await world.client.post(
        f"/api/v1/bookings/{booking.booking_id}/payment-received",
        json={"reference": "对公-20261202-01"},
        headers=await world.headers("demo-provider"),
    )
    assert received.status_code == 200, received.text
    first = (await correct(world, booking, 80_000)).json()
    second = (await correct(world, booking, 70_000)).json()
    # 50,000 paid by transfer; owed 40,000, then 35,000: the unit returns 10,000, then 5,000 more
    assert (first["offline_refund_fen"], first["cash_refund_fen"], first["refunds"]) == (10_000, 0, [])
    assert (second["offline_refund_fen"], second["due_fen"]) == (5_000, 0)
    assert wechat_pay.refunds == {}


async def test_a_provider_waives_the_whole_charge_after_payment_everything_goes_back(
    backend: Backend, world: VoucherDesk, wechat_pay: FakeWeChatPay
) -> None:
    booking = await completed_booking(world, FEE)
    await pay_in_wechat(backend, wechat_pay, booking)
    answer = await correct(world, booking, 0)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["waiver"] and (body["new_voucher_fen"], body["cash_refund_fen"]) == (0, 50_000)
    assert [(r.amount, r.status) for r in wechat_pay.refunds.values()] == [(50_000, "PROCESSING")]
    assert body["refunds"][0]["cause"] == "waiver"
    assert (await correct(world, booking, 0)).status_code == 409  # nothing left to waive


async def test_a_higher_fee_after_completion_is_refused_and_only_the_units_staff_may_correct(
    backend: Backend, world: VoucherDesk, wechat_pay: FakeWeChatPay
) -> None:
    booking = await completed_booking(world, FEE)
    raised = await correct(world, booking, FEE + 1)
    assert raised.status_code == 409 and error_code(raised) == "fee_raise_refused"
    assert "不能调高费用" in raised.json()["error"]["message"]
    assert error_code(await correct(world, booking, FEE)) == "fee_unchanged"
    # the bureau sees the statement but does not correct fees; a stranger does not see it at all
    assert (
        error_code(await correct(world, booking, 1_000, user="demo-science-bureau"))
        == "provider_staff_required"
    )
    assert (await correct(world, booking, 1_000, user="demo-researcher-2")).status_code == 404
    assert (await checkout_of(backend, booking)).fee_fen == FEE


@pytest.mark.slow
async def test_corrections_and_waivers_racing_never_refund_twice_nor_more_than_paid(
    backend: Backend, world: VoucherDesk, wechat_pay: FakeWeChatPay
) -> None:
    booking = await completed_booking(world, FEE)
    await pay_in_wechat(backend, wechat_pay, booking)
    fees = [0, 90_000, 70_000, 40_000, 0, 20_000, 60_000, 0, 10_000, 80_000] * 3

    answers = await asyncio.gather(*(correct(world, booking, fee) for fee in fees))

    statuses = Counter(a.status_code for a in answers)  # type: ignore[attr-defined]
    assert set(statuses) <= {200, 409}, [a.text for a in answers if a.status_code not in (200, 409)]  # type: ignore[attr-defined]
    assert statuses[200] >= 1
    rows = await refunds_of(backend, booking)
    assert sum(r.amount_fen for r in rows) <= 50_000  # never more than paid
    # WeChat Pay holds exactly the refunds we recorded, each once
    assert sorted((r.out_refund_no, r.amount_fen) for r in rows) == sorted(
        (r.out_refund_no, r.amount) for r in wechat_pay.refunds.values()
    )
    checkout = await checkout_of(backend, booking)
    owed = checkout.fee_fen - checkout.voucher_fen
    assert sum(r.amount_fen for r in rows) == 50_000 - owed  # what it paid beyond what it owes
    for out_refund_no in list(wechat_pay.refunds):
        wechat_pay.finish_refund(out_refund_no)
    await run_refund_job(backend)
    assert (await checkout_of(backend, booking)).cash_refunded_fen == 50_000 - owed
    report = await ledger_report(backend)
    assert report["ok"], report


async def test_the_cash_check_finds_a_unit_whose_clearing_account_the_orders_do_not_back(
    backend: Backend, world: VoucherDesk
) -> None:
    from vouchers.ledger import (
        Posting,
        cash_clearing_account,
        firm_payments_account,
        open_cash_accounts,
        post_entry,
    )
    from vouchers.models import EntryKind

    unit = uuid.uuid4()
    async with backend.runtime.session_maker() as session, session.begin():
        await open_cash_accounts(session, unit)
        lines = [(cash_clearing_account(unit), 700), (firm_payments_account(unit), -700)]
        await post_entry(session, Posting(key=f"stray:{unit}", kind=EntryKind.payment, lines=lines))
    report = await ledger_report(backend)
    assert not report["ok"]
    assert {"unit_id": str(unit), "ledger_fen": 700, "orders_fen": 0} in report["cash_mismatches"]  # type: ignore[operator]
    async with backend.runtime.session_maker() as session, session.begin():  # undone for the other tests
        back = [(cash_clearing_account(unit), -700), (firm_payments_account(unit), 700)]
        await post_entry(session, Posting(key=f"stray-undo:{unit}", kind=EntryKind.payment, lines=back))
    assert (await ledger_report(backend))["cash_mismatches"] == [] or str(unit) not in str(
        (await ledger_report(backend))["cash_mismatches"]
    )


_ = (settle_paid_order, load_public_key)


async def test_the_worker_refunds_a_double_payment_and_its_refund_job_settles_it(
    backend: Backend, world: VoucherDesk, wechat_pay: FakeWeChatPay
) -> None:
    from yixiang.outbox import emit

    booking = await completed_booking(world, FEE)
    await pay_in_wechat(backend, wechat_pay, booking)
    second = await pay_in_wechat(backend, wechat_pay, booking, 50_000)
    async with backend.runtime.session_maker() as session, session.begin():  # as apply emits it
        payload = {"booking_id": str(booking.booking_id), "out_trade_no": second, "amount_fen": 50_000}
        await emit(session, PAYMENT_OVERPAID, payload)
    worker = backend.runtime.worker()
    await worker.drain()
    [row] = await refunds_of(backend, booking)
    assert (row.status, row.amount_fen) == (RefundStatus.processing, 50_000)

    wechat_pay.finish_refund(row.out_refund_no)
    the_pay(backend).settings.refund_query_minutes = 0  # no waiting in a test
    try:  # the refund job's run, as its periodic schedule emits it
        async with backend.runtime.session_maker() as session, session.begin():
            await emit(session, REFUNDS_DUE, {})
        await worker.drain()
    finally:
        the_pay(backend).settings.refund_query_minutes = 2
    [row] = await refunds_of(backend, booking)
    assert row.status == RefundStatus.succeeded
    assert (await checkout_of(backend, booking)).cash_refunded_fen == 50_000


async def test_a_double_payment_a_correction_already_gave_back_is_not_refunded_again(
    backend: Backend, world: VoucherDesk, wechat_pay: FakeWeChatPay
) -> None:
    booking = await completed_booking(world, FEE)
    await pay_in_wechat(backend, wechat_pay, booking)
    second = await pay_in_wechat(backend, wechat_pay, booking, 50_000)
    corrected = (await correct(world, booking, 80_000)).json()  # owes 40,000 of the 100,000 paid
    assert corrected["cash_refund_fen"] == 60_000
    event = Event(
        id=0,
        topic=PAYMENT_OVERPAID,
        payload={"booking_id": str(booking.booking_id), "out_trade_no": second, "amount_fen": 50_000},
        attempts=0,
        created_at=utcnow(),
    )
    async with backend.runtime.session_maker() as session:
        ctx = JobContext(session, backend.settings, backend.app.state.store, backend.runtime.services)
        await refund_overpayment(ctx, event)
    assert sum(r.amount_fen for r in await refunds_of(backend, booking)) == 60_000
    assert sum(r.amount for r in wechat_pay.refunds.values()) == 60_000


async def test_a_correction_that_changes_the_voucher_share_is_refused_once_the_booking_is_in_a_batch(
    backend: Backend, world: VoucherDesk, wechat_pay: FakeWeChatPay
) -> None:
    from vouchers.checkout import record_evidence

    booking = await completed_booking(world, FEE)
    for kind in ("booking", "usage", "payment", "delivery", "rating"):  # all settlement asks for
        await world.run(record_evidence, booking.booking_id, kind, at=utcnow(), detail={})
    day = str(today())  # the Asia/Shanghai day
    drawn = await world.client.post(
        "/api/v1/settlements", json={"period_start": day, "period_end": day}, headers=await world.bureau()
    )
    assert drawn.status_code == 201, drawn.text
    assert str(booking.booking_id) in {line["booking_id"] for line in drawn.json()["lines"]}
    try:
        late = await correct(world, booking, 60_000)
        assert late.status_code == 409 and error_code(late) == "already_in_settlement"
        assert (await checkout_of(backend, booking)).fee_fen == FEE  # nothing half-written
    finally:
        discarded = await world.client.post(
            f"/api/v1/settlements/{drawn.json()['id']}/discard", headers=await world.bureau()
        )
        assert discarded.status_code == 200, discarded.text
