"""The yearly public report (统计年报): figures of a hand-built year against the figures worked out by
hand (tests/oversight/yearly_world.py); publishing by the region's science bureau freezes them;
the public reads published reports only, and nothing in them names a person or a booking firm."""

from __future__ import annotations

import csv
import io

from accounts.models import Role
from oversight.evaluation_models import Evaluation, EvaluationResult, EvaluationStatus, Grade
from oversight.report import compute_report
from oversight.report_schema import RewardFigures
from oversight.report_tables import TABLES
from oversight.reward_models import RewardBatch, RewardItem, RewardKind, RewardLine, RewardProgramme
from ratings.models import Rating
from tests.booking.world import make_user
from tests.oversight.yearly_world import CITY, EAST, EXPECTED, MONTHLY, WEST, YEAR, at, build_year
from tests.support import error_code
from vouchers.models import SettlementStatus

PUBLIC = "/api/v1/public/yearly-reports"
OFFICE = "/api/v1/oversight/yearly-reports"


async def officer(backend, login, world):
    return await login(await make_user(backend, world.bureau, Role.bureau_officer))


async def test_the_report_of_a_hand_built_year_matches_the_figures_worked_out_by_hand(backend, client, login):
    world = await build_year(backend)
    r = await client.get(f"{OFFICE}/{CITY}/{YEAR}/draft", headers=await officer(backend, login, world))
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["region_name"] == "测试市" and report["year"] == YEAR and report["published_at"] is None
    assert report["headline"] == EXPECTED
    months = {m["month"]: m for m in report["monthly"]}
    assert sorted(months) == list(range(1, 13))
    for month, row in months.items():
        want = MONTHLY.get(month, (0.0, 0.0, 0, 0))
        got = (row["effective_hours"], row["external_hours"], row["orders"], row["external_income_fen"])
        assert got == want, f"month {month}: {got} ≠ {want}"
    categories = {
        c["code"]: (c["instruments"], c["value_fen"], c["effective_hours"], c["external_hours"])
        for c in report["by_category"]
    }
    assert categories == {"0101": (2, 720_000_000, 10.0, 6.0), "0102": (1, 30_000_000, 2.0, 2.0)}
    bands = {b["label"]: b["instruments"] for b in report["by_value_band"]}
    assert bands == {
        "50万元以下": 1,
        "50万–100万元": 0,
        "100万–200万元": 1,
        "200万–500万元": 0,
        "500万元及以上": 1,
    }
    assert {o["key"]: (o["instruments"], o["value_fen"]) for o in report["by_origin"]} == {
        "domestic": (1, 30_000_000),
        "imported": (2, 720_000_000),
    }
    assert {t["label"]: t["instruments"] for t in report["by_unit_type"]} == {"高等院校": 2, "科研院所": 1}
    top = [
        (
            u["rank"],
            u["name"],
            u["effective_hours"],
            u["external_hours"],
            u["sharing_rate"],
            u["external_orders"],
            u["external_income_fen"],
            u["rating_mean"],
        )
        for u in report["top_units"]
    ]
    assert top == [
        (1, "之江测试大学分析中心", 9.0, 5.0, round(5 / 9, 4), 1, 60_000, 4.5),
        (2, "测试材料研究院", 3.0, 3.0, 1.0, 2, 90_000, None),
    ]
    areas = [
        (
            a["code"],
            a["name"],
            a["units"],
            a["instruments"],
            a["value_fen"],
            a["effective_hours"],
            a["external_hours"],
            a["external_income_fen"],
        )
        for a in report["areas"]
    ]
    assert areas == [
        (WEST, "测试市西区", 1, 2, 150_000_000, 9.0, 5.0, 60_000),
        (EAST, "测试市东区", 1, 1, 600_000_000, 3.0, 3.0, 90_000),
    ]
    assert [
        (p["budget_fen"], p["granted_fen"], p["firms"], p["used_fen"], p["settled_fen"])
        for p in report["programs"]
    ] == [(100_000_000, 500_000, 2, 45_000, 20_000)]
    assert [(s["stars"], s["ratings"]) for s in report["ratings"]] == [(5, 1), (4, 1), (3, 0), (2, 0), (1, 0)]
    assert [(i["months"], i["instruments"]) for i in report["idle"]] == [(6, 1), (3, 0), (1, 1)]


