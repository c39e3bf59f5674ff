"""WeChat Pay at the desks: the finance bureau reconciles a day and reads where the bill and the
ledger differ; the unit corrects a paid booking's fee and sees the refund it causes; each checked
through the API, and the refusals."""

from __future__ import annotations

import re

import pytest

from tests.console.desk import csrf_of, post_form, signed_in
from tests.vouchers.desk import UNIT_ZJLG, VoucherDesk
from tests.vouchers.paying import completed_with_due, wechat_pay_in
from vouchers.payments.gateway import WECHAT_PAY
from vouchers.rules import fen_to_yuan
from yixiang.clock import shanghai_date
from yixiang.db import utcnow

RECONCILIATIONS = "/console/payment-reconciliations"


@pytest.fixture
def world(backend, login) -> VoucherDesk:
    return VoucherDesk(backend, login)


async def paid_at_wechat(world: VoucherDesk, fake, *, told: bool):
    """A completed booking whose firm paid its order at WeChat Pay (``told``: and we know it)."""
    due = await completed_with_due(world)
    client = world.client
    r = await client.post(
        f"/api/v1/bookings/{due.booking_id}/payment-orders",
        json={"channel": "native"},
        headers=due.researcher,
    )
    out_trade_no = r.json()["out_trade_no"]
    fake.pay(out_trade_no)
    if told:
        checked = await client.post(f"/api/v1/payment-orders/{out_trade_no}/check", headers=due.researcher)
        assert checked.json()["status"] == "paid", checked.text
    return due, out_trade_no


async def test_finance_reconciles_a_day_and_reads_the_difference_until_it_is_settled(world):
    backend = world.backend
    with wechat_pay_in(backend) as fake:
        due, out_trade_no = await paid_at_wechat(world, fake, told=False)  # paid, not yet notified
        sub_mchid = backend.runtime.services[WECHAT_PAY].sub_mchid(UNIT_ZJLG)
        day = str(shanghai_date(utcnow()))
        finance = await signed_in(backend, "demo-finance-bureau")
        r = await post_form(finance, RECONCILIATIONS, RECONCILIATIONS, day=day, sub_mchid=sub_mchid)
        assert r.status_code == 303 and r.headers["location"].startswith(RECONCILIATIONS + "/"), r.text
        detail = await finance.get(r.headers["location"])
        assert "1 处差异" in detail.text and "账单有、台账无" in detail.text and out_trade_no in detail.text
        assert fen_to_yuan(due.due_fen) in detail.text
        listed = await finance.get(RECONCILIATIONS + "?differences=1")
        assert day in listed.text and "1 处" in listed.text
        api = await world.client.get(
            "/api/v1/payment-reconciliations?with_differences=true",
            headers=await world.headers("demo-finance-bureau"),
        )
        assert any(x["sub_mchid"] == sub_mchid and x["differences"] for x in api.json())

        # the unit's staff see their merchant's day, but do not reconcile
        staff = await signed_in(backend, "demo-provider")
        theirs = await staff.get(RECONCILIATIONS)
        assert day in theirs.text and "重新对账" not in theirs.text
        r = await staff.post(
            RECONCILIATIONS, data={"_csrf": csrf_of(theirs), "day": day, "sub_mchid": sub_mchid}
        )
        assert r.status_code == 403
        r = await finance.post(RECONCILIATIONS, data={"day": day, "sub_mchid": sub_mchid})  # no form token
        assert r.status_code == 403

        # the payment is learnt (the firm's page checked it); reconciled again, the day agrees
        await world.client.post(f"/api/v1/payment-orders/{out_trade_no}/check", headers=due.researcher)
        r = await post_form(finance, detail.url.path, RECONCILIATIONS, day=day, sub_mchid=sub_mchid)
        again = await finance.get(r.headers["location"])
        assert "账单与台账逐笔一致" in again.text and "账单与台账一致" in again.text
        assert r.headers["location"] == detail.url.path  # the same day's result, replaced


async def test_the_unit_lowers_a_paid_fee_and_the_refund_shows_on_its_pages(world):
    backend, client = world.backend, world.client
    with wechat_pay_in(backend) as fake:
        due, _ = await paid_at_wechat(world, fake, told=True)  # 300 元 fee, 150 on vouchers, 150 paid
        page = f"/console/statements/{due.booking_id}"
        staff = await signed_in(backend, "demo-provider")
        shown = await staff.get(page)
        assert "更正服务费" in shown.text and "已支付" in shown.text
        r = await post_form(staff, page, page + "/fee-correction", fee_yuan="abc", reason="x")
        assert "应为金额" in (await staff.get(r.headers["location"])).text
        r = await post_form(staff, page, page + "/fee-correction", fee_yuan="240", reason="多计了半小时")
        after = await staff.get(r.headers["location"])
        # 240 元: 120 on vouchers, the firm owes 120 of the 150 it paid: 30 元 go back
        assert "服务费已更正为 240.00 元，将通过微信支付退回 30.00 元" in after.text
        assert "费用更正：多计了半小时" in after.text and "处理中" in after.text
        statement = (
            await client.get(f"/api/v1/bookings/{due.booking_id}/statement", headers=due.researcher)
        ).json()
        assert (statement["fee_fen"], statement["voucher_fen"], statement["due_fen"]) == (24_000, 12_000, 0)
        [refund] = (
            await client.get(f"/api/v1/payment-refunds?booking_id={due.booking_id}", headers=due.provider)
        ).json()
        assert refund["amount_fen"] == 3_000
        # the unit's and the finance bureau's refund lists have it; a bureau cannot correct a fee
        for who in (staff, finance := await signed_in(backend, "demo-finance-bureau")):
            listed = await who.get("/console/payment-refunds?status=processing&per_page=200")
            assert refund["out_refund_no"] in listed.text and "30.00" in listed.text
        bureau_view = await finance.get(page)
        assert "更正服务费" not in bureau_view.text
        r = await finance.post(
            page + "/fee-correction", data={"_csrf": csrf_of(bureau_view), "fee_yuan": "0", "reason": "x"}
        )
        assert r.status_code == 403
        assert re.search(r"服务费（元）</dt><dd>240\.00", (await staff.get(page)).text)
