"""Complaints end to end: a researcher complains about a booking of theirs, the science bureau of
the provider's region accepts and upholds it with reasons; the researcher sees the answer, the
unit sees the complaint without who filed it; deadlines in working days and the overdue list;
every step idempotent; nobody else sees or handles it."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import update

from accounts.demo import demo_id
from catalogue.models import Instrument
from catalogue.workdays import WorkingDayCalendar
from oversight.complaint_models import Complaint
from oversight.complaints import upheld_counts
from tests.booking.world import day_at, machine_time, make_instrument, set_calendar
from tests.support import error_code
from yixiang.clock import shanghai_today
from yixiang.db import utcnow

C = "/api/v1/complaints"


async def booking_of(client, login, backend, username: str = "demo-researcher") -> tuple[str, str]:
    world = await make_instrument(backend)
    await set_calendar(client, await login("demo-provider"), world.instrument_id)
    start = day_at(3, 10)
    r = await client.post(
        "/api/v1/bookings",
        json=machine_time(world, start, start + timedelta(hours=1)),
        headers=await login(username),
    )
    assert r.status_code == 201, r.text
    return r.json()["id"], str(world.instrument_id)


async def test_a_complaint_about_a_booking_is_accepted_upheld_and_answered(client, login, backend):
    booking_id, instrument_id = await booking_of(client, login, backend)
    researcher, other = await login("demo-researcher"), await login("demo-researcher-2")
    provider, science, finance = (
        await login("demo-provider"),
        await login("demo-science-bureau"),
        await login("demo-finance-bureau"),
    )
    ningbo = await login("demo-science-bureau-nb")
    # another firm's researcher cannot complain about this booking
    foreign = await client.post(C, json={"booking_id": booking_id, "text": "不是我的预约"}, headers=other)
    assert foreign.status_code == 400 and error_code(foreign) == "complaint_subject_invalid"
    key = {"Idempotency-Key": f"complaint-{uuid.uuid4().hex}"}
    body = {"booking_id": booking_id, "text": "上机时仪器未校准，机时被浪费"}
    filed = await client.post(C, json=body, headers=researcher | key)
    assert filed.status_code == 201, filed.text
    again = await client.post(C, json=body, headers=researcher | key)  # a double tap files once
    assert again.json()["id"] == filed.json()["id"]
    complaint = filed.json()
    cid = complaint["id"]
    assert complaint["status"] == "filed" and complaint["status_label"] == "待受理"
    assert complaint["instrument_id"] == instrument_id and complaint["unit_id"] == str(demo_id("unit-zjlg"))
    expected = WorkingDayCalendar().add_working_days(shanghai_today(), 15)
    assert complaint["deadline"] == expected.isoformat()  # 15 working days (no overrides in that span)
    # the unit sees it, without the complainant's name or firm; the bureau sees who filed it
    seen_by_unit = (await client.get(f"{C}/{cid}", headers=provider)).json()
    assert seen_by_unit["text"] == body["text"] and seen_by_unit["booking_number"]
    assert seen_by_unit["complainant"] is None and seen_by_unit["firm"] is None
    seen_by_bureau = (await client.get(f"{C}/{cid}", headers=science)).json()
    assert seen_by_bureau["firm"] == "杭州青禾生物科技有限公司" and seen_by_bureau["complainant"]
    # strangers: not found; the unit and the finance bureau cannot handle it
    assert (await client.get(f"{C}/{cid}", headers=other)).status_code == 404
    assert (await client.get(f"{C}/{cid}", headers=ningbo)).status_code == 404
    assert cid not in [c["id"] for c in (await client.get(C, headers=other)).json()]
    assert (await client.post(f"{C}/{cid}/accept", headers=provider)).status_code == 403
    assert error_code(await client.post(f"{C}/{cid}/accept", headers=finance)) == "science_bureau_required"
    # upholding needs it accepted first
    early = await client.post(f"{C}/{cid}/decision", json={"upheld": True, "answer": "属实"}, headers=science)
    assert early.status_code == 409 and error_code(early) == "complaint_invalid_transition"
    for _ in range(2):  # accepting twice changes nothing
        accepted = await client.post(f"{C}/{cid}/accept", headers=science)
        assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"
    decision = {"upheld": True, "answer": "经核实，该单位未按规定校准仪器，投诉成立，已责令整改。"}
    upheld = await client.post(f"{C}/{cid}/decision", json=decision, headers=science)
    assert upheld.status_code == 200 and upheld.json()["status"] == "upheld"
    assert (await client.post(f"{C}/{cid}/decision", json=decision, headers=science)).status_code == 200
    flipped = await client.post(
        f"{C}/{cid}/decision", json={"upheld": False, "answer": "改判"}, headers=science
    )
    assert flipped.status_code == 409  # decided: no second decision
    mine = [c for c in (await client.get(C, headers=researcher)).json() if c["id"] == cid]
    assert mine[0]["status_label"] == "投诉成立" and mine[0]["answer"] == decision["answer"]
    async with backend.runtime.session_maker() as session:
        units, instruments = await upheld_counts(
            session,
            region_code="330100",
            start=utcnow() - timedelta(hours=1),
            end=utcnow() + timedelta(hours=1),
        )
    assert units[demo_id("unit-zjlg")] >= 1 and instruments[uuid.UUID(instrument_id)] == 1


async def test_a_complaint_about_a_unit_can_be_rejected_and_overdue_ones_are_listed(client, login, backend):
    admin, science = await login("demo-firm-admin"), await login("demo-science-bureau")
    unit = str(demo_id("unit-zjlg"))
    filed = await client.post(C, json={"unit_id": unit, "text": "收费标准未公示"}, headers=admin)
    assert filed.status_code == 201, filed.text
    cid = filed.json()["id"]
    overdue = await client.get(f"{C}?overdue=true", headers=science)
    assert cid not in [c["id"] for c in overdue.json()]
    async with backend.runtime.session_maker() as session, session.begin():
        await session.execute(
            update(Complaint)
            .where(Complaint.id == uuid.UUID(cid))
            .values(deadline=shanghai_today() - timedelta(days=1))
        )
    overdue = (await client.get(f"{C}?overdue=true", headers=science)).json()
    assert [c["overdue"] for c in overdue if c["id"] == cid] == [True]
    # not taken up at all (不予受理), with reasons
    rejected = await client.post(
        f"{C}/{cid}/decision",
        json={"upheld": False, "answer": "收费标准已在平台公示，投诉不成立"},
        headers=science,
    )
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    assert cid not in [c["id"] for c in (await client.get(f"{C}?overdue=true", headers=science)).json()]
    # the desk staff cannot file complaints; a complaint names one subject
    provider = await login("demo-provider")
    assert (
        await client.post(C, json={"unit_id": unit, "text": "自己投诉自己"}, headers=provider)
    ).status_code == 403
    both = await client.post(C, json={"text": "两个对象都写了"}, headers=admin)
    assert both.status_code == 400 and error_code(both) == "complaint_subject_invalid"


async def test_the_city_bureau_handles_complaints_about_its_districts_units(client, login, backend):
    """An instrument in 西湖区 (330106): 杭州 (330100)'s science bureau handles it, 宁波's does not."""
    booking_id, instrument_id = await booking_of(client, login, backend)
    async with backend.runtime.session_maker() as session, session.begin():
        await session.execute(
            update(Instrument).where(Instrument.id == uuid.UUID(instrument_id)).values(region_code="330106")
        )
    researcher, science = await login("demo-researcher"), await login("demo-science-bureau")
    filed = await client.post(
        C, json={"booking_id": booking_id, "text": "区县仪器的投诉"}, headers=researcher
    )
    assert filed.status_code == 201 and filed.json()["region_code"] == "330106"
    cid = filed.json()["id"]
    assert cid in [c["id"] for c in (await client.get(C, headers=science)).json()]
    assert (await client.post(f"{C}/{cid}/accept", headers=science)).status_code == 200
    ningbo = await login("demo-science-bureau-nb")
    assert (await client.get(f"{C}/{cid}", headers=ningbo)).status_code == 404
