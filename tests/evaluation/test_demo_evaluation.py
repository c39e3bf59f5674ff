"""The demo's published evaluation of 2025 for 杭州 is what the records say: its units and scores
are those the indicators of 2025 give now, and anyone can read it without signing in."""

from __future__ import annotations

from datetime import date

from oversight.evaluation_scoring import RegionBest, Rules, points, score_of
from oversight.indicators import unit_figures


async def test_the_demo_evaluation_is_published_and_backed_by_the_records(client, backend):
    shown = await client.get("/api/v1/public/evaluations/330100/2025")
    assert shown.status_code == 200, shown.text
    body = shown.json()
    async with backend.runtime.session_maker() as session:
        units = await unit_figures(
            session,
            region_code="330100",
            start=date(2025, 1, 1),
            end=date(2026, 1, 1),
            settings=backend.settings,
        )
    taking_part = [u for u in units if u.instruments > 0]
    best = RegionBest.of(taking_part)
    expected = {u.unit_name: score_of(points(u, Rules(), best)) for u in taking_part}
    assert {r["unit_name"]: r["score"] for r in body["results"]} == expected
    assert body["units"] == len(expected) and sum(body["grades"].values()) == len(expected)
    assert body["grades"]["优秀"] <= len(expected) * 15 // 100


async def test_the_demo_bureau_has_a_complaint_to_decide(client, login):
    from oversight.evaluation_demo import DEMO_COMPLAINT

    shown = (
        await client.get("/api/v1/complaints?status=accepted", headers=await login("demo-science-bureau"))
    ).json()
    [demo] = [c for c in shown if c["text"] == DEMO_COMPLAINT]
    assert demo["booking_number"] and demo["unit_name"] == "之江理工大学分析测试中心"
    assert demo["complainant"] and demo["firm"] == "杭州青禾生物科技有限公司"  # the bureau sees who
