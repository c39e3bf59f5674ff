"""The console in a real browser, by clicking and typing, checked through the API after: the
provider approves, checks in, completes and delivers a result for a booking the API created; the
finance bureau's four eyes on a settlement batch; the science bureau creates a programme and
grants a firm. No page logs a console error or asks another host for anything."""

from __future__ import annotations

import uuid

import pytest

from tests.attack.test_authz_matrix import FB, PNG, SB, SETTLEMENTS, P, Scene, voucher_world
from tests.booking.world import booked_for_the_past, make_instrument, set_calendar
from tests.console.browser import Watched, chromium, screenshot, served, sign_in
from tests.vouchers.desk import new_org
from yixiang.db import utcnow

pytestmark = pytest.mark.slow


async def test_a_provider_approves_checks_in_completes_and_delivers_a_booking(
    backend, client, login, tmp_path
):
    s = Scene(backend, client, login)
    s.headers = {P: await login(P), "demo-researcher": await login("demo-researcher")}
    s.approval = await make_instrument(backend)
    await set_calendar(client, s.headers[P], s.approval.instrument_id, needs_approval=True)
    booking_id = await s.requested()
    number = (await client.get(f"/api/v1/bookings/{booking_id}", headers=s.headers[P])).json()["number"]

    async with served(backend.app) as base, chromium() as browser:
        seen = Watched(base)
        page = seen.watch(
            await (await browser.new_context(viewport={"width": 1280, "height": 900})).new_page()
        )
        await sign_in(page, base, P)
        await screenshot(page, f"provider-home-{backend.name}")
        await page.get_by_role("link", name="预约管理").click()
        await page.get_by_label("时间").select_option("all")
        await page.get_by_label("状态").select_option("requested")
        await page.get_by_role("button", name="筛选").click()
        row = page.locator("tr", has_text=number)
        await row.get_by_role("button", name="审批通过").click()
        await page.get_by_role("status").filter(has_text=number).wait_for()
        assert "已确认" in await page.get_by_role("status").inner_text()
        assert await page.locator("tr", has_text=number).count() == 0  # it left the requests' list
        # its page (the suite's other confirmed bookings may fill the list's first pages)
        await page.goto(f"{base}/console/bookings/{booking_id}")
        await page.get_by_text("审批通过").first.wait_for()
        await screenshot(page, f"provider-booking-{backend.name}")
        assert "已确认" in await page.locator("h1").inner_text()
        assert (await client.get(f"/api/v1/bookings/{booking_id}", headers=s.headers[P])).json()[
            "status"
        ] == "confirmed"

        # the user arrives (a test cannot wait for the slot: it is moved to now), then the hour
        # is over and the provider records it as booked (the form's defaults)
        await booked_for_the_past(backend, booking_id, utcnow())
        await page.reload()
        await page.get_by_role("button", name="签到开始服务").click()
        await page.get_by_text("当前状态「服务中」").wait_for()
        await s.used_in_the_past(booking_id)
        await page.reload()
        await page.get_by_role("button", name="完成服务").click()
        await page.get_by_text("当前状态「已完成」").wait_for()
        report = tmp_path / "检测报告.png"
        report.write_bytes(PNG)
        await page.locator("input[type=file]").set_input_files(str(report))
        await page.get_by_role("button", name="交付结果").click()
        await page.get_by_text("已交付 1 个结果文件：检测报告.png").wait_for()
        await screenshot(page, f"provider-delivered-{backend.name}")

    api = await client.get(f"/api/v1/bookings/{booking_id}", headers=s.headers[P])
    assert api.json()["status"] == "delivered" and api.json()["actual_start"]
    files = await client.get(f"/api/v1/bookings/{booking_id}/results", headers=s.headers["demo-researcher"])
    assert [f["name"] for f in files.json()["items"]] == ["检测报告.png"]
    assert not seen.errors, seen.errors
    assert not seen.foreign, seen.foreign


async def test_finance_four_eyes_on_a_settlement_batch_and_its_download(backend, client, login):
    s = await voucher_world(backend, client, login)
    booking_id = await s.fully_evidenced()
    number = (await client.get(f"/api/v1/bookings/{booking_id}", headers=s.headers[P])).json()["number"]
    period = s.period()

    async with served(backend.app) as base, chromium() as browser:
        seen = Watched(base)
        first = seen.watch(
            await (await browser.new_context(viewport={"width": 1280, "height": 900})).new_page()
        )
        await sign_in(first, base, SB)
        await first.get_by_role("link", name="兑付批次").click()
        await first.get_by_label("期间自").fill(period["period_start"])
        await first.get_by_label("至", exact=True).fill(period["period_end"])
        await first.get_by_role("button", name="生成草稿").click()
        await first.get_by_text("已生成兑付批次草稿").wait_for()
        batch_id = first.url.rsplit("/", 1)[1]
        assert number in await first.locator("table").first.inner_text()
        await first.get_by_role("link", name="查看").first.click()  # the evidence chain
        await first.get_by_text("凭证链（完整）").wait_for()
        await first.go_back()
        await first.get_by_role("button", name="提交审核").click()
        await first.get_by_text("四眼原则").wait_for()
        assert await first.get_by_role("button", name="审核通过").count() == 0
        await screenshot(first, f"finance-submitted-{backend.name}")

        # a tablet's width: the second officer approves
        second = seen.watch(
            await (await browser.new_context(viewport={"width": 1024, "height": 768})).new_page()
        )
        await sign_in(second, base, FB)
        await second.goto(f"{base}/console/settlements/{batch_id}")
        await second.get_by_role("button", name="审核通过").click()
        await second.get_by_text("已审核通过").wait_for()
        async with second.expect_download() as download:
            await second.get_by_role("link", name="Excel").click()
        saved = await (await download.value).path()
        assert saved is not None and saved.stat().st_size > 0
        await screenshot(second, f"finance-approved-{backend.name}")

    api = await client.get(f"{SETTLEMENTS}/{batch_id}", headers=s.headers[FB])
    assert api.json()["status"] == "approved"
    assert not seen.errors, seen.errors
    assert not seen.foreign, seen.foreign


