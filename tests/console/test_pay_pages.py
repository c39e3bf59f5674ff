"""The firm's phone payment page (the bot's link) and the payments on the unit's statement page:
the bill as the statement service has it, a Native order's QR code, the JSAPI order's signed
parameters, the check that asks WeChat Pay, and who is refused what."""

from __future__ import annotations

import re

import pytest

from accounts.models import Role, User
from tests.console.desk import console_client, csrf_of, signed_in
from tests.console.paying import pay_page, payer, with_password
from tests.vouchers.desk import VoucherDesk, new_org, new_user
from tests.vouchers.paying import wechat_pay_in
from vouchers.rules import fen_to_yuan

ORDER = re.compile(r'data-order="([^"]+)"')


@pytest.fixture
def world(backend, login) -> VoucherDesk:
    return VoucherDesk(backend, login)


async def test_the_firm_pays_its_bill_by_qr_code_and_the_page_says_paid(world):
    client = world.client
    with wechat_pay_in(world.backend) as fake:
        due, phone = await payer(world)
        page = await phone.get(pay_page(due))
        assert page.status_code == 200, page.text
        owed = f"{fen_to_yuan(due.due_fen)} 元"
        assert owed in page.text and "计费依据" in page.text and "元/小时" in page.text
        assert "<svg" not in page.text  # no order yet: no QR code
        opened = await phone.post(pay_page(due) + "/native", data={"_csrf": csrf_of(page)})
        assert opened.status_code == 303
        shown = await phone.get(opened.headers["location"])
        assert "<svg" in shown.text and "请用微信扫码支付" in shown.text
        out_trade_no = ORDER.search(shown.text).group(1)  # type: ignore[union-attr]
        # a second tap shows the same order, not a new one
        again = await phone.post(pay_page(due) + "/native", data={"_csrf": csrf_of(shown)})
        assert ORDER.search((await phone.get(again.headers["location"])).text).group(1) == out_trade_no  # type: ignore[union-attr]

        check = f"/console/m/payment-orders/{out_trade_no}/check"
        before = await phone.post(check, headers={"x-csrf-token": csrf_of(shown)})
        assert before.status_code == 200 and before.json()["paid"] is False
        fake.pay(out_trade_no)  # the firm's person scanned the code and paid
        after = await phone.post(check, headers={"x-csrf-token": csrf_of(shown)})
        assert after.json()["paid"] is True, after.text
        statement = (
            await client.get(f"/api/v1/bookings/{due.booking_id}/statement", headers=due.researcher)
        ).json()
        assert (statement["paid_fen"], statement["due_fen"]) == (due.due_fen, 0)
        final = await phone.get(pay_page(due))
        assert "已支付" in final.text and "<svg" not in final.text and "/pay/native" not in final.text


async def test_inside_wechat_the_page_gets_the_signed_jsapi_parameters(world):
    with wechat_pay_in(world.backend):
        due, phone = await payer(world)
        page = await phone.get(pay_page(due))
        r = await phone.post(pay_page(due) + "/jsapi", headers={"x-csrf-token": csrf_of(page)})
        assert r.status_code == 200, r.text
        params = r.json()["jsapi"]
        assert (
            params["package"].startswith("prepay_id=") and params["signType"] == "RSA" and params["paySign"]
        )
        assert r.json()["out_trade_no"].startswith(due.number)


async def test_the_payment_page_refuses_who_may_not_pay(world):
    backend = world.backend
    with wechat_pay_in(backend):
        due, phone = await payer(world)
        page = await phone.get(pay_page(due))
        # no form token: refused, nothing opened
        r = await phone.post(pay_page(due) + "/native", data={})
        assert r.status_code == 403 and "<svg" not in (await phone.get(pay_page(due))).text
        r = await phone.post(pay_page(due) + "/cash", data={"_csrf": csrf_of(page)})
        assert r.status_code == 400
        # nobody: to the sign-in form, and back here after it
        anonymous = console_client(backend)
        r = await anonymous.get(pay_page(due))
        assert r.status_code == 303 and r.headers["location"] == "/console/login?next=" + pay_page(due)
        # the unit's staff see the statement on their desk, not the firm's payment page
        staff = await signed_in(backend, "demo-provider")
        r = await staff.get(pay_page(due))
        assert r.status_code == 403 and fen_to_yuan(due.due_fen) not in r.text
        # another firm's researcher learns nothing of the booking
        other = await new_user(backend, await new_org(backend), Role.researcher)
        stranger = await with_password(backend, User.username == other)
        r = await stranger.get(pay_page(due))
        assert r.status_code == 404 and fen_to_yuan(due.due_fen) not in r.text
        r = await stranger.post(
            f"/console/m/payment-orders/{due.number}-01/check", headers={"x-csrf-token": csrf_of(page)}
        )
        assert r.status_code in (403, 404)


async def test_the_units_statement_page_shows_the_qr_code_orders_and_refunds(world):
    client = world.client
    with wechat_pay_in(world.backend) as fake:
        due, phone = await payer(world)
        page = await phone.get(pay_page(due))
        await phone.post(pay_page(due) + "/native", data={"_csrf": csrf_of(page)})
        staff = await signed_in(world.backend, "demo-provider")
        desk = await staff.get(f"/console/statements/{due.booking_id}")
        assert desk.status_code == 200, desk.text
        assert "<svg" in desk.text and "待支付" in desk.text and "请企业人员用微信扫码支付" in desk.text
        out_trade_no = ORDER.search((await phone.get(pay_page(due))).text).group(1)  # type: ignore[union-attr]
        fake.pay(out_trade_no)
        r = await phone.post(
            f"/console/m/payment-orders/{out_trade_no}/check", headers={"x-csrf-token": csrf_of(page)}
        )
        assert r.json()["paid"]
        corrected = await client.post(
            f"/api/v1/bookings/{due.booking_id}/fee-correction",
            json={"fee_fen": 20_000, "reason": "多计了半小时"},
            headers=due.provider,
        )
        assert corrected.status_code == 200, corrected.text
        desk = await staff.get(f"/console/statements/{due.booking_id}")
        assert "已支付" in desk.text and "<svg" not in desk.text
        assert "费用更正：多计了半小时" in desk.text and "处理中" in desk.text
