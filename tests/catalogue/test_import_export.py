"""The monthly push: a file with bad rows imports nothing and names each bad row; a good one
imports every row; export writes the same format back."""

from __future__ import annotations

import csv
import io
import uuid

import openpyxl
from sqlalchemy import func, select

from catalogue.models import Instrument
from catalogue.transfer import HEADERS
from tests.catalogue.helpers import as_csv, instrument_body, row
from tests.support import error_code

PROVIDER = "/api/v1/provider/instruments"


async def count_zjlg(backend) -> int:
    async with backend.runtime.session_maker() as session:
        return int(await session.scalar(select(func.count()).select_from(Instrument)) or 0)


async def upload(client, headers, content: bytes, name: str):
    return await client.post(f"{PROVIDER}/import", files={"file": (name, content)}, headers=headers)


async def test_a_file_with_bad_rows_reports_each_and_imports_nothing(client, backend, login):
    staff = await login("demo-provider")
    tag = uuid.uuid4().hex[:6]
    rows = [
        row(f"T{tag}-1"),
        row(f"T{tag}-2", **{"分类代码": "0177"}),
        row(f"T{tag}-3", **{"原值（元）": "一百万", "验收日期": "2024/05/20"}),
        row(f"T{tag}-4", **{"收费项目": "形貌观察|送样|小时|10|20"}),
        row(f"T{tag}-1"),
    ]
    before = await count_zjlg(backend)
    response = await upload(client, staff, as_csv(rows), "push.csv")
    assert response.status_code == 400 and error_code(response) == "import_rejected"
    errors = response.json()["error"]["details"]["errors"]
    assert {e["row"] for e in errors} == {3, 4, 5, 6}
    assert {(e["row"], e["field"]) for e in errors} >= {
        (3, "分类代码"),
        (4, "原值（元）"),
        (4, "验收日期"),
        (6, "资产编号"),
    }
    assert all(e["message"] for e in errors)
    assert await count_zjlg(backend) == before


async def test_a_good_file_imports_every_row_and_a_second_push_updates_them(client, backend, login):
    staff = await login("demo-provider")
    tag = uuid.uuid4().hex[:6]
    rows = [row(f"G{tag}-{n}", **{"规格型号": f"SmartLab-{tag}-{n}"}) for n in range(3)]
    before = await count_zjlg(backend)
    first = await upload(client, staff, as_csv(rows), "push.csv")
    assert first.status_code == 200, first.text
    assert first.json()["created"] == 3 and first.json()["updated"] == 0
    assert await count_zjlg(backend) == before + 3
    instrument = (await client.get(f"{PROVIDER}/{first.json()['instrument_ids'][0]}", headers=staff)).json()
    assert instrument["publication"] == "pending"  # staff's push awaits the unit admin
    assert instrument["original_value_fen"] == 215_000_000
    assert [(i["name"], i["external_price_fen"]) for i in instrument["service_items"]] == [
        ("粉末物相分析", 6000),
        ("上机机时", 20000),
    ]
    again = await upload(client, staff, as_csv(rows), "push.csv")
    assert again.json()["created"] == 0 and again.json()["updated"] == 3
    assert await count_zjlg(backend) == before + 3


async def test_export_then_import_round_trips_in_xlsx(client, login):
    admin = await login("demo-unit-admin")
    exported = await client.get(f"{PROVIDER}/export", params={"format": "xlsx"}, headers=admin)
    assert exported.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(exported.content)).worksheets[0]
    values = [[c if c is not None else "" for c in r] for r in sheet.iter_rows(values_only=True)]
    assert values[0] == HEADERS and len(values) > 100
    # Instruments created without an asset number cannot be matched by a push; keep the rest.
    keep = [values[0]] + [r for r in values[1:] if r[0]]
    book = openpyxl.Workbook()
    for r in keep:
        book.active.append(r)  # type: ignore[union-attr]
    buffer = io.BytesIO()
    book.save(buffer)
    values = keep
    again = await upload(client, admin, buffer.getvalue(), "export.xlsx")
    assert again.status_code == 200, again.text
    assert again.json()["created"] == 0 and again.json()["updated"] == len(values) - 1
    csv_export = await client.get(f"{PROVIDER}/export", headers=admin)
    assert csv_export.content.startswith("\ufeff".encode())
    assert next(csv.reader(io.StringIO(csv_export.content.decode("utf-8-sig")))) == HEADERS


async def test_a_wrong_header_is_refused(client, login):
    staff = await login("demo-provider")
    bad = await upload(client, staff, "名称,型号\nA,B\n".encode(), "push.csv")
    assert bad.status_code == 400
    assert bad.json()["error"]["details"]["errors"][0]["row"] == 1
    garbage = await upload(client, staff, b"PK\x03\x04 not really a workbook", "push.xlsx")
    assert garbage.status_code == 400 and error_code(garbage) == "unreadable_import_file"


async def test_duty_items_are_marked_through_the_file_and_the_api_and_exported_as_marked(client, login):
    """法定检测 / 强制检测 / 本单位职责 (no sharing reward): the 收费项目's 7th cell, the item's ``duty``."""
    staff = await login("demo-provider")
    asset = f"D{uuid.uuid4().hex[:6]}"
    items = "粉末物相分析|送样|样|36.00|60.00|3; 食品安全抽检|送样|样|80|80||法定检测"
    imported = await upload(client, staff, as_csv([row(asset, **{"收费项目": items})]), "push.csv")
    assert imported.status_code == 200, imported.text
    wrong = await upload(
        client, staff, as_csv([row(asset, **{"收费项目": "抽检|送样|样|1|1||上级指派"})]), "p.csv"
    )
    assert wrong.status_code == 400 and "性质" in wrong.text

    mine = (await client.get(f"{PROVIDER}?q={asset}", headers=staff)).json()
    listed = next(i for i in mine["items"] if i["asset_number"] == asset)
    shown = (await client.get(f"{PROVIDER}/{listed['id']}", headers=staff)).json()
    assert {i["name"]: i["duty"] for i in shown["service_items"]} == {
        "粉末物相分析": "none",
        "食品安全抽检": "statutory",
    }
    # the API marks an item as the unit's own duties; the export writes the marks back
    body = instrument_body()
    body["service_items"][0]["duty"] = "own_duty"
    created = await client.post(PROVIDER, json=body, headers=staff)
    assert created.status_code == 201 and created.json()["service_items"][0]["duty"] == "own_duty"
    exported = (await client.get(f"{PROVIDER}/export", headers=staff)).content.decode("utf-8-sig")
    rows = {r[0]: r[-1] for r in csv.reader(io.StringIO(exported)) if r}
    assert rows[asset] == "粉末物相分析|送样|样|36.00|60.00|3; 食品安全抽检|送样|样|80.00|80.00||法定检测"
    assert rows[body["asset_number"]].split("; ")[0].endswith("|本单位职责")
