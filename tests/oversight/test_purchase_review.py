"""Purchase review (购置查重评议): filing above and below the threshold, the report's figures on a
hand-built set of instruments, the 30% flag refusing a filing, the decision freezing report and
decision together, and who may see and decide what."""

from __future__ import annotations

import io
from datetime import date
from typing import Any

from pypdf import PdfReader

from accounts.models import Role
from oversight.review_demo import NAME as DEMO_NAME
from tests.booking.world import make_user
from tests.oversight.review_world import (
    HZCL,
    NBHY,
    REVIEWS,
    YEAR,
    ZJLG,
    add_instrument,
    filing,
    flagged,
    new_category,
    used,
)
from tests.support import error_code

P, UA, SB, FB, NB, PA = (
    "demo-provider",
    "demo-unit-admin",
    "demo-science-bureau",
    "demo-finance-bureau",
    "demo-science-bureau-nb",
    "demo-admin",
)
HERE = (30.26, 120.12)  # where the proposed instrument will stand (西湖区)


async def file(client: Any, headers: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    r = await client.post(REVIEWS, json=body, headers=headers)
    assert r.status_code == 201, r.text
    return dict(r.json())


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


async def test_below_the_threshold_a_filing_is_recorded_as_not_requiring_review(backend, client, login):
    category = await new_category(backend)
    staff = await login(P)
    below = await file(client, staff, filing(category, price_fen=49_999_999))
    assert below["status"] == "not_required" and below["report"] is None
    r = await client.get(f"{REVIEWS}/{below['id']}/pdf", headers=staff)
    assert r.status_code == 409 and error_code(r) == "purchase_review_not_pending"
    at = await file(client, staff, filing(category, price_fen=50_000_000))  # 500,000 元: reviewed
    assert at["status"] == "pending" and at["report"]["year"] == YEAR
    elsewhere = await client.post(REVIEWS, json=filing(category, region_code="330212"), headers=staff)
    assert elsewhere.status_code == 400 and error_code(elsewhere) == "place_outside_unit_region"
    listed = {row["id"]: row["status"] for row in (await client.get(REVIEWS, headers=staff)).json()}
    assert listed[below["id"]] == "not_required" and listed[at["id"]] == "pending"


async def test_the_report_lists_same_category_instruments_by_scope_with_their_figures(backend, client, login):
    category, other_category = await new_category(backend), await new_category(backend)
    own = await add_instrument(backend, category, unit_id=ZJLG, region_code="330106", coords=HERE, name="甲")
    quiet = await add_instrument(
        backend, category, unit_id=ZJLG, region_code="330100", coords=None, name="乙"
    )
    busy = await add_instrument(
        backend, category, unit_id=HZCL, region_code="330108", coords=(30.21, 120.21), name="丙"
    )
    ningbo = await add_instrument(
        backend, category, unit_id=NBHY, region_code="330212", coords=(29.82, 121.55), name="丁"
    )
    late = await add_instrument(
        backend,
        category,
        unit_id=NBHY,
        region_code="330212",
        coords=None,
        listed_on=date(YEAR, 7, 2),
        name="戊",
    )
    # not counted: another province, another category, not listed, listed after the year
    await used(
        backend,
        await add_instrument(backend, category, unit_id=HZCL, region_code="310000", coords=None),
        500,
        0,
    )
    await used(
        backend,
        await add_instrument(backend, other_category, unit_id=ZJLG, region_code="330106", coords=HERE),
        500,
        0,
    )
    await add_instrument(backend, category, unit_id=ZJLG, region_code="330106", coords=HERE, listed_on=None)
    await add_instrument(
        backend, category, unit_id=ZJLG, region_code="330106", coords=HERE, listed_on=date(YEAR + 1, 3, 1)
    )
    await used(backend, own, 880, 440)
    await used(backend, own, 20, 20, first=date(YEAR - 1, 12, 31))  # the days around the year
    await used(backend, own, 20, 20, first=date(YEAR + 1, 1, 1))  # do not count
    await used(backend, busy, 1800, 180)
    await used(backend, ningbo, 352, 352)
    await used(backend, late, 100, 0, first=date(YEAR, 7, 3))

    body = filing(category, region_code="330106", latitude=HERE[0], longitude=HERE[1])
    report = (await file(client, await login(UA), body))["report"]
    assert report["period"] == {"start": f"{YEAR}-01-01", "end": f"{YEAR + 1}-01-01"}
    assert report["proposal"]["price_fen"] == 320_000_000 and report["low_usage_flag"] is False
    unit, city, province = report["scopes"]
    assert (unit["title"], city["title"], province["title"]) == ("本单位", "本市其他单位", "本省其他城市")
    assert (city["area"], province["area"]) == ("杭州市", "浙江省")
    rows = {i["instrument_id"]: i for scope in report["scopes"] for i in scope["instruments"]}
    assert [i["instrument_id"] for i in unit["instruments"]] == [str(own), str(quiet)]  # nearest first
    assert [i["instrument_id"] for i in city["instruments"]] == [str(busy)]
    assert [i["instrument_id"] for i in province["instruments"]] == [str(ningbo), str(late)]
    # worked out by hand: norm 1,760 h; 戊 listed 2 July, so 183 of 365 days: 882.41 h
    norm_late = (
        1760 * (date(YEAR + 1, 1, 1) - date(YEAR, 7, 2)).days / (date(YEAR + 1, 1, 1) - date(YEAR, 1, 1)).days
    )
    expected = {
        own: (880.0, 0.5, 0.5, 880.0),
        quiet: (0.0, 0.0, None, 1760.0),
        busy: (1800.0, round(1800 / 1760, 4), 0.1, 0.0),  # used beyond the norm: no free capacity
        ningbo: (352.0, 0.2, 1.0, 1408.0),
        late: (100.0, round(100 / norm_late, 4), 0.0, round(norm_late - 100, 2)),
    }
    for instrument, (effective, usage, sharing, free) in expected.items():
        row = rows[str(instrument)]
        assert (row["effective_hours"], row["usage_rate"], row["sharing_rate"], row["free_hours"]) == (
            effective,
            usage,
            sharing,
            free,
        ), row
    # distances by hand: 0.05° of latitude and 0.09° of longitude at 30.2° N ≈ 10.3 km; to 宁波 ≈ 146 km
    assert rows[str(own)]["distance_km"] == 0.0
    assert rows[str(quiet)]["distance_km"] is None and rows[str(late)]["distance_km"] is None
    assert abs(rows[str(busy)]["distance_km"] - 10.3) <= 0.1
    assert abs(rows[str(ningbo)]["distance_km"] - 146.1) <= 0.5
    assert (unit["count"], city["count"], province["count"]) == (2, 1, 2)
    assert (unit["free_hours"], city["free_hours"]) == (2640.0, 0.0)
    assert province["free_hours"] == round(1408 + round(norm_late - 100, 2), 2)
    assert unit["mean_usage_rate"] == 0.25


async def test_a_same_category_instrument_flagged_below_30_percent_refuses_the_filing(backend, client, login):
    category, other = await new_category(backend), await new_category(backend)
    instrument = await add_instrument(backend, category, unit_id=ZJLG, region_code="330106", coords=HERE)
    await flagged(backend, instrument, category)
    staff = await login(P)
    before = len((await client.get(REVIEWS, headers=staff)).json())
    r = await client.post(REVIEWS, json=filing(category), headers=staff)
    assert r.status_code == 409, r.text
    assert error_code(r) == "purchase_blocked_low_usage"
    assert "30%" in r.json()["error"]["message"] and "被标记的仪器" in r.json()["error"]["message"]
    assert r.json()["error"]["details"]["flagged"][0]["instrument_id"] == str(instrument)
    assert len((await client.get(REVIEWS, headers=staff)).json()) == before  # nothing recorded
    # another category of the same unit, and the same category at another unit, are not held
    assert (await file(client, staff, filing(other)))["status"] == "pending"
    hzcl = await login(await make_user(backend, HZCL, Role.provider_staff))
    assert (await file(client, hzcl, filing(category)))["status"] == "pending"


async def test_the_decision_freezes_the_report_and_decision_together(backend, client, login):
    category = await new_category(backend)
    instrument = await add_instrument(
        backend, category, unit_id=ZJLG, region_code="330106", coords=HERE, name="己"
    )
    await used(backend, instrument, 440, 44)
    filed = await file(client, await login(P), filing(category))
    sb = await login(SB)
    decision = {"verdict": "调整", "reasons": "现有同类仪器空闲机时充足，建议降低配置后再购置。"}
    r = await client.post(f"{REVIEWS}/{filed['id']}/decision", json=decision, headers=sb)
    assert r.status_code == 200, r.text
    decided = r.json()
    assert decided["status"] == "decided" and decided["verdict"] == "调整"
    assert decided["document"]["report"] == filed["report"]
    assert decided["document"]["decision"]["reasons"] == decision["reasons"]
    pdf = await client.get(f"{REVIEWS}/{filed['id']}/pdf", headers=sb)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    text = pdf_text(pdf.content)
    for words in (
        "购置查重评议报告",
        "场发射扫描电子显微镜",
        "¥3,200,000.00",
        "调整",
        decision["reasons"],
        "25.0%",
        "10.0%",
    ):
        assert words in text, words

    await used(backend, instrument, 400, 400, first=date(YEAR, 6, 1))  # the records change later
    again = (await client.get(f"{REVIEWS}/{filed['id']}", headers=sb)).json()
    assert again["document"] == decided["document"]
    assert (await client.get(f"{REVIEWS}/{filed['id']}/pdf", headers=sb)).content == pdf.content
    r = await client.post(
        f"{REVIEWS}/{filed['id']}/decision", json={**decision, "verdict": "通过"}, headers=sb
    )
    assert r.status_code == 409 and error_code(r) == "purchase_review_not_pending"


async def test_units_see_their_own_filings_and_bureaus_their_regions(backend, client, login):
    category = await new_category(backend)
    filed = await file(client, await login(P), filing(category))
    path = f"{REVIEWS}/{filed['id']}"
    other_unit = await login(await make_user(backend, HZCL, Role.provider_staff))
    for who in (other_unit, await login(NB), await login("demo-researcher")):
        assert (await client.get(path, headers=who)).status_code == 404
        assert filed["id"] not in {row["id"] for row in (await client.get(REVIEWS, headers=who)).json()}
        r = await client.post(
            f"{path}/decision", json={"verdict": "通过", "reasons": "同意购置"}, headers=who
        )
        assert r.status_code == 404, r.text
    for who in (P, UA, SB, FB, PA):
        assert (await client.get(path, headers=await login(who))).status_code == 200
    # the unit and the finance bureau read it but do not decide; an expert 杭州's bureau appoints does
    for who in (P, FB, PA):
        r = await client.post(
            f"{path}/decision", json={"verdict": "通过", "reasons": "同意"}, headers=await login(who)
        )
        assert r.status_code == 403 and error_code(r) == "not_reviewer", r.text
    expert_name = await make_user(backend, HZCL, Role.researcher)
    expert = await login(expert_name)
    assert (await client.get(path, headers=expert)).status_code == 404
    r = await client.post(
        "/api/v1/oversight/review-experts", json={"username": expert_name}, headers=await login(SB)
    )
    assert r.status_code == 201, r.text
    assert (await client.get(path, headers=expert)).status_code == 200
    r = await client.post(
        f"{path}/decision", json={"verdict": "通过", "reasons": "专家组同意"}, headers=expert
    )
    assert r.status_code == 200, r.text
    assert r.json()["document"]["decision"]["as"] == "评议专家"
    r = await client.post(
        "/api/v1/oversight/review-experts", json={"username": expert_name}, headers=await login(FB)
    )
    assert r.status_code == 403 and error_code(r) == "not_science_bureau"


async def test_the_demo_holds_a_decided_review_that_opens_as_a_pdf(client, login):
    sb = await login(SB)
    [demo] = [r for r in (await client.get(REVIEWS, headers=sb)).json() if r["instrument_name"] == DEMO_NAME]
    assert demo["status"] == "decided" and demo["verdict"] == "调整"
    shown = (await client.get(f"{REVIEWS}/{demo['id']}", headers=sb)).json()
    report = shown["document"]["report"]
    assert report["proposal"]["category_code"] == "0113" and report["scopes"][0]["count"] >= 1
    pdf = await client.get(f"{REVIEWS}/{demo['id']}/pdf", headers=await login(UA))
    assert pdf.status_code == 200 and DEMO_NAME in pdf_text(pdf.content)
