"""The audit trail: a change made through the API is found by the platform operator, with who made
it, when, and the changed fields before and after; a refused change leaves nothing behind."""

from __future__ import annotations

import uuid
from datetime import timedelta

from accounts.demo import demo_id
from tests.catalogue.helpers import instrument_body
from tests.support import error_code
from tests.vouchers.desk import program_body
from yixiang.clock import shanghai_today

PROVIDER = "/api/v1/provider/instruments"
AUDIT = "/api/v1/audit"


async def test_a_price_change_shows_in_the_audit_search_with_its_before_and_after(client, login):
    staff, operator = await login("demo-provider"), await login("demo-admin")
    created = (
        await client.post(PROVIDER, json=instrument_body(model=f"A-{uuid.uuid4().hex[:6]}"), headers=staff)
    ).json()
    body = instrument_body(
        asset_number=created["asset_number"], model=created["model"], name="场发射扫描电镜（新）"
    )
    body["service_items"] = [dict(item) for item in created["service_items"]]
    for item in body["service_items"]:
        for read_only in (
            set(item) - set(instrument_body()["service_items"][0]) - {"id", "turnaround_working_days"}
        ):
            item.pop(read_only)
    body["service_items"][0]["external_price_fen"] = 45_000
    edited = await client.put(f"{PROVIDER}/{created['id']}", json=body, headers=staff)
    assert edited.status_code == 200, edited.text

    found = await client.get(
        AUDIT, params={"entity": "instrument", "entity_id": created["id"]}, headers=operator
    )
    assert found.status_code == 200, found.text
    entries = found.json()["items"]
    assert [e["action"] for e in entries] == ["updated", "created"]  # newest first
    edit = entries[0]
    assert edit["actor_username"] == "demo-provider"
    assert edit["before"] == {"name": "场发射扫描电子显微镜"}
    assert edit["after"] == {"name": "场发射扫描电镜（新）"}
    assert entries[1]["after"]["fee_basis"] == "成本补偿、非营利"

    machine_time = created["service_items"][0]["id"]
    price = (
        await client.get(
            AUDIT, params={"entity": "service_item", "entity_id": machine_time}, headers=operator
        )
    ).json()
    newest = price["items"][0]
    assert (newest["action"], newest["before"], newest["after"]) == (
        "updated",
        {"external_price_fen": 40_000},
        {"external_price_fen": 45_000},
    )
    # the operator finds it by a word of the change, and by who made it
    by_word = (await client.get(AUDIT, params={"q": "场发射扫描电镜（新）"}, headers=operator)).json()
    assert edit["id"] in [e["id"] for e in by_word["items"]]
    by_actor = (
        await client.get(
            AUDIT, params={"actor": "demo-unit-admin", "entity_id": created["id"]}, headers=operator
        )
    ).json()
    assert by_actor["total"] == 0
    # the provider who made the change does not read the trail
    refused = await client.get(AUDIT, headers=staff)
    assert refused.status_code == 403 and error_code(refused) == "forbidden"


async def test_publication_calendar_and_closures_are_recorded(client, login):
    staff, admin, operator = (
        await login("demo-provider"),
        await login("demo-unit-admin"),
        await login("demo-admin"),
    )
    instrument = (await client.post(PROVIDER, json=instrument_body(), headers=staff)).json()
    await client.post(f"{PROVIDER}/{instrument['id']}/submit", headers=staff)
    await client.post(f"{PROVIDER}/{instrument['id']}/approve", json={"note": "资料齐全"}, headers=admin)
    calendar = {"weekly_hours": [{"weekday": 0, "start": "09:00", "end": "17:00"}], "slot_minutes": 30}
    assert (
        await client.put(f"{PROVIDER}/{instrument['id']}/calendar", json=calendar, headers=staff)
    ).status_code == 200
    calendar["slot_minutes"] = 60
    assert (
        await client.put(f"{PROVIDER}/{instrument['id']}/calendar", json=calendar, headers=staff)
    ).status_code == 200
    day = shanghai_today() + timedelta(days=20)
    closure = await client.post(
        f"{PROVIDER}/{instrument['id']}/closures",
        json={"start": f"{day}T08:00:00+08:00", "end": f"{day}T18:00:00+08:00", "reason": "年度校准"},
        headers=staff,
    )
    assert closure.status_code in (200, 201), closure.text
    closure_id = closure.json()["closure"]["id"] if "closure" in closure.json() else closure.json()["id"]
    removed = await client.delete(f"{PROVIDER}/{instrument['id']}/closures/{closure_id}", headers=staff)
    assert removed.status_code in (200, 204)

    def changes(page: dict) -> list[tuple[str, str, dict | None, dict | None]]:
        return [(e["entity_type"], e["action"], e["before"], e["after"]) for e in page["items"]]

    publication = (await client.get(AUDIT, params={"entity_id": instrument["id"]}, headers=operator)).json()
    approve = next(e for e in publication["items"] if e["action"] == "approve")
    assert approve["actor_username"] == "demo-unit-admin"
    assert approve["before"]["publication"] == "pending" and approve["after"]["publication"] == "published"
    assert approve["after"]["review_note"] == "资料齐全"
    slots = changes(
        (
            await client.get(
                AUDIT, params={"entity": "calendar", "entity_id": instrument["id"]}, headers=operator
            )
        ).json()
    )
    assert slots[0] == ("calendar", "updated", {"slot_minutes": 30}, {"slot_minutes": 60})
    assert slots[1][1] == "created"
    closures = (
        await client.get(AUDIT, params={"entity": "closure", "entity_id": closure_id}, headers=operator)
    ).json()
    assert [e["action"] for e in closures["items"]] == ["removed", "created"]
    assert closures["items"][0]["before"]["reason"] == "年度校准"


