"""Opening an evaluation from a year's records: the units with listed instruments take part, an
upheld complaint of that year costs points, an unused generic instrument is flagged, and the
figures say where they came from."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import update

from accounts.demo import demo_id
from catalogue.models import Category, Instrument
from oversight.complaint_models import Complaint
from tests.booking.world import make_instrument
from tests.support import error_code

OV = "/api/v1/oversight"
YEAR = 2011  # a year no other test opens
ZJLG = demo_id("unit-zjlg")


async def listed_in(backend, year: int, *, generic: bool) -> uuid.UUID:
    instrument = await make_instrument(backend)
    code = "9G" if generic else "99"
    async with backend.runtime.session_maker() as session, session.begin():
        if generic and await session.get(Category, code) is None:
            session.add(
                Category(code=code, name="测试用通用仪器", name_en="Generic test instruments", generic=True)
            )
            await session.flush()
        await session.execute(
            update(Instrument)
            .where(Instrument.id == instrument.instrument_id)
            .values(published_at=datetime(year, 1, 5, tzinfo=UTC), category_code=code)
        )
    return instrument.instrument_id


async def test_an_evaluation_opens_from_the_years_records(client, login, backend):
    generic = await listed_in(backend, YEAR, generic=True)
    await listed_in(backend, YEAR, generic=False)
    science, finance, researcher = (
        await login("demo-science-bureau"),
        await login("demo-finance-bureau"),
        await login("demo-firm-admin"),
    )
    # a complaint about 之江理工, upheld in that year
    filed = await client.post(
        "/api/v1/complaints", json={"unit_id": str(ZJLG), "text": "仪器长期无法预约"}, headers=researcher
    )
    cid = filed.json()["id"]
    assert (await client.post(f"/api/v1/complaints/{cid}/accept", headers=science)).status_code == 200
    decided = await client.post(
        f"/api/v1/complaints/{cid}/decision", json={"upheld": True, "answer": "属实"}, headers=science
    )
    assert decided.status_code == 200
    async with backend.runtime.session_maker() as session, session.begin():
        await session.execute(
            update(Complaint)
            .where(Complaint.id == uuid.UUID(cid))
            .values(decided_at=datetime(YEAR, 6, 1, tzinfo=UTC))
        )
    body = {"year": YEAR, "region_code": "330100"}
    refused = await client.post(f"{OV}/evaluations", json=body, headers=finance)
    assert refused.status_code == 403 and error_code(refused) == "science_bureau_required"
    this_year = await client.post(f"{OV}/evaluations", json={"year": 2100}, headers=science)
    assert this_year.status_code == 400
    opened = await client.post(f"{OV}/evaluations", json=body, headers=science)
    assert opened.status_code == 201, opened.text
    evaluation = opened.json()
    assert evaluation["status"] == "draft" and evaluation["year"] == YEAR
    [zjlg] = [r for r in evaluation["results"] if r["unit_id"] == str(ZJLG)]
    assert zjlg["figures"]["instruments"] >= 2 and zjlg["figures"]["hours_source"] == "bookings"
    assert zjlg["figures"]["complaints_upheld"] == 1 and zjlg["points"]["complaints"] == -2
    assert zjlg["computed_score"] == round(sum(zjlg["points"].values()), 2)
    flagged = {f["instrument_id"]: f for f in evaluation["flags"]}
    assert str(generic) in flagged and flagged[str(generic)]["usage_rate"] == 0  # never used
    assert flagged[str(generic)]["open"] is False  # a flag counts once the evaluation is published
    again = await client.post(f"{OV}/evaluations", json=body, headers=science)
    assert again.status_code == 409 and error_code(again) == "evaluation_exists"
