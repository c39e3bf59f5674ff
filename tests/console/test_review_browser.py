"""A decided purchase review in a real browser on a phone (375×812): the science officer opens the
frozen report, the figures shown are the API's, nothing comes from another host, and the PDF link
gives the same document as text."""

from __future__ import annotations

import io

import pytest
from playwright.async_api import expect
from pypdf import PdfReader

from oversight.review_document import distance, hours, percent
from tests.console.browser import Watched, chromium, screenshot, served, sign_in
from tests.oversight.review_world import REVIEWS, ZJLG, add_instrument, filing, new_category, used

pytestmark = pytest.mark.slow


async def test_the_science_officer_reads_the_frozen_report_on_a_phone(backend, client, login):
    category = await new_category(backend)
    near = await add_instrument(backend, category, unit_id=ZJLG, region_code="330106", coords=(30.26, 120.12))
    await used(backend, near, 704, 352)  # 40.0% used, half of it for others
    r = await client.post(
        REVIEWS, json=filing(category, latitude=30.27, longitude=120.12), headers=await login("demo-provider")
    )
    assert r.status_code == 201, r.text
    review_id = r.json()["id"]
    decision = {"verdict": "不予通过", "reasons": "本单位同类仪器空闲机时充足，不予购置。"}
    officer = await login("demo-science-bureau")
    r = await client.post(f"{REVIEWS}/{review_id}/decision", json=decision, headers=officer)
    assert r.status_code == 200, r.text
    api = (await client.get(f"{REVIEWS}/{review_id}", headers=officer)).json()
    unit_scope = api["document"]["report"]["scopes"][0]
    [row] = unit_scope["instruments"]

    async with served(backend.app) as base, chromium() as browser:
        seen = Watched(base)
        context = await browser.new_context(viewport={"width": 375, "height": 812}, is_mobile=True)
        page = seen.watch(await context.new_page())
        await sign_in(page, base, "demo-science-bureau")
        await page.goto(f"{base}/console/purchase-reviews/{review_id}")
        await expect(page.locator("#status")).to_have_text("不予通过")
        await expect(page.locator("#verdict")).to_have_text("不予通过")
        await expect(page.locator("#reasons")).to_have_text(decision["reasons"])
        card = page.locator('[data-scope="0"].card')
        await expect(card.locator(".count")).to_have_text(f"{unit_scope['count']} 台")
        await expect(card.locator(".mean-usage")).to_have_text(percent(unit_scope["mean_usage_rate"]))
        await expect(card.locator(".free-hours")).to_have_text(f"{hours(unit_scope['free_hours'])} 小时")
        cells = page.locator('table[data-scope="0"] tbody tr').first.locator("td")
        await expect(cells.nth(3)).to_have_text(percent(row["usage_rate"]))  # 40.0%
        await expect(cells.nth(4)).to_have_text(percent(row["sharing_rate"]))  # 50.0%
        await expect(cells.nth(6)).to_have_text(hours(row["free_hours"]))  # 1,056.0
        await expect(cells.nth(7)).to_have_text(distance(row["distance_km"]))  # 1.1 km
        assert (percent(row["usage_rate"]), percent(row["sharing_rate"])) == ("40.0%", "50.0%")
        # the page fits the phone: nothing wider than the screen but the tables' own scrolling
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, width
        await screenshot(page, f"purchase-review-phone-{backend.name}")
        async with page.expect_download() as download_info:
            await page.get_by_role("link", name="下载 PDF").click()
        download = await download_info.value
        pdf = PdfReader(io.BytesIO((await download.path()).read_bytes()))
        text = "\n".join(p.extract_text() for p in pdf.pages)
        for words in ("不予通过", decision["reasons"], "40.0%", "50.0%", "本单位", "杭州市"):
            assert words in text, words
        assert not seen.errors and not seen.foreign, (seen.errors, seen.foreign)
