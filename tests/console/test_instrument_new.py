"""A new instrument at the unit's desk (新增仪器): filled in on the form, it is the unit's draft in
the API and the desk lands on its page; a mistaken form comes back with each mistake beside its
field and nothing created; a desk of another role is refused the form and its post."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select

from accounts.demo import demo_id
from catalogue.models import Instrument
from tests.attack.test_authz_matrix import FB, PA, SB, UA, P
from tests.console.desk import csrf_of, signed_in
from tests.console.test_instrument_edit import form_of

PROVIDER = "/api/v1/provider/instruments"
NEW = "/console/instruments/new"


def filled(page: str, **changes: str) -> dict[str, list[str]]:
    """The new-instrument form as a person fills it in: the fields the page offers, typed into."""
    fields = form_of(page, "/console/instruments")
    typed = {
        "name": f"台式扫描电镜-{uuid.uuid4().hex[:6]}",
        "category_code": "0101",
        "original_value_yuan": "680000.50",
        "region_code": "330106",
        "asset_number": f"D-{uuid.uuid4().hex[:10]}",
        "model": "TM4000",
        "manufacturer": "Hitachi",
        "purchase_date": "2025-03-01",
        "acceptance_date": "2025-04-15",
        "contact_phone": "0571-88886666",
        **changes,
    }
    fields.update({name: [value] for name, value in typed.items()})
    # the first blank service-item row: a sample item at 150 / 260 yuan
    fields["item_name"][0] = "形貌观察"
    fields["item_mode"][0], fields["item_unit"][0] = "sample_testing", "per_sample"
    fields["item_internal"][0], fields["item_external"][0], fields["item_days"][0] = "150", "260", "3"
    return fields


async def count_named(backend, name: str) -> int:
    async with backend.runtime.session_maker() as session:
        return int(await session.scalar(select(func.count()).where(Instrument.name == name)) or 0)


async def test_staff_create_an_instrument_and_go_on_to_its_draft(backend, client, login):
    staff = await signed_in(backend, P)
    listing = await staff.get("/console/instruments")
    assert f'href="{NEW}"' in listing.text and "新增仪器" in listing.text
    page = await staff.get(NEW)
    assert page.status_code == 200 and 'value="330100"' in page.text  # the unit's region, offered

    fields = filled(page.text)
    r = await staff.post("/console/instruments", data=fields)
    assert r.status_code == 303, r.text
    instrument_id = r.headers["location"].removeprefix("/console/instruments/")
    landed = await staff.get(r.headers["location"])
    assert landed.status_code == 200 and fields["name"][0] in landed.text and "草稿" in landed.text
    assert f'action="/console/instruments/{instrument_id}/submit"' in landed.text

    made = await client.get(f"{PROVIDER}/{instrument_id}", headers=await login(P))
    assert made.status_code == 200, made.text
    body = made.json()
    assert body["publication"] == "draft" and body["unit"]["id"] == str(demo_id("unit-zjlg"))
    assert (body["name"], body["original_value_fen"], body["region"]["code"]) == (
        fields["name"][0],
        68_000_050,
        "330106",
    )
    assert body["acceptance_date"] == "2025-04-15" and body["contact"]["phone"] == "0571-88886666"
    assert [(i["name"], i["internal_price_fen"], i["external_price_fen"]) for i in body["service_items"]] == [
        ("形貌观察", 15_000, 26_000)
    ]


async def test_mistakes_are_shown_beside_their_fields_and_nothing_is_created(backend):
    staff = await signed_in(backend, P)
    page = (await staff.get(NEW)).text
    name = f"错填仪器-{uuid.uuid4().hex[:6]}"

    # what the API's Struct refuses: all at once, each beside its field, what was typed kept
    fields = filled(page, name=name, original_value_yuan="六十八万", region_code="33A106")
    fields["contact_phone"] = ["电话 0571"]
    r = await staff.post("/console/instruments", data=fields)
    assert r.status_code == 400, r.text
    assert '<span class="field-error" id="error-original_value_fen" role="alert">请填写金额' in r.text
    assert '<span class="field-error" id="error-region_code" role="alert">格式不符合要求' in r.text
    assert '<span class="field-error" id="error-contact_phone" role="alert">格式不符合要求' in r.text
    assert "有 3 处需要修改" in r.text
    assert f'value="{name}"' in r.text and 'value="33A106"' in r.text and 'value="形貌观察"' in r.text

    # what the catalogue's rules refuse (the service the API calls), in its words
    fields = filled(page, name=name, purchase_date="2025-05-01", acceptance_date="2025-04-15")
    fields["item_mode"][0] = "machine_time"  # a machine-time item priced per sample
    r = await staff.post("/console/instruments", data=fields)
    assert r.status_code == 400, r.text
    assert (
        '<span class="field-error" id="error-acceptance_date" role="alert">验收日期不能早于购置日期' in r.text
    )
    assert "收费项目“形貌观察”：机时项目须按小时计价" in r.text

    fields = filled(page, name=name, category_code="9999")
    r = await staff.post("/console/instruments", data=fields)
    assert r.status_code == 400 and "分类代码 9999 不存在或不是二级分类" in r.text
    assert await count_named(backend, name) == 0


async def test_an_asset_number_the_unit_already_has_is_refused_beside_it(backend):
    staff = await signed_in(backend, P)
    page = (await staff.get(NEW)).text
    first = filled(page)
    assert (await staff.post("/console/instruments", data=first)).status_code == 303
    again = filled(page, asset_number=first["asset_number"][0])
    r = await staff.post("/console/instruments", data=again)
    assert (
        r.status_code == 409 and 'id="error-asset_number" role="alert">本单位已有相同资产编号的仪器' in r.text
    )
    assert await count_named(backend, again["name"][0]) == 0


async def test_other_desks_and_a_post_without_its_token_are_refused(backend):
    staff = await signed_in(backend, UA)  # the unit admin may create, as the API lets it
    page = (await staff.get(NEW)).text
    for role in (SB, FB, PA):
        desk = await signed_in(backend, role)
        shown = await desk.get(NEW)
        assert shown.status_code == 403 and "new-instrument" not in shown.text
        fields = filled(page)
        fields["_csrf"] = [csrf_of(await desk.get("/console"))]
        refused = await desk.post("/console/instruments", data=fields)
        assert refused.status_code == 403, f"{role}: {refused.status_code}"
        assert await count_named(backend, fields["name"][0]) == 0
    fields = filled(page)
    del fields["_csrf"]
    assert (await staff.post("/console/instruments", data=fields)).status_code == 403
    assert await count_named(backend, fields["name"][0]) == 0
    fields = filled(page)
    assert (await staff.post("/console/instruments", data=fields)).status_code == 303
