"""The demo's published evaluation of 2025 for 杭州 is what the records said when it was
published: each unit's score comes from its frozen figures by the stated rules, the units are
those with listed instruments, and anyone can read it without signing in."""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace

from oversight.evaluation_scoring import RegionBest, Rules, points, score_of
from oversight.indicators import unit_figures


async def test_the_demo_evaluation_is_published_and_backed_by_the_records(client, backend, login):
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
    # the suite adds 2025 records of its own later: the units taking part are what stays the same
    taking_part = {u.unit_name for u in units if u.instruments > 0}
    assert {r["unit_name"] for r in body["results"]} == taking_part

    bureau = await login("demo-science-bureau")
    listed = (await client.get("/api/v1/oversight/evaluations", headers=bureau)).json()
    [demo] = [e for e in listed if e["region_code"] == "330100" and e["year"] == 2025]
    full = (await client.get(f"/api/v1/oversight/evaluations/{demo['id']}", headers=bureau)).json()
    frozen = [SimpleNamespace(**r["figures"]) for r in full["results"]]
    best = RegionBest.of(frozen)
    for result, figures in zip(full["results"], frozen, strict=True):
        assert result["computed_score"] == score_of(points(figures, Rules(), best)), result["unit_name"]
    assert {r["unit_name"]: r["score"] for r in body["results"]} == {
        r["unit_name"]: r["score"] for r in full["results"]
    }
    assert body["units"] == len(taking_part) and sum(body["grades"].values()) == len(taking_part)
    assert body["grades"]["优秀"] <= len(taking_part) * 15 // 100


async def test_the_demo_bureau_has_a_complaint_to_decide(client, login):
    from oversight.evaluation_demo import DEMO_COMPLAINT

    shown = (
        await client.get("/api/v1/complaints?status=accepted", headers=await login("demo-science-bureau"))
    ).json()
    [demo] = [c for c in shown if c["text"] == DEMO_COMPLAINT]
    assert demo["booking_number"] and demo["unit_name"] == "之江理工大学分析测试中心"
    assert demo["complainant"] and demo["firm"] == "杭州青禾生物科技有限公司"  # the bureau sees who
