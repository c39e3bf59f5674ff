"""The science bureau's desk: a programme created from the form, a firm granted an amount (a form
sent twice grants once), and applications approved with an amount, returned or rejected with a
reason — each seen through the API after."""

from __future__ import annotations

import uuid

from tests.attack.test_authz_matrix import APPLICATIONS, FB, PROGRAMS, SB, P, voucher_world
from tests.console.desk import csrf_of, signed_in
from tests.vouchers.desk import new_org


async def test_a_programme_is_created_and_a_firm_granted_once_from_the_forms(backend, client, login):
    s = await voucher_world(backend, client, login)
    s.headers[SB] = await login(SB)
    officer = await signed_in(backend, SB)
    page = await officer.get("/console/programs")
    form_key = page.text.split('name="form_key" value="', 1)[1].split('"', 1)[0]
    name = f"控制台项目-{uuid.uuid4().hex[:6]}"
    fields = {
        "_csrf": csrf_of(page),
        "form_key": form_key,
        "name": name,
        "year": "2026",
        "budget_yuan": "1,000,000",
        "coverage_percent": "50",
        "per_order_cap_yuan": "20000",
        "per_firm_year_cap_yuan": "100000.00",
        "valid_from": "2026-01-01",
        "valid_until": "2026-12-31",
        "requires_tech_sme": "1",
    }
    r = await officer.post("/console/programs", data=fields)
    assert r.status_code == 303 and r.headers["location"].startswith("/console/programs/"), r.text
    program_page = r.headers["location"]
    program_id = program_page.rsplit("/", 1)[1]
    assert f"已创建创新券项目「{name}」" in (await officer.get(program_page)).text
    again = await officer.post("/console/programs", data=fields)  # the same form sent twice
    assert again.headers["location"] == program_page
    api = (await client.get(PROGRAMS, headers=s.headers[SB])).json()
    assert [p["name"] for p in api].count(name) == 1
    program = next(p for p in api if p["name"] == name)
    assert program["budget_fen"] == 100_000_000 and program["coverage_bp"] == 5000
    assert program["per_firm_year_cap_fen"] == 10_000_000

    uscc = f"91330106{uuid.uuid4().hex[:10].upper()}"
    firm = await new_org(backend, uscc=uscc, is_tech_sme=True)
    shown = await officer.get(program_page)
    grant_key = shown.text.split('name="form_key" value="', 1)[1].split('"', 1)[0]
    grant = {"_csrf": csrf_of(shown), "form_key": grant_key, "uscc": uscc, "amount_yuan": "30000"}
    for _ in range(2):
        r = await officer.post(f"{program_page}/grants", data=grant)
        assert r.status_code == 303
    assert "发放 30000 元额度" in (await officer.get(r.headers["location"])).text
    grants = (await client.get(f"{PROGRAMS}/{program_id}/grants", headers=s.headers[SB])).json()
    assert [(g["enterprise_id"], g["amount_fen"]) for g in grants] == [(str(firm), 3_000_000)]
    too_much = await officer.post(
        f"{program_page}/grants", data={**grant, "form_key": "another", "amount_yuan": "2000000"}
    )
    assert "flash error" in (await officer.get(too_much.headers["location"])).text
    assert len((await client.get(f"{PROGRAMS}/{program_id}/grants", headers=s.headers[SB])).json()) == 1


async def test_applications_are_approved_with_an_amount_returned_or_rejected_with_a_reason(
    backend, client, login
):
    s = await voucher_world(backend, client, login)
    approved, returned, rejected = [await s.application() for _ in range(3)]
    officer = await signed_in(backend, FB)  # either bureau of the region decides
    listed = await officer.get("/console/applications?per_page=200")
    assert all(f"/console/applications/{a}" in listed.text for a in (approved, returned, rejected))

    async def decide(application_id: str, decision: str, **fields: str) -> str:
        page = await officer.get(f"/console/applications/{application_id}")
        r = await officer.post(
            f"/console/applications/{application_id}/{decision}", data={"_csrf": csrf_of(page), **fields}
        )
        return (await officer.get(r.headers["location"])).text

    assert "已批准，额度已发放" in await decide(approved, "approve", approved_yuan="600.50", reason="")
    body = (await client.get(f"{APPLICATIONS}/{approved}", headers=s.headers[FB])).json()
    assert body["status"] == "approved" and body["approved_fen"] == 60_050 and body["grant_id"]

    assert "flash error" in await decide(returned, "return", reason="")  # a reason the firm reads
    assert (await client.get(f"{APPLICATIONS}/{returned}", headers=s.headers[FB])).json()[
        "status"
    ] == "submitted"
    assert "已退回企业修改" in await decide(returned, "return", reason="请补充营业执照")
    body = (await client.get(f"{APPLICATIONS}/{returned}", headers=s.headers[FB])).json()
    assert body["status"] == "returned" and body["decision_reason"] == "请补充营业执照"

    assert "已不予批准" in await decide(rejected, "reject", reason="不符合申领条件")
    assert (await client.get(f"{APPLICATIONS}/{rejected}", headers=s.headers[FB])).json()[
        "status"
    ] == "rejected"
    page = await officer.get(f"/console/applications/{rejected}")
    assert "/reject" not in page.text  # decided: no decision offered any more


async def test_the_region_dashboard_counts_what_the_records_hold(backend, client, login):
    s = await voucher_world(backend, client, login)
    officer = await signed_in(backend, SB)

    def captured_fen(page: str) -> int:
        return int(page.split('id="captured">', 1)[1].split("<", 1)[0].replace(".", ""))

    def bookings_in_30_days(page: str) -> int:
        return sum(int(part.split("</b>")[0] or 0) for part in page.split("<b>")[1:])

    before = (await officer.get("/console/region")).text
    booking_id = await s.fully_evidenced()  # a booking in 杭州, its voucher share captured
    share = (await client.get(f"/api/v1/bookings/{booking_id}/statement", headers=s.headers[P])).json()
    after = (await officer.get("/console/region")).text
    assert "杭州" in after
    assert captured_fen(after) - captured_fen(before) == share["voucher_fen"] > 0
    assert bookings_in_30_days(after) - bookings_in_30_days(before) == 1
    assert (await (await signed_in(backend, FB)).get("/console/region")).status_code == 200
    assert (await (await signed_in(backend, P)).get("/console/region")).status_code == 403
