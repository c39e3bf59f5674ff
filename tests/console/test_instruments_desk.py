"""The unit's instruments from the console: a monthly push refused row by row (nothing written),
then imported; the staff's import waits for the unit admin, who publishes it; a researcher's
self-operation qualification granted and revoked — each seen through the API after."""

from __future__ import annotations

import io
import uuid

from openpyxl import load_workbook

from accounts.demo import demo_id
from tests.attack.test_authz_matrix import UA, P
from tests.booking.world import make_instrument
from tests.catalogue.helpers import as_csv, row
from tests.console.desk import csrf_of, finished_job, signed_in

PROVIDER_API = "/api/v1/provider/instruments"


async def test_a_push_is_refused_row_by_row_then_imported_and_published(backend, client, login):
    staff, admin = await signed_in(backend, P), await signed_in(backend, UA)
    asset = f"C-{uuid.uuid4().hex[:10]}"
    page = await staff.get("/console/instruments")
    bad = as_csv([row(asset), row(f"{asset}-2", **{"分类代码": "9999", "产地": "火星"})])
    r = await staff.post(
        "/console/instruments/import",
        data={"_csrf": csrf_of(page)},
        files={"file": ("push.csv", bad, "text/csv")},
    )
    assert r.status_code == 303  # the import runs as a job, followed on its own page
    job = await finished_job(staff, r.headers["location"])
    assert 'data-status="failed"' in job.text
    assert 'id="import-errors"' in job.text and "未导入任何数据" in job.text
    errors = job.text.split('id="import-errors"', 1)[1].split("</table>", 1)[0]
    assert '<td class="num">3</td>' in errors and '<td class="num">2</td>' not in errors  # line 3 only
    headers = await login(P)
    listed = (await client.get(f"{PROVIDER_API}?limit=200", headers=headers)).json()["items"]
    assert asset not in {i["asset_number"] for i in listed}

    r = await staff.post(
        "/console/instruments/import",
        data={"_csrf": csrf_of(page)},
        files={"file": ("push.csv", as_csv([row(asset)]), "text/csv")},
    )
    job = await finished_job(staff, r.headers["location"])
    assert "已导入：新增 1 台，更新 0 台" in job.text and "100%" in job.text
    # the unit's desk lists it among the recent imports, to come back to
    assert r.headers["location"] in (await staff.get("/console/instruments")).text
    listed = (await client.get(f"{PROVIDER_API}?limit=200", headers=headers)).json()["items"]
    mine = next(i for i in listed if i["asset_number"] == asset)
    assert mine["publication"] == "pending"

    shown = await staff.get("/console/instruments?publication=pending&per_page=200")
    assert f"/console/instruments/{mine['id']}/approve" not in shown.text  # the unit admin's to do
    admin_page = await admin.get("/console/instruments?publication=pending&per_page=200")
    assert f"/console/instruments/{mine['id']}/approve" in admin_page.text
    r = await admin.post(f"/console/instruments/{mine['id']}/approve", data={"_csrf": csrf_of(admin_page)})
    assert "当前状态「已公开」" in (await admin.get(r.headers["location"])).text
    assert (await client.get(f"{PROVIDER_API}/{mine['id']}", headers=headers)).json()[
        "publication"
    ] == "published"

    export = await staff.get("/console/instruments/export?format=xlsx")
    sheet = load_workbook(io.BytesIO(export.content)).active
    assert asset in {str(c.value) for c in sheet["A"]}


async def test_a_researcher_is_granted_and_revoked_a_self_operation_qualification(backend, client, login):
    world = await make_instrument(backend)  # self-operation offered
    staff = await signed_in(backend, P)
    page = await staff.get("/console/qualifications")
    assert f'<option value="{world.instrument_id}">' in page.text
    r = await staff.post(
        "/console/qualifications",
        data={
            "_csrf": csrf_of(page),
            "username": "demo-researcher",
            "instrument_id": str(world.instrument_id),
            "expires_on": "2099-06-30",
            "note": "2026-12 培训合格",
        },
    )
    assert (
        "已授予 demo-researcher 自主上机资格，有效至 2099-06-30"
        in (await staff.get(r.headers["location"])).text
    )
    unit = f"?unit={demo_id('unit-zjlg')}"
    found = (await client.get(f"/api/v1/provider/qualifications{unit}", headers=await login(P))).json()
    granted = next(q for q in found if q["instrument_id"] == str(world.instrument_id))
    assert granted["expires_on"] == "2099-06-30" and granted["revoked_at"] is None
    r = await staff.post(
        f"/console/qualifications/{granted['id']}/revoke",
        data={"_csrf": csrf_of(await staff.get("/console"))},
    )
    assert "资格已撤销" in (await staff.get(r.headers["location"])).text
    mine = (await client.get("/api/v1/qualifications", headers=await login("demo-researcher"))).json()
    assert next(q for q in mine if q["id"] == granted["id"])["revoked_at"] is not None
