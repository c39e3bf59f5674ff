"""A researcher on a phone (375×812, touch) in a real browser: signs in, searches by model number,
taps the instrument, a free range of its week, sees the quote with the voucher share, and
double-taps 确认预约 — one booking. The provider (through the API) serves it and delivers a
result; the researcher downloads it and rates the service by tapping. The outcome is checked
through the API; screenshots are kept; no request leaves the application's host."""

from __future__ import annotations

import uuid

import pytest
from playwright.async_api import Page, expect
from sqlalchemy import update

from catalogue.models import Instrument
from search.dependencies import SEARCH_BACKEND
from search.sync import reindex
from tests.attack.test_authz_matrix import PNG
from tests.booking.world import make_instrument, served
from tests.console.browser import Watched, chromium, screenshot
from tests.console.browser import served as serving
from tests.results.flow import upload

pytestmark = pytest.mark.slow


async def fits(page: Page) -> None:
    assert await page.evaluate("document.documentElement.scrollWidth") <= 375  # no sideways scroll


async def test_a_researcher_books_gets_results_and_rates_on_the_phone(backend, client, login):
    world = await make_instrument(backend)
    model = f"YXM{uuid.uuid4().int % 10**6:06d}"
    async with backend.runtime.session_maker() as session, session.begin():
        await session.execute(
            update(Instrument).where(Instrument.id == world.instrument_id).values(model=model)
        )
    await reindex(backend.runtime.session_maker, backend.runtime.services[SEARCH_BACKEND])
    researcher, provider = await login("demo-researcher"), await login("demo-provider")
    name = f"phone-{backend.name}"

    async with serving(backend.app) as base, chromium() as browser:
        seen = Watched(base)
        context = await browser.new_context(
            viewport={"width": 375, "height": 812}, is_mobile=True, has_touch=True
        )
        page = seen.watch(await context.new_page())
        await page.goto(base + "/console/m")
        await expect(page.get_by_text("登录后预约仪器")).to_be_visible()
        await page.get_by_label("用户名").fill("demo-researcher")
        await page.get_by_label("密码").fill("yixiang-demo")
        await page.get_by_role("button", name="登录").tap()
        await page.wait_for_url(base + "/console/m")

        await page.get_by_label("搜索仪器").fill(model.lower())  # as typed on a phone
        await page.get_by_role("button", name="搜索").tap()
        card = page.locator("[data-instrument]").first
        await expect(card).to_contain_text(model)
        await fits(page)
        await screenshot(page, f"{name}-search")
        await card.tap()
        await expect(page.get_by_role("heading", name="收费标准")).to_be_visible()
        await expect(page.get_by_role("link", name="地图导航")).to_be_visible()
        await fits(page)
        await screenshot(page, f"{name}-instrument")

        await page.get_by_role("link", name="预约此仪器").tap()
        slot = page.locator("[data-slot]").first
        await expect(slot).to_be_visible()
        await fits(page)
        await screenshot(page, f"{name}-week")
        await slot.tap()
        confirm = page.get_by_role("button", name="确认预约")
        await expect(confirm).to_be_visible()
        await expect(page.locator("[data-fee]")).to_contain_text("元")
        await expect(page.locator("[data-voucher]")).to_be_visible()
        await fits(page)
        await screenshot(page, f"{name}-quote")
        await confirm.dblclick()  # the double tap
        await page.wait_for_url(f"{base}/console/m/bookings/*")
        await expect(page.get_by_role("status")).to_contain_text("预约成功")
        await screenshot(page, f"{name}-booked")

        listed = await client.get(
            f"/api/v1/bookings?mine=true&instrument_id={world.instrument_id}", headers=researcher
        )
        assert listed.json()["total"] == 1, listed.text  # booked once
        booking = listed.json()["items"][0]
        assert booking["status"] == "confirmed"
        assert page.url.endswith(booking["id"])

        # the provider serves it and delivers the result (its desk, here through the API)
        done = await served(client, backend, provider, booking["id"], 60)
        assert done.status_code == 200, done.text
        assert (await upload(client, provider, booking["id"], [("形貌.png", PNG)])).status_code == 201

        await page.reload()
        await expect(page.locator("[data-status]")).to_have_text("已交付结果")
        async with page.expect_download() as downloading:
            await page.locator("[data-result]").first.tap()
        assert (await downloading.value).suggested_filename == "形貌.png"
        await page.get_by_text("5 星").tap()
        await page.get_by_label("评价（选填）").fill("出图快，操作规范")
        await page.get_by_role("button", name="提交评价").tap()
        await expect(page.get_by_role("status")).to_contain_text("感谢评价")
        await expect(page.locator("[data-status]")).to_have_text("已评价")
        await fits(page)
        await screenshot(page, f"{name}-rated")
        await page.get_by_role("link", name="账单与支付").tap()
        await expect(page.get_by_role("heading", name=f"预约 {booking['number']} 账单")).to_be_visible()
        await screenshot(page, f"{name}-bill")
        assert not seen.errors and not seen.foreign, (seen.errors, seen.foreign)

    shown = await client.get(f"/api/v1/bookings/{booking['id']}", headers=researcher)
    assert shown.json()["status"] == "rated"
    ratings = await client.get(f"/api/v1/instruments/{world.instrument_id}/ratings")
    assert [(r["overall"], r["comment"]) for r in ratings.json()["items"]] == [(5, "出图快，操作规范")]
    downloads = await client.get(f"/api/v1/bookings/{booking['id']}/results", headers=researcher)
    assert downloads.status_code == 200 and downloads.json()["items"][0]["name"] == "形貌.png"
