"""One instrument at the unit's desk: its price changed and a service item added, its calendar set
from typed opening hours, a closure added and removed — each seen through the API and in the audit
trail; another unit's staff get a 404 page."""

from __future__ import annotations

import re
import uuid

from accounts.demo import demo_id
from accounts.models import Role, User
from tests.attack.test_authz_matrix import P
from tests.booking.world import make_user
from tests.catalogue.helpers import instrument_body
from tests.console.desk import csrf_of, signed_in
from tests.console.paying import with_password

PROVIDER = "/api/v1/provider/instruments"


def form_of(page: str, action: str) -> dict[str, list[str]]:
    """The named fields of the form posting to ``action``, as the browser would send them."""
    body = page.split(f'action="{action}"', 1)[1].split("</form>", 1)[0]
    fields: dict[str, list[str]] = {}
    for tag in re.findall(r"<(?:input|select|textarea)[^>]*>(?:[^<]*</textarea>)?", body):
        name = re.search(r'name="([^"]+)"', tag)
        if not name:
            continue
        if tag.startswith("<select"):
            continue  # filled below from the selected option
        if 'type="checkbox"' in tag:
            if "checked" in tag:
                fields.setdefault(name.group(1), []).append("on")
            continue
        value = re.search(r'value="([^"]*)"', tag)
        if tag.startswith("<textarea"):
            value = re.search(r">([^<]*)</textarea>", tag)
        fields.setdefault(name.group(1), []).append(value.group(1) if value else "")
    for select in re.findall(r'<select name="([^"]+)"[^>]*>(.*?)</select>', body):
        chosen = re.search(r'<option value="([^"]*)" selected>', select[1]) or re.search(
            r'<option value="([^"]*)"', select[1]
        )
        fields.setdefault(select[0], []).append(chosen.group(1) if chosen else "")
    return fields


async def test_staff_change_a_price_add_an_item_and_set_the_calendar(backend, client, login):
    headers, operator = await login(P), await login("demo-admin")
    made = await client.post(
        PROVIDER, json=instrument_body(model=f"E-{uuid.uuid4().hex[:6]}"), headers=headers
    )
    instrument = made.json()
    staff = await signed_in(backend, P)
    here = f"/console/instruments/{instrument['id']}"
    page = await staff.get(here)
    assert page.status_code == 200 and "上机机时" in page.text and "400.00" in page.text
    assert f'action="{here}/submit"' in page.text  # the publication buttons of its state

    fields = form_of(page.text, f"{here}/details")
    fields["item_external"][0] = "450.00"  # the machine-time hour for outsiders
    fields["item_name"][2] = "能谱分析"  # the blank row: a new item
    fields["item_mode"][2], fields["item_unit"][2] = "sample_testing", "per_sample"
    fields["item_internal"][2], fields["item_external"][2], fields["item_days"][2] = "100", "180.5", "5"
    fields["fee_basis"] = ["成本补偿、非营利（2027 年标准）"]
    r = await staff.post(f"{here}/details", data=fields)
    assert r.status_code == 303
    assert "已保存" in (await staff.get(r.headers["location"])).text
    saved = (await client.get(f"{PROVIDER}/{instrument['id']}", headers=headers)).json()
    prices = {i["name"]: (i["internal_price_fen"], i["external_price_fen"]) for i in saved["service_items"]}
    assert prices == {
        "上机机时": (24_000, 45_000),
        "形貌观察": (12_000, 20_000),
        "能谱分析": (10_000, 18_050),
    }
    assert saved["fee_standard"]["basis"] == "成本补偿、非营利（2027 年标准）"
    trail = await client.get(
        "/api/v1/audit", params={"entity": "service_item", "q": "45000"}, headers=operator
    )
    assert any(e["before"] == {"external_price_fen": 40_000} for e in trail.json()["items"])

    calendar = form_of(page.text, f"{here}/calendar")
    calendar.update(
        {"hours_0": ["08:30-12:00, 13:30-17:30"], "hours_5": ["09:00-12:00"], "slot_minutes": ["30"]}
    )
    calendar.update({f"hours_{d}": [""] for d in (1, 2, 3, 4)})  # closed, instead of the default
    calendar["needs_approval"] = ["on"]
    r = await staff.post(f"{here}/calendar", data=calendar)
    assert "预约日历已保存" in (await staff.get(r.headers["location"])).text
    rules = (await client.get(f"{PROVIDER}/{instrument['id']}/calendar", headers=headers)).json()
    assert rules["needs_approval"] is True and rules["is_default"] is False
    assert {(h["weekday"], h["start"], h["end"]) for h in rules["weekly_hours"]} == {
        (0, "08:30", "12:00"),
        (0, "13:30", "17:30"),
        (5, "09:00", "12:00"),
    }
    calendar["hours_1"] = ["9点到下午5点"]
    r = await staff.post(f"{here}/calendar", data=calendar)
    assert "周二的开放时间格式有误" in (await staff.get(r.headers["location"])).text

    token = csrf_of(page)
    r = await staff.post(
        f"{here}/closures",
        data={"_csrf": token, "start": "2099-04-01T08:00", "end": "2099-04-01T18:00", "reason": "年度校准"},
    )
    assert "停用时段已添加" in (await staff.get(r.headers["location"])).text
    closures = (await client.get(f"{PROVIDER}/{instrument['id']}/closures", headers=headers)).json()
    assert [(c["start"], c["reason"]) for c in closures] == [
        ("2099-04-01T08:00:00+08:00", "年度校准")
    ]  # Beijing time as typed
    shown = await staff.get(here)
    r = await staff.post(f"{here}/closures/{closures[0]['id']}/remove", data={"_csrf": csrf_of(shown)})
    assert "停用时段已删除" in (await staff.get(r.headers["location"])).text
    assert (await client.get(f"{PROVIDER}/{instrument['id']}/closures", headers=headers)).json() == []


async def test_another_units_staff_get_a_404_page(backend, client, login):
    instrument = (await client.post(PROVIDER, json=instrument_body(), headers=await login(P))).json()
    stranger = await make_user(backend, demo_id("unit-hzcl"), Role.provider_staff)
    other = await with_password(backend, User.username == stranger)
    page = await other.get(f"/console/instruments/{instrument['id']}")
    assert page.status_code == 404 and instrument["name"] not in page.text