async def test_a_published_report_is_frozen_public_and_published_once(backend, client, login):
    world = await build_year(backend)
    bureau = await officer(backend, login, world)
    before = await client.get(f"{PUBLIC}/{CITY}/{YEAR}")
    if before.status_code == 200:  # the browser test (tests/oversight/test_yearly_browser) published it
        published = before.json()
    else:
        assert before.status_code == 404 and error_code(before) == "report_not_published"
        assert (await client.get(f"/reports/yearly/{CITY}/{YEAR}")).status_code == 404
        assert (await client.get(f"{PUBLIC}/{CITY}/{YEAR}/tables/monthly.csv")).status_code == 404
        r = await client.post(f"{OFFICE}/{CITY}/{YEAR}/publish", headers=bureau)
        assert r.status_code == 201, r.text
        published = r.json()
    assert published["headline"] == EXPECTED and published["publisher"] == "测试市科学技术局"

    # a record that changes the year after publication changes the draft, never the published report
    async with backend.runtime.session_maker() as session, session.begin():
        late = Rating(
            booking_id=(await _any_booking(session, world)),
            instrument_id=world.c,
            unit_id=world.east,
            enterprise_id=world.firm,
            rated_by=world.researcher,
            overall=1,
            created_at=at("2024-08-01 10:00"),
        )
        session.add(late)
    try:
        public = (await client.get(f"{PUBLIC}/{CITY}/{YEAR}")).json()
        draft = (await client.get(f"{OFFICE}/{CITY}/{YEAR}/draft", headers=bureau)).json()
        assert public["headline"] == EXPECTED and public["published_at"] is not None
        assert draft["headline"]["rating_count"] == EXPECTED["rating_count"] + 1
    finally:
        async with backend.runtime.session_maker() as session, session.begin():
            await session.delete(await session.get(Rating, late.id))

    again = await client.post(f"{OFFICE}/{CITY}/{YEAR}/publish", headers=bureau)
    assert again.status_code == 409 and error_code(again) == "report_already_published"
    listed = (await client.get(f"{PUBLIC}/")).json()
    assert {"region_code": CITY, "year": YEAR} in [
        {"region_code": x["region_code"], "year": x["year"]} for x in listed
    ]

    page = await client.get(f"/reports/yearly/{CITY}/{YEAR}")
    assert page.status_code == 200 and "测试市" in page.text and page.text.count('class="mark"') > 10
    for table in TABLES:
        r = await client.get(f"{PUBLIC}/{CITY}/{YEAR}/tables/{table.name}.csv")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv"), table.name
        rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
        assert rows[0] == list(table.header)
    monthly = list(
        csv.reader(
            io.StringIO(
                (await client.get(f"{PUBLIC}/{CITY}/{YEAR}/tables/monthly")).content.decode("utf-8-sig")
            )
        )
    )
    assert len(monthly) == 13 and monthly[3] == ["3月", "5.00", "3.00", "1", "600.00"]
    assert (
        error_code(await client.get(f"{PUBLIC}/{CITY}/{YEAR}/tables/people.csv")) == "report_table_not_found"
    )


async def test_the_public_report_names_no_person_and_no_booking_firm(backend, client, login):
    world = await build_year(backend)
    r = await client.get(f"{PUBLIC}/{CITY}/{YEAR}")
    if r.status_code == 404:  # run alone: publish it first
        p = await client.post(f"{OFFICE}/{CITY}/{YEAR}/publish", headers=await officer(backend, login, world))
        assert p.status_code == 201, p.text
        r = await client.get(f"{PUBLIC}/{CITY}/{YEAR}")
    outputs = [r.text, (await client.get(f"/reports/yearly/{CITY}/{YEAR}")).text]
    for table in TABLES:
        outputs.append(
            (await client.get(f"{PUBLIC}/{CITY}/{YEAR}/tables/{table.name}.csv")).content.decode("utf-8-sig")
        )
    async with backend.runtime.session_maker() as session:
        from accounts.models import Organization, User

        researcher = await session.get(User, world.researcher)
        firm = await session.get(Organization, world.firm)
        assert researcher is not None and firm is not None
        personal = [
            researcher.display_name,
            researcher.username,
            firm.name,
            str(firm.uscc),
            str(world.firm),
            str(world.researcher),
            "第二企业",
        ]
    for text in outputs:
        for word in personal:
            assert word not in text