async def test_the_science_bureau_creates_a_programme_and_grants_a_firm(backend, client, login):
    uscc = f"91330106{uuid.uuid4().hex[:10].upper()}"
    firm = await new_org(backend, uscc=uscc)
    name = f"浏览器测试项目-{uuid.uuid4().hex[:6]}"
    async with served(backend.app) as base, chromium() as browser:
        seen = Watched(base)
        page = seen.watch(
            await (await browser.new_context(viewport={"width": 1280, "height": 900})).new_page()
        )
        await sign_in(page, base, SB)
        await page.get_by_role("link", name="创新券项目").click()
        await page.get_by_label("项目名称").fill(name)
        await page.get_by_label("总额度（元）").fill("500000")
        await page.get_by_label("单笔上限（元）").fill("10000")
        await page.get_by_label("每家企业年度上限（元）").fill("50000")
        await page.get_by_role("button", name="创建项目").click()
        await page.get_by_text(f"已创建创新券项目「{name}」").wait_for()
        await page.get_by_label("统一社会信用代码").fill(uscc)
        await page.get_by_label("额度（元）").fill("20000")
        await page.get_by_role("button", name="发放").click()
        await page.get_by_text("发放 20000 元额度").wait_for()
        await screenshot(page, f"science-granted-{backend.name}")
        program_id = page.url.rsplit("/", 1)[1]

    grants = await client.get(f"/api/v1/voucher-programs/{program_id}/grants", headers=await login(SB))
    assert [(g["enterprise_id"], g["amount_fen"]) for g in grants.json()] == [(str(firm), 2_000_000)]
    assert not seen.errors, seen.errors
    assert not seen.foreign, seen.foreign


async def test_every_menu_page_loads_without_a_script_error_or_another_host(backend, client, login):
    """Each desk role opens every page its menu offers: each is a page (not an error), with no
    console error and nothing asked of another host."""
    async with served(backend.app) as base, chromium() as browser:
        seen = Watched(base)
        for username in (P, SB, "demo-admin"):
            page = seen.watch(
                await (await browser.new_context(viewport={"width": 1024, "height": 768})).new_page()
            )
            await sign_in(page, base, username)
            links = await page.locator("nav.menu a").evaluate_all(
                "links => links.map(a => a.getAttribute('href'))"
            )
            assert links, username
            for link in links:
                response = await page.goto(f"{base}{link}")
                assert response is not None and response.status == 200, (username, link)
                await page.wait_for_load_state("networkidle")
            await screenshot(page, f"menu-last-{username}-{backend.name}")
    assert not seen.errors, seen.errors
    assert not seen.foreign, seen.foreign


async def test_a_price_changed_on_the_instrument_page_is_found_in_the_audit_log(backend, client, login):
    """The provider changes a service item's price on the instrument's page by typing; the platform
    operator finds the change on 审计日志 with the old and the new price."""
    from tests.catalogue.helpers import instrument_body

    model = f"B-{uuid.uuid4().hex[:6]}"
    made = await client.post(
        "/api/v1/provider/instruments", json=instrument_body(model=model), headers=await login(P)
    )
    instrument = made.json()
    async with served(backend.app) as base, chromium() as browser:
        seen = Watched(base)
        page = seen.watch(
            await (await browser.new_context(viewport={"width": 1280, "height": 900})).new_page()
        )
        await sign_in(page, base, P)
        await page.goto(f"{base}/console/instruments/{instrument['id']}")
        await page.get_by_label("校外价").first.fill("480.00")
        await page.get_by_label("新增项目名称").fill("能谱面扫")
        await page.get_by_label("校内价").last.fill("150")
        await page.get_by_label("校外价").last.fill("260")
        await page.get_by_role("button", name="保存", exact=True).click()
        await page.get_by_role("status").filter(has_text="已保存").wait_for()
        await screenshot(page, f"instrument-edited-{backend.name}")

        operator = seen.watch(
            await (await browser.new_context(viewport={"width": 1280, "height": 900})).new_page()
        )
        await sign_in(operator, base, "demo-admin")
        await operator.get_by_role("link", name="审计日志").click()
        await operator.locator('select[name="entity"]').select_option("service_item")
        await operator.locator('input[name="q"]').fill("48000")
        await operator.get_by_role("button", name="查询").click()
        row = operator.locator("tr", has_text="48000")
        await row.first.wait_for()
        assert "40000" in await row.first.inner_text() and "demo-provider" in await row.first.inner_text()
        await screenshot(operator, f"audit-log-{backend.name}")

    saved = (
        await client.get(f"/api/v1/provider/instruments/{instrument['id']}", headers=await login(P))
    ).json()
    prices = {i["name"]: i["external_price_fen"] for i in saved["service_items"]}
    assert prices["上机机时"] == 48_000 and prices["能谱面扫"] == 26_000
    assert not seen.errors, seen.errors
    assert not seen.foreign, seen.foreign
