"""The day's WeChat Pay trade bill against the ledger, line by line and to the fen, with the fake's
bills: a day that reconciles, the differences a person must look at (never fixed silently), a
bill whose hash does not match (refused, nothing stored), a rerun replacing the day, and who may
see which result."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.fakes.wechatpay import FakeWeChatPay
from tests.support import Backend, error_code
from tests.vouchers.desk import UNIT_ZJLG, VoucherDesk
from tests.vouchers.paydesk import completed_booking, pay_in_wechat, the_pay
from vouchers.errors import BillUnavailable
from vouchers.models import JournalEntry, PaymentReconciliation
from vouchers.payments.reconcile import reconcile_day, reconcile_missing_days
from vouchers.payments.refunds import request_refund, sync_refunds
from yixiang.clock import shanghai_date
from yixiang.db import utcnow

FEE = 100_000


def today() -> object:
    return shanghai_date(utcnow())


def sub_mchid(backend: Backend) -> str:
    found = the_pay(backend).sub_mchid(UNIT_ZJLG)
    assert found
    return found


async def a_day_of_trade(backend: Backend, world: VoucherDesk, fake: FakeWeChatPay) -> list[str]:
    """Two bookings paid in WeChat today, one of them refunded in part (the refund succeeded)."""
    paid = []
    for fee in (FEE, 64_000):
        booking = await completed_booking(world, fee)
        paid.append(await pay_in_wechat(backend, fake, booking))
    fake.refunds_settle_immediately = True
    async with backend.runtime.session_maker() as session:
        await request_refund(
            session,
            the_pay(backend),
            booking.booking_id,
            12_345,
            "fee_correction",
            "少测一项",
            None,
            f"r-{paid[1]}",
        )
    return paid


async def test_a_day_whose_bill_and_ledger_agree_to_the_fen_has_no_differences(
    backend: Backend, world: VoucherDesk, wechat_pay: FakeWeChatPay
) -> None:
    await a_day_of_trade(backend, world, wechat_pay)
    async with backend.runtime.session_maker() as session:
        result = await reconcile_day(session, the_pay(backend), today(), sub_mchid(backend))  # type: ignore[arg-type]
    assert result.differences == {"lines": []}
    assert result.bill_lines == 3
    assert result.bill_total_fen == result.ledger_total_fen == 50_000 + 32_000 - 12_345


async def test_differences_are_listed_never_fixed_and_a_rerun_replaces_the_day(
    backend: Backend, world: VoucherDesk, wechat_pay: FakeWeChatPay
) -> None:
    first, second = await a_day_of_trade(backend, world, wechat_pay)
    wechat_pay.orders[first].total = 49_999  # WeChat Pay settled another amount than we recorded
    gone = wechat_pay.orders.pop(second)  # a payment (and its refund) the bill does not show
    refunds = dict(wechat_pay.refunds)
    wechat_pay.refunds.clear()
    stranger = await completed_booking(world, 30_000)  # paid at WeChat Pay, never recorded by us
    pay = the_pay(backend)
    unknown = await pay_in_wechat(backend, wechat_pay, stranger, record=False)

    async with backend.runtime.session_maker() as session:
        result = await reconcile_day(session, pay, today(), sub_mchid(backend))  # type: ignore[arg-type]
    found = {
        (d["kind"], d["type"], d["reference"]): (d["bill_fen"], d["ledger_fen"])
        for d in result.differences["lines"]
    }
    [refund_no] = refunds
    assert found == {
        ("amount_differs", "payment", first): (49_999, 50_000),
        ("missing_in_bill", "payment", second): (None, 32_000),
        ("missing_in_bill", "refund", refund_no): (None, 12_345),
        ("missing_in_ledger", "payment", unknown): (15_000, None),
    }
    # nothing was "fixed": the ledger holds what we recorded, and only that
    async with backend.runtime.session_maker() as session:
        wanted = [f"payment:{first}", f"payment:{second}", f"payment:{unknown}"]
        keys = set(
            (await session.scalars(select(JournalEntry.key).where(JournalEntry.key.in_(wanted)))).all()
        )
    assert keys == {f"payment:{first}", f"payment:{second}"}

    wechat_pay.orders[first].total = 50_000
    wechat_pay.orders[second] = gone
    wechat_pay.refunds.update(refunds)
    wechat_pay.orders.pop(unknown)
    async with backend.runtime.session_maker() as session:
        again = await reconcile_day(session, pay, today(), sub_mchid(backend))  # type: ignore[arg-type]
        rows = await session.scalar(
            select(func.count())
            .select_from(PaymentReconciliation)
            .where(
                PaymentReconciliation.day == today(), PaymentReconciliation.sub_mchid == sub_mchid(backend)
            )
        )
    assert again.id == result.id and again.differences == {"lines": []} and rows == 1


async def test_a_bill_that_does_not_match_its_announced_hash_is_refused_and_nothing_is_stored(
    backend: Backend, world: VoucherDesk, wechat_pay: FakeWeChatPay
) -> None:
    await a_day_of_trade(backend, world, wechat_pay)
    wechat_pay.tamper_bills = True
    with pytest.raises(BillUnavailable):
        async with backend.runtime.session_maker() as session:
            await reconcile_day(session, the_pay(backend), today(), sub_mchid(backend))  # type: ignore[arg-type]
    finance = await world.headers("demo-finance-bureau")
    answer = await world.client.post(
        "/api/v1/payment-reconciliations",
        json={"day": str(today()), "sub_mchid": sub_mchid(backend)},
        headers=finance,
    )
    assert answer.status_code == 503 and error_code(answer) == "bill_unavailable"
    async with backend.runtime.session_maker() as session:
        stored = await session.scalar(
            select(func.count())
            .select_from(PaymentReconciliation)
            .where(PaymentReconciliation.sub_mchid == sub_mchid(backend))
        )
    assert stored == 0


async def test_a_bill_whose_totals_row_disagrees_with_its_lines_is_flagged(
    backend: Backend, world: VoucherDesk, wechat_pay: FakeWeChatPay
) -> None:
    await a_day_of_trade(backend, world, wechat_pay)
    honest = wechat_pay.trade_bill_text

    def padded(day: object, sub: str = "") -> str:  # the totals claim one more line and 1 元 more
        lines = honest(day, sub).rstrip("\n").split("\n")  # type: ignore[arg-type]
        cells = lines[-1].split(",")
        cells[0] = "`" + str(int(cells[0].lstrip("`")) + 1)
        cells[1] = "`" + f"{float(cells[1].lstrip('`')) + 1:.2f}"
        return "\n".join([*lines[:-1], ",".join(cells)]) + "\n"

    wechat_pay.trade_bill_text = padded  # type: ignore[method-assign]
    async with backend.runtime.session_maker() as session:
        result = await reconcile_day(session, the_pay(backend), today(), sub_mchid(backend))  # type: ignore[arg-type]
    [totals] = result.differences["lines"]
    assert totals["kind"] == "bill_totals_differ" and (totals["bill_count"], totals["line_count"]) == (4, 3)


async def test_finance_sees_every_reconciliation_a_unit_its_own_and_only_finance_reruns_a_day(
    backend: Backend, world: VoucherDesk, wechat_pay: FakeWeChatPay
) -> None:
    await a_day_of_trade(backend, world, wechat_pay)
    finance = await world.headers("demo-finance-bureau")
    run = await world.client.post(
        "/api/v1/payment-reconciliations",
        json={"day": str(today()), "sub_mchid": sub_mchid(backend)},
        headers=finance,
    )
    assert run.status_code == 200, run.text
    assert run.json()["differences"] == [] and run.json()["bill_lines"] == 3
    mine = run.json()["id"]

    def ids(answer: object) -> set[str]:
        assert answer.status_code == 200, answer.text  # type: ignore[attr-defined]
        return {r["id"] for r in answer.json()}  # type: ignore[attr-defined]

    day = {"day_from": str(today()), "day_to": str(today())}
    assert mine in ids(await world.client.get("/api/v1/payment-reconciliations", params=day, headers=finance))
    provider = await world.headers("demo-provider")  # 之江理工: this sub-merchant is its own
    assert mine in ids(
        await world.client.get("/api/v1/payment-reconciliations", params=day, headers=provider)
    )
    assert (
        await world.client.get(f"/api/v1/payment-reconciliations/{mine}", headers=provider)
    ).status_code == 200
    researcher = await world.headers("demo-researcher")
    assert (
        ids(await world.client.get("/api/v1/payment-reconciliations", params=day, headers=researcher))
        == set()
    )
    assert (
        await world.client.get(f"/api/v1/payment-reconciliations/{mine}", headers=researcher)
    ).status_code == 404
    rerun = await world.client.post(
        "/api/v1/payment-reconciliations",
        json={"day": str(today()), "sub_mchid": sub_mchid(backend)},
        headers=provider,
    )
    assert rerun.status_code == 403 and error_code(rerun) == "finance_officer_required"


async def test_the_daily_job_reconciles_each_merchant_once_and_leaves_refused_bills_for_the_next_run(
    backend: Backend, world: VoucherDesk, wechat_pay: FakeWeChatPay
) -> None:
    await a_day_of_trade(backend, world, wechat_pay)
    pay = the_pay(backend)
    wechat_pay.tamper_bills = True
    async with backend.runtime.session_maker() as session:
        assert await reconcile_missing_days(session, pay, today()) == []  # type: ignore[arg-type]
    wechat_pay.tamper_bills = False
    async with backend.runtime.session_maker() as session:
        made = await reconcile_missing_days(session, pay, today())  # type: ignore[arg-type]
        assert {r.sub_mchid for r in made} >= {sub_mchid(backend)}
        assert await reconcile_missing_days(session, pay, today()) == []  # type: ignore[arg-type]
        assert await sync_refunds(session, pay, older_than=timedelta(0)) == 0