async def test_a_year_not_over_cannot_be_published_and_drafts_stay_with_the_regions_bureaus(
    backend, client, login
):
    world = await build_year(backend)
    bureau = await officer(backend, login, world)
    r = await client.post(f"{OFFICE}/{CITY}/2099/publish", headers=bureau)
    assert r.status_code == 400 and error_code(r) == "report_year_not_over"
    hangzhou = await login("demo-science-bureau")
    r = await client.get(f"{OFFICE}/{CITY}/{YEAR}/draft", headers=hangzhou)
    assert r.status_code == 403
    r = await client.post(f"{OFFICE}/{CITY}/{YEAR - 1}/publish", headers=hangzhou)
    assert r.status_code == 403 and error_code(r) == "not_region_science_bureau"


async def _any_booking(session, world):
    from sqlalchemy import select

    from booking.models import Booking
    from ratings.models import Rating as R

    rated = select(R.booking_id)
    return await session.scalar(
        select(Booking.id).where(Booking.instrument_id == world.c, Booking.id.not_in(rated)).limit(1)
    )


async def test_the_report_carries_the_published_evaluation_and_the_approved_rewards(backend):
    """The region's published evaluation (rank, unit, score, grade) and its approved reward batches
    (a draft does not count) — written in a transaction rolled back after, so no other test sees them."""
    world = await build_year(backend)
    async with backend.runtime.session_maker() as session:
        await session.begin()
        try:
            evaluation = Evaluation(
                region_code=CITY,
                year=YEAR,
                status=EvaluationStatus.published,
                opened_by=world.researcher,
                published_at=at("2025-03-01 10:00"),
            )
            session.add(evaluation)
            await session.flush()
            for unit, name, score, adjusted, grade, rank in (
                (world.west, "之江测试大学分析中心", 81.0, 88.5, Grade.excellent, 1),
                (world.east, "测试材料研究院", 72.25, None, Grade.good, 2),
            ):
                session.add(
                    EvaluationResult(
                        evaluation_id=evaluation.id,
                        unit_id=unit,
                        unit_name=name,
                        score=score,
                        adjusted_score=adjusted,
                        grade=grade,
                        rank=rank,
                    )
                )
            programme = RewardProgramme(
                bureau_id=world.bureau,
                region_code=CITY,
                year=YEAR,
                name="测试市共享奖励",
                rate_bp=1000,
                instrument_cap_fen=2_000_000,
                unit_cap_fen=50_000_000,
                premium_cap_fen=100_000,
                excellent_rate_bp=8000,
                good_rate_bp=5000,
                created_by=world.researcher,
            )
            session.add(programme)
            await session.flush()
            for status, sharing, insurance in (
                (SettlementStatus.approved, 15_000, 80_000),
                (SettlementStatus.draft, 99_999, 0),
            ):
                batch = RewardBatch(
                    programme_id=programme.id,
                    bureau_id=world.bureau,
                    region_code=CITY,
                    year=YEAR,
                    status=status,
                    sharing_fen=sharing,
                    insurance_fen=insurance,
                    total_fen=sharing + insurance,
                    created_by=world.researcher,
                )
                session.add(batch)
                await session.flush()
                for unit, items in (
                    (
                        world.west,
                        ((world.a, RewardKind.sharing, 6_000), (world.a, RewardKind.insurance, 80_000)),
                    ),
                    (world.east, ((world.c, RewardKind.sharing, 9_000),)),
                ):
                    total = sum(amount for _, _, amount in items)
                    line = RewardLine(
                        batch_id=batch.id,
                        unit_id=unit,
                        sharing_fen=0,
                        insurance_fen=0,
                        amount_fen=total,
                        unit_capped=False,
                    )
                    session.add(line)
                    await session.flush()
                    for instrument, kind, amount in items:
                        session.add(
                            RewardItem(
                                line_id=line.id,
                                batch_id=batch.id,
                                instrument_id=instrument,
                                kind=kind,
                                basis_fen=amount * 10,
                                computed_fen=amount,
                                capped_fen=amount,
                                amount_fen=amount,
                            )
                        )
            await session.flush()
            report = await compute_report(session, CITY, YEAR)
        finally:
            await session.rollback()
    assert [(e.rank, e.name, e.score, e.grade) for e in report.evaluation] == [
        (1, "之江测试大学分析中心", 88.5, "优秀"),  # the adjusted score
        (2, "测试材料研究院", 72.25, "良好"),
    ]
    assert report.rewards == RewardFigures(
        units=2, instruments=2, sharing_fen=15_000, insurance_fen=80_000, total_fen=95_000
    )
    evaluation_table = next(t for t in TABLES if t.name == "evaluation")
    assert evaluation_table.rows(report)[0] == ["1", "之江测试大学分析中心", "88.50", "优秀"]
