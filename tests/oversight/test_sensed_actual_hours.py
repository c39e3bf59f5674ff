"""At completion, the sensor's sessions in a booked slot are offered as the actual hours: the
provider confirms them (source "sensor") or types others with a reason (source "manual")."""

from __future__ import annotations

from datetime import datetime, timedelta
from types import SimpleNamespace

from tests.booking.world import booked_for_the_past, check_in_when_due, iso, machine_time, set_calendar
from tests.oversight.world import Monitored, P, monitored_instrument, post_batch
from tests.support import error_code
from yixiang.db import utcnow


async def used_in_a_slot(backend, client, login, *, runs: bool = True) -> tuple[Monitored, str, datetime]:
    """A booking checked in, its slot moved to the last two hours, and the sensor reporting the
    instrument running from 110 to 20 minutes ago (off before and after; never running without
    ``runs``)."""
    staff = await login(P)
    m = await monitored_instrument(backend, client, staff, running_watts=100)
    await set_calendar(client, staff, m.instrument_id)
    start = (utcnow() + timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    world = SimpleNamespace(instrument_id=m.instrument_id)
    created = await client.post(
        "/api/v1/bookings",
        json=machine_time(world, start, start + timedelta(hours=2)),
        headers=await login("demo-researcher"),
    )
    assert created.status_code == 201, created.text
    booking_id = created.json()["id"]
    assert (await check_in_when_due(client, backend, staff, booking_id)).status_code == 200
    now = utcnow().replace(second=0, microsecond=0)
    await booked_for_the_past(backend, booking_id, now - timedelta(hours=2))
    readings = []
    for minute in range(130, 0, -1):
        running = runs and 20 < minute <= 110
        readings.append(m.message(131 - minute, now - timedelta(minutes=minute), "on", 900 if running else 0))
    await post_batch(client, readings)
    return m, booking_id, now


async def test_the_sensor_sessions_are_the_actual_hours_once_the_provider_confirms(backend, client, login):
    staff = await login(P)
    _, booking_id, now = await used_in_a_slot(backend, client, login)
    offered = (await client.get(f"/api/v1/bookings/{booking_id}/sensed-use", headers=staff)).json()
    assert offered["sensed"] and offered["sessions"] == 1 and offered["source"] == "sensor"
    assert datetime.fromisoformat(offered["actual_start"]) == now - timedelta(minutes=110)
    assert datetime.fromisoformat(offered["actual_end"]) == now - timedelta(minutes=20)
    assert offered["running_minutes"] == 90
    researcher = await login("demo-researcher")
    assert (
        await client.get(f"/api/v1/bookings/{booking_id}/sensed-use", headers=researcher)
    ).status_code == 403

    done = await client.post(f"/api/v1/bookings/{booking_id}/complete", json={}, headers=staff)
    assert done.status_code == 200, done.text
    booking = done.json()
    assert booking["actual_source"] == "sensor"
    assert (booking["actual_start"], booking["actual_end"]) == (
        offered["actual_start"],
        offered["actual_end"],
    )


async def test_other_times_than_the_sensors_need_a_reason(backend, client, login):
    staff = await login(P)
    _, booking_id, now = await used_in_a_slot(backend, client, login)
    typed = {"actual_start": iso(now - timedelta(minutes=120)), "actual_end": iso(now)}
    refused = await client.post(f"/api/v1/bookings/{booking_id}/complete", json=typed, headers=staff)
    assert refused.status_code == 400 and error_code(refused) == "sensed_use_overridden"
    assert "传感器记录的使用时间" in refused.json()["error"]["message"]
    shown = (await client.get(f"/api/v1/bookings/{booking_id}", headers=staff)).json()
    assert shown["status"] == "in_service"  # nothing recorded

    done = await client.post(
        f"/api/v1/bookings/{booking_id}/complete",
        json=typed | {"reason": "传感器插座中途断电"},
        headers=staff,
    )
    assert done.status_code == 200, done.text
    assert done.json()["actual_source"] == "manual"
    assert datetime.fromisoformat(done.json()["actual_start"]) == now - timedelta(minutes=120)
