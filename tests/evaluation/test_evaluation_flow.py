"""The evaluation's workflow over HTTP: adjustments need a second officer and keep the 15% cap;
publication freezes the results, lists 较差 units for rectification and makes the results public
(aggregate only); units see only their own draft and object; bureaus act only in their region."""

from __future__ import annotations

from accounts.demo import demo_id
from catalogue.workdays import WorkingDayCalendar
from tests.evaluation.world import Figures, draft, new_units, spread
from tests.support import error_code
from yixiang.clock import shanghai_today

OV = "/api/v1/oversight"
ZJLG, HZCL = demo_id("unit-zjlg"), demo_id("unit-hzcl")


async def show(client, headers, evaluation_id) -> dict:
    r = await client.get(f"{OV}/evaluations/{evaluation_id}", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def by_name(evaluation: dict) -> dict[str, dict]:
    return {r["unit_name"]: r for r in evaluation["results"]}


async def test_an_adjustment_needs_a_second_officer_and_the_cap_still_holds(client, login, backend):
    units = await new_units(backend, 7)  # 7 units: at most one 优秀
    usage = [0.6, 0.5, 0.3, 0.3, 0.2, 0.2, 0.1]  # the first alone reaches the 优秀 threshold
    evaluation_id = await draft(backend, 2002, spread(units, usage))
    science, finance = await login("demo-science-bureau"), await login("demo-finance-bureau")
    before = by_name(await show(client, science, evaluation_id))
    first, second = units[0][1], units[1][1]
    assert before[first]["grade"] == "优秀" and before[second]["grade"] == "良好"
    assert before[first]["score"] > before[second]["score"]
    proposed = await client.post(
        f"{OV}/evaluation-results/{before[second]['id']}/adjustments",
        json={"score": 99, "reason": "专家复核：补录线下共享服务记录"},
        headers=science,
    )
    assert proposed.status_code == 201, proposed.text
    adjustment = proposed.json()["id"]
    twice = await client.post(
        f"{OV}/evaluation-results/{before[second]['id']}/adjustments",
        json={"score": 98, "reason": "再调一次试试看"},
        headers=science,
    )
    assert twice.status_code == 409 and error_code(twice) == "evaluation_adjustment_pending"
    # the proposer cannot approve it; nothing changed
    own = await client.post(
        f"{OV}/score-adjustments/{adjustment}/decision", json={"approve": True}, headers=science
    )
    assert own.status_code == 403 and error_code(own) == "adjustment_same_officer"
    assert by_name(await show(client, science, evaluation_id))[second]["score"] == before[second]["score"]
    # submitting waits for the decision
    early = await client.post(f"{OV}/evaluations/{evaluation_id}/submit", headers=science)
    assert early.status_code == 409 and error_code(early) == "evaluation_adjustment_pending"
    approved = await client.post(
        f"{OV}/score-adjustments/{adjustment}/decision",
        json={"approve": True, "note": "同意"},
        headers=finance,
    )
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    after = by_name(await show(client, science, evaluation_id))
    assert after[second]["score"] == 99 and after[second]["computed_score"] == before[second]["score"]
    assert after[second]["adjustment_reason"] == "专家复核：补录线下共享服务记录"
    # still one 优秀 of 7: the adjusted unit takes it, the other falls back to 良好
    assert after[second]["grade"] == "优秀" and after[first]["grade"] == "良好"
    assert [r["grade"] for r in after.values()].count("优秀") == 1


async def test_publication_freezes_lists_rectification_and_goes_public(client, login, backend):
    units = await new_units(backend, 3)
    evaluation_id = await draft(backend, 2003, spread(units, [0.6, 0.4, 0.0]))
    weak = units[2][1]
    science, researcher = await login("demo-science-bureau"), await login("demo-researcher")
    public = "/api/v1/public/evaluations/330100/2003"
    assert (await client.get(public)).status_code == 404  # a draft is not public
    detail = await show(client, science, evaluation_id)
    poor = [r for r in detail["results"] if r["grade"] == "较差"]
    assert [r["unit_name"] for r in poor] == [weak]
    assert (
        await client.post(f"{OV}/evaluations/{evaluation_id}/publish", headers=science)
    ).status_code == 409
    assert (await client.post(f"{OV}/evaluations/{evaluation_id}/submit", headers=science)).status_code == 200
    published = await client.post(f"{OV}/evaluations/{evaluation_id}/publish", headers=science)
    assert published.status_code == 200 and published.json()["status"] == "published"
    again = await client.post(f"{OV}/evaluations/{evaluation_id}/publish", headers=science)
    assert again.status_code == 200  # publishing twice changes nothing
    [listed] = published.json()["rectifications"]
    deadline = WorkingDayCalendar().add_working_days(shanghai_today(), 60)
    assert listed["unit_name"] == weak and listed["deadline"] == deadline.isoformat()
    # frozen: no adjustment, no reopening
    frozen = await client.post(
        f"{OV}/evaluation-results/{poor[0]['id']}/adjustments",
        json={"score": 90, "reason": "公布以后再改分数"},
        headers=science,
    )
    assert frozen.status_code == 409 and error_code(frozen) == "evaluation_frozen"
    assert error_code(await client.post(f"{OV}/evaluations/{evaluation_id}/reopen", headers=science)) == (
        "evaluation_frozen"
    )
    # public, without sign-in: names, scores, grades; no person, no figures
    shown = await client.get(public)
    assert shown.status_code == 200, shown.text
    body = shown.json()
    assert body["units"] == 3 and body["rectification"] == [weak]
    assert {r["unit_name"] for r in body["results"]} == {name for _, name in units}
    assert set(body["results"][0]) == {"rank", "unit_name", "score", "grade"}
    assert "opened_by" not in shown.text and "published_by" not in shown.text
    assert (await client.get(public, headers=researcher)).json() == body


async def test_units_see_only_their_own_draft_and_object(client, login, backend):
    others = await new_units(backend, 2)
    figures = [
        Figures(unit_id=ZJLG, unit_name="之江理工大学分析测试中心", usage_rate=0.4),
        Figures(unit_id=HZCL, unit_name="杭州材料研究院", usage_rate=0.5),
        *spread(others, [0.2, 0.3]),
    ]
    evaluation_id = await draft(backend, 2004, figures)
    unit_admin, provider, science = (
        await login("demo-unit-admin"),
        await login("demo-provider"),
        await login("demo-science-bureau"),
    )
    # the unit does not see the whole evaluation, only its own result
    assert (await client.get(f"{OV}/evaluations/{evaluation_id}", headers=unit_admin)).status_code == 404
    mine = [m for m in (await client.get(f"{OV}/my-evaluation-results", headers=unit_admin)).json()]
    mine = [m for m in mine if m["evaluation_id"] == evaluation_id]
    assert [m["result"]["unit_id"] for m in mine] == [str(ZJLG)]
    assert mine[0]["status"] == "draft" and mine[0]["participants"] == 4
    assert mine[0]["result"]["figures"]["usage_rate"] == 0.4
    result_id = mine[0]["result"]["id"]
    detail = await show(client, science, evaluation_id)
    hzcl_result = next(r["id"] for r in detail["results"] if r["unit_id"] == str(HZCL))
    objection = {"reason": "本单位2025年有大量线下服务未计入，请核实"}
    assert (
        await client.post(
            f"{OV}/evaluation-results/{hzcl_result}/objections", json=objection, headers=unit_admin
        )
    ).status_code == 404  # another unit's result
    assert (
        await client.post(f"{OV}/evaluation-results/{result_id}/objections", json=objection, headers=provider)
    ).status_code == 403  # the unit's admin objects, not its desk staff
    filed = await client.post(
        f"{OV}/evaluation-results/{result_id}/objections", json=objection, headers=unit_admin
    )
    assert filed.status_code == 201, filed.text
    assert (await client.post(f"{OV}/evaluations/{evaluation_id}/submit", headers=science)).status_code == 200
    blocked = await client.post(f"{OV}/evaluations/{evaluation_id}/publish", headers=science)
    assert blocked.status_code == 409 and error_code(blocked) == "evaluation_objection_pending"
    answer = {"answer": "经核实，线下服务不属于平台在线留存的服务记录，维持原评分。"}
    answered = await client.post(
        f"{OV}/evaluation-objections/{filed.json()['id']}/answer", json=answer, headers=science
    )
    assert answered.status_code == 200 and answered.json()["answer"] == answer["answer"]
    mine = [m for m in (await client.get(f"{OV}/my-evaluation-results", headers=unit_admin)).json()]
    [own] = [m for m in mine if m["evaluation_id"] == evaluation_id]
    assert own["objections"][0]["answer"] == answer["answer"]
    assert (
        await client.post(f"{OV}/evaluations/{evaluation_id}/publish", headers=science)
    ).status_code == 200


async def test_bureaus_act_only_in_their_region(client, login, backend):
    units = await new_units(backend, 2)
    evaluation_id = await draft(backend, 2005, spread(units, [0.5, 0.4]))
    ningbo, finance = await login("demo-science-bureau-nb"), await login("demo-finance-bureau")
    assert (await client.get(f"{OV}/evaluations/{evaluation_id}", headers=ningbo)).status_code == 404
    assert evaluation_id not in [
        e["id"] for e in (await client.get(f"{OV}/evaluations", headers=ningbo)).json()
    ]
    assert (await client.post(f"{OV}/evaluations/{evaluation_id}/submit", headers=ningbo)).status_code == 404
    # 杭州's finance bureau reads it and co-signs adjustments, but the science bureau runs it
    assert (await client.get(f"{OV}/evaluations/{evaluation_id}", headers=finance)).status_code == 200
    refused = await client.post(f"{OV}/evaluations/{evaluation_id}/submit", headers=finance)
    assert refused.status_code == 403 and error_code(refused) == "science_bureau_required"
