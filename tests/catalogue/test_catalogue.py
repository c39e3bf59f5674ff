"""Provider staff list their unit's instruments; a unit admin publishes; the public sees the result."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import select

from accounts.demo import demo_id
from catalogue.listing import listing_deadline
from catalogue.workdays import WorkingDayCalendar
from tests.catalogue.helpers import instrument_body
from tests.support import error_code
from yixiang.outbox import OutboxEvent

PROVIDER = "/api/v1/provider/instruments"


async def test_staff_create_a_draft_the_unit_admin_publishes_it(client, login):
    staff, admin, researcher = (
        await login("demo-provider"),
        await login("demo-unit-admin"),
        await login("demo-researcher"),
    )
    created = await client.post(
        PROVIDER, json=instrument_body(model=f"S-{uuid.uuid4().hex[:6]}"), headers=staff
    )
    assert created.status_code == 201, created.text
    instrument = created.json()
    assert instrument["publication"] == "draft"
    assert instrument["unit"]["id"] == str(demo_id("unit-zjlg"))
    public = f"/api/v1/instruments/{instrument['id']}"
    assert (await client.get(public)).status_code == 404

    submitted = await client.post(f"{PROVIDER}/{instrument['id']}/submit", headers=staff)
    assert submitted.json()["publication"] == "pending"
    refused = await client.post(f"{PROVIDER}/{instrument['id']}/approve", headers=staff)
    assert refused.status_code == 403 and error_code(refused) == "not_unit_admin"
    approved = await client.post(
        f"{PROVIDER}/{instrument['id']}/approve", json={"note": "资料齐全"}, headers=admin
    )
    assert approved.status_code == 200 and approved.json()["publication"] == "published"

    anonymous = (await client.get(public)).json()
    assert [i["name"] for i in anonymous["service_items"]] == ["上机机时", "形貌观察"]
    assert anonymous["fee_standard"]["items"] == anonymous["service_items"]
    assert anonymous["fee_standard"]["basis"] == "成本补偿、非营利"
    assert anonymous["service_modes"] == ["machine_time", "sample_testing"]
    assert anonymous["contact"] is None  # contact details only for signed-in users
    assert (await client.get(public, headers=researcher)).json()["contact"]["email"] == "sem@zjlg.example.cn"
    listing = anonymous["listing"]
    assert listing["required"] is True and listing["met"] is False  # accepted 2025-09-26, listed today
    assert listing["deadline"] == "2025-11-13"


async def test_every_change_emits_a_catalogue_event_in_the_same_transaction(backend, client, login):
    staff = await login("demo-provider")
    created = await client.post(PROVIDER, json=instrument_body(), headers=staff)
    async with backend.runtime.session_maker() as session:
        events = (
            await session.scalars(
                select(OutboxEvent).where(OutboxEvent.topic == "catalogue.instrument_changed")
            )
        ).all()
    assert any(created.json()["id"] in e.payload["instrument_ids"] for e in events)


async def test_staff_of_another_unit_cannot_see_or_edit_it(client, login, backend):
    from accounts.models import Role
    from tests.booking.world import make_user

    staff = await login("demo-provider")
    other = await login(await make_user(backend, demo_id("unit-hzcl"), Role.provider_staff))
    created = (await client.post(PROVIDER, json=instrument_body(), headers=staff)).json()
    assert (await client.get(f"{PROVIDER}/{created['id']}", headers=other)).status_code == 404
    edit = await client.put(f"{PROVIDER}/{created['id']}", json=instrument_body(name="改名"), headers=other)
    assert edit.status_code == 404
    mine = await client.get(PROVIDER, params={"limit": 200}, headers=other)
    assert created["id"] not in [i["id"] for i in mine.json()["items"]]


async def test_provider_list_shows_only_my_units_instruments_in_every_state(client, login):
    staff = await login("demo-provider")
    page = await client.get(PROVIDER, params={"limit": 200}, headers=staff)
    assert page.status_code == 200
    body = page.json()
    assert body["total"] >= 100
    # each state asked for by itself: other tests add instruments to this unit, so the first
    # 200 of the whole list need not hold every state
    for state in ("published", "draft", "pending"):
        listed = (
            await client.get(PROVIDER, params={"limit": 200, "publication": state}, headers=staff)
        ).json()
        assert listed["items"] and {i["publication"] for i in listed["items"]} == {state}, state
    researcher = await login("demo-researcher")
    assert (await client.get(PROVIDER, headers=researcher)).status_code == 403


async def test_invalid_instruments_are_refused_naming_the_field(client, login):
    staff = await login("demo-provider")
    unknown = await client.post(PROVIDER, json=instrument_body(category_code="01"), headers=staff)
    assert unknown.status_code == 400 and error_code(unknown) == "unknown_category"
    region = await client.post(PROVIDER, json=instrument_body(region_code="999999"), headers=staff)
    assert error_code(region) == "unknown_region"
    body = instrument_body(self_operation=False, operator_run=False)
    no_machine_time = await client.post(PROVIDER, json=body, headers=staff)
    assert no_machine_time.status_code == 400
    assert no_machine_time.json()["error"]["details"]["fields"][0]["field"] == "service_items[0].mode"
    negative = await client.post(PROVIDER, json=instrument_body(original_value_fen=-1), headers=staff)
    assert negative.status_code == 400 and "original_value_fen" in negative.json()["error"]["message"]


async def test_items_left_out_of_an_edit_are_deactivated_not_deleted(client, login):
    staff = await login("demo-provider")
    created = (await client.post(PROVIDER, json=instrument_body(), headers=staff)).json()
    keep = created["service_items"][0]
    body = instrument_body(service_items=[{k: v for k, v in keep.items() if k != "active"}])
    edited = await client.put(f"{PROVIDER}/{created['id']}", json=body, headers=staff)
    assert edited.status_code == 200, edited.text
    items = edited.json()["service_items"]
    assert [(i["id"], i["active"]) for i in items] == [
        (keep["id"], True),
        (created["service_items"][1]["id"], False),
    ]


def test_listing_deadline_counts_chinese_working_days():
    calendar = WorkingDayCalendar()
    # 2025: National Day and Mid-Autumn 10-01..10-08 off, 09-28 and 10-11 make-up working days.
    deadline = listing_deadline(
        original_value_fen=50_000_000,
        acceptance_date=date(2025, 9, 26),
        published_at=None,
        threshold_fen=50_000_000,
        calendar=calendar,
        today=date(2025, 10, 1),
    )
    assert deadline.deadline == date(2025, 11, 13)
    assert deadline.required and deadline.met is None and not deadline.overdue
    below = listing_deadline(
        original_value_fen=49_999_999,
        acceptance_date=date(2025, 9, 26),
        published_at=None,
        threshold_fen=50_000_000,
        calendar=calendar,
    )
    assert not below.required and below.deadline is None


def test_an_unknown_year_falls_back_to_weekends_and_admin_overrides_apply():
    plain = WorkingDayCalendar()
    assert plain.add_working_days(date(2031, 1, 1), 1) == date(2031, 1, 2)  # no data for 2031: weekdays
    with_holiday = WorkingDayCalendar({date(2031, 1, 2): False})
    assert with_holiday.add_working_days(date(2031, 1, 1), 1) == date(2031, 1, 3)


async def test_platform_admin_edits_working_day_overrides(client, login):
    admin, staff = await login("demo-admin"), await login("demo-provider")
    day = "2031-01-02"
    refused = await client.put(
        f"/api/v1/admin/working-days/{day}", json={"is_working_day": False}, headers=staff
    )
    assert refused.status_code == 403
    saved = await client.put(
        f"/api/v1/admin/working-days/{day}", json={"is_working_day": False, "name": "元旦"}, headers=admin
    )
    assert saved.status_code == 200 and saved.json()["is_working_day"] is False
    listed = await client.get("/api/v1/admin/working-days", params={"year": 2031}, headers=admin)
    assert [d["day"] for d in listed.json()] == [day]
    assert (await client.delete(f"/api/v1/admin/working-days/{day}", headers=admin)).status_code == 204
    assert (await client.get("/api/v1/admin/working-days", params={"year": 2031}, headers=admin)).json() == []


async def test_categories_are_two_levels(client):
    tree = (await client.get("/api/v1/instrument-categories")).json()
    analytical = next(c for c in tree if c["code"] == "01")
    assert analytical["name"] == "分析仪器"
    assert {"0106", "0101"} <= {c["code"] for c in analytical["children"]}
