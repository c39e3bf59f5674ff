"""The evaluation and complaints at the desks: the science officer proposes an adjustment on the
run page, the finance officer approves it there (the proposer is told to wait for another), the
unit admin objects from its own page and the officer answers; a complaint is accepted and upheld
from the list — each checked through the API after."""

from __future__ import annotations

from accounts.demo import demo_id
from tests.console.desk import post_form, signed_in
from tests.evaluation.world import Figures, draft, new_units, spread

ZJLG = demo_id("unit-zjlg")
OV = "/api/v1/oversight"


async def test_an_evaluation_is_adjusted_objected_to_and_answered_at_the_desks(backend, client, login):
    others = await new_units(backend, 2)
    evaluation_id = await draft(
        backend,
        2012,
        [Figures(unit_id=ZJLG, unit_name="之江理工大学分析测试中心"), *spread(others, [0.4, 0.6])],
    )
    page = f"/console/evaluations/{evaluation_id}"
    science, finance, unit_admin = (
        await signed_in(backend, "demo-science-bureau"),
        await signed_in(backend, "demo-finance-bureau"),
        await signed_in(backend, "demo-unit-admin"),
    )
    shown = await science.get(page)
    assert shown.status_code == 200 and "之江理工大学分析测试中心" in shown.text and "提出调整" in shown.text
    detail = (
        await client.get(f"{OV}/evaluations/{evaluation_id}", headers=await login("demo-science-bureau"))
    ).json()
    zjlg = next(r for r in detail["results"] if r["unit_id"] == str(ZJLG))
    r = await post_form(
        science,
        page,
        f"/console/evaluation-results/{zjlg['id']}/adjust",
        score="66.5",
        reason="专家复核：扣除重复计时",
    )
    assert r.status_code == 303 and r.headers["location"] == page
    assert "须由另一位工作人员审核" in (await science.get(page)).text  # no approve button for the proposer
    shown = await finance.get(page)
    adjustment = shown.text.split("/console/score-adjustments/", 1)[1].split("/", 1)[0]
    r = await post_form(finance, page, f"/console/score-adjustments/{adjustment}/approve", note="同意")
    assert r.status_code == 303
    detail = (
        await client.get(f"{OV}/evaluations/{evaluation_id}", headers=await login("demo-finance-bureau"))
    ).json()
    zjlg = next(r for r in detail["results"] if r["unit_id"] == str(ZJLG))
    assert (
        zjlg["score"] == 66.5
        and zjlg["adjustment_reason"] == "专家复核：扣除重复计时"
        and zjlg["grade"] == "合格"
    )
    # the unit's admin sees its own draft and objects
    own = await unit_admin.get("/console/my-evaluation")
    assert own.status_code == 200 and "66.5" in own.text and "评价测试单位" not in own.text
    r = await post_form(
        unit_admin,
        "/console/my-evaluation",
        f"/console/evaluation-results/{zjlg['id']}/objection",
        reason="调整理由不成立，请复核",
    )
    assert r.status_code == 303
    shown = await science.get(page)
    objection = shown.text.split("/console/evaluation-objections/", 1)[1].split("/", 1)[0]
    r = await post_form(
        science, page, f"/console/evaluation-objections/{objection}/answer", answer="经复核维持调整"
    )
    assert r.status_code == 303
    assert "经复核维持调整" in (await unit_admin.get("/console/my-evaluation")).text


async def test_a_complaint_is_accepted_and_upheld_from_the_list(backend, client, login):
    firm = await login("demo-firm-admin")
    filed = await client.post(
        "/api/v1/complaints", json={"unit_id": str(ZJLG), "text": "控制台：收费与公示不符"}, headers=firm
    )
    cid = filed.json()["id"]
    science, provider = (
        await signed_in(backend, "demo-science-bureau"),
        await signed_in(backend, "demo-provider"),
    )
    listed = await provider.get("/console/complaints")
    assert (
        "控制台：收费与公示不符" in listed.text and "演示企业管理员" not in listed.text
    )  # the unit: no complainant
    assert f"/console/complaints/{cid}/accept" not in listed.text  # the unit does not handle it
    r = await post_form(science, "/console/complaints", f"/console/complaints/{cid}/accept")
    assert r.status_code == 303
    r = await post_form(
        science, "/console/complaints", f"/console/complaints/{cid}/uphold", answer="经核实属实"
    )
    assert r.status_code == 303
    got = (await client.get(f"/api/v1/complaints/{cid}", headers=firm)).json()
    assert got["status"] == "upheld" and got["answer"] == "经核实属实"
