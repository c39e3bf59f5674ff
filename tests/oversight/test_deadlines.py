"""Deadlines listing starts: a sensor within 30 working days, complete service information within
3 months; the lists a unit and its region's bureau work from, and their CSV/XLSX downloads."""

from __future__ import annotations

import csv
import io
from datetime import date

from openpyxl import load_workbook
from sqlalchemy import update

from accounts.demo import demo_id
from accounts.models import Role
from catalogue.models import Instrument
from catalogue.workdays import load_working_day_calendar
from oversight.idle import check_idle
from tests.booking.world import make_instrument, make_user
from tests.oversight.test_idle import LISTED, add_months_at, case_of, listed_on
from tests.oversight.world import P, monitored_instrument

SB = "demo-science-bureau"


async def listed(client, headers, path: str) -> dict[str, dict]:
    r = await client.get(f"/api/v1/oversight/{path}", headers=headers)
    assert r.status_code == 200, r.text
    return {row["instrument_id"]: row for row in r.json()}


async def test_no_sensor_past_its_deadline_is_listed_as_such_and_not_as_idle(backend, client, login):
    staff, bureau = await login(P), await login(SB)
    bare = await make_instrument(backend)
    fitted = await monitored_instrument(backend, client, staff)
    for instrument_id in (bare.instrument_id, fitted.instrument_id):
        await listed_on(backend, instrument_id)
    async with backend.runtime.session_maker() as session:
        await check_idle(
            session, add_months_at(LISTED, 6), instrument_ids=[bare.instrument_id, fitted.instrument_id]
        )
        calendar = await load_working_day_calendar(session)

    assert await case_of(client, bureau, bare.instrument_id) is None  # not idle: no sensor
    assert (await case_of(client, bureau, fitted.instrument_id))["level"] == 6

    rows = await listed(client, bureau, "overdue-sensors")
    assert str(fitted.instrument_id) not in rows
    row = rows[str(bare.instrument_id)]
    due = date.fromisoformat(row["due"])
    assert row["listed_on"] == "2026-01-10" and due == calendar.add_working_days(date(2026, 1, 10), 30)
    # 30 working days around the Spring Festival holiday: well past six calendar weeks
    assert (due - date(2026, 1, 10)).days > 42 and due.weekday() < 5
    assert str(bare.instrument_id) in await listed(client, staff, "overdue-sensors")  # its unit's
    ningbo = await login(await make_user(backend, demo_id("bureau-nb-sci"), Role.bureau_officer))
    assert str(bare.instrument_id) not in await listed(client, ningbo, "overdue-sensors")

    r = await client.get("/api/v1/oversight/overdue-sensors/export", headers=bureau)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert table[0][:5] == ["仪器", "管理单位", "行政区划", "入网日期", "截止日期"]
    assert any(line[-1] == str(bare.instrument_id) and line[4] == row["due"] for line in table[1:])


async def test_incomplete_service_information_is_listed_three_months_after_listing(backend, client, login):
    bureau = await login(SB)
    world = await make_instrument(backend)
    await listed_on(backend, world.instrument_id)
    row = (await listed(client, bureau, "overdue-service-info"))[str(world.instrument_id)]
    assert row["due"] == "2026-04-10"
    assert row["missing"] == ["服务内容", "服务流程", "收费标准"]  # its priced items are its 服务方式

    r = await client.get(
        "/api/v1/oversight/overdue-service-info/export", params={"format": "xlsx"}, headers=bureau
    )
    assert r.status_code == 200, r.text
    sheet = load_workbook(io.BytesIO(r.content)).active
    lines = [[c.value for c in line] for line in sheet.iter_rows()]
    assert any(
        line[-1] == str(world.instrument_id) and line[6] == "服务内容、服务流程、收费标准" for line in lines
    )

    async with backend.runtime.session_maker() as session, session.begin():
        await session.execute(
            update(Instrument)
            .where(Instrument.id == world.instrument_id)
            .values(
                specifications={"分辨率": "1 nm"},
                contact_name="王老师",
                contact_phone="0571-88888888",
                sample_requirements="固体粉末，不少于 1 g",
                fee_basis="按材料费、运行费和人工费核定",
            )
        )
    assert str(world.instrument_id) not in await listed(client, bureau, "overdue-service-info")


async def test_the_idle_list_downloads_as_a_spreadsheet(backend, client, login):
    staff = await login(P)
    m = await monitored_instrument(backend, client, staff)
    await listed_on(backend, m.instrument_id)
    async with backend.runtime.session_maker() as session:
        await check_idle(session, add_months_at(LISTED, 3), instrument_ids=[m.instrument_id])
    r = await client.get("/api/v1/oversight/idle/export", params={"level": 3}, headers=staff)
    assert r.status_code == 200, r.text
    table = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    line = next(line for line in table[1:] if line[-1] == str(m.instrument_id))
    assert (line[2], line[4]) == ("2026-01-10", "内部资产划转（满3个月）")
