"""The published yearly report on a phone (375×812) in headless Chromium: every chart has drawn
marks, the headline numbers are the API's, nothing is fetched from another host; a screenshot is
kept (var/test-artifacts/console/yearly-report-*.png)."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from accounts.models import Role
from tests.booking.world import make_user
from tests.console.browser import Watched, chromium, screenshot, served
from tests.oversight.yearly_world import CITY, YEAR, build_year

pytestmark = pytest.mark.slow
CHARTS = ("monthly", "categories", "origins", "value_bands", "top_units")


def shown(key: str, value: float | int | None) -> str:
    """How a reader sees the API's figure on the page's card."""
    if value is None:
        return "—"
    if key.endswith("_fen"):
        return f"{value / 1_000_000:,.2f}"  # 万元
    if key in ("sharing_rate", "usage_rate"):
        return f"{value * 100:.2f}%" if 0 < value < 0.01 else f"{value * 100:.1f}%"
    if key.endswith("_hours") or key == "rating_mean":
        return f"{value:,.2f}"
    return f"{value:,}"


async def test_the_published_report_reads_on_a_phone_with_its_charts_drawn(backend, client, login):
    world = await build_year(backend)
    api = f"/api/v1/public/yearly-reports/{CITY}/{YEAR}"
    if (await client.get(api)).status_code == 404:
        officer = await login(await make_user(backend, world.bureau, Role.bureau_officer))
        r = await client.post(f"/api/v1/oversight/yearly-reports/{CITY}/{YEAR}/publish", headers=officer)
        assert r.status_code == 201, r.text
    headline = (await client.get(api)).json()["headline"]

    async with served(backend.app) as base, chromium() as browser:
        seen = Watched(base)
        context = await browser.new_context(viewport={"width": 375, "height": 812}, is_mobile=True)
        page = seen.watch(await context.new_page())
        await page.goto(f"{base}/reports/yearly/{CITY}/{YEAR}")
        await expect(page.get_by_role("heading", level=1)).to_contain_text("测试市")
        for name in CHARTS:
            marks = page.locator(f'figure[data-chart="{name}"] svg .mark')
            assert await marks.count() > 0, f"{name}: no marks"
            boxes = [await marks.nth(i).bounding_box() for i in range(await marks.count())]
            drawn = [b for b in boxes if b and b["width"] > 0.5 and b["height"] > 0.5]
            assert drawn, f"{name}: every mark is empty"
            chart = await page.locator(f'figure[data-chart="{name}"] svg').bounding_box()
            assert chart is not None and chart["width"] <= 375, f"{name} is wider than the phone"
        cards = page.locator(".card")
        assert await cards.count() == 10
        for i in range(await cards.count()):
            card = cards.nth(i)
            key = await card.get_attribute("data-key")
            assert key in headline, key
            assert (await card.locator(".figure").inner_text()).strip() == shown(key, headline[key]), key
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, f"the page scrolls sideways ({width} px)"
        await screenshot(page, f"yearly-report-{backend.name}")
        assert not seen.foreign, f"requests to another host: {seen.foreign}"
        assert not seen.errors, seen.errors
