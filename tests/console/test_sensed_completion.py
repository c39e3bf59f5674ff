"""Completing a machine-time booking on the console: the sensor's record of the slot is offered
(how long, when the instrument ran) with a one-click completion by it; other typed times still
go through, with a reason; without a record there is no offer and no completion by it."""

from __future__ import annotations

from datetime import datetime, timedelta

from tests.console.desk import csrf_of, signed_in
from tests.oversight.test_sensed_actual_hours import used_in_a_slot
from tests.oversight.world import P
from yixiang.clock import SHANGHAI


def wall(moment: datetime, shape: str = "%H:%M") -> str:
    return f"{moment.astimezone(SHANGHAI):{shape}}"


async def test_the_completion_form_offers_the_sensors_hours_and_completes_by_them(backend, client, login):
    staff = await login(P)
    _, booking_id, now = await used_in_a_slot(backend, client, login)
    ran_from, ran_to = now - timedelta(minutes=110), now - timedelta(minutes=20)
    provider = await signed_in(backend, P)
    page = await provider.get(f"/console/bookings/{booking_id}")
    assert page.status_code == 200, page.text
    # across Shanghai's midnight the times carry their dates
    same_day = ran_from.astimezone(SHANGHAI).date() == ran_to.astimezone(SHANGHAI).date()
    shape = "%H:%M" if same_day else "%m-%d %H:%M"
    ran = f"{wall(ran_from, shape)}–{wall(ran_to, shape)}"
    assert f"传感器记录：1 小时 30 分（开机 {ran}）" in page.text
    assert "按传感器时长完成" in page.text

    # other times, typed without a reason: the service's refusal, in its words; nothing recorded
    typed = {
        "_csrf": csrf_of(page),
        "actual_start": wall(now - timedelta(minutes=120), "%Y-%m-%dT%H:%M"),
        "actual_end": wall(now, "%Y-%m-%dT%H:%M"),
    }
    r = await provider.post(f"/console/bookings/{booking_id}/complete", data=typed)
    refused = await provider.get(r.headers["location"])
    assert "flash error" in refused.text and "传感器记录的使用时间为" in refused.text
    api = (await client.get(f"/api/v1/bookings/{booking_id}", headers=staff)).json()
    assert api["status"] == "in_service"

    r = await provider.post(
        f"/console/bookings/{booking_id}/complete", data={"_csrf": csrf_of(refused), "use": "sensor"}
    )
    assert r.status_code == 303
    assert "当前状态「已完成」" in (await provider.get(r.headers["location"])).text
    api = (await client.get(f"/api/v1/bookings/{booking_id}", headers=staff)).json()
    assert api["actual_source"] == "sensor"
    assert datetime.fromisoformat(api["actual_start"]) == ran_from
    assert datetime.fromisoformat(api["actual_end"]) == ran_to


async def test_typed_times_with_a_reason_are_recorded_instead_of_the_sensors(backend, client, login):
    staff = await login(P)
    _, booking_id, now = await used_in_a_slot(backend, client, login)
    provider = await signed_in(backend, P)
    page = await provider.get(f"/console/bookings/{booking_id}")
    start = (now - timedelta(minutes=120)).replace(second=0)
    r = await provider.post(
        f"/console/bookings/{booking_id}/complete",
        data={
            "_csrf": csrf_of(page),
            "actual_start": wall(start, "%Y-%m-%dT%H:%M"),
            "actual_end": wall(now, "%Y-%m-%dT%H:%M"),
            "reason": "传感器插座中途断电",
        },
    )
    assert "当前状态「已完成」" in (await provider.get(r.headers["location"])).text
    api = (await client.get(f"/api/v1/bookings/{booking_id}", headers=staff)).json()
    assert api["actual_source"] == "manual"
    assert datetime.fromisoformat(api["actual_start"]) == start


async def test_without_a_sensor_record_there_is_no_offer_and_no_completion_by_it(backend, client, login):
    staff = await login(P)
    _, booking_id, _ = await used_in_a_slot(backend, client, login, runs=False)
    provider = await signed_in(backend, P)
    page = await provider.get(f"/console/bookings/{booking_id}")
    assert 'name="actual_start"' in page.text
    assert "传感器记录" not in page.text and "按传感器时长完成" not in page.text

    # a one-click completion posted anyway (a page shown before the record changed) is refused
    r = await provider.post(
        f"/console/bookings/{booking_id}/complete", data={"_csrf": csrf_of(page), "use": "sensor"}
    )
    refused = await provider.get(r.headers["location"])
    assert "传感器没有记录本次使用的时间" in refused.text
    api = (await client.get(f"/api/v1/bookings/{booking_id}", headers=staff)).json()
    assert api["status"] == "in_service"