async def test_roles_programmes_and_working_days_are_recorded_and_found_by_time(client, login):
    unit_admin, bureau, operator = (
        await login("demo-unit-admin"),
        await login("demo-science-bureau"),
        await login("demo-admin"),
    )
    unit = demo_id("unit-zjlg")
    first_day = shanghai_today()  # with last_day below: a run crossing midnight in Shanghai moves on
    added = await client.post(
        f"/api/v1/organizations/{unit}/members",
        json={"username": "demo-researcher-2", "role": "provider_staff"},
        headers=unit_admin,
    )
    assert added.status_code == 201, added.text
    gone = await client.delete(
        f"/api/v1/organizations/{unit}/members/{demo_id('demo-researcher-2')}", headers=unit_admin
    )
    assert gone.status_code == 204, gone.text
    program = await client.post(
        "/api/v1/voucher-programs",
        json=program_body(),
        headers={**bureau, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert program.status_code == 201, program.text
    day = "2097-03-14"  # a day no other test overrides (the suite shares one database)
    await client.put(
        f"/api/v1/admin/working-days/{day}",
        json={"is_working_day": True, "name": "审计测试"},
        headers=operator,
    )
    await client.delete(f"/api/v1/admin/working-days/{day}", headers=operator)

    last_day = shanghai_today()
    roles = (
        await client.get(
            AUDIT,
            params={"entity": "membership", "since": str(first_day), "until": str(last_day)},
            headers=operator,
        )
    ).json()
    mine = [
        e
        for e in roles["items"]
        if (e["after"] or e["before"])["user_id"] == str(demo_id("demo-researcher-2"))
    ]
    assert [(e["action"], e["actor_username"]) for e in mine][:2] == [
        ("removed", "demo-unit-admin"),
        ("created", "demo-unit-admin"),
    ]
    assert mine[1]["after"]["role"] == "provider_staff"
    day_before = str(first_day - timedelta(days=1))
    earlier = (
        await client.get(AUDIT, params={"entity": "membership", "until": day_before}, headers=operator)
    ).json()
    assert not {e["id"] for e in mine} & {e["id"] for e in earlier["items"]}
    programs = (
        await client.get(
            AUDIT, params={"entity": "voucher_program", "entity_id": program.json()["id"]}, headers=operator
        )
    ).json()
    assert programs["items"][0]["after"]["budget_fen"] == 100_000_000
    assert programs["items"][0]["actor_username"] == "demo-science-bureau"
    days = (
        await client.get(AUDIT, params={"entity": "working_day", "entity_id": day}, headers=operator)
    ).json()
    assert [(e["action"], e["before"], e["after"]) for e in days["items"]] == [
        ("removed", {"is_working_day": True, "name": "审计测试"}, None),
        ("created", None, {"is_working_day": True, "name": "审计测试"}),
    ]


async def test_a_refused_change_leaves_no_entry(client, login):
    staff, operator = await login("demo-provider"), await login("demo-admin")
    instrument = (await client.post(PROVIDER, json=instrument_body(), headers=staff)).json()
    bad = instrument_body(asset_number=instrument["asset_number"], category_code="9999")
    assert (await client.put(f"{PROVIDER}/{instrument['id']}", json=bad, headers=staff)).status_code in (
        400,
        422,
    )
    found = (await client.get(AUDIT, params={"entity_id": instrument["id"]}, headers=operator)).json()
    assert [e["action"] for e in found["items"]] == ["created"]
    unknown = await client.get(AUDIT, params={"entity": "bookings"}, headers=operator)
    assert unknown.status_code == 400


async def test_the_operator_reads_a_change_made_on_the_console_in_the_audit_page(backend):
    from tests.console.desk import post_form, signed_in

    operator = await signed_in(backend, "demo-admin")
    day = "2097-05-06"
    form = "/console/working-days?year=2097"
    await post_form(operator, form, "/console/working-days", day=day, kind="holiday", name="审计页测试")
    await post_form(operator, form, "/console/working-days", day=day, kind="working", name="审计页测试")
    page = await operator.get(f"/console/audit?entity=working_day&entity_id={day}")
    assert page.status_code == 200
    assert "审计页测试" in page.text  # the creation names the day; the edit only what changed
    assert "<dt>is_working_day</dt><dd><del>False</del> → <ins>True</ins></dd>" in page.text
    assert "修改" in page.text and "新建" in page.text and "demo-admin" in page.text
    none = await operator.get(f"/console/audit?entity=working_day&entity_id={day}&until=2000-01-01")
    assert "没有符合条件的记录" in none.text
    provider = await signed_in(backend, "demo-provider")
    assert (await provider.get("/console/audit")).status_code == 403
