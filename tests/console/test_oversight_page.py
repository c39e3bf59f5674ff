"""闲置与整改 in the console: the bureau's region and the unit's own idle instruments and overdue
deadlines, as the API lists them, with their downloads."""

from __future__ import annotations

import csv
import io

from accounts.demo import demo_id
from tests.console.desk import signed_in
from tests.support import Backend


async def test_the_bureau_sees_the_regions_lists_and_downloads_them(backend: Backend, client, login) -> None:
    officer = await signed_in(backend, "demo-science-bureau")
    page = await officer.get("/console/oversight")
    assert page.status_code == 200 and "闲置与整改" in page.text
    api = await client.get("/api/v1/oversight/idle", headers=await login("demo-science-bureau"))
    names = {case["instrument_name"] for case in api.json()}
    assert names and all(name in page.text for name in names)  # the demo's idle instruments
    assert "内部资产划转（满3个月）" in page.text and "通报批评（满6个月）" in page.text

    download = await officer.get("/console/oversight/export", params={"list": "idle", "format": "csv"})
    assert download.status_code == 200 and download.headers["content-type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(download.content.decode("utf-8-sig"))))
    assert table[0][0] == "仪器" and {line[0] for line in table[1:]} == names

    unit_page = await (await signed_in(backend, "demo-provider")).get("/console/oversight")
    own = {case["instrument_name"] for case in api.json() if case["unit_id"] == str(demo_id("unit-zjlg"))}
    assert unit_page.status_code == 200 and own and all(name in unit_page.text for name in own)
