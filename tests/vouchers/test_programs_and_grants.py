"""Bureaus run programmes and grant vouchers; firms see only their own; the ledger stays sound."""

from __future__ import annotations

import uuid

from accounts.demo import demo_id
from accounts.models import OrgKind, Role
from tests.support import error_code
from tests.vouchers.desk import VoucherDesk, new_org, new_user, program_body


async def test_demo_researcher_holds_a_grant_and_demo_researcher_2_holds_none(world: VoucherDesk) -> None:
    mine = await world.client.get("/api/v1/me/vouchers", headers=await world.headers("demo-researcher"))
    assert mine.status_code == 200, mine.text
    body = mine.json()
    demo_grants = [g for g in body["grants"] if g["program_id"] == str(demo_id("voucher-program-hz-2026"))]
    assert demo_grants and demo_grants[0]["amount_fen"] == 5_000_000
    assert body["enterprise_ids"] == [str(demo_id("firm-qinghe"))]
    other = await world.client.get("/api/v1/me/vouchers", headers=await world.headers("demo-researcher-2"))
    assert other.json()["grants"] == [] and other.json()["available_fen"] == 0


async def test_a_researcher_cannot_create_a_programme(world: VoucherDesk) -> None:
    response = await world.client.post(
        "/api/v1/voucher-programs", json=program_body(), headers=await world.headers("demo-researcher")
    )
    assert response.status_code == 403 and error_code(response) == "bureau_officer_required"


async def test_programme_rules_are_validated(world: VoucherDesk) -> None:
    headers = await world.bureau()
    bad = [
        ({"coverage_bp": 12_000}, "validation_error"),
        ({"valid_from": "2027-01-02", "valid_until": "2027-01-01"}, "invalid_program"),
        ({"accepted_region_codes": ["310000"], "cross_region": False}, "invalid_program"),
        ({"budget_fen": 0.5}, "validation_error"),
        ({"per_order_cap_fen": 10**9, "per_firm_year_cap_fen": 10}, "invalid_program"),
    ]
    for overrides, code in bad:
        response = await world.client.post(
            "/api/v1/voucher-programs", json=program_body(**overrides), headers=headers
        )
        assert response.status_code == 400 and error_code(response) == code, (overrides, response.text)


async def test_a_bureau_of_another_region_can_neither_see_nor_act_on_a_programme(world: VoucherDesk) -> None:
    program = await world.program()
    ningbo = await new_user(world.backend, demo_id("bureau-nb-sci"), Role.bureau_officer)
    headers = await world.headers(ningbo)
    assert (
        await world.client.get(f"/api/v1/voucher-programs/{program['id']}", headers=headers)
    ).status_code == 404
    firm = await new_org(world.backend)
    response = await world.client.post(
        f"/api/v1/voucher-programs/{program['id']}/grants",
        json={"enterprise_id": str(firm), "amount_fen": 100},
        headers=headers,
    )
    assert response.status_code == 404
    listed = await world.client.get("/api/v1/voucher-programs", headers=headers)
    assert program["id"] not in {p["id"] for p in listed.json()}
    # the finance bureau of the issuing region sees it (it settles it)
    finance = await world.client.get(
        f"/api/v1/voucher-programs/{program['id']}", headers=await world.headers("demo-finance-bureau")
    )
    assert finance.status_code == 200


async def test_grants_draw_on_the_budget_and_refuse_to_exceed_it(world: VoucherDesk) -> None:
    program = await world.program(budget_fen=1_000_000)
    firm = await new_org(world.backend)
    await world.grant(program["id"], firm, 600_000)
    response = await world.client.post(
        f"/api/v1/voucher-programs/{program['id']}/grants",
        json={"enterprise_id": str(firm), "amount_fen": 500_000},
        headers=await world.bureau(),
    )
    assert response.status_code == 409 and error_code(response) == "budget_exceeded"
    shown = await world.client.get(f"/api/v1/voucher-programs/{program['id']}", headers=await world.bureau())
    assert shown.json()["budget_available_fen"] == 400_000


