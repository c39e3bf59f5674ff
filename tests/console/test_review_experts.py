"""Review experts at the desk: the science officer appoints one on a review's page and the expert
then decides the region's reviews through the API; a name typed wrong is a message; the officer
ends the appointment and the expert's next decision is refused. The finance bureau and the unit
read the review but get no form, and their posts are refused."""

from __future__ import annotations

import uuid

from accounts.demo import DEMO_PASSWORD
from accounts.models import Role
from tests.attack.test_authz_matrix import FB, NB, PA, SB, P
from tests.booking.world import make_user
from tests.console.desk import csrf_of, signed_in
from tests.console.test_page_matrix import purchase_review, token_of
from tests.oversight.review_world import HZCL, REVIEWS
from tests.support import error_code

EXPERTS = "/api/v1/oversight/review-experts"


async def standing(client, headers, username: str) -> list[dict]:
    listed = (await client.get(EXPERTS, headers=headers)).json()
    return [e for e in listed if e["username"] == username and e["revoked_at"] is None]


async def test_the_science_officer_appoints_and_ends_an_expert_on_the_review_page(backend, client, login):
    unit, bureau = await login(P), await login(SB)
    review_id, later_id = await purchase_review(client, unit), await purchase_review(client, unit)
    expert_name = await make_user(backend, HZCL, Role.researcher)
    expert = await login(expert_name)
    page = f"/console/purchase-reviews/{review_id}"
    officer = await signed_in(backend, SB)
    shown = await officer.get(page)
    assert shown.status_code == 200 and 'id="appoint-expert"' in shown.text

    r = await officer.post(f"{page}/experts", data={"_csrf": csrf_of(shown), "username": expert_name})
    assert r.status_code == 303 and r.headers["location"] == f"{page}#experts"
    after = await officer.get(page)
    assert "已聘任测试用户为本地区评议专家" in after.text and f'data-expert="{expert_name}"' in after.text
    [appointed] = await standing(client, bureau, expert_name)
    assert appointed["region_code"] == "330100"
    # the appointment is the API's: the expert reads and decides the region's review
    decided = await client.post(
        f"{REVIEWS}/{review_id}/decision", json={"verdict": "通过", "reasons": "专家组同意"}, headers=expert
    )
    assert decided.status_code == 200 and decided.json()["document"]["decision"]["as"] == "评议专家"

    typo = await officer.post(f"{page}/experts", data={"_csrf": csrf_of(after), "username": "没有这个人"})
    assert typo.status_code == 303
    assert "没有名为“没有这个人”的在用账号" in (await officer.get(page)).text

    revoke = f"{page}/experts/{appointed['id']}/revoke"
    assert f'action="{revoke}"' in after.text
    r = await officer.post(revoke, data={"_csrf": await token_of(officer)})
    assert r.status_code == 303
    ended = await officer.get(page)
    assert "已解聘评议专家测试用户" in ended.text and f'data-expert="{expert_name}"' not in ended.text
    assert await standing(client, bureau, expert_name) == []
    refused = await client.post(
        f"{REVIEWS}/{later_id}/decision", json={"verdict": "通过", "reasons": "同意"}, headers=expert
    )
    assert refused.status_code == 404 and error_code(refused) == "purchase_review_not_found"  # no longer hers


async def test_other_desks_read_the_review_but_cannot_appoint(backend, client, login):
    review_id = await purchase_review(client, await login(P))
    page = f"/console/purchase-reviews/{review_id}"
    candidate = await make_user(backend, HZCL, Role.researcher)
    for role, shown_status, post_status in ((FB, 200, 403), (P, 200, 403), (PA, 200, 403), (NB, 404, 404)):
        desk = await signed_in(backend, role)
        shown = await desk.get(page)
        assert shown.status_code == shown_status, role
        assert 'id="appoint-expert"' not in shown.text and "/revoke" not in shown.text
        r = await desk.post(f"{page}/experts", data={"_csrf": await token_of(desk), "username": candidate})
        assert r.status_code == post_status, f"{role}: {r.status_code}"
    assert await standing(client, await login(SB), candidate) == []
    assert await standing(client, await login(NB), candidate) == []
    # the unit's page shows no experts (the API lists none to it)
    unit_page = await (await signed_in(backend, P)).get(page)
    assert 'id="experts"' not in unit_page.text
    # a form posted without its token is refused before anything is done
    officer = await signed_in(backend, SB)
    r = await officer.post(f"{page}/experts", data={"username": candidate, "_csrf": uuid.uuid4().hex})
    assert r.status_code == 403
    assert await standing(client, await login(SB), candidate) == []


async def test_an_expert_without_a_desk_role_reads_and_decides_the_regions_reviews_at_the_desk(
    backend, client, login
):
    unit, bureau = await login(P), await login(SB)
    review_id = await purchase_review(client, unit)
    expert_name = await make_user(backend, HZCL, Role.researcher, password=DEMO_PASSWORD)
    outsider_name = await make_user(backend, HZCL, Role.researcher, password=DEMO_PASSWORD)
    appointed = await client.post(EXPERTS, json={"username": expert_name}, headers=bureau)
    assert appointed.status_code in (200, 201), appointed.text

    expert = await signed_in(backend, expert_name)
    home = await expert.get("/console")
    assert home.status_code == 303 and home.headers["location"] == "/console/purchase-reviews"
    listed = await expert.get("/console/purchase-reviews")
    page = f"/console/purchase-reviews/{review_id}"
    assert listed.status_code == 200 and page in listed.text
    assert 'href="/console/purchase-reviews"' in listed.text  # her one page is in her menu
    assert 'href="/console/bookings"' not in listed.text
    shown = await expert.get(page)
    assert shown.status_code == 200 and 'name="verdict"' in shown.text
    assert (await expert.get(f"{page}/pdf")).status_code == 200
    r = await expert.post(
        f"{page}/decision", data={"_csrf": csrf_of(shown), "verdict": "调整", "reasons": "建议与邻近单位共用"}
    )
    assert r.status_code == 303
    decided = (await client.get(f"{REVIEWS}/{review_id}", headers=bureau)).json()
    assert decided["status"] == "decided" and decided["document"]["decision"]["as"] == "评议专家"

    # a researcher nobody appointed has no desk here
    outsider = await signed_in(backend, outsider_name)
    for path in ("/console", "/console/purchase-reviews", page, f"{page}/pdf"):
        assert (await outsider.get(path)).status_code == 403, path
    refusal = await outsider.get(page)
    r = await outsider.post(f"{page}/decision", data={"_csrf": csrf_of(refusal), "verdict": "通过"})
    assert r.status_code == 403
