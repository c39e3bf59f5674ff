"""The bot's payment link on a phone (375×812) in a real browser: the firm's researcher signs in,
taps 微信支付 inside WeChat (a stand-in ``WeixinJSBridge`` whose payment is the fake WeChat Pay
server's), and the page shows 已支付; the statement through the API owes nothing."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.console.browser import Watched, chromium, screenshot, served
from tests.console.paying import pay_page, payer
from tests.vouchers.desk import VoucherDesk
from tests.vouchers.paying import wechat_pay_in
from vouchers.rules import fen_to_yuan

pytestmark = pytest.mark.slow

# WeChat's browser has WeixinJSBridge built in; here it pays through the fake WeChat Pay server
# (``fakePay``, exposed by the test) and answers as WeChat does.
BRIDGE = """
window.WeixinJSBridge = {
  invoke: function (name, params, done) {
    if (name !== "getBrandWCPayRequest") { done({err_msg: name + ":fail"}); return; }
    window.fakePay(params.package).then(function () { done({err_msg: "get_brand_wcpay_request:ok"}); });
  }
};
"""


async def test_a_researcher_pays_the_bill_on_the_phone_inside_wechat(backend, login):
    world = VoucherDesk(backend, login)
    with wechat_pay_in(backend) as fake:
        due, _ = await payer(world)
        username = (await world.client.get("/api/v1/me", headers=due.researcher)).json()["username"]

        def pay_prepaid(package: str) -> str:
            prepay_id = package.removeprefix("prepay_id=")
            [out_trade_no] = [no for no, order in fake.orders.items() if order.prepay == prepay_id]
            fake.pay(out_trade_no)
            return out_trade_no

        async with served(backend.app) as base, chromium() as browser:
            seen = Watched(base)
            context = await browser.new_context(viewport={"width": 375, "height": 812}, is_mobile=True)
            await context.expose_function("fakePay", pay_prepaid)
            await context.add_init_script(BRIDGE)
            page = seen.watch(await context.new_page())
            await page.goto(base + pay_page(due))  # the bot's link: first the sign-in form
            await expect(page.get_by_text("登录后查看并支付账单")).to_be_visible()
            await page.get_by_label("用户名").fill(username)
            await page.get_by_label("密码").fill("yixiang-demo")
            await page.get_by_role("button", name="登录").click()
            await page.wait_for_url(base + pay_page(due))
            button = page.get_by_role("button", name="微信支付")
            await expect(button).to_be_visible()
            await expect(page.get_by_role("button", name="生成微信支付二维码")).to_be_hidden()
            await screenshot(page, f"phone-pay-{backend.name}")
            await button.click()
            await expect(page.locator("[data-state]")).to_have_text("已支付")
            # the page reloads with the bill as the server now has it
            await expect(page.locator("[data-paid]")).to_have_text(f"{fen_to_yuan(due.due_fen)} 元")
            await expect(page.locator("[data-due]")).to_have_text("0.00 元")
            await screenshot(page, f"phone-paid-{backend.name}")
            assert await page.evaluate("document.documentElement.scrollWidth") <= 375  # no sideways scroll
            assert not seen.errors and not seen.foreign, (seen.errors, seen.foreign)

        statement = await world.client.get(
            f"/api/v1/bookings/{due.booking_id}/statement", headers=due.researcher
        )
        assert (statement.json()["paid_fen"], statement.json()["due_fen"]) == (due.due_fen, 0)
