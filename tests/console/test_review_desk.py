"""Purchase review at the desk: the unit files from the form and lands on its report; the science
officer records the decision from the report page; a finance officer reading it gets no form, and
the frozen decision is what the API answers."""

from __future__ import annotations

from tests.console.desk import csrf_of, signed_in
from tests.oversight.review_world import REVIEWS, ZJLG, add_instrument, new_category, used


async def test_a_unit_files_from_the_form_and_the_science_officer_decides_on_the_report(
    backend, client, login
):
    category = await new_category(backend)
    await used(
        backend,
        await add_instrument(backend, category, unit_id=ZJLG, region_code="330106", coords=None),
        176,
        0,
    )
    unit = await signed_in(backend, "demo-unit-admin")
    page = await unit.get("/console/purchase-reviews")
    assert "申报拟购仪器" in page.text
    fields = {
        "_csrf": csrf_of(page),
        "category_code": category,
        "instrument_name": "激光共聚焦显微镜",
        "model": "LSM 980",
        "price_yuan": "1,800,000",
        "origin": "imported",
        "expected_hours_per_year": "900",
        "justification": "活细胞成像需求增长，现有设备无法满足。",
    }
    r = await unit.post("/console/purchase-reviews", data=fields)
    assert r.status_code == 303 and r.headers["location"].startswith("/console/purchase-reviews/"), r.text
    report_page = r.headers["location"]
    review_id = report_page.rsplit("/", 1)[1]
    shown = (await unit.get(report_page)).text
    assert "查重评议报告已生成" in shown and "10.0%" in shown and "待评议" in shown  # 176 h of 1,760
    assert "记录决定" not in shown  # the unit does not decide

    cheap = await unit.post("/console/purchase-reviews", data={**fields, "price_yuan": "120000"})
    assert cheap.headers["location"] == "/console/purchase-reviews"
    assert "低于评议限额" in (await unit.get("/console/purchase-reviews")).text

    finance = await signed_in(backend, "demo-finance-bureau")
    assert "记录决定" not in (await finance.get(report_page)).text
    officer = await signed_in(backend, "demo-science-bureau")
    page = await officer.get(report_page)
    assert "记录决定" in page.text
    decision = {"_csrf": csrf_of(page), "verdict": "通过", "reasons": "现有同类仪器满负荷，同意购置。"}
    r = await officer.post(f"{report_page}/decision", data=decision)
    assert r.status_code == 303, r.text
    decided = (await officer.get(report_page)).text
    assert "报告与决定已固化" in decided and "现有同类仪器满负荷，同意购置。" in decided
    assert "记录决定" not in decided
    api = (await client.get(f"{REVIEWS}/{review_id}", headers=await login("demo-science-bureau"))).json()
    assert api["verdict"] == "通过" and api["document"]["decision"]["reasons"] == decision["reasons"]
    pdf = await unit.get(f"{report_page}/pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
