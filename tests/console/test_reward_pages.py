"""The demo's 2025 reward batch in the console: the finance bureau finds it, reads each unit's
instruments and the bookings behind a line, and approves what the science bureau submitted (the
science bureau is not offered the approval); the unit opens its own line's bookings."""

from __future__ import annotations

import re
from typing import Any

from accounts.demo import demo_id
from tests.console.desk import post_form, signed_in


async def test_the_finance_bureau_reviews_and_approves_the_demo_2025_batch(backend: Any) -> None:
    finance = await signed_in(backend, "demo-finance-bureau")
    listed = await finance.get("/console/rewards")
    assert listed.status_code == 200 and "2025年度杭州市大型科研仪器共享奖励（演示）" in listed.text
    found = re.search(r'href="/console/reward-batches/([0-9a-f-]{36})">2025 年度', listed.text)
    assert found, listed.text
    page = f"/console/reward-batches/{found.group(1)}"
    shown = await finance.get(page)
    assert "之江理工大学分析测试中心" in shown.text and "杭州材料科学研究院" in shown.text
    assert "20000.00" in shown.text  # the busy instrument, capped at 20,000 元

    zjlg = f"{page}/lines/{demo_id('unit-zjlg')}"
    assert f'href="{zjlg}"' in shown.text
    bookings = await finance.get(zjlg)
    assert bookings.status_code == 200 and "YX2025" in bookings.text and "企业付款" in bookings.text
    unit = await signed_in(backend, "demo-unit-admin")
    own = await unit.get("/console/unit-rewards")
    assert own.status_code == 200 and "2025 年度" in own.text and f'href="{zjlg}"' in own.text
    assert (await unit.get(zjlg)).status_code == 200
    assert (await unit.get(page)).status_code == 403

    # as the demo left it: submitted by the science bureau, for the finance bureau to approve
    assert "审核通过" in shown.text and "已提交" in shown.text
    science = await signed_in(backend, "demo-science-bureau")
    assert "审核通过" not in (await science.get(page)).text
    approved = await post_form(finance, page, f"{page}/approve")
    assert approved.status_code == 303
    after = await finance.get(page)
    assert "已审核" in after.text and "台账：审核记入应付" in after.text