async def test_a_grant_replayed_with_its_key_is_granted_once(world: VoucherDesk) -> None:
    program = await world.program(budget_fen=1_000_000)
    firm = await new_org(world.backend)
    headers = {**await world.bureau(), "Idempotency-Key": f"grant-{uuid.uuid4().hex}"}
    body = {"enterprise_id": str(firm), "amount_fen": 300_000}
    first = await world.client.post(
        f"/api/v1/voucher-programs/{program['id']}/grants", json=body, headers=headers
    )
    again = await world.client.post(
        f"/api/v1/voucher-programs/{program['id']}/grants", json=body, headers=headers
    )
    assert first.status_code == again.status_code == 201 and first.json()["id"] == again.json()["id"]
    shown = await world.client.get(f"/api/v1/voucher-programs/{program['id']}", headers=await world.bureau())
    assert shown.json()["budget_available_fen"] == 700_000


async def test_firms_outside_the_region_or_not_tech_smes_are_not_eligible(world: VoucherDesk) -> None:
    program = await world.program()
    for firm in (
        await new_org(world.backend, region_code="330200"),
        await new_org(world.backend, is_tech_sme=False),
        await new_org(world.backend, kind=OrgKind.unit),
    ):
        response = await world.client.post(
            f"/api/v1/voucher-programs/{program['id']}/grants",
            json={"enterprise_id": str(firm), "amount_fen": 100},
            headers=await world.bureau(),
        )
        assert response.status_code == 400 and error_code(response) == "firm_not_eligible", response.text


def _uscc() -> str:
    return ("91330106" + uuid.uuid4().hex[:10]).upper()


async def test_a_csv_with_a_bad_row_imports_nothing_and_names_every_bad_row(world: VoucherDesk) -> None:
    program = await world.program(budget_fen=10_000_000)
    good, sme_not = _uscc(), _uscc()
    await new_org(world.backend, uscc=good)
    await new_org(world.backend, uscc=sme_not, is_tech_sme=False)
    csv_text = (
        "统一社会信用代码,金额（元）,备注\n"
        f"{good},20000,首批\n"
        f"{sme_not},1000,\n"
        f"{_uscc()},1000,不存在的企业\n"
        "123,1000,\n"
        f"{good},5000,重复\n"
        f"{_uscc()},12.345,\n"
    )
    response = await world.client.post(
        f"/api/v1/voucher-programs/{program['id']}/grants/import",
        content=csv_text.encode("gb18030"),  # as Excel saves it
        headers={**await world.bureau(), "Content-Type": "text/csv"},
    )
    assert response.status_code == 400 and error_code(response) == "grant_import_rejected"
    rows = response.json()["error"]["details"]["rows"]
    assert [(r["line"], r["code"]) for r in rows] == [
        (3, "not_tech_sme"),
        (4, "firm_not_found"),
        (5, "invalid_uscc"),
        (6, "duplicate_row"),
        (7, "invalid_amount"),
    ]
    grants = await world.client.get(
        f"/api/v1/voucher-programs/{program['id']}/grants", headers=await world.bureau()
    )
    assert grants.json() == []


async def test_a_clean_csv_imports_every_row_in_one_go(world: VoucherDesk) -> None:
    program = await world.program(budget_fen=10_000_000)
    usccs = [_uscc() for _ in range(3)]
    for u in usccs:
        await new_org(world.backend, uscc=u)
    csv_text = "uscc,amount_yuan,note\n" + "".join(f"{u},{n + 1}0000.50,批量\n" for n, u in enumerate(usccs))
    headers = {**await world.bureau(), "Content-Type": "text/csv", "Idempotency-Key": uuid.uuid4().hex}
    url = f"/api/v1/voucher-programs/{program['id']}/grants/import"
    response = await world.client.post(url, content=csv_text.encode(), headers=headers)
    assert response.status_code == 201, response.text
    assert response.json()["imported"] == 3 and response.json()["total_fen"] == 6_000_150
    assert (await world.client.post(url, content=csv_text.encode(), headers=headers)).json()["imported"] == 3
    shown = await world.client.get(f"/api/v1/voucher-programs/{program['id']}", headers=await world.bureau())
    assert shown.json()["budget_available_fen"] == 10_000_000 - 6_000_150
    too_big = "uscc,amount_yuan\n" + f"{usccs[0]},99999999\n"
    response = await world.client.post(url, content=too_big.encode(), headers=await world.bureau())
    assert response.status_code == 400
    assert [r["code"] for r in response.json()["error"]["details"]["rows"]] == ["budget_exceeded"]


async def test_a_firm_sees_only_its_own_vouchers(world: VoucherDesk) -> None:
    firm, program = await world.firm_with_grant(123_400)
    member = await new_user(world.backend, firm, Role.researcher)
    mine = (await world.client.get("/api/v1/me/vouchers", headers=await world.headers(member))).json()
    assert [g["amount_fen"] for g in mine["grants"]] == [123_400]
    assert mine["available_fen"] == 123_400 and mine["history"][0]["amount_fen"] == 123_400
    # asking for another firm's vouchers is refused
    other = await world.client.get(
        "/api/v1/me/vouchers",
        params={"enterprise_id": str(demo_id("firm-qinghe"))},
        headers=await world.headers(member),
    )
    assert other.status_code == 403 and error_code(other) == "not_firm_member"
    # and a demo researcher does not see this firm's grant
    demo = (
        await world.client.get("/api/v1/me/vouchers", headers=await world.headers("demo-researcher"))
    ).json()
    assert program["id"] not in {g["program_id"] for g in demo["grants"]}


async def test_adjustments_need_a_bureau_officer_and_a_reason_and_move_budget(world: VoucherDesk) -> None:
    program = await world.program(budget_fen=1_000_000)
    firm = await new_org(world.backend)
    grant = await world.grant(program["id"], firm, 500_000)
    url = f"/api/v1/voucher-programs/{program['id']}/adjustments"
    no_reason = await world.client.post(
        url, json={"grant_id": grant["id"], "amount_fen": 1}, headers=await world.bureau()
    )
    assert no_reason.status_code == 400
    member = await new_user(world.backend, firm, Role.enterprise_admin)
    as_firm = await world.client.post(
        url,
        json={"grant_id": grant["id"], "amount_fen": 100, "reason": "自己加钱"},
        headers=await world.headers(member),
    )
    assert as_firm.status_code == 404
    cut = await world.client.post(
        url,
        json={"grant_id": grant["id"], "amount_fen": -200_000, "reason": "企业资格复核后核减"},
        headers=await world.bureau(),
    )
    assert cut.status_code == 201, cut.text
    assert await world.balances(grant["id"]) == (300_000, 0)
    too_much = await world.client.post(
        url,
        json={"grant_id": grant["id"], "amount_fen": -300_001, "reason": "核减过多"},
        headers=await world.bureau(),
    )
    assert too_much.status_code == 409 and error_code(too_much) == "insufficient_voucher_balance"
    shown = await world.client.get(f"/api/v1/voucher-programs/{program['id']}", headers=await world.bureau())
    assert shown.json()["budget_available_fen"] == 700_000


async def test_only_platform_admins_run_the_ledger_check_and_it_finds_no_difference(
    world: VoucherDesk,
) -> None:
    assert (await world.client.get("/api/v1/ledger/check", headers=await world.bureau())).status_code == 403
    response = await world.client.get("/api/v1/ledger/check", headers=await world.headers("demo-admin"))
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] and body["differences"] == [] and body["unbalanced_entries"] == [], body
    assert body["entries_checked"] > 0
